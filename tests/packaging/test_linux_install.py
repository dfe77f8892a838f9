"""The per-user Linux install of the real bundle, end to end, for a user with a clean home.

``packaging/linux/install.sh`` puts the bundle, its menu entry, icons and AppStream file in place
and makes it the tel:/callto:/sip: handler; then a phone link opened the way a browser or mail
client opens it (``xdg-open tel:...``, on a private Xvfb display) must reach the running app, which
dials the number through a real HTTP fake PBX. ``uninstall.sh`` must take all of it away again --
including its lines in ``mimeapps.list``, but no other application's -- and keep the user's data.

Everything happens in a private HOME and private XDG dirs (not the default ``~/.local/share`` and
``~/.config``, so the scripts must honour the variables), with the desktop-environment variables
cleared and ``XDG_CURRENT_DESKTOP=X-Generic`` so that xdg-utils takes its generic path (no GNOME or
KDE tool is asked); that path needs a display, hence Xvfb.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

import app
from app.core.autostart import desktop_exec_split
from app.core.settings import Settings
from tests.fakes.fake_pbx import FakePbx
from tests.support.webhook import AUTH, envelope
from tests.ui.x11.xvfb import Xvfb

pytestmark = pytest.mark.packaging

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LINUX_DIR = PROJECT_ROOT / "packaging" / "linux"
DESKTOP_ID = f"{app.APP_ID}.desktop"
SCHEMES = ("tel", "callto", "sip")
# Variables by which xdg-utils (and Qt) guess a desktop environment: none may leak in from the host.
DESKTOP_VARIABLES = ("XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION", "KDE_FULL_SESSION",
                     "KDE_SESSION_VERSION", "GNOME_DESKTOP_SESSION_ID", "MATE_DESKTOP_SESSION_ID",
                     "LXQT_SESSION_CONFIG", "DESKTOP", "DBUS_SESSION_BUS_ADDRESS", "BROWSER", "WAYLAND_DISPLAY",
                     "DISPLAY", "QT_QPA_PLATFORM", "XDG_DATA_DIRS", "XDG_CONFIG_DIRS")
# Another application's associations, there before the install: they must survive it and the uninstall.
FOREIGN_MIMEAPPS = """\
[Default Applications]
text/html=firefox-esr.desktop
x-scheme-handler/mailto=thunderbird.desktop

[Added Associations]
x-scheme-handler/sip=linphone.desktop;
"""


@dataclass
class User:
    """A user with a private home: the environment every command of the test runs in."""

    home: Path
    data_home: Path
    config_home: Path
    state_home: Path
    env: dict[str, str]

    @property
    def app_dir(self) -> Path:
        return self.home / ".local" / "lib" / app.APP_NAME

    @property
    def launcher(self) -> Path:
        return self.home / ".local" / "bin" / app.APP_NAME

    @property
    def desktop_file(self) -> Path:
        return self.data_home / "applications" / DESKTOP_ID

    @property
    def metainfo_file(self) -> Path:
        return self.data_home / "metainfo" / f"{app.APP_ID}.metainfo.xml"

    @property
    def mimeapps(self) -> Path:
        return self.config_home / "mimeapps.list"

    @property
    def autostart_entry(self) -> Path:
        return self.config_home / "autostart" / DESKTOP_ID

    def run(self, *command: str | Path, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(c) for c in command], env=self.env, capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        return result

    def default_handler(self, scheme: str) -> str:
        return self.run("xdg-mime", "query", "default", f"x-scheme-handler/{scheme}").stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _desktop_exec(desktop_file: Path) -> list[str]:
    """The command of a desktop entry's Exec key as a launcher reads it, field codes dropped."""
    line = next(line for line in desktop_file.read_text(encoding="utf-8").splitlines() if line.startswith("Exec="))
    return desktop_exec_split(line.removeprefix("Exec="))


def _icons_in(icons_root: Path) -> set[str]:
    """``<size>/apps/pbx-companion.<ext>`` of every app icon under a hicolor directory."""
    return {str(p.relative_to(icons_root)) for p in icons_root.glob(f"*/apps/{app.APP_NAME}.*")}


def bundle_icons(bundle_dir: Path) -> set[str]:
    """The app icons a bundle carries, as paths under a hicolor theme directory."""
    icons = bundle_dir / "_internal" / "resources" / "icons"
    expected = {str(p.relative_to(icons / "hicolor")) for p in (icons / "hicolor").glob(f"*/apps/{app.APP_NAME}.png")}
    if (icons / f"{app.APP_NAME}.svg").exists():
        expected.add(f"scalable/apps/{app.APP_NAME}.svg")
    return expected


@pytest.fixture
def user(tmp_path: Path) -> User:
    home = tmp_path / "home"
    dirs = {name: tmp_path / "xdg" / name for name in ("data", "config", "state", "cache", "runtime")}
    for path in (home, *dirs.values()):
        path.mkdir(parents=True)
    dirs["runtime"].chmod(0o700)
    env = {k: v for k, v in os.environ.items() if k not in DESKTOP_VARIABLES and not k.startswith("XDG_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(dirs["data"]), XDG_CONFIG_HOME=str(dirs["config"]),
               XDG_STATE_HOME=str(dirs["state"]), XDG_CACHE_HOME=str(dirs["cache"]),
               XDG_RUNTIME_DIR=str(dirs["runtime"]), XDG_CURRENT_DESKTOP="X-Generic")
    return User(home, dirs["data"], dirs["config"], dirs["state"], env)


@pytest.fixture
def display() -> Iterator[str]:
    server = Xvfb()
    try:
        yield server.display
    finally:
        server.stop()


# Straight to the loopback webhook, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RunningApp:
    """The installed tray app, started like a user starts it; its log goes to a file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path, port: int) -> None:
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}/webhook"
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def answers_test(self) -> bool:
        """POST the PBX's ``test`` action to the webhook, as the PBX's "Test" button does."""
        request = urllib.request.Request(self.url, data=json.dumps(envelope("test")).encode(), method="POST",
                                         headers={**AUTH, "Content-Type": "application/json"})
        try:
            with _DIRECT.open(request, timeout=2) as response:
                return response.status == 200 and json.loads(response.read()).get("body", {}).get("success") is True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.answers_test():
            assert self.proc.poll() is None, f"the installed app exited ({self.proc.returncode}):\n{self.log()}"
            assert time.monotonic() < deadline, f"the installed app's webhook did not answer:\n{self.log()}"
            time.sleep(0.2)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._log.close()


def _wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_tel_link_opened_by_xdg_open_reaches_the_installed_app(bundle_dir: Path, user: User, display: str,
                                                                  fake_pbx: FakePbx, tmp_path: Path) -> None:
    user.mimeapps.write_text(FOREIGN_MIMEAPPS, encoding="utf-8")
    # The settings both launches read (the running app and the one xdg-open starts): one data dir,
    # hence one single-instance name. The keys, the PBX and the agent come from the environment.
    port = _free_port()
    Settings(data_dir=str(tmp_path / "data"), port=port).save(user.config_home / app.APP_NAME / "settings.toml")
    user.env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", PBX_COMPANION_PBX_URL=fake_pbx.url,
                    PBX_COMPANION_CRM_USER="3")

    # -- install ------------------------------------------------------------------------------
    installed = user.run(LINUX_DIR / "install.sh", bundle_dir)
    assert "installed" in installed.stdout
    executable = user.app_dir / app.APP_NAME
    assert os.access(executable, os.X_OK)
    assert user.launcher.is_symlink() and user.launcher.resolve() == executable.resolve()
    assert user.metainfo_file.read_bytes() == (LINUX_DIR / f"{app.APP_ID}.metainfo.xml").read_bytes()
    assert _icons_in(user.data_home / "icons" / "hicolor") == bundle_icons(bundle_dir)
    user.run("desktop-file-validate", user.desktop_file)
    assert _desktop_exec(user.desktop_file) == [str(executable)]
    for scheme in SCHEMES:
        assert user.default_handler(scheme) == DESKTOP_ID, scheme
    assert not (user.home / ".local" / "share" / "applications").exists()  # XDG_DATA_HOME was honoured

    # -- the app, started from the command the installer put on PATH -----------------------------
    running = RunningApp([str(user.launcher)], user.env, tmp_path / "app.log", port)
    try:
        running.wait_until_ready()

        # installing again while it runs: refused, and the running app is left alone
        again = user.run(LINUX_DIR / "install.sh", bundle_dir, check=False)
        assert again.returncode != 0 and "is running" in again.stderr, again.stderr
        assert running.answers_test()

        # a phone link, opened the way a browser opens it
        opened = user.run("xdg-open", "tel:+7%20495%20134-30-60", timeout=30)
        assert opened.returncode == 0
        assert _wait_for(lambda: fake_pbx.calls), f"no make_call reached the PBX; app log:\n{running.log()}"
        time.sleep(0.5)  # a second dial of the same link would arrive by now
        assert fake_pbx.calls == [{"crm_user_id": "3", "dst": "84951343060"}]

        user.run("xdg-open", "callto:+79066800404", timeout=30)
        assert _wait_for(lambda: len(fake_pbx.calls) == 2), running.log()
        assert fake_pbx.calls[1]["dst"] == "89066800404"
        assert running.proc.poll() is None  # the links went to this instance; no second one stayed

        # an upgrade with --stop quits the running app the way the tray menu's Quit does (SIGTERM)
        upgraded = user.run(LINUX_DIR / "install.sh", "--stop", bundle_dir)
        assert "upgraded" in upgraded.stdout and "start it again" in upgraded.stdout
        assert running.proc.wait(timeout=1) == 0
    finally:
        running.close()

    # -- uninstall ------------------------------------------------------------------------------
    user.run(user.launcher, "autostart", "on")  # "Start at login", as the settings window sets it
    assert Path(_desktop_exec(user.autostart_entry)[0]).resolve() == executable.resolve()
    removed = user.run(LINUX_DIR / "uninstall.sh")
    for path in (user.app_dir, user.launcher, user.desktop_file, user.metainfo_file, user.autostart_entry):
        assert not path.exists() and not path.is_symlink(), path
    assert _icons_in(user.data_home / "icons" / "hicolor") == set()
    mimeapps = user.mimeapps.read_text(encoding="utf-8")
    assert DESKTOP_ID not in mimeapps
    assert {line for line in mimeapps.splitlines() if line} == {line for line in FOREIGN_MIMEAPPS.splitlines() if line}
    for scheme in SCHEMES:
        assert user.default_handler(scheme) != DESKTOP_ID, scheme
    # the user's data stays, and the script says where it is and how to remove it
    assert (tmp_path / "data" / "pbx-companion.sqlite3").exists()
    assert (user.config_home / app.APP_NAME / "settings.toml").exists()
    assert "--purge" in removed.stdout and str(user.config_home / app.APP_NAME) in removed.stdout

    purged = user.run(LINUX_DIR / "uninstall.sh", "--purge")
    assert not (user.config_home / app.APP_NAME).exists() and not (user.state_home / app.APP_NAME).exists()
    assert "keyring" in purged.stdout


def test_a_prefix_with_spaces_gets_a_quoted_exec_line(bundle_dir: Path, user: User) -> None:
    """Exec must be quoted per the Desktop Entry spec when the path has a space (or $, ", `...)."""
    prefix = user.home / "my $apps"
    user.run(LINUX_DIR / "install.sh", "--prefix", prefix, bundle_dir)
    executable = prefix / "lib" / app.APP_NAME / app.APP_NAME
    assert os.access(executable, os.X_OK)
    assert (prefix / "bin" / app.APP_NAME).resolve() == executable.resolve()
    exec_line = next(line for line in user.desktop_file.read_text(encoding="utf-8").splitlines()
                     if line.startswith("Exec="))
    assert exec_line == f'Exec="{str(executable).replace("$", chr(92) * 2 + "$")}" %u'
    user.run("desktop-file-validate", user.desktop_file)
    assert _desktop_exec(user.desktop_file) == [str(executable)]
    version = user.run(executable, "--version")
    assert version.stdout.strip() == f"{app.APP_NAME} {app.__version__}"

    # without the prefix uninstall finds nothing there, and says where the installation is
    wrong = user.run(LINUX_DIR / "uninstall.sh", check=False)
    assert wrong.returncode != 0 and f"--prefix {prefix}" in wrong.stderr
    user.run(LINUX_DIR / "uninstall.sh", "--prefix", prefix)
    assert not (prefix / "lib" / app.APP_NAME).exists() and not user.desktop_file.exists()


def test_the_release_archive_installs_and_uninstalls_by_itself(release_tarball: Path, user: User,
                                                               tmp_path: Path) -> None:
    """What an agent downloads: unpacked anywhere, its install.sh needs no checkout and no argument."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with tarfile.open(release_tarball) as archive:
        names = archive.getnames()
        assert all(n.split("/")[0] == f"{app.APP_NAME}-{app.__version__}" for n in names), "one top directory"
        assert all(m.uid == 0 and m.gid == 0 for m in archive.getmembers())
        archive.extractall(downloads, filter="tar")
    unpacked = downloads / f"{app.APP_NAME}-{app.__version__}"
    assert {p.name for p in unpacked.iterdir()} == {
        app.APP_NAME, "install.sh", "uninstall.sh", "common.sh", DESKTOP_ID, f"{app.APP_ID}.metainfo.xml", "LICENSE"}
    assert (unpacked / "LICENSE").read_bytes() == (LINUX_DIR.parents[1] / "LICENSE").read_bytes()

    user.run(unpacked / "install.sh")
    assert user.run(user.launcher, "--version").stdout.strip() == f"{app.APP_NAME} {app.__version__}"
    assert Path(_desktop_exec(user.desktop_file)[0]).resolve() == (user.app_dir / app.APP_NAME).resolve()
    user.run("desktop-file-validate", user.desktop_file)
    assert _icons_in(user.data_home / "icons" / "hicolor") == bundle_icons(unpacked / app.APP_NAME)
    for scheme in SCHEMES:
        assert user.default_handler(scheme) == DESKTOP_ID, scheme

    user.run(unpacked / "uninstall.sh")
    for path in (user.app_dir, user.launcher, user.desktop_file, user.metainfo_file):
        assert not path.exists() and not path.is_symlink(), path
    for scheme in SCHEMES:
        assert user.default_handler(scheme) != DESKTOP_ID, scheme


def test_install_refuses_what_is_not_a_bundle(user: User, tmp_path: Path) -> None:
    not_a_bundle = tmp_path / "downloads"
    not_a_bundle.mkdir()
    result = user.run(LINUX_DIR / "install.sh", not_a_bundle, check=False)
    assert result.returncode == 1
    assert "has no executable pbx-companion" in result.stderr and "make bundle" in result.stderr
    assert not user.desktop_file.exists() and not (user.home / ".local").exists()


def test_the_desktop_entry_and_metainfo_describe_this_app() -> None:
    """The source files validate, and the names and version in them are the app's."""
    desktop = LINUX_DIR / DESKTOP_ID
    result = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout
    entry = dict(line.split("=", 1) for line in desktop.read_text(encoding="utf-8").splitlines() if "=" in line)
    assert entry["MimeType"] == "x-scheme-handler/tel;x-scheme-handler/callto;x-scheme-handler/sip;"
    assert entry["Icon"] == app.APP_NAME and entry["Exec"] == f"{app.APP_NAME} %u"
    assert entry["Name[ru]"] and entry["GenericName[ru]"] and entry["Comment[ru]"]

    metainfo = LINUX_DIR / f"{app.APP_ID}.metainfo.xml"
    validated = subprocess.run(["appstreamcli", "validate", "--no-net", str(metainfo)], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    component = ElementTree.parse(metainfo).getroot()
    assert component.findtext("id") == app.APP_ID
    assert component.findtext("project_license") == "MIT"  # LICENSE at the root
    assert component.findtext("launchable") == DESKTOP_ID
    assert component.find("releases/release").get("version") == app.__version__  # the newest release
    assert {m.text for m in component.iter("mediatype")} == {f"x-scheme-handler/{s}" for s in SCHEMES}

    common = (LINUX_DIR / "common.sh").read_text(encoding="utf-8")
    assert f"APP_ID={app.APP_ID}\n" in common and f"APP_NAME={app.APP_NAME}\n" in common
    assert re.search(r"^SCHEMES=\((.*)\)$", common, re.MULTILINE).group(1).split() == list(SCHEMES)

