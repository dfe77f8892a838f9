"""The windows of the tray app: which exist, opening them, and telling the agent things.

:class:`~app.main.CompanionApp` composes the app and owns the shutdown order; this module owns the
window registry. Windows are built when first opened (the agent may never open most of them), one
of each kind but client cards (one per client). With a system tray the tray icon is the app's face;
without one (bare X, GNOME without AppIndicator) the main window is, with the same actions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from .context import UiContext
from .format import plain_text
from .tray import ShellActions, Status

if TYPE_CHECKING:
    from app.core.settings import Settings

    from .dialer import DialService
    from .mainwindow import MainWindow
    from .missed import MissedCallsModel, MissedCallsPanel
    from .presence import PresencePanel
    from .tray import TrayController

log = logging.getLogger("app.ui.shell")

# Tabs of the main window that the tray menu opens directly.
MISSED_PANEL = "missed"
TEAM_PANEL = "team"
# How long a notice stays in the main window's status bar (ms).
NOTICE_MS = 15000


class Shell(QObject):
    """The tray icon or main window, and every other window, built on first use.

    Signals:
        settings_saved(Settings): the settings window or the first-run wizard saved settings; the
            application applies them.
        settings_changed(Settings): the application applied saved settings; open windows that
            show settings follow it.
    """

    settings_saved = Signal(object)
    settings_changed = Signal(object)

    def __init__(self, ctx: UiContext, actions: ShellActions, status: Status, dial_service: DialService,
                 missed_model: MissedCallsModel, settings_path: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.actions = actions
        self.status = status
        self.dial_service = dial_service
        self.missed_model = missed_model
        self.settings_path = settings_path
        self.has_tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: TrayController | None = None
        self.main_window: MainWindow | None = None
        self.missed_panel: MissedCallsPanel | None = None
        self.presence_panel: PresencePanel | None = None
        self.windows: dict[str, Any] = {}
        self.cards: list[Any] = []

    def build(self) -> None:
        """The tray icon, or without a tray the main window (it is then the app's face)."""
        if self.has_tray:
            from .tray import TrayController

            self.tray = TrayController(self.actions, self)
            self.tray.activated.connect(self.show_main_window)
        else:
            self.build_main_window()
        a = self.actions
        a.dialer.triggered.connect(self.open_dialer)
        a.directory.triggered.connect(self.open_directory)
        a.missed.triggered.connect(lambda: self.show_main_window(MISSED_PANEL))
        a.presence.triggered.connect(lambda: self.show_main_window(TEAM_PANEL))
        a.settings.triggered.connect(self.open_settings)
        a.diagnostics.triggered.connect(self.open_diagnostics)
        self.settings_changed.connect(self._follow_settings)

    def show(self) -> None:
        if self.tray is not None:
            self.tray.show()
        elif self.main_window is not None:
            self.main_window.show()

    def hide_all(self) -> None:
        """Hide the tray icon and every window (the first step of quitting)."""
        if self.tray is not None:
            self.tray.hide()
        for window in [*self.windows.values(), *self.cards, self.main_window]:
            if window is not None:
                window.hide()

    # -- telling the agent ----------------------------------------------------------------------

    def notify(self, message: str) -> None:
        """A short notice: the tray balloon when there is a tray, else the main window's status bar."""
        log.info("notice: %s", message)
        message = plain_text(message)  # it may quote data (a number, the PBX's error): no control characters
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.icon.showMessage("pbx-companion", message)
        if self.main_window is not None:
            self.main_window.statusBar().showMessage(message, NOTICE_MS)

    def show_held_back(self, count: int) -> None:
        """Calls ringing without a pop-up (do-not-disturb, a break): the Do not disturb action (tray
        menu, main window) says how many, so that do-not-disturb never looks like a quiet phone."""
        a = self.actions.do_not_disturb
        if count:
            a.setText(self.tr("Do not disturb: %n call(s) held back", "", count))
        else:
            a.setText(self.tr("Do not disturb"))

    def notify_held_back(self, number: str) -> None:
        self.notify(self.tr("%1 is calling: no pop-up while do not disturb is on or you are on a break.")
                    .replace("%1", number))

    def publish_status(self) -> None:
        if self.tray is not None:
            self.tray.update(self.status)
        if self.main_window is not None:
            self.main_window.update_status(self.status)

    def _follow_settings(self, settings: Settings) -> None:
        a = self.actions.do_not_disturb
        a.blockSignals(True)
        a.setChecked(settings.do_not_disturb)
        a.blockSignals(False)

    # -- windows --------------------------------------------------------------------------------

    def build_main_window(self) -> MainWindow:
        """The main window with the missed-calls and team panels (once)."""
        if self.main_window is None:
            from .mainwindow import MainWindow
            from .missed import MissedCallsPanel
            from .presence import PresencePanel

            self.main_window = MainWindow(self.actions, self.has_tray)
            self.missed_panel = MissedCallsPanel(self.ctx, self.dial_service, self.missed_model)
            self.presence_panel = PresencePanel(self.ctx, self.dial_service)
            self.missed_panel.open_card_requested.connect(self.open_card)
            self.main_window.add_panel(self.missed_panel, self.tr("Missed calls"))
            self.main_window.add_panel(self.presence_panel, self.tr("Team"))
            self.main_window.update_status(self.status)
        return self.main_window

    def show_main_window(self, panel: str = "") -> None:
        """Show (building it if needed) the main window, on the ``MISSED_PANEL`` or ``TEAM_PANEL`` tab."""
        window = self.build_main_window()
        if panel:
            tab = self.missed_panel if panel == MISSED_PANEL else self.presence_panel
            if tab is not None:
                window.tabs.setCurrentWidget(tab)
        window.showNormal()
        window.raise_()
        window.activateWindow()

    def _window(self, name: str, factory: Callable[[], QWidget]) -> Any:
        window = self.windows.get(name)
        if window is None:
            window = self.windows[name] = factory()
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def open_dialer(self) -> Any:
        from .dialer import DialerWindow

        def build() -> QWidget:
            window = DialerWindow(self.ctx, self.dial_service)
            window.open_card_requested.connect(self.open_card)
            return window

        return self._window("dialer", build)

    def open_directory(self) -> Any:
        """The client directory: search, open a card, create a contact."""
        from .directory import DirectoryWindow

        def build() -> QWidget:
            window = DirectoryWindow(self.ctx)
            window.open_card_requested.connect(self.open_card)
            window.create_contact_requested.connect(lambda number: self.open_card(0, number))
            return window

        window = self._window("directory", build)
        window.search()  # the directory may have changed while the window was closed
        return window

    def open_settings(self) -> Any:
        from .settings_dialog import SettingsDialog

        def build() -> QWidget:
            dialog = SettingsDialog(self.ctx, settings_path=self.settings_path)
            dialog.settings_saved.connect(self.settings_saved)
            self.settings_changed.connect(dialog.follow_settings)
            return dialog

        return self._window("settings", build)

    def open_diagnostics(self) -> Any:
        from .diagnostics import DiagnosticsPanel

        return self._window("diagnostics", lambda: DiagnosticsPanel(self.ctx))

    def open_first_run(self) -> Any:
        from .wizard import FirstRunWizard

        def build() -> QWidget:
            wizard = FirstRunWizard(self.ctx, settings_path=self.settings_path)
            wizard.finished_setup.connect(self.settings_saved)
            return wizard

        return self._window("wizard", build)

    def open_card(self, contact_id: int, number: str, call_id: str = "") -> Any:
        """The client card of this contact (id, or 0 and the number): one per client, so an open one
        is raised (and follows ``call_id`` too) instead of a second one opening."""
        from .card import ClientCard

        key = self.ctx.normalizer.try_key(number) if number else None
        for open_card in self.cards:
            if open_card.shows(contact_id or None, key):
                if call_id:
                    open_card.attach_call(call_id)
                elif open_card.isHidden():
                    open_card.reload()  # closed meanwhile: what it showed may be stale
                open_card.showNormal()
                open_card.raise_()
                open_card.activateWindow()
                return open_card
        card = ClientCard(self.ctx, contact_id or None, number or None, call_id or None)
        card.dial_requested.connect(self.dial_service.dial)
        card.destroyed.connect(lambda *_: self.cards.remove(card) if card in self.cards else None)
        self.cards.append(card)
        card.show()
        card.raise_()
        return card
