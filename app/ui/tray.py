"""The tray icon (or, without a tray, the fallback window's status line) and the shared actions."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from . import icons
from .format import plain_tooltip


@dataclass
class Status:
    """What the icon reflects; the application object keeps it up to date."""

    listener_up: bool = False
    listener_error: str = ""
    pbx_problem: str = ""      # "" when the PBX answered (or was not asked yet)
    ringing: int = 0
    missed: int = 0
    # team mode (this app is a team server's client, it has no listener): the connection's state
    # (app.core.team_api: connecting, live, unreachable, rejected); "" standalone. Why it failed is
    # the core's English and goes to the log (Diagnostics shows the file), not into the agent's status.
    team: str = ""

    @property
    def offline(self) -> bool:
        """Calls cannot reach this app: no listener standalone, the team server away or refusing."""
        if self.team:
            return self.team in ("unreachable", "rejected")
        return not self.listener_up


def icon_state(status: Status) -> str:
    """Offline beats ringing beats missed beats idle: the most urgent thing the agent must see."""
    if status.offline or status.pbx_problem:
        return icons.OFFLINE
    if status.ringing:
        return icons.RINGING
    if status.missed:
        return icons.MISSED
    return icons.IDLE


class ShellActions(QObject):
    """The application's commands, shared by the tray menu and the fallback window."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dialer = QAction(self.tr("Dial a number…"), self)
        self.dial_clipboard = QAction(self.tr("Dial clipboard"), self)
        self.directory = QAction(self.tr("Contacts…"), self)
        self.missed = QAction(self.tr("Missed calls"), self)
        self.presence = QAction(self.tr("Team"), self)
        self.settings = QAction(self.tr("Settings…"), self)
        self.diagnostics = QAction(self.tr("Diagnostics…"), self)
        self.do_not_disturb = QAction(self.tr("Do not disturb"), self)
        self.do_not_disturb.setCheckable(True)
        self.quit = QAction(self.tr("Quit"), self)


class StatusText(QObject):
    """Human words for a :class:`Status` (a QObject so the words are translatable)."""

    def describe(self, status: Status) -> str:
        parts = []
        if status.team == "connecting":
            parts.append(self.tr("Connecting to the team server…"))
        elif status.team == "unreachable":
            parts.append(self.tr("Offline: team server unreachable; the app keeps trying"))
        elif status.team == "rejected":
            parts.append(self.tr("Offline: the team server refused this app's token; enter a new token in the"
                                 " settings"))
        elif not status.team and not status.listener_up:
            parts.append(self.tr("Offline: the webhook listener is not running") +
                         (f" ({status.listener_error})" if status.listener_error else ""))
        if status.pbx_problem:
            parts.append(self.tr("PBX problem: %1").replace("%1", status.pbx_problem))
        if status.ringing:
            parts.append(self.tr("%n call(s) ringing", "", status.ringing))
        if status.missed:
            parts.append(self.tr("%n missed call(s)", "", status.missed))
        return "\n".join(parts) or self.tr("Ready: waiting for calls")


class TrayController(QObject):
    """The system-tray icon: state icon, tooltip, and a menu rebuilt each time it opens.

    Signals:
        activated(): the icon was clicked (the app opens its main view).
    """

    activated = Signal()

    def __init__(self, actions: ShellActions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.actions = actions
        self.status = Status()
        self._words = StatusText(self)
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self._rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.update(self.status)

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def update(self, status: Status) -> None:
        self.status = status
        self.icon.setIcon(icons.state_icon(icon_state(status), status.missed))
        # the status quotes errors (a PBX's reply): on X11 the tooltip is a QToolTip, which guesses rich text
        self.icon.setToolTip(plain_tooltip("pbx-companion\n" + self._words.describe(status)))

    def _rebuild_menu(self) -> None:
        """Rebuilt on every opening so counts and states are current (Vorta does the same)."""
        self.menu.clear()
        a = self.actions
        missed = self.status.missed
        a.missed.setText(self.tr("Missed calls (%n)", "", missed) if missed else self.tr("Missed calls"))
        for action in (a.dialer, a.dial_clipboard, a.directory, None, a.missed, a.presence, None,
                       a.do_not_disturb, a.settings, a.diagnostics, None, a.quit):
            if action is None:
                self.menu.addSeparator()
            else:
                self.menu.addAction(action)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.activated.emit()
