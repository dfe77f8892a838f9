"""Start at login: the per-user autostart entry of each OS, installed and removed for real.

One small interface (:class:`Autostart`) with three backends, picked by :func:`autostart_for_platform`:

- Linux and the BSDs: an XDG autostart file ``$XDG_CONFIG_HOME/autostart/<APP_ID>.desktop``
  (:class:`XdgAutostart`), read by every desktop session that follows the XDG Autostart spec;
- Windows: the value ``<APP_ID>`` under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``
  (:class:`WindowsRunKey`), the same value the installer's "start at login" task writes;
- macOS: a LaunchAgent ``~/Library/LaunchAgents/<APP_ID>.plist`` (:class:`LaunchAgent`).

How the app uses it (``app.main.CompanionApp``): **the entry is the truth about whether the app
starts at login**; the ``start_at_login`` setting mirrors it. At start the app reads the entry
(so an entry written by the installer shows as a ticked box on the first run, and an entry the
user removed with the desktop's own startup-apps tool is not put back), and repairs an entry whose
program no longer exists (:meth:`Autostart.heal`: the app was moved or reinstalled elsewhere).
Only an explicit change of the setting (the settings window, ``pbx-companion autostart on|off``)
writes or removes the entry (:meth:`Autostart.sync`).

The command an entry starts is :func:`launch_command`. Reads never raise (an entry that cannot be
read cannot be read by the session either, so it does not start anything); writes raise
:class:`AutostartError` with a sentence a user can act on. No Qt here: the CLI uses this too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from app import APP_ID, APP_NAME

__all__ = [
    "Autostart",
    "AutostartError",
    "LaunchAgent",
    "Registry",
    "WinRegistry",
    "WindowsRunKey",
    "XdgAutostart",
    "autostart_for_platform",
    "desktop_exec_split",
    "desktop_exec_value",
    "launch_command",
    "profile_arguments",
    "windows_command_line",
    "windows_command_line_split",
]


class AutostartError(OSError):
    """The autostart entry could not be written or removed; the message says which entry and why.

    An ``OSError``, so that the command line reports it like any other file error.
    """


def _reason(exc: OSError) -> str:
    """Why a file operation failed, in words ("Permission denied", "... is a file, not a folder")."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename:
        # mkdir over a file, or a path through a file: strerror alone ("File exists") says little
        blocker = Path(exc.filename)
        while blocker != blocker.parent and not blocker.exists():
            blocker = blocker.parent
        if blocker.exists() and not blocker.is_dir():
            return f"{blocker} is a file, not a folder"
    if isinstance(exc, IsADirectoryError) and exc.filename:
        return f"{exc.filename} is a folder"
    return exc.strerror or str(exc) or type(exc).__name__


# -- the command an entry starts ------------------------------------------------------------------


def launch_command(arguments: Sequence[str] = ()) -> list[str]:
    """The command line that starts this installation's tray app, followed by ``arguments``.

    - The PyInstaller bundle (``sys.frozen``): its own executable.
    - A pip or editable install: the ``pbx-companion`` console script beside the interpreter
      (``bin/`` of a virtualenv, ``Scripts\\`` on Windows), which is what a user would type.
    - Otherwise (a bare checkout): ``python -m app`` with this interpreter.

    Every path is absolute: the session starts autostart entries in the home directory.
    """
    if getattr(sys, "frozen", False):
        program = [str(Path(sys.executable).absolute())]
    else:
        interpreter = Path(sys.executable).absolute()
        script = interpreter.with_name(APP_NAME + (".exe" if sys.platform == "win32" else ""))
        program = [str(script)] if script.is_file() else [str(interpreter), "-m", "app"]
    return [*program, *arguments]


def profile_arguments(config: str | None = None, data_dir: str | None = None) -> list[str]:
    """``--config``/``--data-dir`` of the running app, as absolute paths, for its autostart entry.

    They choose *which* settings file and database the app uses, so an app started with
    ``--config X`` must start at login with ``--config X`` too, or it would come up with another
    profile. ``--host``/``--port`` are not passed: they override one run, and the settings
    window writes what should last into the settings file.
    """
    arguments: list[str] = []
    if config:
        arguments += ["--config", str(Path(config).expanduser().absolute())]
    if data_dir:
        arguments += ["--data-dir", str(Path(data_dir).expanduser().absolute())]
    return arguments


def _program_exists(program: str) -> bool:
    """Whether an entry's program is still there (a bare name is looked up in ``PATH``)."""
    if os.sep in program or (os.altsep and os.altsep in program) or Path(program).is_absolute():
        return Path(program).is_file()
    return shutil.which(program) is not None


# -- the interface ---------------------------------------------------------------------------------


class Autostart(ABC):
    """The per-user autostart entry of one OS."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the entry lives (a path or a registry value), for messages and ``autostart status``."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether an entry of ours is there at all (enabled or not)."""

    @abstractmethod
    def is_enabled(self) -> bool:
        """Whether the OS will start the app at the next login (the entry is there and not disabled
        by the desktop's own startup-apps tool)."""

    @abstractmethod
    def current_command(self) -> list[str] | None:
        """The command the entry starts, or None when there is no readable entry."""

    @abstractmethod
    def enable(self, command: Sequence[str]) -> None:
        """Write the entry (replacing any) so that ``command`` runs at login, enabled."""

    @abstractmethod
    def disable(self) -> None:
        """Remove the entry; nothing to do when there is none."""

    def sync(self, want: bool, command: Sequence[str]) -> bool:
        """Make the entry match the setting ``want``; True when something was written or removed.

        On: an entry that is missing, disabled, or starts another command is (re)written. Off:
        the entry is removed, even one the desktop's tool merely disabled.
        """
        if want:
            if self.is_enabled() and self.current_command() == list(command):
                return False
            self.enable(command)
            return True
        if not self.exists():
            return False
        self.disable()
        return True

    def heal(self, command: Sequence[str]) -> bool:
        """At app start: repoint an enabled entry whose program is gone to ``command``; True if so.

        The app was moved or reinstalled elsewhere (a new bundle folder, the app run from a
        mounted disk image before, a recreated virtualenv). An entry whose program still exists is
        left alone even when it differs from ``command``: it may be another installation the user
        or the installer chose, and starting a second copy from a checkout must not take it over.
        A missing or disabled entry is left alone too: that is the user's choice, made elsewhere.
        """
        if not self.is_enabled():
            return False
        current = self.current_command()
        if current and _program_exists(current[0]):
            return False
        self.enable(command)
        return True


def autostart_for_platform(platform: str | None = None, *, home: Path | None = None) -> Autostart:
    """The backend of this OS (``platform`` as in ``sys.platform``; ``home`` for macOS tests)."""
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        return WindowsRunKey()
    if platform == "darwin":
        return LaunchAgent(home)
    return XdgAutostart()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, renamed over it.

    A crash leaves the old entry or the new one, never half a file the session would choke on.
    The temporary name ends in ``.tmp``, not ``.desktop``/``.plist``: a leftover is never read
    as an entry.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise AutostartError(f"The autostart entry {path} could not be written: {_reason(exc)}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise AutostartError(f"The autostart entry {path} could not be written: {_reason(exc)}") from exc


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except NotADirectoryError:  # a parent is a file: there is no entry to remove
        return
    except OSError as exc:
        raise AutostartError(f"The autostart entry {path} could not be removed: {_reason(exc)}") from exc


# -- Linux and the BSDs: XDG autostart --------------------------------------------------------------

# The Desktop Entry spec's reserved characters: an Exec argument holding one must be double-quoted.
_EXEC_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
# Inside double quotes these four are escaped with a backslash.
_EXEC_ESCAPED = re.compile(r'(["`$\\])')
# The string escapes of a value, applied after the quoting (so a literal "\" ends up as "\\\\").
_STRING_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_STRING_UNESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
# Seconds GNOME waits before starting the app, so that the panel (and its tray, through the
# AppIndicator extension) is up when the app asks whether there is a system tray.
AUTOSTART_DELAY_S = 5


def _exec_quote(argument: str) -> str:
    argument = argument.replace("%", "%%")  # a literal % is %% (else it reads as a field code)
    if argument and not _EXEC_RESERVED.intersection(argument):
        return argument
    return '"' + _EXEC_ESCAPED.sub(r"\\\1", argument) + '"'


def desktop_exec_value(command: Sequence[str]) -> str:
    """``command`` as the value of an ``Exec=`` line: quoted per the Desktop Entry spec's rules for
    Exec, then string-escaped like any value of a desktop file.

    One gap is GLib's, not the spec's: GLib looks the program up before it turns ``%%`` back into
    ``%``, so GNOME cannot start a program whose *path* holds a ``%`` (arguments are fine).
    """
    quoted = " ".join(_exec_quote(argument) for argument in command)
    return "".join(_STRING_ESCAPES.get(char, char) for char in quoted)


def _unescape_string(value: str) -> str:
    out, chars = [], iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(_STRING_UNESCAPES.get(following, "\\" + following))
        else:
            out.append(char)
    return "".join(out)


def desktop_exec_split(value: str) -> list[str]:
    """The command of an ``Exec=`` value (the reverse of :func:`desktop_exec_value`).

    Field codes (``%u``, ``%f`` ...) are dropped: at login nothing is passed to the app.
    """
    text = _unescape_string(value)
    arguments: list[str] = []
    current: list[str] = []
    in_argument = in_quotes = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_quotes:
            if char == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 2
                continue
            if char == '"':
                in_quotes = False
            else:
                current.append(char)
        elif char in " \t\n":
            if in_argument:
                arguments.append("".join(current))
                current, in_argument = [], False
        elif char == '"':
            in_quotes = in_argument = True
        else:
            current.append(char)
            in_argument = True
        i += 1
    if in_argument:
        arguments.append("".join(current))
    return [_expand_field_codes(argument) for argument in arguments if not re.fullmatch(r"%[a-zA-Z]", argument)]


def _expand_field_codes(argument: str) -> str:
    return re.sub(r"%(.)", lambda m: "%" if m.group(1) == "%" else "", argument)


def _xdg_config_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME`` when it is an absolute path, else ``~/.config`` (the XDG Base
    Directory spec, which also says to ignore a relative value; the session's autostart reader
    follows the same rule, so the file goes where the session looks)."""
    environ = os.environ if environ is None else environ
    value = environ.get("XDG_CONFIG_HOME", "")
    if value and Path(value).is_absolute():
        return Path(value)
    return Path.home() / ".config"


def _desktop_entry_group(text: str) -> dict[str, str]:
    """The keys of the ``[Desktop Entry]`` group (raw values; comments and other groups skipped)."""
    entries: dict[str, str] = {}
    in_group = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            in_group = line == "[Desktop Entry]"
            continue
        if in_group and "=" in line:
            key, value = line.split("=", 1)
            entries.setdefault(key.strip(), value.strip())
    return entries


class XdgAutostart(Autostart):
    """``$XDG_CONFIG_HOME/autostart/<APP_ID>.desktop``: the desktop session starts it at login.

    The entry stays visible to the desktop's own startup-apps tool (no ``NoDisplay``), so the
    user can see and switch it off there too; such a switch (``Hidden=true`` or
    ``X-GNOME-Autostart-enabled=false``) reads as "off".
    """

    def __init__(self, config_home: Path | None = None) -> None:
        self._config_home = config_home

    @property
    def path(self) -> Path:
        return (self._config_home or _xdg_config_home()) / "autostart" / f"{APP_ID}.desktop"

    @property
    def location(self) -> str:
        return str(self.path)

    def _entry(self) -> dict[str, str] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return _desktop_entry_group(text)

    def exists(self) -> bool:
        return self.path.is_file()

    def is_enabled(self) -> bool:
        entry = self._entry()
        if not entry or not entry.get("Exec"):
            return False
        return (entry.get("Hidden", "false").lower() != "true"
                and entry.get("X-GNOME-Autostart-enabled", "true").lower() != "false")

    def current_command(self) -> list[str] | None:
        entry = self._entry()
        if not entry or not entry.get("Exec"):
            return None
        return desktop_exec_split(entry["Exec"]) or None

    def enable(self, command: Sequence[str]) -> None:
        lines = [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.4",  # not 1.5: desktop-file-validate 0.26 (Debian 12) rejects it, and nothing here needs it
            f"Name={APP_NAME}",
            f"Comment=Starts {APP_NAME} at login; untick Start at login in its settings to stop it",
            f"Exec={desktop_exec_value(command)}",
            f"Icon={APP_NAME}",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            f"X-GNOME-Autostart-Delay={AUTOSTART_DELAY_S}",
        ]
        try:
            data = ("\n".join(lines) + "\n").encode("utf-8")
        except UnicodeEncodeError as exc:  # a path of undecodable bytes (surrogate escapes)
            raise AutostartError(f"The autostart entry {self.path} could not be written: the app's path is not "
                                 f"valid UTF-8") from exc
        _write_atomically(self.path, data)

    def disable(self) -> None:
        _remove(self.path)


# -- Windows: the Run key --------------------------------------------------------------------------

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
# Task Manager's (and Settings → Startup apps') on/off switch for a Run value: a binary value of
# the same name whose first byte is even when enabled (02 ...) and odd when disabled (03 ...).
STARTUP_APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"


class Registry(Protocol):
    """The few registry operations the Run key needs, all under ``HKEY_CURRENT_USER``.

    :class:`WinRegistry` is the real one; tests on Linux pass an in-memory one.
    """

    def read(self, key: str, name: str) -> Any:
        """The value's data, or None when the key or the value does not exist."""

    def write(self, key: str, name: str, value: str) -> None:
        """Set a string (``REG_SZ``) value, creating the key when needed."""

    def delete(self, key: str, name: str) -> None:
        """Delete the value; nothing to do when it does not exist."""


class WinRegistry:
    """:class:`Registry` through ``winreg`` (Windows only)."""

    def __init__(self) -> None:
        import winreg  # type: ignore[import-not-found,unused-ignore]

        self._winreg: Any = winreg

    def read(self, key: str, name: str) -> Any:
        w = self._winreg
        try:
            with w.OpenKey(w.HKEY_CURRENT_USER, key) as handle:
                return w.QueryValueEx(handle, name)[0]
        except FileNotFoundError:
            return None

    def write(self, key: str, name: str, value: str) -> None:
        w = self._winreg
        with w.CreateKeyEx(w.HKEY_CURRENT_USER, key, 0, w.KEY_SET_VALUE) as handle:
            w.SetValueEx(handle, name, 0, w.REG_SZ, value)

    def delete(self, key: str, name: str) -> None:
        w = self._winreg
        try:
            with w.OpenKey(w.HKEY_CURRENT_USER, key, 0, w.KEY_SET_VALUE) as handle:
                w.DeleteValue(handle, name)
        except FileNotFoundError:
            return


def windows_command_line(command: Sequence[str]) -> str:
    """``command`` as one Windows command line, the program always in double quotes.

    With no arguments this is ``"<path to pbx-companion.exe>"``: byte for byte what the
    installer's "start at login" task writes, so the app recognises that value as its own.
    """
    program, *arguments = command
    return " ".join([f'"{program}"', *(subprocess.list2cmdline([argument]) for argument in arguments)])


def windows_command_line_split(line: str) -> list[str]:
    """The reverse of :func:`windows_command_line`, by the rules of ``CommandLineToArgvW``.

    The program name ends at the next quote (no escapes in it); the arguments follow the C
    runtime's rules: 2n backslashes before a quote are n backslashes and the quote toggles
    quoting, 2n+1 are n backslashes and a literal quote, others are literal.
    """
    line = line.lstrip(" \t")
    if line.startswith('"'):
        end = line.find('"', 1)
        program, rest = (line[1:], "") if end < 0 else (line[1:end], line[end + 1:])
    else:
        program = re.match(r"[^ \t]*", line).group()  # type: ignore[union-attr]  # always matches
        rest = line[len(program):]
    arguments: list[str] = []
    current: list[str] = []
    in_argument = in_quotes = False
    i = 0
    while i < len(rest):
        char = rest[i]
        if char in " \t" and not in_quotes:
            if in_argument:
                arguments.append("".join(current))
                current, in_argument = [], False
            i += 1
        elif char == "\\":
            end = i
            while end < len(rest) and rest[end] == "\\":
                end += 1
            count = end - i
            if end < len(rest) and rest[end] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    end += 1
            else:
                current.append("\\" * count)
            in_argument = True
            i = end
        elif char == '"':
            if in_quotes and rest[i + 1:i + 2] == '"':  # "" inside quotes: a literal quote
                current.append('"')
                i += 2
            else:
                in_quotes = not in_quotes
                i += 1
            in_argument = True
        else:
            current.append(char)
            in_argument = True
            i += 1
    if in_argument:
        arguments.append("".join(current))
    return [program, *arguments]


class WindowsRunKey(Autostart):
    """The value ``<APP_ID>`` under ``HKCU\\...\\CurrentVersion\\Run``, data: the quoted command line.

    Windows runs it at login unless the user switched it off in Task Manager or Settings →
    Startup apps, which record that under ``StartupApproved\\Run`` (read here as "off"). Ticking
    "Start at login" in the app is the user's newer word, so :meth:`enable` clears that switch.
    """

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry: Registry = registry if registry is not None else WinRegistry()

    @property
    def location(self) -> str:
        return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{APP_ID}"

    def _data(self) -> str | None:
        try:
            value = self.registry.read(RUN_KEY, APP_ID)
        except OSError:
            return None
        return value if isinstance(value, str) and value.strip() else None

    def exists(self) -> bool:
        return self._data() is not None

    def is_enabled(self) -> bool:
        if self._data() is None:
            return False
        try:
            approved = self.registry.read(STARTUP_APPROVED_KEY, APP_ID)
        except OSError:
            approved = None
        return not (isinstance(approved, (bytes, bytearray)) and approved and approved[0] & 1)

    def current_command(self) -> list[str] | None:
        data = self._data()
        return windows_command_line_split(data) if data is not None else None

    def enable(self, command: Sequence[str]) -> None:
        try:
            self.registry.write(RUN_KEY, APP_ID, windows_command_line(command))
            self.registry.delete(STARTUP_APPROVED_KEY, APP_ID)
        except OSError as exc:
            raise AutostartError(f"The autostart entry {self.location} could not be written: {_reason(exc)}") from exc

    def disable(self) -> None:
        try:
            self.registry.delete(RUN_KEY, APP_ID)
            self.registry.delete(STARTUP_APPROVED_KEY, APP_ID)
        except OSError as exc:
            raise AutostartError(f"The autostart entry {self.location} could not be removed: {_reason(exc)}") from exc


# -- macOS: a LaunchAgent ----------------------------------------------------------------------------


class LaunchAgent(Autostart):
    """``~/Library/LaunchAgents/<APP_ID>.plist`` with ``RunAtLoad``: launchd starts it at login.

    The file is only written or removed, never loaded with ``launchctl``: launchd reads the folder
    at the next login, which is all "start at login" asks. Loading it now (``launchctl bootstrap``)
    would start a second copy at once, and unloading it (``bootout``) would kill the running app,
    which launchd would then count as its job. ``SMAppService`` (macOS 13+) would need a signed
    app. ``ProcessType=Interactive`` keeps launchd from throttling a UI app;
    ``LimitLoadToSessionType=Aqua`` keeps it out of SSH sessions.
    """

    def __init__(self, home: Path | None = None) -> None:
        self._home = home

    @property
    def path(self) -> Path:
        return (self._home or Path.home()) / "Library" / "LaunchAgents" / f"{APP_ID}.plist"

    @property
    def location(self) -> str:
        return str(self.path)

    def _plist(self) -> dict[str, Any] | None:
        import plistlib  # here, not at the top: plistlib loads expat, ~1.7 MiB the app keeps on Linux
        from xml.parsers.expat import ExpatError

        try:
            with self.path.open("rb") as stream:
                data = plistlib.load(stream)
        except (OSError, ValueError, ExpatError):  # InvalidFileException is a ValueError
            return None  # launchd does not load what it cannot parse either
        return data if isinstance(data, dict) else None

    def exists(self) -> bool:
        return self.path.is_file()

    def is_enabled(self) -> bool:
        data = self._plist()
        return bool(data and data.get("RunAtLoad") is True and not data.get("Disabled", False)
                    and self._arguments(data))

    @staticmethod
    def _arguments(data: dict[str, Any]) -> list[str] | None:
        arguments = data.get("ProgramArguments")
        if isinstance(arguments, list) and arguments and all(isinstance(a, str) for a in arguments):
            return list(arguments)
        program = data.get("Program")
        return [program] if isinstance(program, str) and program else None

    def current_command(self) -> list[str] | None:
        data = self._plist()
        return self._arguments(data) if data else None

    def enable(self, command: Sequence[str]) -> None:
        agent = {
            "Label": APP_ID,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            "ProcessType": "Interactive",
            "LimitLoadToSessionType": "Aqua",
        }
        import plistlib

        _write_atomically(self.path, plistlib.dumps(agent, fmt=plistlib.FMT_XML))

    def disable(self) -> None:
        _remove(self.path)
