"""Diagnostics: what support asks for when "the pop-ups don't come".

The last raw events the PBX posted (keys and recording-link tokens masked), whether the listener
answers, whether the PBX answers (on demand), where the log file is, and one "Copy diagnostics"
text block to paste into a ticket. Everything shown or copied passes through
:func:`app.protocol.redact.redact`; payloads are re-serialised first so that an escaped URL
(``https:\\/\\/...``, as PHP writes it) is recognised and masked too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import platform
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import PySide6
from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    QUrl,
    qVersion,
)
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

import app
from app.core.health import listener_up
from app.core.settings import Settings, default_log_dir
from app.protocol.redact import redact
from app.storage.files import private_dir
from app.storage.records import EventRecord
from app.ui.context import UiContext, user_message
from app.ui.errors import connection_test_error_text
from app.ui.format import plain_text, plain_tooltip
from app.ui.labels import PlainLabel
from app.ui.settings_dialog import key_source

if TYPE_CHECKING:
    from app.webhook.ratelimit import Refusal

ModelIndex = QModelIndex | QPersistentModelIndex

# How many events the panel shows and copies.
EVENT_LIMIT = 50
LOG_FILE_NAME = "pbx-companion.log"


def log_file_path(settings: Settings | None = None) -> Path:
    """The rotating log file the shell passes to :func:`app.core.logs.setup_logging` (in the data
    dir's ``logs`` when the settings name a data dir, see :attr:`Settings.log_path`)."""
    return (settings.log_path if settings is not None else default_log_dir()) / LOG_FILE_NAME


def mask_payload(text: str) -> str:
    """The payload as readable JSON with secrets and link tokens masked."""
    with contextlib.suppress(ValueError, RecursionError):
        text = json.dumps(json.loads(text), ensure_ascii=False, sort_keys=False)
    return redact(text)


def event_body(text: str) -> str:
    """What the event says: the envelope's ``body`` (events) or ``params`` (requests), masked; the
    whole payload when it is no envelope. The envelope's action and id are columns of their own."""
    with contextlib.suppress(ValueError, RecursionError):
        data = json.loads(text)
        if isinstance(data, dict):
            for part in ("body", "params"):
                if isinstance(data.get(part), dict):
                    return redact(json.dumps(data[part], ensure_ascii=False, sort_keys=False))
    return mask_payload(text)


def _time(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


@dataclass(frozen=True)
class MaskedEvent:
    at: float
    action: str
    action_id: str
    payload: str

    @classmethod
    def of(cls, record: EventRecord) -> MaskedEvent:
        return cls(record.received_at, record.action, redact(record.action_id or ""), event_body(record.payload))

    @classmethod
    def refused(cls, refusal: Refusal) -> MaskedEvent:
        """A request the webhook refused, as a row among the events: "refused 401", the action it
        named, from where and why (nothing of its body was kept)."""
        event = QCoreApplication.translate("EventLogModel", "refused {status}").format(status=refusal.status)
        if refusal.action:
            event += f" ({refusal.action})"
        text = QCoreApplication.translate("EventLogModel", "from {remote}: {reason}").format(
            remote=refusal.remote, reason=refusal.reason)
        return cls(refusal.at, event, "", redact(text))


class EventLogModel(QAbstractTableModel):
    """The last raw events, newest first, already masked (nothing secret ever enters the model)."""

    TIME, ACTION, ACTION_ID, PAYLOAD = range(4)
    COLUMNS = 4

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[MaskedEvent] = []

    def set_events(self, records: list[EventRecord], refusals: Sequence[Refusal] = ()) -> None:
        """The events and the refused requests, newest first."""
        self.beginResetModel()
        rows = [MaskedEvent.of(r) for r in records] + [MaskedEvent.refused(r) for r in refusals]
        self._rows = sorted(rows, key=lambda row: row.at, reverse=True)
        self.endResetModel()

    def masked(self, row: int) -> MaskedEvent:
        return self._rows[row]

    def events(self) -> list[MaskedEvent]:
        return list(self._rows)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self.COLUMNS

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        titles = {
            self.TIME: QCoreApplication.translate("EventLogModel", "Received"),
            self.ACTION: QCoreApplication.translate("EventLogModel", "Event"),
            self.ACTION_ID: QCoreApplication.translate("EventLogModel", "Action id"),
            self.PAYLOAD: QCoreApplication.translate("EventLogModel", "Body"),
        }
        return titles.get(section)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return plain_text(self._text(row, index.column(), full=False))
        if role == Qt.ItemDataRole.ToolTipRole:  # QToolTip guesses rich text: see plain_tooltip
            return plain_tooltip(self._text(row, index.column(), full=True))
        return None

    def _text(self, row: MaskedEvent, column: int, *, full: bool) -> str:
        """A cell's text as received (masked), before it is made fit for showing."""
        if column == self.TIME:
            return _time(row.at)
        if column == self.ACTION:
            return row.action
        if column == self.ACTION_ID:
            return row.action_id
        if column == self.PAYLOAD:
            return row.payload if full else row.payload[:300]
        return ""


@dataclass
class Health:
    """The latest health facts the panel knows; None means "not checked yet"."""

    listener_url: str = ""
    listener_up: bool | None = None
    pbx_ok: bool | None = None
    pbx_text: str = ""
    pbx_checked_at: float | None = None


def versions() -> dict[str, str]:
    return {
        "pbx-companion": app.__version__,
        "Python": platform.python_version(),
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "aiohttp": aiohttp.__version__,
        "SQLite": sqlite3.sqlite_version,
        "OS": platform.platform(),
        "Qt platform": QGuiApplication.platformName() if QGuiApplication.instance() else "",
    }


def settings_lines(settings: Settings) -> list[str]:
    """Every setting except unknown extras (a hand-edited file might hold anything)."""
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name != "extra"}
    return [f"  {name} = {value!r}" for name, value in values.items()]


def diagnostics_text(settings: Settings, health: Health, events: list[MaskedEvent], log_file: Path) -> str:
    """The block "Copy diagnostics" puts on the clipboard; masked once more as a whole."""
    lines = ["pbx-companion diagnostics", f"generated: {_time(time.time())}", "", "[versions]"]
    lines += [f"  {name}: {value}" for name, value in versions().items()]
    lines += ["", "[settings]", *settings_lines(settings)]
    lines += ["", "[keys]"]
    for name in ("crm_api_key", "pbx_api_key", "agent_token"):
        lines.append(f"  {name}: {key_source(name) or 'not set'}")
    listener = {None: "not checked", True: "up", False: "down"}[health.listener_up]
    if settings.team_mode:
        lines += ["", "[health]", f"  listener: none (team mode: {settings.team_server} is the PBX's webhook)"]
    else:
        lines += ["", "[health]", f"  listener: {health.listener_url or 'not running'} ({listener})"]
    if health.pbx_ok is None:
        lines.append("  PBX: not checked")
    else:
        when = _time(health.pbx_checked_at) if health.pbx_checked_at else ""
        lines.append(f"  PBX: {'ok' if health.pbx_ok else 'failed'} at {when}: {health.pbx_text}")
    lines += ["", f"[log file]\n  {log_file}", "", f"[last {len(events)} events, newest first]"]
    for event in events:
        lines.append(f"  {_time(event.at)} {event.action} {event.action_id} {event.payload}")
    return redact("\n".join(lines)) + "\n"


class DiagnosticsPanel(QWidget):
    """Events, health, log file and "Copy diagnostics" in one window (non-modal).

    The event list refreshes itself shortly after the core reports a call, presence or CDR.

    Signals: none (it only shows and copies).
    """

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.health = Health()
        self.events_loaded = 0  # how many refreshes completed (tests and the status line use it)
        self.setWindowTitle(self.tr("PBX Companion diagnostics"))

        self.model = EventLogModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(EventLogModel.PAYLOAD, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._show_payload)
        self.payload = QPlainTextEdit(self)
        self.payload.setObjectName("payload")
        self.payload.setReadOnly(True)
        self.payload.setPlaceholderText(self.tr("Select an event to see its body (keys and link tokens masked)."))

        self.listener_label = PlainLabel(parent=self)
        self.listener_label.setObjectName("listener")
        self.listener_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pbx_label = PlainLabel(self.tr("Not checked yet."), self)
        self.pbx_label.setObjectName("pbx")
        self.pbx_label.setWordWrap(True)
        self.check_pbx_button = QPushButton(self.tr("Check PBX"), self)
        self.check_pbx_button.clicked.connect(self.check_pbx)
        self.refresh_button = QPushButton(self.tr("Refresh"), self)
        self.refresh_button.clicked.connect(self.refresh)
        self.log_label = PlainLabel(str(log_file_path(ctx.settings)), self)
        self.log_label.setObjectName("log_file")
        self.log_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_logs = QPushButton(self.tr("Open log folder"), self)
        open_logs.clicked.connect(self.open_log_folder)
        self.copy_button = QPushButton(self.tr("Copy diagnostics"), self)
        self.copy_button.clicked.connect(self.copy_diagnostics)
        self.status = PlainLabel(parent=self)
        self.status.setObjectName("status")

        form = QFormLayout()
        listener_row = QHBoxLayout()
        listener_row.addWidget(self.listener_label, 1)
        listener_row.addWidget(self.refresh_button)
        form.addRow(self.tr("Listener"), listener_row)
        pbx_row = QHBoxLayout()
        pbx_row.addWidget(self.pbx_label, 1)
        pbx_row.addWidget(self.check_pbx_button)
        form.addRow(self.tr("PBX"), pbx_row)
        log_row = QHBoxLayout()
        log_row.addWidget(self.log_label, 1)
        log_row.addWidget(open_logs)
        form.addRow(self.tr("Log file"), log_row)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(PlainLabel(self.tr("Last events from the PBX (keys and link tokens masked)"), self))
        layout.addWidget(self.table, 3)
        layout.addWidget(self.payload, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.copy_button)
        layout.addLayout(bottom)
        self.resize(820, 600)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh_events)
        ctx.bridge.call_changed.connect(self._soon)
        ctx.bridge.presence_changed.connect(self._soon)
        ctx.bridge.cdr_added.connect(self._soon)
        self._show_listener()
        self.refresh()
        if ctx.api.calls.setup_problem(need_crm_user=False) is None:
            self.check_pbx()  # the PBX's state now, not "not checked yet" while the app knows it answered

    # -- refreshing --------------------------------------------------------------------------------

    def _soon(self, *_: Any) -> None:
        self._debounce.start()

    def refresh(self) -> None:
        """Reload the events and ask the listener whether it answers."""
        self.refresh_events()
        url = self.ctx.api.webhook_url
        self.health.listener_url = url or ""
        if url is None:
            self.health.listener_up = False
            self._show_listener()
            return

        def done(up: bool) -> None:
            self.health.listener_up = up
            self._show_listener()

        self.ctx.tasks.start(listener_up(url), on_done=done)

    def refresh_events(self) -> None:
        def done(records: list[EventRecord]) -> None:
            self.model.set_events(records, self.ctx.api.recent_refusals())
            self.events_loaded += 1

        def failed(exc: BaseException) -> None:
            self.status.setText(self.tr("Could not read the event log: {error}").format(error=user_message(exc)))

        self.ctx.tasks.start(self.ctx.api.recent_events(EVENT_LIMIT), on_done=done, on_error=failed)

    def _show_listener(self) -> None:
        if self.ctx.settings.team_mode:  # no listener of its own: the team server is the PBX's webhook
            self.listener_label.setText(self.tr("none: the team server {url} is the PBX's webhook").format(
                url=self.ctx.settings.team_server))
            return
        url = self.health.listener_url or self.tr("not running")
        state = {None: self.tr("checking…"), True: self.tr("up"), False: self.tr("down")}[self.health.listener_up]
        self.listener_label.setText(f"{url} — {state}")

    def _show_payload(self, current: QModelIndex, _previous: QModelIndex) -> None:
        text = self.model.masked(current.row()).payload if current.isValid() else ""
        with contextlib.suppress(ValueError, RecursionError):  # already masked: indenting changes only readability
            text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
        self.payload.setPlainText(text)

    # -- PBX ---------------------------------------------------------------------------------------

    def check_pbx(self) -> None:
        """``get_domain_user_list`` through the service API; shows the result and its time."""
        self.check_pbx_button.setEnabled(False)
        self.pbx_label.setText(self.tr("Checking…"))

        async def probe() -> int:
            return len(await self.ctx.api.presence.pbx_users())

        def done(count: int) -> None:
            self.check_pbx_button.setEnabled(True)
            self.health.pbx_ok = True
            self.health.pbx_checked_at = time.time()
            self.health.pbx_text = f"{count} PBX users"
            self.pbx_label.setText(self.tr("OK at {time}: %n PBX user(s)", "", count).format(
                time=_time(self.health.pbx_checked_at)))

        def failed(exc: BaseException) -> None:
            self.check_pbx_button.setEnabled(True)
            self.health.pbx_ok = False
            self.health.pbx_checked_at = time.time()
            self.health.pbx_text = user_message(exc)
            self.pbx_label.setText(self.tr("Failed at {time}: {error}").format(
                time=_time(self.health.pbx_checked_at), error=connection_test_error_text(exc)))

        self.ctx.tasks.start(probe(), on_done=done, on_error=failed)

    # -- actions -----------------------------------------------------------------------------------

    def diagnostics(self) -> str:
        return diagnostics_text(self.ctx.settings, self.health, self.model.events(), log_file_path(self.ctx.settings))

    def copy_diagnostics(self) -> None:
        QGuiApplication.clipboard().setText(self.diagnostics())
        self.status.setText(self.tr("Diagnostics copied to the clipboard."))

    def open_log_folder(self) -> None:
        folder = log_file_path(self.ctx.settings).parent
        try:
            private_dir(folder)
        except OSError as exc:
            self.status.setText(user_message(exc))
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.status.setText(self.tr("No file manager could open {folder}.").format(folder=folder))

    def visible_text(self) -> str:
        """Every text the panel shows (labels, table cells, payload), for checks and screenshots."""
        parts = [label.text() for label in self.findChildren(QLabel)]
        parts.append(self.payload.toPlainText())
        for row in range(self.model.rowCount()):
            for column in range(self.model.columnCount()):
                parts.append(str(self.model.data(self.model.index(row, column), Qt.ItemDataRole.ToolTipRole) or ""))
        return "\n".join(parts)
