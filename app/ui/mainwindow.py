"""The main window: what agents get when the desktop has no system tray (bare X, GNOME without
AppIndicator), and what a tray click opens otherwise. Same actions as the tray menu."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QHBoxLayout, QMainWindow, QTabWidget, QToolButton, QVBoxLayout, QWidget

from . import icons
from .labels import PlainLabel
from .tray import ShellActions, Status, StatusText, icon_state


class MainWindow(QMainWindow):
    """Status line, the shell's actions as buttons, and the missed-calls and team panels as tabs.

    Closing it hides it when a tray icon exists; without a tray, closing it would leave the agent
    with no way back, so it only minimises (Quit is an explicit action).
    """

    def __init__(self, actions: ShellActions, has_tray: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("pbx-companion")
        self.actions = actions  # type: ignore[method-assign,assignment]  # QWidget.actions() is unused here
        self.has_tray = has_tray
        self._words = StatusText(self)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        self.status_label = PlainLabel(parent=central)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        buttons = QHBoxLayout()
        self.buttons: list[QToolButton] = []
        for action in (actions.dialer, actions.dial_clipboard, actions.directory, actions.do_not_disturb,
                       actions.settings, actions.diagnostics, actions.quit):
            button = QToolButton(central)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            buttons.addWidget(button)
            self.buttons.append(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.tabs = QTabWidget(central)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.resize(800, 500)  # the team table's columns fit without scrolling (in Russian too)
        self.update_status(Status())

    def add_panel(self, widget: QWidget, title: str) -> None:
        self.tabs.addTab(widget, title)

    def update_status(self, status: Status) -> None:
        self.status_label.setText(self._words.describe(status))
        self.setWindowIcon(icons.state_icon(icon_state(status), status.missed))

    def closeEvent(self, event: QCloseEvent) -> None:
        event.ignore()
        if self.has_tray:
            self.hide()
        else:
            self.showMinimized()
