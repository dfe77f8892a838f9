"""The application icon and the tray's state icons: idle, ringing, missed (with a badge count), offline.

The tray pictures are drawn as SVG (``resources/icons/tray/*.svg``) and rendered by ``make icons``
(packaging/icons.py) to PNGs at the sizes panels ask for, ``tray/<state>-<N>.png``; the app loads
those PNGs (found through :mod:`app.resources`, so the frozen bundle finds them too). Loading PNGs
instead of rendering the SVG at run time keeps QtSvg and the vector rasteriser out of the tray
process: ~3 MiB of its idle RSS (docs/performance.md). "Missed" is the idle picture plus a red badge
whose number is drawn here, at run time, because the count varies. Each picture's fill contrasts
with light and dark panels alike and has a thin dark outline (tests/ui/test_icons.py measures it).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPen, QPixmap

from app import APP_NAME
from app.resources import resource_path

IDLE = "idle"
RINGING = "ringing"
MISSED = "missed"
OFFLINE = "offline"

#: The picture drawn for each state; "missed" shares the idle picture and adds the badge.
TRAY_PICTURES = {IDLE: "idle", RINGING: "ringing", MISSED: "idle", OFFLINE: "offline"}
#: Sizes of the tray PNGs and of the pixmaps in a tray QIcon: what panels ask for (16-24 px), and
#: 2x for HiDPI panels.
TRAY_SIZES = (16, 22, 24, 32, 48, 64)
#: Sizes of the rendered application icon in ``resources/icons/hicolor`` (see packaging/icons.py).
APP_ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
#: The largest of them in the window icon (see :func:`app_icon`).
WINDOW_ICON_MAX = 256

_BADGE_RED = QColor("#c62828")
_BADGE_RING = QColor("#ffffff")

_pictures: dict[tuple[str, int], QPixmap] = {}


def tray_picture_path(state: str, size: int) -> Path:
    """The PNG of ``state`` at ``size`` px (unknown states draw as idle)."""
    picture = TRAY_PICTURES.get(state, TRAY_PICTURES[IDLE])
    return resource_path("icons", "tray", f"{picture}-{size}.png")


def _picture(state: str, size: int) -> QPixmap:
    """The state's picture at ``size`` px: its PNG, or the largest one scaled for other sizes.

    Raises FileNotFoundError naming the file when the installation lacks it: an invisible tray icon
    would leave no clue.
    """
    key = (TRAY_PICTURES.get(state, TRAY_PICTURES[IDLE]), size)
    pixmap = _pictures.get(key)
    if pixmap is None:
        path = tray_picture_path(state, size if size in TRAY_SIZES else max(TRAY_SIZES))
        loaded = QPixmap(str(path)) if path.is_file() else QPixmap()
        if loaded.isNull():
            raise FileNotFoundError(f"icon {path} is missing from this installation")
        if loaded.width() != size:
            loaded = loaded.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        pixmap = _pictures[key] = loaded
    return pixmap


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
    pixmap = QPixmap(_picture(state, size))
    if badge > 0:
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        _draw_badge(painter, size, badge)
        painter.end()
    return pixmap


def state_icon(state: str, badge: int = 0) -> QIcon:
    """A QIcon of ``state`` with pixmaps at the sizes panels ask for, so none is scaled blurry."""
    icon = QIcon()
    for size in TRAY_SIZES:
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
