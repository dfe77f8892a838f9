"""The X server's own view, through libX11/libXtst/libXrandr (ctypes): no Qt in between.

Qt reports what it believes (``QApplication.focusWidget()``); the X server decides where keys
really go. These helpers ask the server which window has the input focus, send real key and
button events through the XTEST extension, and define RandR monitors so that one Xvfb screen
shows up in Qt as two screens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass


class _Monitor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_ulong), ("primary", ctypes.c_int), ("automatic", ctypes.c_int),
                ("noutput", ctypes.c_int), ("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int),
                ("height", ctypes.c_int), ("mwidth", ctypes.c_int), ("mheight", ctypes.c_int),
                ("outputs", ctypes.POINTER(ctypes.c_ulong))]


class _ScreenResources(ctypes.Structure):
    _fields_ = [("timestamp", ctypes.c_ulong), ("configTimestamp", ctypes.c_ulong), ("ncrtc", ctypes.c_int),
                ("crtcs", ctypes.POINTER(ctypes.c_ulong)), ("noutput", ctypes.c_int),
                ("outputs", ctypes.POINTER(ctypes.c_ulong)), ("nmode", ctypes.c_int), ("modes", ctypes.c_void_p)]


@dataclass(frozen=True)
class MonitorSpec:
    name: str
    x: int
    y: int
    width: int
    height: int

    @classmethod
    def parse(cls, name: str, text: str) -> "MonitorSpec":
        """``"1280x800+0+0"`` (the X geometry syntax)."""
        size, x, y = text.split("+")
        width, height = size.split("x")
        return cls(name, int(x), int(y), int(width), int(height))


def _load(name: str) -> ctypes.CDLL | None:
    path = ctypes.util.find_library(name)
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


class XServer:
    """A second, plain connection to the X server the Qt application uses (``$DISPLAY``)."""

    def __init__(self) -> None:
        x11 = _load("X11")
        if x11 is None:
            raise RuntimeError("libX11 is not installed")
        self._x11 = x11
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XDefaultRootWindow.restype = ctypes.c_ulong
        x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x11.XGetInputFocus.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_int)]
        x11.XStringToKeysym.restype = ctypes.c_ulong
        x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
        x11.XKeysymToKeycode.restype = ctypes.c_ubyte
        x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        x11.XInternAtom.restype = ctypes.c_ulong
        x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        x11.XFlush.argtypes = [ctypes.c_void_p]
        x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self._dpy = x11.XOpenDisplay(None)
        if not self._dpy:
            raise RuntimeError("cannot open the X display")
        self.root = x11.XDefaultRootWindow(self._dpy)
        self._xtst = _load("Xtst")
        if self._xtst is not None:
            self._xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
            self._xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
            self._xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                                        ctypes.c_ulong]

    @property
    def has_xtest(self) -> bool:
        return self._xtst is not None

    def close(self) -> None:
        if self._dpy:
            self._x11.XCloseDisplay(self._dpy)
            self._dpy = None

    def focus_window(self) -> int:
        """The window the X server sends key events to (0: none, 1: PointerRoot)."""
        window, revert = ctypes.c_ulong(), ctypes.c_int()
        self._x11.XGetInputFocus(self._dpy, ctypes.byref(window), ctypes.byref(revert))
        return window.value

    def type_text(self, text: str) -> None:
        """Real key presses through XTEST: they go wherever the X server's focus is."""
        assert self._xtst is not None
        for char in text:
            keycode = self._x11.XKeysymToKeycode(self._dpy, self._x11.XStringToKeysym(char.encode()))
            if not keycode:
                raise ValueError(f"no key for {char!r} in the X keymap")
            self._xtst.XTestFakeKeyEvent(self._dpy, keycode, 1, 0)
            self._xtst.XTestFakeKeyEvent(self._dpy, keycode, 0, 0)
        self._x11.XFlush(self._dpy)

    def click(self, x: int, y: int) -> None:
        """Move the pointer to (x, y) on the root window and click the left button."""
        assert self._xtst is not None
        self._xtst.XTestFakeMotionEvent(self._dpy, -1, x, y, 0)
        self._xtst.XTestFakeButtonEvent(self._dpy, 1, 1, 0)
        self._xtst.XTestFakeButtonEvent(self._dpy, 1, 0, 0)
        self._x11.XFlush(self._dpy)

    def set_monitors(self, monitors: list[MonitorSpec]) -> None:
        """Split the screen into RandR 1.5 monitors (Qt makes one QScreen per monitor).

        The first monitor takes over the screen's real output, so the automatic monitor that
        spans the whole screen goes away. Monitors live as long as this connection: keep the
        object open while the application runs.
        """
        xrandr = _load("Xrandr")
        if xrandr is None:
            raise RuntimeError("libXrandr is not installed")
        xrandr.XRRGetScreenResourcesCurrent.restype = ctypes.POINTER(_ScreenResources)
        xrandr.XRRGetScreenResourcesCurrent.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        xrandr.XRRFreeScreenResources.argtypes = [ctypes.POINTER(_ScreenResources)]
        xrandr.XRRSetMonitor.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_Monitor)]
        resources = xrandr.XRRGetScreenResourcesCurrent(self._dpy, self.root)
        output = resources.contents.outputs[0] if resources and resources.contents.noutput else 0
        outputs = (ctypes.c_ulong * 1)(output)
        for index, spec in enumerate(monitors):
            with_output = index == 0 and output != 0
            monitor = _Monitor(self._x11.XInternAtom(self._dpy, spec.name.encode(), 0), int(index == 0), 0,
                               1 if with_output else 0, spec.x, spec.y, spec.width, spec.height,
                               spec.width * 254 // 960, spec.height * 254 // 960,
                               outputs if with_output else None)
            xrandr.XRRSetMonitor(self._dpy, self.root, ctypes.byref(monitor))
        if resources:
            xrandr.XRRFreeScreenResources(resources)
        self._x11.XSync(self._dpy, 0)
