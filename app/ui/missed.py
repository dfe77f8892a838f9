"""Missed calls: the agent's unanswered incoming calls until they call back or dismiss them.

"Missed" is decided by the core's call state machine (an incoming call that ended unanswered
here and nobody else in its queue answered); this module only lists what the service API says,
one row per caller (how many calls, the last one's time), refreshes when a call becomes missed,
and clears entries: Dismiss clears the caller's calls, Dismiss all every one, Call back dials
through :class:`~app.ui.dialer.DialService`, which clears every missed call from that number
once the PBX accepted the call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.api import MAX_MISSED
from app.protocol.phones import Phone, PhoneError
from app.storage import CallRecord

from .context import UiContext, user_message
from .dialer import DialFeedback, DialService
from .errors import display_key
from .format import missed_count_text, phone_text, plain_text, plain_tooltip, when_text
from .labels import PlainLabel

log = logging.getLogger("app.ui.missed")

__all__ = ["MissedCall", "MissedCallsModel", "MissedCallsPanel"]



@dataclass(frozen=True, slots=True)
class MissedCall:
    """One row: a caller's missed calls (newest first) plus what the agent reads about them."""

    calls: tuple[CallRecord, ...]
    number: str  # for humans; "" when the caller's number is unknown
    contact: str  # contact name, "" when the caller is not in the directory
    company: str = ""
    contact_id: int | None = None

    @property
    def call(self) -> CallRecord:
        """The newest of the caller's missed calls."""
        return self.calls[0]

    @property
    def call_id(self) -> str:
        return self.call.call_id

    @property
    def count(self) -> int:
        return len(self.calls)

    @property
    def can_call_back(self) -> bool:
        return bool(self.call.other_key)

    @property
    def can_open_card(self) -> bool:
        return self.contact_id is not None or bool(self.call.other_key)

    @property
    def when(self) -> float:
        return self.call.ringing_at or self.call.first_seen


def _dial_text(key: str) -> str:
    """What to dial for a stored number key (an unparseable key goes as typed: the dialer says why)."""
    try:
        return Phone.from_key(key).text
    except PhoneError:
        return "+" + key


class MissedCallsModel(QAbstractTableModel):
    """The missed-call list of this agent (every agent's with ``see_all_calls``), one row per caller.

    Reloads from the service API when a call becomes missed (or a listed one changes) and after a
    call-back was recorded; works without any widget. A caller with several missed calls is one
    row (the count, the last call's time); calls from a hidden number are one row too.

    Signals:
        count_changed(int): the number of listed missed calls changed (the tray badge).
        failed(str): Dismiss could not be stored; one plain sentence for the agent.
    """

    TIME, NUMBER, CONTACT, COUNT = range(4)
    COLUMN_COUNT = 4
    RowRole = Qt.ItemDataRole.UserRole + 1

    count_changed = Signal(int)
    failed = Signal(str)

    def __init__(self, ctx: UiContext, service: DialService | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._service = service
        self._rows: list[MissedCall] = []
        self._last_count = -1
        self._loading = False
        self._again = False
        ctx.bridge.call_changed.connect(self._call_changed)
        if service is not None:
            service.dialed.connect(self._on_dialed)

    # -- reading ------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    @property
    def count(self) -> int:
        """Missed calls listed (a caller's several calls each count)."""
        return sum(row.count for row in self._rows)

    def row_at(self, row: int) -> MissedCall | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rows(self) -> list[MissedCall]:
        return list(self._rows)

    def row_of(self, call_id: str) -> int:
        """The row holding this call (the caller's newest or an earlier one), -1 when none does."""
        return next((i for i, r in enumerate(self._rows) if any(c.call_id == call_id for c in r.calls)), -1)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.TIME:
                return when_text(row.when)
            if column == self.NUMBER:
                return row.number
            if column == self.CONTACT:
                if not row.contact:
                    return self.tr("Unknown caller")
                return f"{row.contact} ({row.company})" if row.company else row.contact
            if column == self.COUNT:
                return str(row.count)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.COUNT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.NUMBER and row.call.gateway_number:
                line = display_key(self._ctx.normalizer, row.call.gateway_number)
                return plain_tooltip(self.tr("Called line: {0}").format(line))
            return None
        if role == self.RowRole:
            return row
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = {self.TIME: self.tr("Last call"), self.NUMBER: self.tr("Number"), self.CONTACT: self.tr("Contact"),
                  self.COUNT: self.tr("Calls")}
        return titles.get(section)

    # -- loading ------------------------------------------------------------------------------

    async def load(self) -> list[MissedCall]:
        """Ask the service API for this agent's missed calls and their contacts, one row per caller
        (newest caller first; no model change)."""
        found = await self._ctx.api.calls.missed(MAX_MISSED)
        normalizer = self._ctx.normalizer
        groups: dict[str, list[Any]] = {}
        for entry in found:  # newest first: each caller's first entry is their newest call
            groups.setdefault(entry.call.other_key or "", []).append(entry)
        rows = []
        for entries in groups.values():
            first = entries[0]
            contact = next((e.contact for e in entries if e.contact is not None), None)
            rows.append(MissedCall(tuple(e.call for e in entries), phone_text(normalizer, first.call.other_leg),
                                   plain_text(contact.name) if contact else "",
                                   plain_text(contact.company_name) if contact else "",
                                   contact.id if contact else None))
        return rows

    def reload(self) -> None:
        """Re-read the list (coalesced: a reload asked for while one runs runs once after it)."""
        if self._loading:
            self._again = True
            return
        self._loading = True
        self._ctx.tasks.start(self._reload())

    async def _reload(self) -> None:
        try:
            rows = await self.load()
        except Exception as exc:
            log.warning("missed calls: could not read them: %s", exc)
            self.failed.emit(self.tr("Could not read the missed calls: {0}").format(user_message(exc)))
            rows = None
        finally:
            self._loading = False
        if rows is not None:
            self.set_rows(rows)
        if self._again:
            self._again = False
            self.reload()

    def set_rows(self, rows: list[MissedCall]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()
        self._emit_count()

    def _emit_count(self) -> None:
        count = self.count
        if count != self._last_count:
            self._last_count = count
            self.count_changed.emit(count)

    def _on_dialed(self, _key: str) -> None:
        self.reload()  # DialService cleared the missed calls from that number

    def _call_changed(self, call: CallRecord, event: str) -> None:
        if call.missed or self.row_of(call.call_id) >= 0:
            self.reload()

    # -- actions ------------------------------------------------------------------------------

    def dismiss(self, row: int) -> bool:
        """Clear a caller's missed calls, the row's (they stay in the call history)."""
        entry = self.row_at(row)
        if entry is None:
            return False
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self.endRemoveRows()
        self._emit_count()

        async def clear(call_ids: list[str]) -> None:
            for call_id in call_ids:
                await self._ctx.api.calls.clear_missed(call_id)

        self._ctx.tasks.start(clear([c.call_id for c in entry.calls]),
                              on_done=lambda _done: self.reload(), on_error=self._dismiss_failed)
        return True

    def dismiss_all(self) -> bool:
        """Clear every missed call of this agent's ("Dismiss all")."""
        if not self._rows:
            return False
        self.set_rows([])
        self._ctx.tasks.start(self._ctx.api.calls.clear_all_missed(),
                              on_done=lambda _cleared: self.reload(), on_error=self._dismiss_failed)
        return True

    def _dismiss_failed(self, exc: BaseException) -> None:
        log.warning("missed calls: dismiss failed: %s", exc)
        self.failed.emit(self.tr("Could not dismiss the missed call: {0}").format(user_message(exc)))
        self.reload()

    def call_back(self, row: int) -> bool:
        """Dial the caller; the row goes once the PBX accepted the call (DialService clears it)."""
        entry = self.row_at(row)
        if entry is None or self._service is None or not entry.can_call_back:
            return False
        return self._service.dial(entry.call.other_leg or _dial_text(entry.call.other_key or ""))


class MissedCallsPanel(QWidget):
    """The missed-call list with Open card / Call back / Dismiss buttons and the same actions on
    right-click. A double-click opens the caller's card: it never dials (calling is a button).

    Signals:
        open_card_requested(int, str): open the client card (contact id or 0, the number shown).
    """

    open_card_requested = Signal(int, str)

    def __init__(self, ctx: UiContext, service: DialService, model: MissedCallsModel | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._service = service
        self.setWindowTitle(self.tr("Missed calls"))
        if model is None:
            model = MissedCallsModel(ctx, service, self)
            model.reload()
        self.model = model

        self.summary_label = PlainLabel(parent=self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.open_card_button = QPushButton(self.tr("Open card"), self)
        self.call_back_button = QPushButton(self.tr("Call back"), self)
        self.dismiss_button = QPushButton(self.tr("Dismiss"), self)
        self.dismiss_all_button = QPushButton(self.tr("Dismiss all"), self)
        self.message_label = DialFeedback(service, self)
        self.menu = QMenu(self)
        self.open_card_action = QAction(self.tr("Open card"), self)
        self.call_back_action = QAction(self.tr("Call back"), self)
        self.dismiss_action = QAction(self.tr("Dismiss"), self)
        self.menu.addAction(self.open_card_action)
        self.menu.addAction(self.call_back_action)
        self.menu.addAction(self.dismiss_action)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_card_button)
        buttons.addWidget(self.call_back_button)
        buttons.addWidget(self.dismiss_button)
        buttons.addWidget(self.dismiss_all_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message_label)

        self.open_card_button.clicked.connect(self.open_card_selected)
        self.call_back_button.clicked.connect(self.call_back_selected)
        self.dismiss_button.clicked.connect(self.dismiss_selected)
        self.dismiss_all_button.clicked.connect(self.dismiss_all)
        self.open_card_action.triggered.connect(self.open_card_selected)
        self.call_back_action.triggered.connect(self.call_back_selected)
        self.dismiss_action.triggered.connect(self.dismiss_selected)
        self.view.doubleClicked.connect(lambda index: self._open_card(index.row()))
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.model.modelReset.connect(self._update_actions)
        self.model.rowsRemoved.connect(self._rows_removed)
        self.model.count_changed.connect(self._update_summary)
        self.model.failed.connect(self._on_model_failed)
        self._update_summary(self.model.count)
        self._update_actions()

    def selected_row(self) -> int:
        rows = self.view.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def call_back_selected(self) -> None:
        self._call_back(self.selected_row())

    def dismiss_all(self) -> None:
        self.view.selectionModel().clear()
        self.model.dismiss_all()

    def open_card_selected(self) -> None:
        self._open_card(self.selected_row())

    def _open_card(self, row: int) -> None:
        entry = self.model.row_at(row)
        if entry is not None and entry.can_open_card:
            self.open_card_requested.emit(entry.contact_id or 0, entry.number)

    def dismiss_selected(self) -> None:
        row = self.selected_row()
        if row >= 0:
            # clear the current row too, or the view selects the next row when this one goes
            # and a second click would dismiss a call the agent has not looked at
            self.view.selectionModel().clear()
            self.model.dismiss(row)

    def _call_back(self, row: int) -> None:
        entry = self.model.row_at(row)
        if entry is None:
            return
        if not entry.can_call_back:
            self.message_label.show_message(
                self.tr("This caller's number is unknown: there is nothing to call back."), error=True)
            return
        self.message_label.track()
        if self.model.call_back(row):
            self.message_label.show_message(self.tr("Asking the PBX to call {0}\u2026").format(entry.number))

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        self.view.selectRow(index.row())
        self._update_actions()
        self.menu.popup(self.view.viewport().mapToGlobal(pos))  # never exec(): no nested event loop

    def _update_actions(self) -> None:
        entry = self.model.row_at(self.selected_row())
        can_call = entry is not None and entry.can_call_back
        self.call_back_button.setEnabled(can_call)
        self.call_back_action.setEnabled(can_call)
        can_open = entry is not None and entry.can_open_card
        self.open_card_button.setEnabled(can_open)
        self.open_card_action.setEnabled(can_open)
        self.dismiss_button.setEnabled(entry is not None)
        self.dismiss_action.setEnabled(entry is not None)
        self.dismiss_all_button.setEnabled(self.model.rowCount() > 0)

    def _update_summary(self, count: int) -> None:
        if count <= 0:
            self.summary_label.setText(self.tr("No missed calls."))
        else:
            self.summary_label.setText(missed_count_text(count))

    def _rows_removed(self, *_args: Any) -> None:
        self._update_actions()

    def _on_model_failed(self, text: str) -> None:
        self.message_label.show_message(text, error=True)
