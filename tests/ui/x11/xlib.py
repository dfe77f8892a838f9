"""The X server's own view, through libX11/libXtst/libXrandr (ctypes): no Qt in between.

Qt reports what it believes (``QApplication.focusWidget()``); the X server decides where keys
really go. These helpers ask the server which window has the input focus, send real key and
button events through the XTEST extension, read a window's pixels as the server holds them,
watch top-level windows being mapped, and define RandR monitors so that one Xvfb screen shows
up in Qt as two screens. :mod:`tests.ui.x11.trayhost` builds a system tray on the same calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import time
from dataclasses import dataclass

Display = ctypes.c_void_p
Window = Atom = Time = VisualID = ctypes.c_ulong

# Event types and masks (X11/X.h).
DESTROY_NOTIFY, UNMAP_NOTIFY, MAP_NOTIFY, REPARENT_NOTIFY = 17, 18, 19, 21
PROPERTY_NOTIFY, SELECTION_CLEAR, CLIENT_MESSAGE = 28, 29, 33
STRUCTURE_NOTIFY_MASK, SUBSTRUCTURE_NOTIFY_MASK, PROPERTY_CHANGE_MASK = 1 << 17, 1 << 19, 1 << 22
NO_EVENT_MASK = 0
PROP_MODE_REPLACE, PROP_MODE_APPEND = 0, 2
CURRENT_TIME = 0
Z_PIXMAP = 2
ALL_PLANES = (1 << 64) - 1


class XAnyEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", Display), ("window", Window)]


class XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", Display), ("window", Window), ("message_type", Atom), ("format", ctypes.c_int),
                ("data", ctypes.c_long * 5)]


class XStructureEvent(ctypes.Structure):
    """The head that DestroyNotify, UnmapNotify, MapNotify and ReparentNotify share: ``event`` is the
    window whose event mask asked for it, ``window`` the one it happened to."""

    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", Display), ("event", Window), ("window", Window)]


class XReparentEvent(ctypes.Structure):
    _fields_ = [*XStructureEvent._fields_, ("parent", Window), ("x", ctypes.c_int), ("y", ctypes.c_int),
                ("override_redirect", ctypes.c_int)]


class XPropertyEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", Display), ("window", Window), ("atom", Atom), ("time", Time), ("state", ctypes.c_int)]


class XEvent(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("xany", XAnyEvent), ("xclient", XClientMessageEvent),
                ("xstructure", XStructureEvent), ("xreparent", XReparentEvent), ("xproperty", XPropertyEvent),
                ("pad", ctypes.c_long * 24)]


class XImage(ctypes.Structure):
    """Only the head of Xlib's XImage: the size; pixels are read with ``XGetPixel``."""

    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int)]


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
    def parse(cls, name: str, text: str) -> MonitorSpec:
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


_int, _uint, _long, _ulong, _str, _ptr = (ctypes.c_int, ctypes.c_uint, ctypes.c_long, ctypes.c_ulong,
                                          ctypes.c_char_p, ctypes.c_void_p)
_event = ctypes.POINTER(XEvent)

# name: (restype, argtypes) of the libX11 calls used here and in trayhost.py. Declared once:
# without argtypes ctypes passes Python ints as C int, which truncates 64-bit pointers.
_X11_CALLS: dict[str, tuple[object, list[object]]] = {
    "XOpenDisplay": (Display, [_str]),
    "XCloseDisplay": (_int, [Display]),
    "XDefaultScreen": (_int, [Display]),
    "XRootWindow": (Window, [Display, _int]),
    "XDefaultRootWindow": (Window, [Display]),
    "XDisplayWidth": (_int, [Display, _int]),
    "XDefaultVisual": (_ptr, [Display, _int]),
    "XVisualIDFromVisual": (VisualID, [_ptr]),
    "XConnectionNumber": (_int, [Display]),
    "XFlush": (_int, [Display]),
    "XSync": (_int, [Display, _int]),
    "XPending": (_int, [Display]),
    "XNextEvent": (_int, [Display, _event]),
    "XWindowEvent": (_int, [Display, Window, _long, _event]),
    "XSendEvent": (_int, [Display, Window, _int, _long, _event]),
    "XSelectInput": (_int, [Display, Window, _long]),
    "XSetErrorHandler": (_ptr, [_ptr]),
    "XInternAtom": (Atom, [Display, _str, _int]),
    "XChangeProperty": (_int, [Display, Window, Atom, Atom, _int, _int, _ptr, _int]),
    "XSetSelectionOwner": (_int, [Display, Atom, Window, Time]),
    "XGetSelectionOwner": (Window, [Display, Atom]),
    "XCreateSimpleWindow": (Window, [Display, Window, _int, _int, _uint, _uint, _uint, _ulong, _ulong]),
    "XDestroyWindow": (_int, [Display, Window]),
    "XStoreName": (_int, [Display, Window, _str]),
    "XFetchName": (_int, [Display, Window, ctypes.POINTER(_str)]),
    "XMapWindow": (_int, [Display, Window]),
    "XUnmapWindow": (_int, [Display, Window]),
    "XReparentWindow": (_int, [Display, Window, Window, _int, _int]),
    "XMoveResizeWindow": (_int, [Display, Window, _int, _int, _uint, _uint]),
    "XAddToSaveSet": (_int, [Display, Window]),
    "XRemoveFromSaveSet": (_int, [Display, Window]),
    "XGetInputFocus": (_int, [Display, ctypes.POINTER(Window), ctypes.POINTER(_int)]),
    "XStringToKeysym": (_ulong, [_str]),
    "XKeysymToKeycode": (ctypes.c_ubyte, [Display, _ulong]),
    "XGetImage": (ctypes.POINTER(XImage), [Display, Window, _int, _int, _uint, _uint, _ulong, _int]),
    "XGetPixel": (_ulong, [ctypes.POINTER(XImage), _int, _int]),
    "XDestroyImage": (_int, [ctypes.POINTER(XImage)]),
    "XFree": (_int, [_ptr]),
}


@functools.cache
def libx11() -> ctypes.CDLL:
    """libX11 with every call of :data:`_X11_CALLS` declared."""
    x11 = _load("X11")
    if x11 is None:
        raise RuntimeError("libX11 is not installed")
    for name, (restype, argtypes) in _X11_CALLS.items():
        function = getattr(x11, name)
        function.restype, function.argtypes = restype, argtypes
    return x11


class XErrors:
    """Xlib's default error handler exits the process; windows of other clients may vanish at any
    time (an icon destroyed before we reparent it), so count errors instead (process-wide).

    ``since(mark)`` says whether an error arrived after ``mark = XErrors.count`` (call ``XSync`` first).
    """

    count = 0
    _handler: object = None

    @classmethod
    def install(cls) -> None:
        if cls._handler is None:
            def record(display: int, error: int) -> int:
                cls.count += 1
                return 0

            cls._handler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(record)
            libx11().XSetErrorHandler(ctypes.cast(cls._handler, ctypes.c_void_p))

    @classmethod
    def since(cls, mark: int) -> bool:
        return cls.count > mark


def open_display(display: str | None = None) -> tuple[ctypes.CDLL, int]:
    """A new connection to ``display`` (``$DISPLAY`` when None)."""
    x11 = libx11()
    XErrors.install()
    dpy = x11.XOpenDisplay(display.encode() if display else None)
    if not dpy:
        raise RuntimeError(f"cannot open the X display {display or '$DISPLAY'}")
    return x11, dpy


class XServer:
    """A second, plain connection to the X server the Qt application uses (``$DISPLAY`` by default)."""

    def __init__(self, display: str | None = None) -> None:
        self._x11, self._dpy = open_display(display)
        self.root = self._x11.XDefaultRootWindow(self._dpy)
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
        window, revert = Window(), ctypes.c_int()
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

    def window_pixels(self, window: int, width: int, height: int) -> tuple[int, ...] | None:
        """The window's pixels as the X server holds them (what the screen shows there), row by row;
        None when the window is gone or not viewable."""
        mark = XErrors.count
        image = self._x11.XGetImage(self._dpy, window, 0, 0, width, height, ALL_PLANES, Z_PIXMAP)
        self._x11.XSync(self._dpy, 0)
        if not image or XErrors.since(mark):
            return None
        try:
            return tuple(self._x11.XGetPixel(image, x, y) for y in range(height) for x in range(width))
        finally:
            self._x11.XDestroyImage(image)

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


class MapWatcher:
    """Our own connection to the X server, told about every top-level window that gets mapped
    (``SubstructureNotify`` on the root window): when the app's windows appear on the server."""

    def __init__(self, display: str) -> None:
        self._x, self._dpy = open_display(display)
        self._x.XSelectInput(self._dpy, self._x.XDefaultRootWindow(self._dpy), SUBSTRUCTURE_NOTIFY_MASK)
        self._x.XSync(self._dpy, 0)
        self.fd = self._x.XConnectionNumber(self._dpy)

    def poll(self) -> tuple[float, str] | None:
        """The first MapNotify pending on the connection: (when we read it, the window's name)."""
        event = XEvent()
        while self._x.XPending(self._dpy):
            self._x.XNextEvent(self._dpy, ctypes.byref(event))
            if event.type == MAP_NOTIFY:
                at = time.monotonic()
                name = ctypes.c_char_p()
                title = ""
                if self._x.XFetchName(self._dpy, event.xstructure.window, ctypes.byref(name)) and name.value:
                    title = name.value.decode(errors="replace")
                    self._x.XFree(name)
                return at, title
        return None

    def mapped_titles(self) -> list[str]:
        """Names of every top-level window mapped since the last call (read now)."""
        titles = []
        while (mapped := self.poll()) is not None:
            titles.append(mapped[1])
        return titles

    def close(self) -> None:
        if self._dpy:
            self._x.XCloseDisplay(self._dpy)
            self._dpy = None
