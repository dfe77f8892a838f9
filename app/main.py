"""The tray application: one object builds everything and owns start and shutdown.

``pbx-companion`` with no subcommand runs this: PySide6 + qasync, with the core's webhook
listener and PBX client in the same process. Shutdown order (Quit, SIGTERM, or the session
ending): pop-ups and windows close, background tasks are cancelled, then the engine stops the
listener, the PBX client and the store, in that order, within :data:`SHUTDOWN_TIMEOUT`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_API", "pyside6")

# PySide6 installs an import hook (shibokensupport.feature, PYSIDE-2029) that reads the source of
# every module imported after it with inspect.getsource(), which keeps each file's lines in
# linecache: for this stack ~14 MiB of RSS and 25-90 ms at every start (tests/bench/ui_bench.py).
# app.ui.pyside turns it off right after the first PySide6 import; the Qt-free core (aiohttp,
# pydantic, httpx, phonenumbers, SQLite) is imported before PySide6 all the same, so the
# hook never sees it even if a PySide6 release changes that internal.
# isort: off
from app.core import agent as _agent, engine as _engine, logs as _logs, secrets as _secrets  # noqa: E402,F401
from app.core import settings as _settings  # noqa: E402,F401
from app.protocol.phones import is_phone_link  # noqa: E402

from PySide6.QtCore import QEvent, QObject  # noqa: E402
import app.ui.pyside  # noqa: E402,F401 - right after the first PySide6 import: no source scan of later modules
from PySide6.QtWidgets import QApplication, QSystemTrayIcon  # noqa: E402

import qasync  # noqa: E402  - after PySide6
# isort: on


log = logging.getLogger("app.main")

SHUTDOWN_TIMEOUT = 3.0
# Seconds after start-up when the objects that live as long as the app leave the cyclic GC's way.
GC_FREEZE_DELAY = 2.0
# Tabs of the main window that the tray menu opens directly.
MISSED_PANEL = "missed"
TEAM_PANEL = "team"


def freeze_startup_objects() -> None:
    """Move what start-up built out of the cyclic garbage collector's way (``gc.freeze()``).

    Modules, classes, Qt wrappers and windows (~85,000 objects) live as long as the app, yet every
    full collection walked them all: a 30-40 ms pause of whichever thread allocated, hitting about
    every other client-card open and any incoming call it coincided with. One collection first, at
    idle, so no start-up garbage is kept for good. Called by :meth:`CompanionApp.run` (through
    ``after_start``), not by :meth:`CompanionApp.start`, so in-process tests keep an ordinary collector.
    """
    gc.collect()
    gc.freeze()



class _FileOpenFilter(QObject):
    """macOS hands clicked tel:/callto:/sip: links to a running app as ``QFileOpenEvent``."""

    def __init__(self, app: "CompanionApp") -> None:
        super().__init__()
        self._app = app

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.FileOpen:
            url = event.url().toString() or event.file()  # type: ignore[attr-defined]
            if url:
                self._app.handle_arguments([url])
                return True
        return False


class CompanionApp(QObject):
    """Builds the core, the Qt bridge and every window; starts them and stops them in order."""

    # --config/--data-dir this app was started with (run_tray sets them): its autostart entry
    # passes them on, so that it starts at login with the same profile.
    autostart_arguments: tuple[str, ...] = ()
    # The settings file given with --config (None: the per-user default): the settings window, the
    # first-run wizard and do-not-disturb write to the file the app was started with.
    settings_path: Path | None = None

    def __init__(self, qapp: QApplication, settings: Any, keys: Any) -> None:
        super().__init__()
        from app.core.agent import AgentIdentity
        from app.core.engine import Engine
        from app.core.qt_bridge import QtBridge
        from app.ui.context import TaskRunner, UiContext
        from app.ui.tray import ShellActions, Status

        self.qapp = qapp
        self.keys = keys
        self.engine = Engine(settings, keys)
        self.bridge = QtBridge(self.engine.bus, self)
        self.tasks = TaskRunner(asyncio.get_running_loop(), self)
        identity = AgentIdentity(settings.crm_user, settings.extension, settings.see_all_calls)
        self.ctx = UiContext(self.engine, self.bridge, self.tasks, identity)
        self.status = Status()
        self.actions = ShellActions(self)
        self.has_tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: Any = None
        self.main_window: Any = None
        self.missed_panel: Any = None
        self.presence_panel: Any = None
        self.windows: dict[str, Any] = {}
        self._cards: list[Any] = []
        self._quit = asyncio.Event()
        self._pending_arguments: list[str] = []
        self._started = False
        self._file_open_filter = _FileOpenFilter(self)
        qapp.installEventFilter(self._file_open_filter)
        self.tasks.failed.connect(self.notify)

    # -- building ------------------------------------------------------------------------

    def build(self) -> None:
        """Create what must exist before the first call: the pop-up machinery is warmed up here."""
        from app.ui.dialer import DialService
        from app.ui.missed import MissedCallsModel
        from app.ui.popup import PopupManager
        from app.ui.tray import TrayController

        a = self.actions
        self.dial_service = DialService(self.ctx, self)
        self.dial_service.dialing.connect(
            lambda shown, dialed: self.notify(self.tr("Calling %1: your phone rings first; answer it and the PBX"
                                                      " calls the client.").replace("%1", shown)))
        self.dial_service.dial_failed.connect(self.notify)
        self.popups = PopupManager(self.ctx, self)
        self.popups.open_card_requested.connect(self.open_card)
        self.popups.create_contact_requested.connect(lambda number, call_id: self.open_card(0, number, call_id))
        self.popups.missed_changed.connect(self.refresh_missed)
        self.bridge.call_changed.connect(self._on_call_changed)

        # The missed-call list exists from the start: it drives the tray badge. Its panel, the team
        # panel and the main window around them are built when first opened if there is a tray
        # (~6 MiB the agent may never look at); without a tray the main window is the app's face.
        self.missed_model = MissedCallsModel(self.ctx, self.dial_service, self)
        self.missed_model.count_changed.connect(self._set_missed)
        if self.has_tray:
            self.tray = TrayController(a, self)
            self.tray.activated.connect(self.show_main_window)
        else:
            self.build_main_window()

        a.dialer.triggered.connect(self.open_dialer)
        a.dial_clipboard.triggered.connect(self.dial_service.dial_clipboard)
        a.missed.triggered.connect(lambda: self.show_main_window(MISSED_PANEL))
        a.presence.triggered.connect(lambda: self.show_main_window(TEAM_PANEL))
        a.settings.triggered.connect(self.open_settings)
        a.diagnostics.triggered.connect(self.open_diagnostics)
        a.do_not_disturb.setChecked(self.engine.settings.do_not_disturb)
        a.do_not_disturb.toggled.connect(self._set_do_not_disturb)
        a.quit.triggered.connect(self.request_quit)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.build()
        try:
            url = await self.engine.start()
            self.status.listener_up = True
            log.info("webhook listening on %s", url)
        except OSError as exc:  # port taken, address not available: the app still runs
            self.status.listener_up = False
            self.status.listener_error = exc.strerror or str(exc)
            log.error("the webhook listener could not start: %s", exc)
        if self.tray is not None:
            self.tray.show()
        else:
            self.main_window.show()
        self._started = True
        self.refresh_missed()
        self._publish_status()
        self.tasks.start(self._check_pbx(), on_error=lambda exc: None)
        # Start at login: the OS's entry is the truth and the setting mirrors it (app.core.autostart),
        # so the installer's entry shows ticked on the first run and one the user removed with the
        # desktop's own tool stays removed; an entry whose program is gone is repointed to this one.
        from app.core.autostart import (
            AutostartError,
            autostart_for_platform,
            launch_command,
        )

        self.autostart = autostart_for_platform()
        self.autostart_command = launch_command(self.autostart_arguments)
        try:
            if self.autostart.heal(self.autostart_command):
                log.info("start at login: the entry now starts %s", self.autostart_command)
        except AutostartError as exc:
            from app.ui.context import user_message

            log.warning("start at login: %s", exc)
            self.notify(self.tr("Start at login: %1").replace("%1", user_message(exc)))
        self.engine.settings.start_at_login = self.autostart.is_enabled()
        from app.ui.wizard import needs_first_run

        if needs_first_run(self.engine.settings, self.keys):
            self.open_first_run()
        arguments, self._pending_arguments = self._pending_arguments, []
        if arguments:
            self.handle_arguments(arguments)

    async def run(self) -> None:
        """Start, wait for Quit, shut down: the coroutine ``qasync.run`` drives."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self._quit.set)
        await self.start()
        loop.call_later(GC_FREEZE_DELAY, self.after_start)
        await self.run_until_quit()

    def after_start(self) -> None:
        """Work that waits until the app has started and sits idle (``run`` calls it after
        :data:`GC_FREEZE_DELAY`): :func:`freeze_startup_objects`.

        The client card's modules are not imported ahead any more: since PySide6 no longer reads
        each module's source (app/ui/pyside.py) the first "Open card" pays ~20 ms for them and still
        paints 10,000 calls well under 150 ms, while importing them at idle kept ~3.6 MiB in an app
        that may never open a card (docs/performance.md).
        """
        freeze_startup_objects()

    async def run_until_quit(self) -> None:
        await self._quit.wait()
        await self.shutdown()

    def request_quit(self) -> None:
        self._quit.set()

    async def shutdown(self) -> None:
        started = time.monotonic()
        if self.tray is not None:
            self.tray.hide()
        for window in [*self.windows.values(), *self._cards, self.main_window]:
            if window is not None:
                window.hide()
        if hasattr(self, "popups"):
            self.popups.close_all()
        await self.tasks.cancel_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.engine.stop(), SHUTDOWN_TIMEOUT)
        self.bridge.close()
        log.info("stopped in %.2f s", time.monotonic() - started)

    # -- reacting ------------------------------------------------------------------------

    def handle_arguments(self, arguments: list[str]) -> None:
        """Arguments from our own command line or forwarded by a later launch."""
        if not self._started:
            self._pending_arguments.extend(arguments)
            return
        uris = [a for a in arguments if is_phone_link(a)]
        for uri in uris:
            self.dial_service.dial(uri)
        if not uris:
            self.show_main_window()

    def _on_call_changed(self, call: Any, event: str) -> None:
        if self.ctx.identity.is_mine(call):
            self.status.ringing = self.popups.ringing_count()
            self._publish_status()

    def refresh_missed(self) -> None:
        self.missed_model.reload()

    def _set_missed(self, count: int) -> None:
        self.status.missed = count
        self._publish_status()

    def _publish_status(self) -> None:
        if self.tray is not None:
            self.tray.update(self.status)
        if self.main_window is not None:
            self.main_window.update_status(self.status)

    async def _check_pbx(self) -> None:
        from app.core.engine import NotConfigured
        from app.pbx import PbxError

        try:
            await self.engine.pbx.get_domain_user_list()
        except NotConfigured:
            return
        except PbxError as exc:
            self.status.pbx_problem = str(exc)
        else:
            self.status.pbx_problem = ""
        self._publish_status()

    def _set_do_not_disturb(self, on: bool) -> None:
        self.engine.settings.do_not_disturb = on
        with contextlib.suppress(Exception):
            self.engine.settings.save(self.settings_path)

    def notify(self, message: str) -> None:
        """A short notice: the tray balloon when there is a tray, else the main window's status bar."""
        log.info("notice: %s", message)
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.icon.showMessage("pbx-companion", message)
        if self.main_window is not None:
            self.main_window.statusBar().showMessage(message, 15000)

    # -- windows -------------------------------------------------------------------------

    def build_main_window(self) -> Any:
        """The main window with the missed-calls and team panels (once; see :meth:`build`)."""
        if self.main_window is None:
            from app.ui.mainwindow import MainWindow
            from app.ui.missed import MissedCallsPanel
            from app.ui.presence import PresencePanel

            self.main_window = MainWindow(self.actions, self.has_tray)
            self.missed_panel = MissedCallsPanel(self.ctx, self.dial_service, self.missed_model)
            self.presence_panel = PresencePanel(self.ctx, self.dial_service)
            self.main_window.add_panel(self.missed_panel, self.tr("Missed calls"))
            self.main_window.add_panel(self.presence_panel, self.tr("Team"))
            self.main_window.update_status(self.status)
        return self.main_window

    def show_main_window(self, panel: str = "") -> None:
        """Show (building it if needed) the main window, on the ``MISSED_PANEL`` or ``TEAM_PANEL`` tab."""
        self.build_main_window()
        if panel:
            self.main_window.tabs.setCurrentWidget(self.missed_panel if panel == MISSED_PANEL else self.presence_panel)
        self.main_window.showNormal()
        self.main_window.raise_()
        self.main_window.activateWindow()

    def _window(self, name: str, factory: Any) -> Any:
        window = self.windows.get(name)
        if window is None:
            window = self.windows[name] = factory()
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def open_dialer(self) -> Any:
        from app.ui.dialer import DialerWindow

        return self._window("dialer", lambda: DialerWindow(self.ctx, self.dial_service))

    def open_settings(self) -> Any:
        from app.ui.settings_dialog import SettingsDialog

        def build() -> Any:
            dialog = SettingsDialog(self.ctx, settings_path=self.settings_path)
            dialog.settings_saved.connect(self.apply_settings)
            return dialog

        return self._window("settings", build)

    def apply_settings(self, settings: Any) -> None:
        """A saved settings window or the first-run wizard: apply what can be applied live.

        Start at login is applied at once when the saved value differs from the running one:
        the OS's entry is written or removed. An unchanged value touches nothing, so saving other
        settings never brings back an entry the user removed with the desktop's own tool meanwhile.
        When the entry cannot be changed, the setting is put back to what the OS will really do
        (in this object, the settings file and the open window) and a notice says why: a ticked box
        must never stand for an entry that is not there.
        """
        from app.core.secrets import load_keys

        language_changed = settings.language != self.engine.settings.language
        if settings.start_at_login != self.engine.settings.start_at_login:
            from app.core.autostart import AutostartError
            from app.ui.context import user_message

            try:
                self.autostart.sync(settings.start_at_login, self.autostart_command)
            except AutostartError as exc:
                settings.start_at_login = self.autostart.is_enabled()
                dialog = self.windows.get("settings")
                saved = getattr(dialog, "last_outcome", None)  # where the window wrote the file
                with contextlib.suppress(OSError):
                    settings.save(saved.path if saved is not None else self.settings_path)
                if dialog is not None:
                    dialog.start_at_login.setChecked(settings.start_at_login)
                self.notify(self.tr("Start at login: %1").replace("%1", user_message(exc)))

        async def apply() -> None:
            self.keys = load_keys()
            url = await self.engine.reconfigure(settings, self.keys)
            if url is not None:
                self.status.listener_up, self.status.listener_error = True, ""
                self.notify(self.tr("The webhook now listens on %1").replace("%1", url))
            await self._check_pbx()

        def failed(exc: BaseException) -> None:
            from app.ui.context import user_message

            self.status.listener_up = False
            self.status.listener_error = user_message(exc)
            self._publish_status()
            self.notify(self.tr("The new settings could not be applied: %1").replace("%1", user_message(exc)))

        identity = self.ctx.identity
        identity.crm_user, identity.extension = settings.crm_user, settings.extension
        identity.see_all_calls = settings.see_all_calls
        self.actions.do_not_disturb.blockSignals(True)
        self.actions.do_not_disturb.setChecked(settings.do_not_disturb)
        self.actions.do_not_disturb.blockSignals(False)
        self.tasks.start(apply(), on_error=failed)
        if language_changed:
            self.notify(self.tr("The new language is used after a restart."))

    def open_diagnostics(self) -> Any:
        from app.ui.diagnostics import DiagnosticsPanel

        return self._window("diagnostics", lambda: DiagnosticsPanel(self.ctx))

    def open_first_run(self) -> Any:
        from app.ui.wizard import FirstRunWizard

        def build() -> Any:
            wizard = FirstRunWizard(self.ctx, settings_path=self.settings_path)
            wizard.finished_setup.connect(self.apply_settings)
            return wizard

        return self._window("wizard", build)

    def open_card(self, contact_id: int, number: str, call_id: str = "") -> Any:
        from app.ui.card import ClientCard

        card = ClientCard(self.ctx, contact_id or None, number or None, call_id or None)
        card.dial_requested.connect(self.dial_service.dial)
        card.destroyed.connect(lambda *_: self._cards.remove(card) if card in self._cards else None)
        self._cards.append(card)
        card.show()
        card.raise_()
        return card


# -- entry point ---------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pbx-companion", description="The pbx-companion tray app.")
    parser.add_argument("--data-dir", help="directory of the database (default: the per-user data dir)")
    parser.add_argument("--config", help="settings file")
    parser.add_argument("--host", help="address the webhook listens on")
    parser.add_argument("--port", type=int, help="port the webhook listens on")
    parser.add_argument("uris", nargs="*", metavar="URI", help="tel:, callto: or sip: links to dial")
    return parser


def run_tray(argv: list[str], pending_keys: Any = None) -> int:
    """Start the tray app, or hand the arguments to the one already running.

    ``pending_keys``: the keys being read already (:func:`app.core.secrets.start_key_read`, started
    by the command line before it loaded this module); read here otherwise.
    """
    from app.core.logs import setup_logging
    from app.core.secrets import start_key_read
    from app.core.settings import Settings, default_log_dir
    from app.ui.i18n import install_translators
    from app.ui.instance import SingleInstance, forward

    args = build_parser().parse_args(argv)
    settings = Settings.load(Path(args.config) if args.config else None)
    if args.data_dir:
        settings.data_dir = args.data_dir
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    settings.validate()

    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        print("pbx-companion: error: no graphical session here (neither DISPLAY nor WAYLAND_DISPLAY is set);"
              " run `pbx-companion serve` for the headless listener", file=sys.stderr)
        return 1
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setApplicationName("pbx-companion")
    qapp.setQuitOnLastWindowClosed(False)
    from app import APP_ID
    from app.ui.icons import app_icon

    qapp.setDesktopFileName(APP_ID)  # Wayland/X11 match the window to the .desktop entry (and its icon)
    qapp.setWindowIcon(app_icon())
    instance = SingleInstance(settings.data_path)
    if not instance.acquire():
        if forward(instance.name, args.uris):
            return 0
        print("pbx-companion: error: another instance holds the lock but does not answer", file=sys.stderr)
        return 1

    setup_logging(logging.INFO, log_file=default_log_dir() / "pbx-companion.log")
    install_translators(qapp, settings.language)
    sys.excepthook = _excepthook

    async def main() -> None:
        from app.core.autostart import profile_arguments

        app = CompanionApp(qapp, settings, (pending_keys or start_key_read()).result())
        app.autostart_arguments = tuple(profile_arguments(args.config, args.data_dir))
        app.settings_path = Path(args.config) if args.config else None
        instance.arguments_received.connect(app.handle_arguments)
        app.handle_arguments(args.uris)
        await app.run()

    try:
        qasync.run(main())
    finally:
        instance.release()
    return 0


def _excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    """Slots run by Qt must never kill the app silently: log the error, keep running."""
    log.error("unhandled error in the event loop", exc_info=(kind, value, tb))
