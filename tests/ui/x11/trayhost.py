"""A minimal system tray for Xvfb: the freedesktop System Tray Protocol (XEmbed), host side.

Under bare Xvfb ``QSystemTrayIcon.isSystemTrayAvailable()`` is False and the app shows its
fallback main window; agents' desktops have a tray. No Debian 12 package offers a standalone
XEmbed tray without a desktop toolkit, so this is one, on libX11 through ctypes (the calls are
declared in :mod:`tests.ui.x11.xlib`):

1. a visible "panel" window (400x32, top right of the screen) owns the manager selection
   ``_NET_SYSTEM_TRAY_S<screen>`` and carries ``_NET_SYSTEM_TRAY_ORIENTATION`` (horizontal) and
   ``_NET_SYSTEM_TRAY_VISUAL`` (the default visual: no alpha channel, so Qt paints its icon over
   a ParentRelative background);
2. it announces itself with the ``MANAGER`` ClientMessage on the root window, so that clients
   started earlier find it too (Qt's ``QXcbSystemTrayTracker`` listens for it);
3. a ``_NET_SYSTEM_TRAY_OPCODE`` message with ``SYSTEM_TRAY_REQUEST_DOCK`` docks the window it
   names: added to our save-set (if this host dies the icon goes back to the root instead of
   being destroyed under its client), reparented into the panel at the next free slot, sized,
   told ``XEMBED_EMBEDDED_NOTIFY`` and mapped;
4. a docked window that is destroyed or reparented elsewhere is undocked.

Qt looks for the selection of its primary screen (``_NET_SYSTEM_TRAY_S0`` on Xvfb) and falls
back to the root visual when ``_NET_SYSTEM_TRAY_VISUAL`` is missing; it prefers a
StatusNotifierItem over D-Bus when a session bus with a watcher exists, so run the client
without ``DBUS_SESSION_BUS_ADDRESS``.

Run as a process (``DISPLAY`` from the environment)::

    python -m tests.ui.x11.trayhost [--icon-size 24]

It prints, one flushed line each: ``ready`` once it owns the selection,
``docked <window> <x> <y> <width> <height>`` (the icon's place in root coordinates, for a real
click) and ``undocked <window>``; windows in hex. SIGTERM or SIGINT: the icons are unmapped and
handed back to the root window, and the host exits 0. :class:`TrayHost` runs it for tests and
the benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from tests.ui.x11 import xlib
from tests.ui.x11.xlib import XErrors, XEvent

ROOT = Path(__file__).resolve().parents[3]
PANEL_SIZE = (400, 32)
PANEL_BACKGROUND = 0x2E3440  # a dark panel (24-bit TrueColor pixel): icons stand out on screenshots
ICON_GAP = 4
# System Tray Protocol opcodes and the XEmbed message we send.
SYSTEM_TRAY_REQUEST_DOCK = 0
XEMBED_EMBEDDED_NOTIFY = 0
XEMBED_VERSION = 0
ORIENTATION_HORIZONTAL = 0


@dataclass(frozen=True)
class DockedIcon:
    """A docked icon window and its place on the screen (root coordinates)."""

    window: int
    x: int
    y: int
    width: int
    height: int

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def line(self) -> str:
        return f"docked {self.window:#x} {self.x} {self.y} {self.width} {self.height}"


# -- the host process -----------------------------------------------------------------------------

class TrayManager:
    """The tray manager on its own X connection: the panel, the selection, the docked icons."""

    def __init__(self, icon_size: int = 24) -> None:
        self.x, self.dpy = xlib.open_display()
        x, dpy = self.x, self.dpy
        self.icon_size = icon_size
        self.screen = x.XDefaultScreen(dpy)
        self.root = x.XRootWindow(dpy, self.screen)
        self.atoms = {name: x.XInternAtom(dpy, name.encode(), 0) for name in (
            f"_NET_SYSTEM_TRAY_S{self.screen}", "_NET_SYSTEM_TRAY_OPCODE", "_NET_SYSTEM_TRAY_ORIENTATION",
            "_NET_SYSTEM_TRAY_VISUAL", "MANAGER", "_XEMBED", "CARDINAL", "VISUALID", "_TRAYHOST_TIMESTAMP")}
        self.selection = self.atoms[f"_NET_SYSTEM_TRAY_S{self.screen}"]
        width, height = PANEL_SIZE
        self.panel_x, self.panel_y = x.XDisplayWidth(dpy, self.screen) - width, 0
        self.panel = x.XCreateSimpleWindow(dpy, self.root, self.panel_x, self.panel_y, width, height, 0, 0,
                                           PANEL_BACKGROUND)
        x.XStoreName(dpy, self.panel, b"trayhost panel")
        # PropertyChange: the server timestamp below; SubstructureNotify: icons destroyed or taken away.
        x.XSelectInput(dpy, self.panel, xlib.PROPERTY_CHANGE_MASK | xlib.SUBSTRUCTURE_NOTIFY_MASK)
        self._set_property32(self.panel, "_NET_SYSTEM_TRAY_ORIENTATION", "CARDINAL", ORIENTATION_HORIZONTAL)
        visual = x.XVisualIDFromVisual(x.XDefaultVisual(dpy, self.screen))
        self._set_property32(self.panel, "_NET_SYSTEM_TRAY_VISUAL", "VISUALID", visual)
        x.XMapWindow(dpy, self.panel)
        self.slots: dict[int, DockedIcon] = {}   # slot index -> icon
        self.fd = x.XConnectionNumber(dpy)

    def _set_property32(self, window: int, name: str, kind: str, value: int) -> None:
        data = ctypes.c_long(value)  # format-32 properties are C longs in Xlib
        self.x.XChangeProperty(self.dpy, window, self.atoms[name], self.atoms[kind], 32, xlib.PROP_MODE_REPLACE,
                               ctypes.byref(data), 1)

    def _server_time(self) -> int:
        """A real server timestamp (ICCCM: manager selections are not taken at CurrentTime): append
        nothing to a property of our own window and read the time off the PropertyNotify."""
        self.x.XChangeProperty(self.dpy, self.panel, self.atoms["_TRAYHOST_TIMESTAMP"], self.atoms["CARDINAL"], 32,
                               xlib.PROP_MODE_APPEND, None, 0)
        event = XEvent()
        self.x.XWindowEvent(self.dpy, self.panel, xlib.PROPERTY_CHANGE_MASK, ctypes.byref(event))
        return event.xproperty.time

    def _client_message(self, window: int, message_type: int, *data: int) -> XEvent:
        event = XEvent()
        message = event.xclient
        message.type, message.window, message.message_type, message.format = (xlib.CLIENT_MESSAGE, window,
                                                                              message_type, 32)
        for index, value in enumerate(data):
            message.data[index] = value
        return event

    def acquire(self) -> bool:
        """Own the tray selection and tell every client so (the ``MANAGER`` broadcast)."""
        x, dpy = self.x, self.dpy
        timestamp = self._server_time()
        if x.XGetSelectionOwner(dpy, self.selection):
            return False  # another tray runs on this screen
        x.XSetSelectionOwner(dpy, self.selection, self.panel, timestamp)
        if x.XGetSelectionOwner(dpy, self.selection) != self.panel:
            return False
        announce = self._client_message(self.root, self.atoms["MANAGER"], timestamp, self.selection, self.panel)
        x.XSendEvent(dpy, self.root, 0, xlib.STRUCTURE_NOTIFY_MASK, ctypes.byref(announce))
        x.XSync(dpy, 0)
        return True

    def _free_slot(self) -> int:
        return next(slot for slot in range(len(self.slots) + 1) if slot not in self.slots)

    def _slot_of(self, window: int) -> int | None:
        return next((slot for slot, icon in self.slots.items() if icon.window == window), None)

    def dock(self, window: int) -> DockedIcon | None:
        """Embed ``window`` (None if it vanished before we could)."""
        if self._slot_of(window) is not None:
            return None
        x, dpy, size = self.x, self.dpy, self.icon_size
        slot = self._free_slot()
        left, top = ICON_GAP + slot * (size + ICON_GAP), (PANEL_SIZE[1] - size) // 2
        mark = XErrors.count
        x.XSelectInput(dpy, window, xlib.STRUCTURE_NOTIFY_MASK)
        x.XAddToSaveSet(dpy, window)
        x.XReparentWindow(dpy, window, self.panel, left, top)
        x.XMoveResizeWindow(dpy, window, left, top, size, size)
        notify = self._client_message(window, self.atoms["_XEMBED"], xlib.CURRENT_TIME, XEMBED_EMBEDDED_NOTIFY, 0,
                                      self.panel, XEMBED_VERSION)
        x.XSendEvent(dpy, window, 0, xlib.NO_EVENT_MASK, ctypes.byref(notify))
        x.XMapWindow(dpy, window)
        x.XSync(dpy, 0)
        if XErrors.since(mark):
            return None
        icon = self.slots[slot] = DockedIcon(window, self.panel_x + left, self.panel_y + top, size, size)
        return icon

    def undock(self, window: int) -> bool:
        slot = self._slot_of(window)
        if slot is None:
            return False
        del self.slots[slot]
        return True

    def handle(self, event: XEvent) -> str | None:
        """One X event; the line to print about it, if any."""
        kind = event.type
        if kind == xlib.CLIENT_MESSAGE and event.xclient.message_type == self.atoms["_NET_SYSTEM_TRAY_OPCODE"]:
            if event.xclient.data[1] == SYSTEM_TRAY_REQUEST_DOCK:
                icon = self.dock(event.xclient.data[2] & 0xFFFFFFFF)
                return icon.line() if icon else None
        elif kind == xlib.DESTROY_NOTIFY or (kind == xlib.REPARENT_NOTIFY and event.xreparent.parent != self.panel):
            window = event.xstructure.window
            if self.undock(window):
                return f"undocked {window:#x}"
        elif kind == xlib.SELECTION_CLEAR:
            raise SystemExit("trayhost: another tray manager took the selection")
        return None

    def run(self, stop: threading.Event, wakeup_fd: int) -> None:
        event = XEvent()
        while not stop.is_set():
            while self.x.XPending(self.dpy):
                self.x.XNextEvent(self.dpy, ctypes.byref(event))
                line = self.handle(event)
                if line:
                    print(line, flush=True)
            select.select([self.fd, wakeup_fd], [], [], 1.0)

    def close(self) -> None:
        """Hand the icons back to the root window, unmapped (their clients see the tray go away and
        hide them), then drop the panel and with it the selection."""
        x, dpy = self.x, self.dpy
        for icon in self.slots.values():
            x.XUnmapWindow(dpy, icon.window)
            x.XReparentWindow(dpy, icon.window, self.root, 0, 0)
            x.XRemoveFromSaveSet(dpy, icon.window)
        self.slots.clear()
        x.XDestroyWindow(dpy, self.panel)
        x.XSync(dpy, 0)
        x.XCloseDisplay(dpy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ui.x11.trayhost", description=__doc__.splitlines()[0])
    parser.add_argument("--icon-size", type=int, default=24, help="width and height of a docked icon (default 24)")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        print("trayhost: DISPLAY is not set", file=sys.stderr)
        return 2
    stop = threading.Event()
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    manager = TrayManager(args.icon_size)
    try:
        if not manager.acquire():
            print("trayhost: another system tray owns the selection on this screen", file=sys.stderr)
            return 1
        print("ready", flush=True)
        manager.run(stop, wakeup_read)
    finally:
        manager.close()
    return 0


# -- the wrapper tests and benchmarks use ---------------------------------------------------------

@dataclass(frozen=True)
class TrayEvent:
    at: float           # time.monotonic() when the line was read
    kind: str           # "docked" or "undocked"
    icon: DockedIcon


class TrayHost:
    """``python -m tests.ui.x11.trayhost`` on ``display``, its lines read as they come.

    ``start()`` returns once the host owns the tray selection (a Qt app started afterwards sees
    a system tray); ``wait_docked`` / ``wait_undocked`` wait for icons; ``docked`` lists the
    icons docked now; ``events`` keeps every dock and undock with the moment its line was read.
    """

    def __init__(self, display: str, icon_size: int = 24) -> None:
        self.display = display
        self.icon_size = icon_size
        self.events: list[TrayEvent] = []
        self._docked: dict[int, DockedIcon] = {}
        self._changed = threading.Condition()
        self._ready = False
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 15.0) -> None:
        env = dict(os.environ, DISPLAY=self.display, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.ui.x11.trayhost", "--icon-size", str(self.icon_size)], cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, name="trayhost-reader", daemon=True)
        self._reader.start()
        with self._changed:
            self._changed.wait_for(lambda: self._ready or self.process.poll() is not None, timeout)
        if not self._ready:
            errors = self.errors()
            self.stop()
            raise RuntimeError(f"the tray host did not start: {errors}")

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            at = time.monotonic()
            words = line.split()
            with self._changed:
                if words == ["ready"]:
                    self._ready = True
                elif words and words[0] == "docked":
                    icon = DockedIcon(int(words[1], 16), *map(int, words[2:6]))
                    self._docked[icon.window] = icon
                    self.events.append(TrayEvent(at, "docked", icon))
                elif words and words[0] == "undocked":
                    icon = self._docked.pop(int(words[1], 16), DockedIcon(int(words[1], 16), 0, 0, 0, 0))
                    self.events.append(TrayEvent(at, "undocked", icon))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def docked(self) -> list[DockedIcon]:
        with self._changed:
            return list(self._docked.values())

    def wait_docked(self, timeout: float, since: float = 0.0) -> TrayEvent | None:
        """The first icon docked at or after ``since`` (time.monotonic()), waiting up to ``timeout`` s."""
        def found() -> TrayEvent | None:
            return next((e for e in self.events if e.kind == "docked" and e.at >= since), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or not self.running, timeout)
            return found()

    def wait_undocked(self, window: int, timeout: float) -> TrayEvent | None:
        def found() -> TrayEvent | None:
            return next((e for e in self.events if e.kind == "undocked" and e.icon.window == window), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or not self.running, timeout)
            return found()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def errors(self) -> str:
        if self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def stop(self) -> int | None:
        """SIGTERM (the host hands the icons back and exits 0); its exit status (None: never started)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        if process is not None and process.stdout is not None:
            with contextlib.suppress(OSError):
                process.stdout.close()
        if not self._stderr.closed:
            self._stderr.close()
        return None if process is None else process.returncode


if __name__ == "__main__":
    sys.exit(main())
