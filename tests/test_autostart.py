"""Start at login: the three autostart backends, on real files, with the real validators.

The XDG entry is written to a per-test ``XDG_CONFIG_HOME``, checked with ``desktop-file-validate``
and launched with GLib's own ``gio launch`` (the parser GNOME's session uses), so its Exec quoting
is proved by a program that really starts with the right arguments. The LaunchAgent is written
under a temporary home and read back with plistlib. The Windows Run key cannot exist on Linux:
its backend talks to the registry through a three-method object, and these tests pass an
in-memory one (:class:`MemoryRegistry`), the only stand-in here. ``pbx-companion autostart``
runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import APP_ID, APP_NAME
from app.core.autostart import (
    RUN_KEY,
    STARTUP_APPROVED_KEY,
    AutostartError,
    LaunchAgent,
    WindowsRunKey,
    XdgAutostart,
    autostart_for_platform,
    desktop_exec_split,
    desktop_exec_value,
    launch_command,
    profile_arguments,
    windows_command_line,
    windows_command_line_split,
)

# Every character the Desktop Entry spec reserves in Exec, plus a non-ASCII one, in one folder name.
AWKWARD_FOLDER = "dir with space & $HOME 'single' \"double\" `tick` \\ ; (x) <y> | ~ * ? # ü"
# GLib (gio, GNOME) does not undo %% in the program's path before looking the program up, so "%"
# is tested in an argument only; the app's own path holds none in practice.
AWKWARD_ARGUMENT = "/x y/é/a\\b\"c'd$e`f%g%%h %u"
RECORDER = """#!{python}
import json, pathlib, sys
pathlib.Path(__file__).with_name("argv.json").write_text(json.dumps(sys.argv), encoding="utf-8")
"""


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``XDG_CONFIG_HOME`` for this test: the backend must find it by itself."""
    home = tmp_path / "config-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def xdg(config_home: Path) -> XdgAutostart:
    return XdgAutostart()


def entry_path(config_home: Path) -> Path:
    return config_home / "autostart" / f"{APP_ID}.desktop"


def installed_program(root: Path, name: str = APP_NAME) -> str:
    """An executable file standing for an installed copy of the app (a path that exists)."""
    root.mkdir(parents=True, exist_ok=True)
    program = root / name
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    return str(program)


def validate(path: Path) -> None:
    proc = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


# -- the command ---------------------------------------------------------------------------------


def test_a_pip_install_starts_the_console_script_beside_the_interpreter() -> None:
    script = Path(sys.executable).absolute().with_name(APP_NAME)
    if not script.is_file():
        pytest.skip(f"no {APP_NAME} console script beside {sys.executable} (not a pip/editable install)")
    assert launch_command() == [str(script)]
    assert launch_command(["--config", "/c.toml"]) == [str(script), "--config", "/c.toml"]


def test_without_a_console_script_it_is_python_dash_m_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = tmp_path / "bare" / "python3"
    python.parent.mkdir()
    python.write_text("", encoding="utf-8")
    monkeypatch.setattr(sys, "executable", str(python))
    assert launch_command() == [str(python), "-m", "app"]


def test_the_bundle_starts_its_own_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = installed_program(tmp_path / "dist" / APP_NAME)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", bundled)
    assert launch_command() == [bundled]


def test_profile_arguments_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert profile_arguments() == []
    assert profile_arguments("my settings.toml", "data") == [
        "--config", str(tmp_path / "my settings.toml"), "--data-dir", str(tmp_path / "data")]
    assert profile_arguments(data_dir="~/d") == ["--data-dir", str(Path.home() / "d")]


# -- XDG autostart -----------------------------------------------------------------------------------


def test_linux_uses_the_xdg_backend_in_xdg_config_home(config_home: Path) -> None:
    backend = autostart_for_platform("linux")
    assert isinstance(backend, XdgAutostart)
    assert backend.location == str(entry_path(config_home))
    assert isinstance(autostart_for_platform("freebsd14"), XdgAutostart)


@pytest.mark.parametrize("value", [None, "relative/config"])
def test_without_an_absolute_xdg_config_home_it_is_dot_config(value: str | None, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if value is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", value)  # the spec says to ignore a relative path
    assert XdgAutostart().path == tmp_path / ".config" / "autostart" / f"{APP_ID}.desktop"


def test_enable_writes_a_valid_entry_that_the_session_starts_with_these_arguments(
        xdg: XdgAutostart, config_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / AWKWARD_FOLDER
    folder.mkdir()
    program = folder / APP_NAME
    program.write_text(RECORDER.format(python=sys.executable), encoding="utf-8")
    program.chmod(0o755)
    command = [str(program), "--config", AWKWARD_ARGUMENT, "", "tab\there", "plain"]

    assert not xdg.exists() and not xdg.is_enabled() and xdg.current_command() is None
    xdg.enable(command)

    path = entry_path(config_home)
    validate(path)
    text = path.read_text(encoding="utf-8")
    for line in ("Type=Application", f"Name={APP_NAME}", f"Icon={APP_NAME}", "Terminal=false",
                 "X-GNOME-Autostart-enabled=true"):
        assert line in text.splitlines()
    assert xdg.exists() and xdg.is_enabled()
    assert xdg.current_command() == command
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left

    if shutil.which("gio") is None:
        pytest.skip("gio (libglib2.0-bin) is not installed: the entry was validated but not launched")
    recorded = folder / "argv.json"
    proc = subprocess.run(["gio", "launch", str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 10
    while not recorded.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(recorded.read_text(encoding="utf-8")) == command


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
                min_size=1, max_size=5).filter(lambda command: command[0] != ""))
def test_exec_quoting_round_trips_any_command(command: list[str]) -> None:
    assert desktop_exec_split(desktop_exec_value(command)) == command


def test_exec_written_by_others_is_read_too() -> None:
    assert desktop_exec_split("pbx-companion %u") == ["pbx-companion"]
    assert desktop_exec_split('"/opt/PBX Companion/pbx-companion"  --data-dir  "/home/a b"') == [
        "/opt/PBX Companion/pbx-companion", "--data-dir", "/home/a b"]
    assert desktop_exec_split(r'/usr/bin/env "a\\\\b" 100%%') == ["/usr/bin/env", "a\\b", "100%"]


def test_disable_removes_the_entry_and_both_are_idempotent(xdg: XdgAutostart, config_home: Path) -> None:
    command = [installed_program(config_home.parent / "app")]
    xdg.enable(command)
    first = entry_path(config_home).read_bytes()
    xdg.enable(command)
    assert entry_path(config_home).read_bytes() == first

    xdg.disable()
    assert not entry_path(config_home).exists()
    assert not xdg.exists() and not xdg.is_enabled() and xdg.current_command() is None
    xdg.disable()  # nothing there: nothing to do, no error


def test_sync_reports_changes_and_rewrites_a_stale_exec(xdg: XdgAutostart, config_home: Path) -> None:
    old = ["/opt/old-place/pbx-companion"]
    new = [installed_program(config_home.parent / "new-place"), "--config", "/c d.toml"]
    assert xdg.sync(False, new) is False
    assert xdg.sync(True, old) is True
    assert xdg.sync(True, old) is False  # already so
    assert xdg.sync(True, new) is True  # another command: rewritten
    assert xdg.current_command() == new
    validate(entry_path(config_home))
    assert xdg.sync(False, new) is True and not entry_path(config_home).exists()
    assert xdg.sync(False, new) is False


def test_heal_repoints_an_entry_whose_program_is_gone(xdg: XdgAutostart, config_home: Path) -> None:
    current = [installed_program(config_home.parent / "moved-here")]
    xdg.enable(["/opt/removed-install/pbx-companion", "--config", "/c.toml"])
    assert xdg.heal(current) is True
    assert xdg.current_command() == current and xdg.is_enabled()
    assert xdg.heal(current) is False


def test_heal_leaves_another_existing_installation_alone(xdg: XdgAutostart, config_home: Path) -> None:
    other = [installed_program(config_home.parent / "system-install")]
    xdg.enable(other)
    assert xdg.heal([installed_program(config_home.parent / "checkout")]) is False
    assert xdg.current_command() == other


def test_a_bare_program_name_found_in_path_is_not_stale(xdg: XdgAutostart, config_home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = config_home.parent / "bin"
    installed_program(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    xdg.enable([APP_NAME])
    assert xdg.heal(["/elsewhere/pbx-companion"]) is False
    assert xdg.current_command() == [APP_NAME]


@pytest.mark.parametrize("switch", ["X-GNOME-Autostart-enabled=false", "Hidden=true"])
def test_an_entry_switched_off_by_the_desktop_reads_as_off(switch: str, xdg: XdgAutostart,
                                                           config_home: Path) -> None:
    command = [installed_program(config_home.parent / "app")]
    xdg.enable(command)
    path = entry_path(config_home)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if not line.startswith("X-GNOME-Autostart-enabled")]
    path.write_text("\n".join([*lines, switch]) + "\n", encoding="utf-8")

    assert xdg.exists() and not xdg.is_enabled()
    assert xdg.heal(command) is False and path.read_text(encoding="utf-8").endswith(switch + "\n")  # left so
    assert xdg.sync(True, command) is True  # ticking the box in the app switches it on again
    assert xdg.is_enabled()
    validate(path)


def test_an_entry_that_is_not_a_desktop_entry_reads_as_off(xdg: XdgAutostart, config_home: Path) -> None:
    path = entry_path(config_home)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe not a desktop file")
    assert xdg.exists() and not xdg.is_enabled() and xdg.current_command() is None
    assert xdg.sync(False, ["x"]) is True and not path.exists()


def test_an_unwritable_autostart_folder_is_a_readable_error(xdg: XdgAutostart, config_home: Path) -> None:
    # a file where the folder should be: mkdir fails for root too (chmod would not stop root)
    config_home.mkdir()
    (config_home / "autostart").write_text("", encoding="utf-8")
    with pytest.raises(AutostartError) as caught:
        xdg.enable(["/usr/bin/pbx-companion"])
    message = str(caught.value)
    assert message == (f"The autostart entry {entry_path(config_home)} could not be written: "
                       f"{config_home / 'autostart'} is a file, not a folder")
    assert not xdg.exists() and not xdg.is_enabled()
    xdg.disable()  # there is no entry behind a file: nothing to remove


def test_an_entry_that_cannot_be_replaced_or_removed_is_a_readable_error(xdg: XdgAutostart,
                                                                         config_home: Path) -> None:
    path = entry_path(config_home)
    path.mkdir(parents=True)  # a folder in the entry's place: rename and unlink fail for root too
    with pytest.raises(AutostartError, match=r"could not be written: .* is a folder$"):
        xdg.enable(["/usr/bin/pbx-companion"])
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # the temporary file was cleaned up
    with pytest.raises(AutostartError, match=r"could not be removed: .* is a folder$"):
        xdg.disable()


# -- macOS LaunchAgent ---------------------------------------------------------------------------------


def test_the_launch_agent_has_the_keys_launchd_needs(tmp_path: Path) -> None:
    agent = autostart_for_platform("darwin", home=tmp_path)
    assert isinstance(agent, LaunchAgent)
    command = ["/Applications/PBX Companion.app/Contents/MacOS/pbx-companion", "--config", "/Users/a b/c.toml"]
    agent.enable(command)

    path = tmp_path / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
    assert agent.location == str(path)
    with path.open("rb") as stream:
        plist = plistlib.load(stream)
    assert plist == {"Label": APP_ID, "ProgramArguments": command, "RunAtLoad": True,
                     "ProcessType": "Interactive", "LimitLoadToSessionType": "Aqua"}
    assert path.read_bytes().startswith(b"<?xml")
    assert agent.is_enabled() and agent.current_command() == command
    assert agent.sync(True, command) is False

    agent.disable()
    assert not path.exists() and not agent.is_enabled()
    agent.disable()


def test_a_disabled_or_broken_launch_agent_reads_as_off(tmp_path: Path) -> None:
    agent = LaunchAgent(tmp_path)
    agent.enable(["/Applications/x"])
    with agent.path.open("rb") as stream:
        plist = plistlib.load(stream)
    agent.path.write_bytes(plistlib.dumps({**plist, "Disabled": True}))
    assert agent.exists() and not agent.is_enabled()
    agent.path.write_text("<plist><dict><key>Label", encoding="utf-8")
    assert not agent.is_enabled() and agent.current_command() is None
    assert agent.sync(True, ["/Applications/x"]) is True and agent.is_enabled()


def test_a_launch_agent_folder_that_is_a_file_is_a_readable_error(tmp_path: Path) -> None:
    (tmp_path / "Library").mkdir()
    (tmp_path / "Library" / "LaunchAgents").write_text("", encoding="utf-8")
    with pytest.raises(AutostartError, match="LaunchAgents is a file, not a folder"):
        LaunchAgent(tmp_path).enable(["/Applications/x"])


# -- Windows Run key (in-memory registry) -----------------------------------------------------------------


class MemoryRegistry:
    """The registry as a dict of ``(key, value name) -> data``: the only stand-in in this file,
    because ``winreg`` exists on Windows alone. ``refuse`` makes writes fail like a locked key."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Any] = {}
        self.refuse = False

    def read(self, key: str, name: str) -> Any:
        return self.values.get((key, name))

    def write(self, key: str, name: str, value: str) -> None:
        if self.refuse:
            raise PermissionError(13, "Access is denied")
        self.values[(key, name)] = value

    def delete(self, key: str, name: str) -> None:
        if self.refuse:
            raise PermissionError(13, "Access is denied")
        self.values.pop((key, name), None)


EXE = r"C:\Program Files\PBX Companion\pbx-companion.exe"


def test_the_run_value_is_what_the_installer_writes() -> None:
    registry = MemoryRegistry()
    run_key = WindowsRunKey(registry)
    run_key.enable([EXE])
    assert registry.values == {(RUN_KEY, APP_ID): f'"{EXE}"'}
    assert run_key.location == rf"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\{APP_ID}"
    assert run_key.is_enabled() and run_key.current_command() == [EXE]
    # the installer's own value is recognised as this very command: nothing to rewrite
    assert run_key.sync(True, [EXE]) is False


def test_the_run_value_keeps_arguments_and_disable_removes_it() -> None:
    registry = MemoryRegistry()
    run_key = WindowsRunKey(registry)
    command = [EXE, "--config", r"C:\Users\Ann Lee\pbx\settings.toml", "--data-dir", "D:\\data dir\\"]
    run_key.enable(command)
    assert registry.values[(RUN_KEY, APP_ID)] == (
        rf'"{EXE}" --config "C:\Users\Ann Lee\pbx\settings.toml" --data-dir "D:\data dir\\"')
    assert run_key.current_command() == command
    run_key.disable()
    assert registry.values == {} and not run_key.exists() and not run_key.is_enabled()
    run_key.disable()


def test_switched_off_in_task_manager_reads_as_off_until_ticked_again() -> None:
    registry = MemoryRegistry()
    run_key = WindowsRunKey(registry)
    run_key.enable([EXE])
    registry.values[(STARTUP_APPROVED_KEY, APP_ID)] = bytes.fromhex("03000000d40d438dc83bd901")
    assert run_key.exists() and not run_key.is_enabled()
    assert run_key.heal([EXE]) is False  # the user's choice made elsewhere stays
    registry.values[(STARTUP_APPROVED_KEY, APP_ID)] = bytes.fromhex("020000000000000000000000")
    assert run_key.is_enabled()
    registry.values[(STARTUP_APPROVED_KEY, APP_ID)] = bytes.fromhex("03000000d40d438dc83bd901")
    assert run_key.sync(True, [EXE]) is True
    assert run_key.is_enabled() and (STARTUP_APPROVED_KEY, APP_ID) not in registry.values


def test_heal_repoints_a_run_value_whose_program_is_gone(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    run_key = WindowsRunKey(registry)
    run_key.enable([EXE])  # no such file on this machine: an installation that is gone
    here = [installed_program(tmp_path / "here")]
    assert run_key.heal(here) is True and run_key.current_command() == here
    assert run_key.heal([installed_program(tmp_path / "other")]) is False


def test_a_refused_registry_write_is_a_readable_error() -> None:
    registry = MemoryRegistry()
    registry.refuse = True
    run_key = WindowsRunKey(registry)
    with pytest.raises(AutostartError) as caught:
        run_key.enable([EXE])
    assert str(caught.value) == (rf"The autostart entry HKEY_CURRENT_USER\{RUN_KEY}\{APP_ID} could not be "
                                 "written: Access is denied")
    with pytest.raises(AutostartError, match="could not be removed: Access is denied"):
        run_key.disable()


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='\x00"'), min_size=1),
       st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")), max_size=4))
def test_windows_command_lines_round_trip(program: str, arguments: list[str]) -> None:
    command = [program, *arguments]
    assert windows_command_line_split(windows_command_line(command)) == command


def test_windows_command_lines_written_by_others_are_read_too() -> None:
    assert windows_command_line_split(r"C:\pbx\pbx-companion.exe --data-dir C:\d") == [
        r"C:\pbx\pbx-companion.exe", "--data-dir", r"C:\d"]
    assert windows_command_line_split(r'"C:\a b\x.exe" a\\\"b "c""d" e\f') == [r"C:\a b\x.exe", 'a\\"b', 'c"d', r"e\f"]


# -- pbx-companion autostart ------------------------------------------------------------------------------


def run_cli(*args: str, config_home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "app", "autostart", *args], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)


def test_the_autostart_command_switches_the_entry_on_and_off(tmp_path: Path) -> None:
    config_home = tmp_path / "config-home"
    path = entry_path(config_home)
    (tmp_path / "work dir").mkdir()

    on = run_cli("on", "--config", "my settings.toml", config_home=config_home, cwd=tmp_path / "work dir")
    assert on.returncode == 0 and not on.stderr, on.stderr
    expected = launch_command(["--config", str(tmp_path / "work dir" / "my settings.toml")])
    assert on.stdout.splitlines()[:2] == ["start at login: on", f"entry: {path}"]
    assert XdgAutostart(config_home).current_command() == expected
    validate(path)

    status = run_cli("status", config_home=config_home, cwd=tmp_path)
    assert status.returncode == 0 and status.stdout == on.stdout

    off = run_cli("off", config_home=config_home, cwd=tmp_path)
    assert off.returncode == 0
    assert off.stdout.splitlines() == ["start at login: off", f"entry: {path} (none)"]
    assert not path.exists()


def test_the_autostart_command_reports_a_failure_in_one_line(tmp_path: Path) -> None:
    config_home = tmp_path / "config-home"
    config_home.mkdir()
    (config_home / "autostart").write_text("", encoding="utf-8")
    proc = run_cli("on", config_home=config_home, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        (f"pbx-companion: error: The autostart entry {entry_path(config_home)} could not be written: "
         f"{config_home / 'autostart'} is a file, not a folder")]
