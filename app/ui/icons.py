"""The application icon and the tray's state icons: idle, ringing, missed (with a badge count), offline.

The tray pictures are SVG files in ``resources/icons/tray/`` (found through :mod:`app.resources`, so
the frozen bundle finds them too), rendered with QtSvg at whatever size the panel asks for. "Missed"
is the idle picture plus a red badge whose number is drawn here, at run time, because the count
varies. Each picture's fill contrasts with light and dark panels alike and has a thin dark outline
(tests/ui/test_icons.py measures it).

The tray replaces its icon at every status change, so the parsed SVG documents are cached: each file
is read and parsed once per process, and only the rasterising is repeated.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app import APP_NAME
from app.resources import resource_path

IDLE = "idle"
RINGING = "ringing"
MISSED = "missed"
OFFLINE = "offline"

#: The SVG drawn for each state; "missed" shares the idle picture and adds the badge.
_TRAY_PICTURES = {IDLE: "idle.svg", RINGING: "ringing.svg", MISSED: "idle.svg", OFFLINE: "offline.svg"}
#: Pixmap sizes put into a tray QIcon: what panels ask for (16-24 px), and 2x for HiDPI panels.
_TRAY_SIZES = (16, 22, 24, 32, 48, 64)
#: Sizes of the rendered application icon in ``resources/icons/hicolor`` (see packaging/icons.py).
APP_ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
#: The largest of them in the window icon (see :func:`app_icon`).
WINDOW_ICON_MAX = 256

_BADGE_RED = QColor("#c62828")
_BADGE_RING = QColor("#ffffff")

_renderers: dict[str, QSvgRenderer] = {}


def tray_picture_path(state: str) -> Path:
    """The SVG file drawn for ``state`` (unknown states draw as idle)."""
    return resource_path("icons", "tray", _TRAY_PICTURES.get(state, _TRAY_PICTURES[IDLE]))


def load_svg(path: Path) -> QSvgRenderer:
    """A renderer for the SVG file ``path``; raises if it is missing or QtSvg cannot draw it.

    Checked here because QSvgRenderer itself only logs a Qt warning and then draws nothing, which
    would leave an invisible icon and no clue why.
    """
    if not path.is_file():
        raise FileNotFoundError(f"icon {path} is missing from this installation")
    renderer = QSvgRenderer(str(path))
    if not renderer.isValid():
        raise ValueError(f"icon {path} is not an SVG file QtSvg can draw")
    return renderer


def render_svg(path: Path, size: int) -> QImage:
    """``path`` drawn at ``size`` x ``size`` pixels on transparency (what packaging/icons.py writes)."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    load_svg(path).render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def _renderer(state: str) -> QSvgRenderer:
    path = tray_picture_path(state)
    renderer = _renderers.get(path.name)
    if renderer is None:
        renderer = _renderers[path.name] = load_svg(path)
    return renderer


def _draw_badge(painter: QPainter, size: int, count: int) -> None:
    """A red disc with a white rim in the top-right corner, carrying the count ("99+" above 99)."""
    text = str(count) if count < 100 else "99+"
    diameter = size * 0.56
    rect = QRectF(size - diameter, 0, diameter, diameter)
    painter.setPen(QPen(_BADGE_RING, size / 32))
    painter.setBrush(QBrush(_BADGE_RED))
    painter.drawEllipse(rect)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(1, int(diameter * {1: 0.62, 2: 0.46}.get(len(text), 0.36))))  # "99+" fits too
    painter.setFont(font)
    painter.setPen(_BADGE_RING)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def state_pixmap(state: str, badge: int = 0, size: int = 64) -> QPixmap:
    """The tray picture of ``state`` at ``size`` x ``size`` pixels, with a count badge if ``badge`` > 0."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    _renderer(state).render(painter, QRectF(0, 0, size, size))
    if badge > 0:
        _draw_badge(painter, size, badge)
    painter.end()
    return pixmap


def state_icon(state: str, badge: int = 0) -> QIcon:
    """A QIcon of ``state`` with pixmaps at the sizes panels ask for, so none is scaled blurry."""
    icon = QIcon()
    for size in _TRAY_SIZES:
        icon.addPixmap(state_pixmap(state, badge, size))
    return icon


def app_icon() -> QIcon:
    """The application icon (window icon, task bar) from the PNGs made by ``make icons``.

    Files are added by name, so Qt reads a size only when it draws it. Up to 256 px: X11 hands every
    size of a window icon to the window manager (a 512 px one alone is 1 MiB per window), and no task
    bar or window switcher draws it larger; the 512 px file is for the installed icon theme.
    """
    icon = QIcon()
    for size in (s for s in APP_ICON_SIZES if s <= WINDOW_ICON_MAX):
        path = resource_path("icons", "hicolor", f"{size}x{size}", "apps", f"{APP_NAME}.png")
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    return icon
