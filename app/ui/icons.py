"""Tray icons drawn at run time: idle, ringing, missed (with a badge count), offline.

Drawn rather than loaded so the badge can carry any count; each has a dark outline so it stays
legible on light and dark panels. (The packaging issue adds the designed application icon.)
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap

IDLE = "idle"
RINGING = "ringing"
MISSED = "missed"
OFFLINE = "offline"

_COLORS = {IDLE: "#2e7d32", RINGING: "#f9a825", MISSED: "#2e7d32", OFFLINE: "#757575"}


def _handset(painter: QPainter, size: int, color: QColor) -> None:
    s = size / 64.0
    path = QPainterPath()
    path.moveTo(18 * s, 8 * s)
    path.cubicTo(10 * s, 10 * s, 6 * s, 18 * s, 10 * s, 28 * s)
    path.cubicTo(16 * s, 42 * s, 24 * s, 50 * s, 38 * s, 56 * s)
    path.cubicTo(48 * s, 60 * s, 56 * s, 54 * s, 56 * s, 46 * s)
    path.lineTo(46 * s, 38 * s)
    path.lineTo(38 * s, 44 * s)
    path.cubicTo(30 * s, 40 * s, 24 * s, 34 * s, 20 * s, 26 * s)
    path.lineTo(26 * s, 18 * s)
    path.closeSubpath()
    painter.setPen(QPen(QColor("#1b1b1b"), max(1.0, 2.5 * s)))
    painter.setBrush(QBrush(color))
    painter.drawPath(path)


def state_pixmap(state: str, badge: int = 0, size: int = 64) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    _handset(painter, size, QColor(_COLORS.get(state, _COLORS[IDLE])))
    if state == RINGING:
        painter.setPen(QPen(QColor("#f9a825"), size / 16))
        for r in (0.22, 0.34):
            painter.drawArc(QRectF(size * (0.62 - r), size * (0.38 - r), size * 2 * r, size * 2 * r), 0, 90 * 16)
    if state == OFFLINE:
        painter.setPen(QPen(QColor("#c62828"), size / 10))
        painter.drawLine(QPointF(size * 0.15, size * 0.15), QPointF(size * 0.85, size * 0.85))
    if badge > 0:
        text = str(badge) if badge < 100 else "99+"
        diameter = size * 0.56
        rect = QRectF(size - diameter, 0, diameter, diameter)
        painter.setPen(QPen(QColor("#ffffff"), size / 32))
        painter.setBrush(QBrush(QColor("#c62828")))
        painter.drawEllipse(rect)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(diameter * (0.62 if len(text) == 1 else 0.46)))
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return pixmap


def state_icon(state: str, badge: int = 0) -> QIcon:
    icon = QIcon()
    for size in (16, 22, 24, 32, 48, 64):
        icon.addPixmap(state_pixmap(state, badge, size))
    return icon
