"""The one label class of the windows: text shown as it is, never guessed to be markup.

``QLabel`` defaults to ``Qt.AutoText``: text that ``Qt::mightBeRichText`` takes for HTML is
rendered as rich text, so a contact named ``<img src="/path/to/a/fifo">`` made Qt open that file
(the process froze) and ``<a href=…>`` became a link. Every label of the app is a
:class:`PlainLabel`: plain text format, and what it is given loses its control and bidi-override
characters (:func:`app.ui.format.plain_text`, line breaks kept for multi-line messages).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from .format import plain_text

__all__ = ["PlainLabel"]


class PlainLabel(QLabel):
    """A ``QLabel`` with ``Qt.PlainText``; ``setText`` drops control and bidi characters."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        if text:
            self.setText(text)

    def setText(self, text: str, /) -> None:
        super().setText(plain_text(text, multiline=True))
