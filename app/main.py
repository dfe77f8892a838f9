"""The tray application: one object builds everything and owns start and shutdown.

``pbx-companion`` with no subcommand runs this: PySide6 + qasync, with the core's webhook
listener and PBX client in the same process -- or, in team mode (``--server URL``), a client of
the team server's agent API instead. Shutdown order (Quit, SIGTERM, or the session ending):
pop-ups and windows close, background tasks are cancelled, then the engine stops the listener,
the PBX client and the store, in that order (team mode: the client writes its resume point and
closes), within :data:`SHUTDOWN_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("QT_API", "pyside6")

# PySide6 installs an import hook (shibokensupport.feature, PYSIDE-2029) that reads the source of
# every module imported after it with inspect.getsource(), which keeps each file's lines in
# linecache: for this stack ~14 MiB of RSS and 25-90 ms at every start (tests/bench/ui_bench.py).
# app.ui.pyside turns it off right after the first PySide6 import; the Qt-free core both modes use
# (aiohttp, pydantic, phonenumbers, the service API) is imported before PySide6 all the same, so the
# hook never sees it even if a PySide6 release changes that internal. Only the mode's own modules
# come later, in CompanionApp.__init__: the engine (listener, webhook, store, the PBX client with
# httpx, SQLite) standalone, the team server's client in team mode, which then never loads any of
# those (tests/test_team_app.py; the tray's idle RSS, tests/bench/team_app_bench.py).
# isort: off
from app.core import agent as _agent, api as _api, logs as _logs, secrets as _secrets  # noqa: F401
from app.core import settings as _settings  # noqa: F401
import aiohttp as _aiohttp  # noqa: F401 - the webhook's server standalone, the team server's client
from app.protocol.phones import is_phone_link

from PySide6.QtCore import QEvent, QObject
import app.ui.pyside  # noqa: F401 - right after the first PySide6 import: no source scan of later modules
from PySide6.QtWidgets import QApplication

import qasync
# isort: on


if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from app.core.api import CompanionApi
    from app.core.engine import Engine
    from app.core.secrets import Keys
    from app.core.settings import Settings
    from app.core.team_api import TeamApi
    from app.storage import CallRecord
    from app.ui.instance import SingleInstance

log = logging.getLogger("app.main")

SHUTDOWN_TIMEOUT = 3.0
DEFAULT_EXECUTOR_THREADS = 2
# Settings that choose what the service API is (standalone or which team server): read once at start.
TEAM_FIELDS = ("mode", "team_server", "team_cafile")
# Seconds after start-up when the objects that live as long as the app leave the cyclic GC's way.
GC_FREEZE_DELAY = 2.0


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

    def __init__(self, app: CompanionApp) -> None:
        super().__init__()
        self._app = app

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen:
            url = event.url().toString() or event.file()  # type: ignore[attr-defined]
            if url:
                self._app.handle_arguments([url])
                return True
        return False


class CompanionApp(QObject):
    """Composes the app (core, service API, Qt bridge, call handling, the shell) and owns start and
    shutdown, in that order: windows close, background tasks are cancelled, the engine stops (in
    team mode: the team server's client, which writes its resume point).

    Signals:
        settings_changed(Settings): forwarded to the shell's windows after settings were applied.
    """

    def __init__(self, qapp: QApplication, settings: Settings, keys: Keys, *, settings_path: Path | None = None,
                 autostart_arguments: tuple[str, ...] = ()) -> None:
        super().__init__()
        from app.core.api import NotConfigured
        from app.core.autostart import autostart_for_platform, launch_command
        from app.ui.context import TaskRunner, UiContext
        from app.ui.dialer import DialService
        from app.ui.missed import MissedCallsModel
        from app.ui.popup import PopupManager
        from app.ui.qt_bridge import QtBridge
        from app.ui.shell import Shell
        from app.ui.tray import ShellActions, Status

        self.qapp = qapp
        self.keys = keys
        # The settings file given with --config (None: the per-user default): the settings window,
        # the first-run wizard and do-not-disturb write to the file the app was started with.
        self.settings_path = settings_path
        # Standalone this computer is the PBX's webhook (the Engine: listener, store, PBX client);
        # in team mode a team server is, and the service API is its client: no listener, no keys.
        self.engine: Engine | None = None
        self.team: TeamApi | None = None
        self.api: CompanionApi
        self._startup_problem = ""
        self._team_wake = asyncio.Event()  # the network came back: the first connection tries at once
        self._unfollow_team: Callable[[], None] | None = None
        self._following_network = False
        if settings.team_mode:
            from app.core.team_api import team_api_for  # not the engine: team mode never loads it

            try:
                self.team = team_api_for(settings, keys)
            except NotConfigured as exc:  # the CA file: say so; the connection then fails at TLS, plainly
                self._startup_problem = str(exc)
                self.team = team_api_for(dataclasses.replace(settings, team_cafile=""), keys)
            self.api = self.team
        else:
            from app.core.engine import Engine
            from app.core.standalone import StandaloneApi

            self.engine = Engine(settings, keys)
            self.api = StandaloneApi(self.engine)
        self.bridge = QtBridge(self.api.events, self)
        self.tasks = TaskRunner(asyncio.get_running_loop(), self)
        self.ctx = UiContext(self.api, self.bridge, self.tasks, settings)
        self.status = Status()
        self.actions = ShellActions(self)
        # The pop-up machinery and the missed-call list exist from the start: the first call must
        # pop up at once, and the missed list drives the tray badge.
        self.dial_service = DialService(self.ctx, self)
        self.popups = PopupManager(self.ctx, self)
        self.missed_model = MissedCallsModel(self.ctx, self.dial_service, self)
        self.shell = Shell(self.ctx, self.actions, self.status, self.dial_service, self.missed_model,
                           settings_path, self)
        self.shell.settings_saved.connect(self.apply_settings)
        # Start at login: the --config/--data-dir this app was started with go into its entry.
        self.autostart = autostart_for_platform()
        self.autostart_command = launch_command(autostart_arguments)
        self._quit = asyncio.Event()
        self._pending_arguments: list[str] = []
        self._started = False
        self._file_open_filter = _FileOpenFilter(self)
        qapp.installEventFilter(self._file_open_filter)
        self.tasks.failed.connect(self.shell.notify)

    # -- building ------------------------------------------------------------------------

    def build(self) -> None:
        """Wire the call handling to the shell and build the shell's face (tray or main window)."""
        a = self.actions
        self.dial_service.dialing.connect(
            lambda shown, dialed: self.shell.notify(self.tr("Calling %1: your phone rings first; answer it and the PBX"
                                                            " calls the client.").replace("%1", shown)))
        self.dial_service.dial_failed.connect(self.shell.notify)
        self.popups.open_card_requested.connect(self.shell.open_card)
        self.popups.create_contact_requested.connect(lambda number, call_id: self.shell.open_card(0, number, call_id))
        self.popups.missed_changed.connect(self.refresh_missed)
        self.popups.call_back_requested.connect(self.dial_service.dial)
        self.popups.held_back_changed.connect(self.shell.show_held_back)
        self.popups.call_held_back.connect(self.shell.notify_held_back)
        self.bridge.call_changed.connect(self._on_call_changed)
        self.missed_model.count_changed.connect(self._set_missed)
        self.shell.build()
        a.dial_clipboard.triggered.connect(self.dial_service.dial_clipboard)
        a.do_not_disturb.setChecked(self.ctx.settings.do_not_disturb)
        a.do_not_disturb.toggled.connect(self._set_do_not_disturb)
        a.quit.triggered.connect(self.request_quit)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.build()
        if self.engine is not None:
            try:
                url = await self.engine.start()
                self.status.listener_up = True
                log.info("webhook listening on %s", url)
            except OSError as exc:  # port taken, address not available: the app still runs
                self.status.listener_up = False
                self.status.listener_error = exc.strerror or str(exc)
                log.error("the webhook listener could not start: %s", exc)
        self.shell.show()
        self._started = True
        if self._startup_problem:
            self.shell.notify(self._startup_problem)
        if self.team is not None:
            # connecting in the background: the windows are up at once, and the first connection
            # may wait for a server that is away (the tray then says so and the app keeps trying)
            self.tasks.start(self._connect_team(self.team), on_error=lambda exc: None)
        else:
            self.refresh_missed()
            self.tasks.start(self._check_pbx(), on_error=lambda exc: None)
        self.shell.publish_status()
        # Start at login: the OS's entry is the truth and the setting mirrors it (app.core.autostart),
        # so the installer's entry shows ticked on the first run and one the user removed with the
        # desktop's own tool stays removed; an entry whose program is gone is repointed to this one.
        from app.core.autostart import AutostartError

        try:
            if self.autostart.heal(self.autostart_command):
                log.info("start at login: the entry now starts %s", self.autostart_command)
        except AutostartError as exc:
            from app.ui.context import user_message

            log.warning("start at login: %s", exc)
            self.shell.notify(self.tr("Start at login: %1").replace("%1", user_message(exc)))
        self.ctx.settings.start_at_login = self.autostart.is_enabled()
        if self.keys.need_first_run(self.ctx.settings):
            self.shell.open_first_run()
        arguments, self._pending_arguments = self._pending_arguments, []
        if arguments:
            self.handle_arguments(arguments)

    async def run(self) -> None:
        """Start, wait for Quit, shut down: the coroutine ``qasync.run`` drives."""
        loop = asyncio.get_running_loop()
        # name lookups and small file reads (asyncio.to_thread): qasync's own default starts ten
        # threads for them (~1.3 MiB idle); the store has threads of its own
        loop.set_default_executor(qasync.QThreadExecutor(DEFAULT_EXECUTOR_THREADS))
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
        """Windows and pop-ups first (nothing new starts), then the tasks, then the engine."""
        started = time.monotonic()
        self.shell.hide_all()
        self.popups.shutdown()
        await self.tasks.cancel_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.engine.stop() if self.engine is not None else self._stop_team(),
                                   SHUTDOWN_TIMEOUT)
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
            self.shell.show_main_window()

    def _on_call_changed(self, call: CallRecord, event: str) -> None:
        if self.ctx.identity.is_mine(call):
            self.status.ringing = self.popups.ringing_count()
            self.shell.publish_status()

    def refresh_missed(self) -> None:
        self.missed_model.reload()

    # -- team mode -----------------------------------------------------------------------

    async def _connect_team(self, team: TeamApi) -> None:
        """Start following the team server; while it cannot be reached at all (and no earlier run
        left the agent's identity behind), try again with jittered backoff until it answers.

        Once started, :class:`~app.core.team_api.TeamApi` keeps the feed going by itself; its
        state changes reach the status through :meth:`_team_state`. A refused token ends the
        attempts: the agent needs a new token, and the status and a notice say so.
        """
        from app.core.feed_client import backoff_delays
        from app.core.team_api import TeamAuthError, TeamUnavailable

        # every way in (a fresh start, a replay, a reset) ends in "live": _team_state reloads then
        self._unfollow_team = team.on_state(self._team_state)
        self._team_state(team.state, "")
        for delay in backoff_delays():
            try:
                await team.start()
            except TeamAuthError:
                return  # the state is "rejected" (TeamApi said so): _team_state told the agent
            except TeamUnavailable as exc:
                self._team_state("unreachable", str(exc))
                self._team_wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._team_wake.wait()
            else:
                self.tasks.start(self._check_pbx(), on_error=lambda exc: None)
                return

    def _follow_network(self) -> None:
        """Team mode: when the OS says the network is back (Wi-Fi, a cable, a VPN, waking from
        sleep), try the team server at once rather than at the end of the backoff wait. Where the
        OS offers no network information (a bare X server), the backoff alone brings it back.

        Loaded at the first lost connection, not at start: the OS's network backend (D-Bus, a
        GLib thread) costs ~5.5 MiB that an app whose server never goes away need not carry.
        """
        if self._following_network:
            return
        self._following_network = True
        from PySide6.QtNetwork import QNetworkInformation

        if not QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
            log.info("no network information from the OS: reconnecting by the backoff alone")
            return
        info = QNetworkInformation.instance()
        if info is not None:
            info.reachabilityChanged.connect(self.network_changed)

    def network_changed(self, reachability: Any) -> None:
        """The OS's reachability changed: anything but "disconnected" is worth an attempt now."""
        from PySide6.QtNetwork import QNetworkInformation

        if self.team is not None and reachability != QNetworkInformation.Reachability.Disconnected:
            log.info("the network changed (%s): trying the team server now",
                     getattr(reachability, "name", reachability))
            self._team_wake.set()
            self.team.reconnect_now()

    def _team_state(self, state: str, reason: str) -> None:
        """The team connection changed: the tray and the main window say so; live again → reload."""
        from app.protocol.redact import redact

        was = self.status.team
        self.status.team = state
        if state == "unreachable":
            self._follow_network()
        if state in ("unreachable", "rejected") and was != state:
            log.warning("team server %s: %s", state, redact(reason))
        self.shell.publish_status()
        if state == "rejected":
            self.shell.notify(self.tr("The team server refused this app's token: enter the token the"
                                      " administrator gave you in the settings."))
        if state == "live" and was != "live":
            self._team_reloaded()

    def _team_reloaded(self) -> None:
        """What the server holds may have changed while the app was away: read it again."""
        self.refresh_missed()
        self.popups.reload_presence()

    async def _stop_team(self) -> None:
        assert self.team is not None
        if self._unfollow_team is not None:
            self._unfollow_team()
        await self.team.stop()

    def _set_missed(self, count: int) -> None:
        self.status.missed = count
        self.shell.publish_status()

    async def _check_pbx(self) -> None:
        from app.pbx import PbxError

        if self.api.calls.setup_problem(need_crm_user=False) is not None:
            return
        try:
            await self.api.presence.pbx_users()
        except PbxError as exc:
            self.status.pbx_problem = str(exc)
        else:
            self.status.pbx_problem = ""
        self.shell.publish_status()

    def _set_do_not_disturb(self, on: bool) -> None:
        self.ctx.settings.do_not_disturb = on
        with contextlib.suppress(Exception):
            self.ctx.settings.save(self.settings_path)

    def apply_settings(self, settings: Settings) -> None:
        """A saved settings window or the first-run wizard: apply what can be applied live.

        Start at login is applied at once when the saved value differs from the running one:
        the OS's entry is written or removed. An unchanged value touches nothing, so saving other
        settings never brings back an entry the user removed with the desktop's own tool meanwhile.
        When the entry cannot be changed, the setting is put back to what the OS will really do
        (in this object and the settings file; open windows follow ``settings_changed``) and a
        notice says why: a ticked box must never stand for an entry that is not there.
        Identity and number rules are derived from the settings object, so they follow at once.
        """
        from app.core.secrets import load_keys
        from app.ui.context import user_message

        running = self.ctx.settings
        language_changed = settings.language != running.language
        if settings.start_at_login != running.start_at_login:
            from app.core.autostart import AutostartError

            try:
                self.autostart.sync(settings.start_at_login, self.autostart_command)
            except AutostartError as exc:
                settings.start_at_login = self.autostart.is_enabled()
                with contextlib.suppress(OSError):
                    settings.save(self.settings_path)
                self.shell.notify(self.tr("Start at login: %1").replace("%1", user_message(exc)))

        connection_changed = any(getattr(settings, name) != getattr(running, name) for name in TEAM_FIELDS)

        async def apply() -> None:
            if self.engine is None:  # team mode: the server has the PBX; its connection changes at a restart
                return
            self.keys = load_keys()
            url = await self.engine.reconfigure(settings, self.keys)
            if url is not None:
                self.status.listener_up, self.status.listener_error = True, ""
                self.shell.notify(self.tr("The webhook now listens on %1").replace("%1", url))
            await self._check_pbx()

        def failed(exc: BaseException) -> None:
            self.status.listener_up = False
            self.status.listener_error = user_message(exc)
            self.shell.publish_status()
            self.shell.notify(self.tr("The new settings could not be applied: %1").replace("%1", user_message(exc)))

        self.shell.settings_changed.emit(settings)
        self.tasks.start(apply(), on_error=failed)
        if language_changed:
            self.shell.notify(self.tr("The new language is used after a restart."))
        if connection_changed:
            self.shell.notify(self.tr("The new mode or team server is used after a restart of the app."))


# -- entry point ---------------------------------------------------------------------------

def run_tray(argv: list[str], pending_keys: Any = None) -> int:
    """Start the tray app, or hand the arguments to the one already running.

    ``pending_keys``: the keys being read already (:func:`app.core.secrets.start_key_read`, started
    by the command line before it loaded this module); read here otherwise.
    """
    from app.options import tray_parser, tray_settings
    from app.ui.instance import SingleInstance

    args = tray_parser().parse_args(argv)
    settings = tray_settings(args)

    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        print("pbx-companion: error: no graphical session here (neither DISPLAY nor WAYLAND_DISPLAY is set);"
              " run `pbx-companion serve` for the headless listener", file=sys.stderr)
        return 1
    existing = QApplication.instance()
    qapp = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    qapp.setApplicationName("pbx-companion")
    qapp.setQuitOnLastWindowClosed(False)
    from app import APP_ID
    from app.ui.icons import app_icon

    qapp.setDesktopFileName(APP_ID)  # Wayland/X11 match the window to the .desktop entry (and its icon)
    qapp.setWindowIcon(app_icon())
    instance = SingleInstance(settings.data_path)
    if not instance.acquire():
        if instance.forward(args.uris):
            return 0
        print("pbx-companion: error: another instance holds the lock but does not answer", file=sys.stderr)
        return 1
    try:
        _run_instance(qapp, instance, args, settings, pending_keys)
    finally:  # whatever ended the start or the run: the next launch finds no lock and no socket of ours
        instance.release()
    return 0


def _run_instance(qapp: QApplication, instance: SingleInstance, args: argparse.Namespace, settings: Settings,
                  pending_keys: Any) -> None:
    """The app's life as the running instance: logging, translators, then the qasync loop until Quit."""
    from app.core.logs import setup_logging
    from app.core.secrets import start_key_read
    from app.ui.i18n import install_translators

    setup_logging(logging.INFO, log_file=settings.log_path / "pbx-companion.log")  # --data-dir: its own logs
    install_translators(qapp, settings.language)
    sys.excepthook = _excepthook

    async def main() -> None:
        from app.core.autostart import profile_arguments

        app = CompanionApp(qapp, settings, (pending_keys or start_key_read()).result(),
                           settings_path=Path(args.config) if args.config else None,
                           autostart_arguments=tuple(profile_arguments(args.config, args.data_dir)))
        instance.arguments_received.connect(app.handle_arguments)
        app.handle_arguments(args.uris)
        await app.run()

    qasync.run(main())


def _excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    """Slots run by Qt must never kill the app silently: log the error, keep running."""
    log.error("unhandled error in the event loop", exc_info=(kind, value, tb))
