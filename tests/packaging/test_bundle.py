"""The PyInstaller bundle as it ships: ``dist/pbx-companion/pbx-companion``, run as a real process.

A hidden import PyInstaller missed, a Qt plugin or a data file left out, breaks only the frozen
app, and only when the code path that needs it runs. So these tests start the real executable
(never ``python -m app``) with isolated HOME/XDG dirs and drive the paths that load modules and
plugins lazily: the tray app offscreen (the webhook ``test`` action, a ``tel:`` link forwarded by
a second launch and dialled through a fake PBX, SIGTERM); the tray app on X11 in Russian with the
ring sound on (the xcb platform plugin, our and Qt's Russian catalogues, QtMultimedia's FFmpeg
backend); the command line (vobject, phonenumbers, tomli_w, keyring's SecretService backend).
What a process really loaded is read from ``/proc/PID/maps``: a translation catalogue or plugin
that failed to load would not be mapped.

Then the bundle's contents: what it must leave out (build.spec says why) and what it must carry.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Self

import pytest

import app
from tests.fakes.fake_pbx import FakePbx
from tests.packaging.conftest import PROJECT_ROOT
from tests.support import canary
from tests.support.webhook import AUTH, envelope
from tests.ui.x11.xvfb import Xvfb

pytestmark = pytest.mark.packaging

LISTENING = re.compile(r"webhook listening on (\S+)")
# Qt's messages get a recognisable prefix (QT_MESSAGE_PATTERN), Python's log lines have their own.
QT_MESSAGE_PATTERN = "QT %{type}: %{message}"
QT_MESSAGE = re.compile(r"^QT (warning|critical|fatal): (.*)$", re.MULTILINE)
LOG_PROBLEM = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) .*$", re.MULTILINE)
START_TIMEOUT = 30.0
# A second launch forwards its link and exits; the OS runs one for every clicked tel: link.
FORWARD_DEADLINE = 5.0
# The app gives itself 3 s to shut down (app.main.SHUTDOWN_TIMEOUT); the issue asks for 3-5 s.
STOP_DEADLINE = 5.0
# The number the forwarded link carries, as the PBX's make_call gets it (Russian domestic form).
FORWARDED_LINK = "tel:+7%20495%20134-30-60"
DIALLED = {"crm_user_id": "3", "dst": "84951343060"}


# -- running the bundle ---------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bundle_env(home: Path, **overrides: str) -> dict[str, str]:
    """The test environment (canary keys, no keyring) with a private HOME and XDG dirs, offscreen.

    Nothing that could make the bundle use another installation's files gets through
    (PYTHONPATH, LD_LIBRARY_PATH, QT_PLUGIN_PATH), nor a session bus or display of the machine.
    """
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTHON", "QT_", "LD_", "LC_", "XDG_", "PBX_COMPANION_"))
           and name not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "LANGUAGE")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        LANG="C.UTF-8",
        QT_QPA_PLATFORM="offscreen",
        QT_MESSAGE_PATTERN=QT_MESSAGE_PATTERN,
        PBX_COMPANION_CRM_API_KEY=canary.CRM_KEY,
        PBX_COMPANION_PBX_API_KEY=canary.PBX_KEY,
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    env.update(overrides)
    return env


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout} s")
        time.sleep(0.05)


class TrayProcess:
    """The bundle's tray app as a subprocess; its stdout and stderr go to one file (never a full pipe)."""

    def __init__(self, executable: Path, args: list[str], env: dict[str, str], output: Path) -> None:
        self.output_path = output
        self._output = open(output, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([str(executable), *args], env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._output, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.output_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> str:
        """Wait for "webhook listening on URL" in the log; returns the URL."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if match := LISTENING.search(self.output()):
                return match.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the bundle exited with {self.proc.returncode} before it listened:\n{self.output()}"
                )
            time.sleep(0.02)
        raise AssertionError(f"the bundle did not listen within {START_TIMEOUT} s:\n{self.output()}")

    def mapped_files(self) -> set[Path]:
        """Every file the process has mapped: its libraries, plugins and translation catalogues."""
        maps = Path(f"/proc/{self.proc.pid}/maps").read_text()
        return {Path(line.split(None, 5)[5]) for line in maps.splitlines()
                if len(line.split(None, 5)) == 6 and line.split(None, 5)[5].startswith("/")}

    def wait_mapped(self, files: set[Path], timeout: float = 10.0) -> set[Path]:
        """Wait until the process has mapped all of ``files``; returns those it has not (empty: all)."""
        deadline = time.monotonic() + timeout
        while (missing := files - self.mapped_files()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return missing

    def stop(self) -> tuple[int, float]:
        """SIGTERM, as the session does at logout; returns the exit status and how long it took."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {STOP_DEADLINE} s after SIGTERM:\n{self.output()}") from None
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._output.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def post_json(url: str, message: dict) -> tuple[int, object]:
    request = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **AUTH})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def unexpected_qt_messages(output: str, ignored: list[str]) -> list[str]:
    """Qt warnings and worse, except the ones pytest's ``qt_log_ignore`` accepts (offscreen, no PipeWire)."""
    return [message.group(0) for message in QT_MESSAGE.finditer(output)
            if not any(re.search(pattern, message.group(2)) for pattern in ignored)]


def under(directory: Path, paths: set[Path]) -> set[Path]:
    return {path for path in paths if directory in path.parents}


# -- the tray app -----------------------------------------------------------------------------

def test_the_tray_app_answers_the_pbx_dials_a_forwarded_link_and_quits_cleanly(
        bundle_dir: Path, bundle_exe: Path, tmp_path: Path, fake_pbx: FakePbx, request: pytest.FixtureRequest) -> None:
    home = tmp_path / "home"
    env = bundle_env(home, PBX_COMPANION_PBX_URL=fake_pbx.url, PBX_COMPANION_CRM_USER="3")
    data_dir = tmp_path / "data"
    port = free_port()
    with TrayProcess(bundle_exe, ["--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                     env, tmp_path / "tray.out") as tray:
        url = tray.wait_ready()
        assert url.startswith(f"http://127.0.0.1:{port}/")

        status, answer = post_json(url, envelope("test"))
        assert (status, answer) == (200, {"action": "test", "obj": "UserCRM", "code": 200, "body": {"success": True}})

        started = time.monotonic()
        second = subprocess.run([str(bundle_exe), "--data-dir", str(data_dir), FORWARDED_LINK], env=env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
        forwarded_in = time.monotonic() - started
        assert second.returncode == 0, second.stdout + second.stderr
        assert forwarded_in < FORWARD_DEADLINE
        wait_until(lambda: fake_pbx.calls, what="make_call at the fake PBX")
        time.sleep(0.3)  # a second make_call would ring the agent's phone twice
        assert fake_pbx.calls == [DIALLED]

        loaded = tray.mapped_files()
        assert bundle_dir / "_internal/PySide6/Qt/plugins/platforms/libqoffscreen.so" in loaded
        qt_libraries = {path for path in loaded if path.name.startswith(("libQt6", "libpyside6", "libshiboken6"))}
        assert qt_libraries and qt_libraries == under(bundle_dir, qt_libraries), "Qt loaded from outside the bundle"

        code, took = tray.stop()
        assert code == 0
        assert took < STOP_DEADLINE

    output = tray.output()
    assert "Traceback" not in output + second.stderr
    assert unexpected_qt_messages(output + second.stderr, request.config.getini("qt_log_ignore")) == []
    assert LOG_PROBLEM.findall(output) == []
    logs = list(tmp_path.rglob(f"{app.APP_NAME}.log"))
    assert logs == [data_dir / "logs" / f"{app.APP_NAME}.log"], "with --data-dir the log is in its logs/ folder"
    assert "stopped in" in logs[0].read_text(encoding="utf-8")


def test_on_x11_in_russian_the_tray_app_loads_the_xcb_plugin_both_catalogues_and_the_audio_backend(
        bundle_dir: Path, bundle_exe: Path, tmp_path: Path, fake_pbx: FakePbx) -> None:
    internal = bundle_dir / "_internal"
    expected = {
        internal / "PySide6/Qt/plugins/platforms/libqxcb.so",
        internal / "resources/translations/pbx_companion_ru.qm",
        internal / "PySide6/Qt/translations/qtbase_ru.qm",
        # the ring sound (QSoundEffect) is played through QtMultimedia's backend, as are recordings
        internal / "PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so",
    }
    config = tmp_path / "settings.toml"
    config.write_text("ring_sound = true\n", encoding="utf-8")
    xvfb = Xvfb()
    try:
        env = bundle_env(tmp_path / "home", QT_QPA_PLATFORM="xcb", DISPLAY=xvfb.display, LANG="ru_RU.UTF-8",
                         PBX_COMPANION_PBX_URL=fake_pbx.url, PBX_COMPANION_CRM_USER="3")
        args = ["--config", str(config), "--data-dir", str(tmp_path / "data"), "--port", str(free_port())]
        with TrayProcess(bundle_exe, args, env, tmp_path / "tray.out") as tray:
            tray.wait_ready()
            assert tray.wait_mapped(expected) == set(), tray.output()
            assert not under(internal / "resources/translations", tray.mapped_files()) - expected, \
                "a catalogue of another language was loaded"
            code, _ = tray.stop()
            assert code == 0
    finally:
        xvfb.stop()
    output = tray.output()
    assert "Traceback" not in output
    assert "ring sound is not available" not in output


# -- the command line ---------------------------------------------------------------------------

def run_cli(bundle_exe: Path, env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bundle_exe), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_command_line_of_the_bundle(bundle_exe: Path, tmp_path: Path) -> None:
    env = bundle_env(tmp_path / "home")
    version = run_cli(bundle_exe, env, "--version")
    assert (version.returncode, version.stdout) == (0, f"pbx-companion {app.__version__}\n")
    serve_help = run_cli(bundle_exe, env, "serve", "--help")
    assert serve_help.returncode == 0 and "--port" in serve_help.stdout

    # A vCard (vobject), its number normalised (phonenumbers' metadata), stored, found, exported.
    vcard = tmp_path / "team.vcf"
    vcard.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Иван Петров\r\nTEL;TYPE=work:8 (495) 134-30-60\r\n"
                     "END:VCARD\r\n", encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    imported = run_cli(bundle_exe, env, "contacts", "import", str(vcard), *data)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("imported 1, updated 0, skipped 0")
    found = run_cli(bundle_exe, env, "contacts", "find", "+7 495 134 30 60", *data)
    assert found.returncode == 0 and "Иван Петров" in found.stdout
    exported = run_cli(bundle_exe, env, "contacts", "export", "--format", "vcard", *data)
    assert "FN:Иван Петров" in exported.stdout

    # The settings file is written with tomli_w.
    settings = tmp_path / "settings.toml"
    saved = run_cli(bundle_exe, env, "config", "set", "port", "9123", "--config", str(settings))
    assert saved.returncode == 0, saved.stderr
    assert tomllib.loads(settings.read_text(encoding="utf-8"))["port"] == 9123


def test_the_secret_service_keyring_backend_is_inside(bundle_exe: Path, tmp_path: Path) -> None:
    """Linux desktops keep the keys in the Secret Service: the bundle must get as far as the dev tree.

    Without a session bus both stop at the same error; a backend or a dependency of it
    (secretstorage, jeepney, cryptography) missing from the bundle would end differently.
    """
    env = bundle_env(tmp_path / "home", PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring")
    key = "new-key-of-sixteen-plus\n"  # long enough to be accepted: the keyring is what is tried
    frozen = run_cli(bundle_exe, env, "keys", "set", "--crm", stdin=key)
    dev = subprocess.run([sys.executable, "-m", "app", "keys", "set", "--crm"], env=env, input=key,
                         capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT, check=False)
    assert "No module named" not in frozen.stderr
    assert (frozen.returncode, frozen.stderr) == (dev.returncode, dev.stderr)
    assert "SecretService" in frozen.stderr


def test_the_bundle_reads_the_keyring_for_the_tray_app_in_a_child(bundle_exe: Path, tmp_path: Path) -> None:
    """The tray app runs ``<its own executable> keys read-for-app``: the frozen command must exist and
    fail as plainly as the dev tree's when there is no keyring (and never print a key to a terminal)."""
    env = bundle_env(tmp_path / "home")
    for name in ("PBX_COMPANION_CRM_API_KEY", "PBX_COMPANION_PBX_API_KEY"):
        del env[name]
    frozen = run_cli(bundle_exe, env, "keys", "read-for-app")
    assert frozen.returncode == 1 and frozen.stdout == ""
    assert frozen.stderr.startswith("pbx-companion: error: no secure OS keyring is available here")


# -- what is inside -----------------------------------------------------------------------------

def files_under(directory: Path) -> set[str]:
    return {path.relative_to(directory).as_posix() for path in directory.rglob("*") if not path.is_dir()}


def test_the_bundle_leaves_out_what_the_app_does_not_use(bundle_dir: Path) -> None:
    internal = bundle_dir / "_internal"
    files = files_under(internal)
    left_in = sorted(f for f in files if re.search(
        r"WebEngine|Qt6Pdf|QtPdf|Wayland|WlShell|EglFS|eglfs|VirtualKeyboard|libqgtk3|Qt6Quick3D|QuickControls2"
        r"|PySide6/QtQml|PySide6/QtQuick|PySide6/Qt/qml/|tkinter|setuptools", f))
    assert left_in == []

    plugins = internal / "PySide6/Qt/plugins"
    assert {p.name for p in (plugins / "platforms").iterdir()} == {"libqxcb.so", "libqoffscreen.so", "libqminimal.so"}
    assert {p.name for p in (plugins / "platformthemes").iterdir()} == {"libqxdgdesktopportal.so"}
    assert not [d.name for d in plugins.iterdir() if d.name.startswith("wayland-") or d.name == "egldeviceintegrations"]

    qt_catalogues = {p.name for p in (internal / "PySide6/Qt/translations").glob("*.qm")}
    assert "qtbase_ru.qm" in qt_catalogues and "qtbase_en.qm" in qt_catalogues
    languages = {re.search(r"_([a-z]{2,3})(_[A-Z]{2})?\.qm$", name).group(1) for name in qt_catalogues}
    assert languages == {"ru", "en"}


def elf_needed(path: Path) -> list[str]:
    """The DT_NEEDED entries of a shared library (objdump: binutils, which PyInstaller needs too)."""
    dump = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"^\s+NEEDED\s+(\S+)$", dump, re.MULTILINE)


def test_qml_and_quick_libraries_are_in_only_because_the_audio_backend_links_them(bundle_dir: Path) -> None:
    """QtMultimedia's FFmpeg plugin links libQt6Quick and libQt6Qml: those stay, no other QML part does."""
    qt_lib = bundle_dir / "_internal/PySide6/Qt/lib"
    needed: set[str] = set()
    pending = [bundle_dir / "_internal/PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so"]
    while pending:
        for name in elf_needed(pending.pop()):
            if name not in needed and (qt_lib / name).exists():
                needed.add(name)
                pending.append(qt_lib / name)
    qml_parts = {p.name for p in qt_lib.iterdir() if re.match(r"libQt6(Qml|Quick)", p.name)}
    assert qml_parts <= needed


def test_every_library_in_the_bundle_finds_what_it_links_to(bundle_dir: Path) -> None:
    """ldd with the library path the bootloader sets: no plugin may need a library nobody shipped."""
    internal = bundle_dir / "_internal"
    libraries = sorted(str(p) for p in internal.rglob("*.so*") if p.is_file() and not p.is_symlink()
                       and p.suffix != ".qm")
    result = subprocess.run(["ldd", str(bundle_dir / app.APP_NAME), *libraries], capture_output=True, text=True,
                            env={**os.environ, "LD_LIBRARY_PATH": str(internal)}, check=False)
    missing, current = [], ""
    for line in result.stdout.splitlines():
        if not line.startswith(("\t", " ")):
            current = line.rstrip(":")
        elif "not found" in line:
            missing.append(f"{Path(current).relative_to(bundle_dir)}: {line.strip()}")
    assert len(libraries) > 100
    assert missing == []


def test_the_bundle_carries_the_apps_resources(bundle_dir: Path) -> None:
    resources = bundle_dir / "_internal/resources"
    checkout = PROJECT_ROOT / "resources"
    catalogues = {p.name for p in (checkout / "translations").glob("*.qm")}
    assert {"pbx_companion_ru.qm", "pbx_companion_en.qm"} <= catalogues
    assert files_under(resources / "translations") == catalogues, "the .qm files, not the .ts sources"
    for name in catalogues:
        assert (resources / "translations" / name).read_bytes() == (checkout / "translations" / name).read_bytes()
    if (checkout / "icons").is_dir():
        assert files_under(resources / "icons") == files_under(checkout / "icons")
