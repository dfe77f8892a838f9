"""Team presence: who is registered, who is available, who is on a call.

Three sources make one row per PBX extension: the PBX's user list (``get_domain_user_list``,
names), the CRM user mapping (``users`` table: which CRM user an extension belongs to) and the
latest ``user_change``/``agent_change`` events (stored, then followed live through the Qt
bridge). "On a call" comes from the call journal: a user is on a call while any call whose
``domain_user`` is their extension rings, is active or held. A user seen only in events, or
only in the CRM mapping, still gets a row: a stale PBX list must not hide a colleague.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.agent import AVAILABLE, LOGGED_OUT, ON_BREAK, ON_DEMAND
from app.protocol.pbx_actions import DomainUser
from app.storage import CallRecord, CallState, CrmUser, PresenceRecord

from .context import UiContext
from .dialer import DialFeedback, DialService
from .errors import missing_pbx_setting, pbx_error_text
from .format import plain_text, plain_tooltip

log = logging.getLogger("app.ui.presence")

__all__ = ["PresenceFilterProxy", "PresenceModel", "PresencePanel", "PresenceRow"]

# ``user_change`` status values. The vendor documents none; the PBX's DomainUser uses 1 for a
# registered SIP account and 0 for none. Anything else shows as "unknown (N)".
REGISTERED = 1
UNREGISTERED = 0


@dataclass
class PresenceRow:
    """One PBX user as the panel shows them."""

    extension: str
    pbx_name: str = ""
    in_pbx_list: bool = False
    crm_user_id: str | None = None
    crm_user_name: str = ""
    reg_status: int | None = None
    base_status: int | None = None
    extra_status: int | None = None
    status_name: str | None = None
    live_calls: set[str] = field(default_factory=set)

    @property
    def on_call(self) -> bool:
        return bool(self.live_calls)


def _extension_order(uid: str) -> tuple[int, int, str]:
    return (0, int(uid), uid) if uid.isdigit() else (1, 0, uid.casefold())


class PresenceModel(QAbstractTableModel):
    """The team table; works without any widget (tests drive it directly).

    With a ``ctx`` it follows the Qt bridge live and can :meth:`refresh` itself through the
    service API (local data, then the PBX's list); without one it is filled through the ``set_*``/``apply_*`` methods.

    Signals:
        refreshed(): a refresh finished and the PBX list was loaded.
        refresh_failed(str): the PBX list could not be loaded (the rows keep what they had);
            one plain sentence for the agent.
        loading_changed(bool): a refresh started (True) or ended (False).
    """

    EXTENSION, NAME, CRM_USER, REGISTRATION, STATUS, ON_CALL = range(6)
    COLUMN_COUNT = 6
    RowRole = Qt.ItemDataRole.UserRole + 1

    refreshed = Signal()
    refresh_failed = Signal(str)
    loading_changed = Signal(bool)

    def __init__(self, ctx: UiContext | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._rows: list[PresenceRow] = []
        self._index: dict[str, int] = {}
        self._pbx: dict[str, DomainUser] = {}
        self._crm_by_extension: dict[str, CrmUser] = {}
        self._crm_by_id: dict[str, CrmUser] = {}
        self._presence: dict[str, PresenceRecord] = {}
        self._live: dict[str, set[str]] = {}
        self._loading = False
        if ctx is not None:
            ctx.bridge.presence_changed.connect(self.apply_presence)
            ctx.bridge.call_changed.connect(self.apply_call)

    # -- reading ------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    def row_at(self, row: int) -> PresenceRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, extension: str) -> int:
        """The row number of ``extension``, -1 when unknown."""
        return self._index.get(extension, -1)

    def user(self, extension: str) -> PresenceRow | None:
        return self.row_at(self.row_of(extension))

    def extensions(self) -> list[str]:
        return [r.extension for r in self._rows]

    def text(self, extension: str, column: int) -> str:
        """What the table shows for ``extension`` in ``column`` ("" when the user is unknown)."""
        row = self.row_of(extension)
        return self.data(self.index(row, column)) or "" if row >= 0 else ""

    @property
    def loading(self) -> bool:
        return self._loading

    def registration_label(self, status: int | None) -> str:
        if status is None:
            return self.tr("unknown")
        if status == REGISTERED:
            return self.tr("registered")
        if status == UNREGISTERED:
            return self.tr("not registered")
        return self.tr("unknown ({0})").format(status)

    def base_status_label(self, status: int | None) -> str:
        """Like :func:`app.core.agent.base_status_label`, translated; "" when no status is known."""
        if status is None:
            return ""
        labels = {
            AVAILABLE: self.tr("available"),
            ON_DEMAND: self.tr("on demand"),
            ON_BREAK: self.tr("on break"),
            LOGGED_OUT: self.tr("logged out"),
        }
        return labels.get(status) or self.tr("unknown ({0})").format(status)

    def status_text(self, row: PresenceRow) -> str:
        label = self.base_status_label(row.base_status)
        name = plain_text(row.status_name).strip()  # the PBX's text, shown as plain text
        if name and label and name.casefold() != label.casefold():
            return f"{label} \u2014 {name}"
        return label or name

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.EXTENSION:
                return plain_text(row.extension)
            if column == self.NAME:
                return row.pbx_name
            if column == self.CRM_USER:
                return plain_text(row.crm_user_name or row.crm_user_id)
            if column == self.REGISTRATION:
                return self.registration_label(row.reg_status)
            if column == self.STATUS:
                return self.status_text(row)
            if column == self.ON_CALL:
                return self.tr("on a call") if row.on_call else ""
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.CRM_USER and row.crm_user_id:  # QToolTip guesses rich text: see plain_tooltip
                return plain_tooltip(self.tr("CRM user id {0}").format(row.crm_user_id))
            if column == self.NAME and not row.in_pbx_list:
                return self.tr("Not in the PBX's user list; known from its events.")
            return None
        if role == self.RowRole:
            return row
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        return {
            self.EXTENSION: self.tr("Extension"),
            self.NAME: self.tr("Name"),
            self.CRM_USER: self.tr("CRM user"),
            self.REGISTRATION: self.tr("Phone"),
            self.STATUS: self.tr("Call-center status"),
            self.ON_CALL: self.tr("Call"),
        }.get(section)

    # -- filling ------------------------------------------------------------------------------

    def set_pbx_users(self, users: list[DomainUser]) -> None:
        self._pbx = {str(u.uid): u for u in users}
        self._rebuild()

    def set_crm_users(self, users: list[CrmUser]) -> None:
        self._crm_by_id = {u.id: u for u in users}
        self._crm_by_extension = {u.extension: u for u in users if u.extension}
        self._rebuild()

    def set_presence(self, records: list[PresenceRecord]) -> None:
        self._presence = {r.user_uid: r for r in records}
        self._rebuild()

    def set_live_calls(self, calls: list[CallRecord]) -> None:
        self._live = {}
        for call in calls:
            if call.domain_user and CallState(call.state).live:
                self._live.setdefault(call.domain_user, set()).add(call.call_id)
        self._rebuild()

    def apply_presence(self, record: PresenceRecord, event: str = "") -> None:
        """A ``user_change``/``agent_change`` arrived (stored record, all fields current)."""
        self._presence[record.user_uid] = record
        self._update(record.user_uid, create=True)

    def apply_call(self, call: CallRecord, event: str = "") -> None:
        """A call changed: the user whose extension it rings on is on a call until it ends."""
        uid = call.domain_user
        if not uid:
            return
        calls = self._live.setdefault(uid, set())
        before = len(calls)
        if CallState(call.state).live:
            calls.add(call.call_id)
        else:
            calls.discard(call.call_id)
        if len(calls) != before:
            self._update(uid, create=False)

    def _compose(self, uid: str) -> PresenceRow:
        pbx = self._pbx.get(uid)
        presence = self._presence.get(uid)
        crm = self._crm_by_extension.get(uid)
        crm_id = crm.id if crm is not None else (presence.crm_user if presence is not None else None)
        if crm is None and crm_id:
            crm = self._crm_by_id.get(crm_id)
        return PresenceRow(
            extension=uid,
            pbx_name=plain_text(pbx.display_name) if pbx is not None and pbx.display_name != uid else "",
            in_pbx_list=pbx is not None,
            crm_user_id=crm_id,
            crm_user_name=crm.name if crm is not None else "",
            reg_status=presence.reg_status if presence is not None else None,
            base_status=presence.base_status if presence is not None else None,
            extra_status=presence.extra_status if presence is not None else None,
            status_name=presence.status_name if presence is not None else None,
            live_calls=set(self._live.get(uid, ())),
        )

    def _rebuild(self) -> None:
        uids = set(self._pbx) | set(self._crm_by_extension) | set(self._presence)
        self.beginResetModel()
        self._rows = [self._compose(uid) for uid in sorted(uids, key=_extension_order)]
        self._index = {row.extension: i for i, row in enumerate(self._rows)}
        self.endResetModel()

    def _update(self, uid: str, *, create: bool) -> None:
        row = self._index.get(uid)
        if row is None:
            if not create:
                return
            position = len(self._rows)
            self.beginInsertRows(QModelIndex(), position, position)
            self._rows.append(self._compose(uid))
            self._index[uid] = position
            self.endInsertRows()
            return
        self._rows[row] = self._compose(uid)
        self.dataChanged.emit(self.index(row, 0), self.index(row, self.COLUMN_COUNT - 1))

    # -- loading (needs a ctx) ----------------------------------------------------------------

    async def load_local(self) -> None:
        """The CRM mapping (this agent's own user included), stored presence and calls in progress."""
        assert self._ctx is not None
        snapshot = await self._ctx.api.presence.team()
        users = snapshot.users
        self._crm_by_id = {u.id: u for u in users}
        self._crm_by_extension = {u.extension: u for u in users if u.extension}
        self._presence = {r.user_uid: r for r in snapshot.presence}
        self._live = {}
        for call in snapshot.live_calls:
            if call.domain_user:
                self._live.setdefault(call.domain_user, set()).add(call.call_id)
        self._rebuild()

    async def fetch_pbx_users(self) -> None:
        """Ask the PBX for its users; raises the PBX error (the rows are left as they were)."""
        assert self._ctx is not None
        users = await self._ctx.api.presence.pbx_users()
        self.set_pbx_users(users)

    def refresh(self) -> bool:
        """Reload the local team data, then the PBX list; False when a refresh is already running."""
        if self._ctx is None:
            raise RuntimeError("PresenceModel.refresh needs a UiContext")
        if self._loading:
            return False
        self._set_loading(True)
        self._ctx.tasks.start(self._refresh())
        return True

    async def _refresh(self) -> None:
        assert self._ctx is not None
        try:
            try:
                await self.load_local()
            except Exception as exc:  # the local data failing is rare; say so and keep the rows
                log.warning("presence: could not read the local team data: %s", exc)
                self.refresh_failed.emit(self.tr("Could not read the local team data: {0}").format(exc))
                return
            missing = missing_pbx_setting(self._ctx, need_crm_user=False)
            if missing is not None:
                self.refresh_failed.emit(missing)
                return
            try:
                await self.fetch_pbx_users()
            except Exception as exc:
                log.warning("presence: get_domain_user_list failed: %s", exc)
                self.refresh_failed.emit(pbx_error_text(exc, "get_domain_user_list"))
                return
            self.refreshed.emit()
        finally:
            self._set_loading(False)

    def _set_loading(self, value: bool) -> None:
        self._loading = value
        self.loading_changed.emit(value)


class PresenceFilterProxy(QSortFilterProxyModel):
    """Search by extension, PBX name or CRM user name; sorts extensions as numbers."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._needle = ""

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self._needle = text.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def _source(self) -> PresenceModel:
        model = self.sourceModel()
        assert isinstance(model, PresenceModel)
        return model

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if not self._needle:
            return True
        row = self._source().row_at(source_row)
        if row is None:
            return False
        haystack = (row.extension, row.pbx_name, row.crm_user_name, row.crm_user_id or "")
        return any(self._needle in value.casefold() for value in haystack)

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        model = self._source()
        a, b = model.row_at(left.row()), model.row_at(right.row())
        if a is None or b is None or left.column() == PresenceModel.EXTENSION:
            return _extension_order(a.extension if a else "") < _extension_order(b.extension if b else "")
        text_a = str(model.data(left) or "").casefold()
        text_b = str(model.data(right) or "").casefold()
        if text_a == text_b:
            return _extension_order(a.extension) < _extension_order(b.extension)
        return text_a < text_b


class PresencePanel(QWidget):
    """The team table with a search field and a Refresh button.

    Calling a colleague is the explicit "Call 1111" button (or Enter), whose label shows the selected
    extension; a double-click only selects the colleague and asks, with the number, before dialing.
    """

    def __init__(self, ctx: UiContext, service: DialService, model: PresenceModel | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._service = service
        self._loaded_once = False
        self.setWindowTitle(self.tr("Team"))
        self.model = model if model is not None else PresenceModel(ctx, self)
        self.proxy = PresenceFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText(self.tr("Search by name or extension"))
        self.search_edit.setClearButtonEnabled(True)
        self.refresh_button = QPushButton(self.tr("Refresh"), self)
        self.call_button = QPushButton(self.tr("Call"), self)
        self.call_button.setEnabled(False)
        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(PresenceModel.EXTENSION, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setToolTip(self.tr("Select a colleague, then press Call to call their extension."))
        self.message_label = DialFeedback(service, self)

        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        top.addWidget(self.call_button)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.message_label)

        self.search_edit.textChanged.connect(self.proxy.set_search)
        self.refresh_button.clicked.connect(self.refresh)
        self.view.doubleClicked.connect(self._confirm_index)
        self.call_button.clicked.connect(lambda: self._dial_index(self.view.currentIndex()))
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._refresh_call_button())
        self.proxy.modelReset.connect(self._refresh_call_button)
        self.view.installEventFilter(self)
        self.model.refreshed.connect(self._on_refreshed)
        self.model.refresh_failed.connect(self._on_refresh_failed)
        self.model.loading_changed.connect(self._loading_changed)

    def refresh(self) -> None:
        self._loaded_once = True
        self.model.refresh()

    def extension_at(self, proxy_row: int) -> str | None:
        row = self.model.row_at(self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row())
        return row.extension if row is not None else None

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._loaded_once:
            self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.view and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self._dial_index(self.view.currentIndex())
            return True
        return super().eventFilter(watched, event)

    def _selected(self) -> PresenceRow | None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.row_at(self.proxy.mapToSource(rows[0]).row())

    def _refresh_call_button(self) -> None:
        row = self._selected()
        if row is None:
            self.call_button.setText(self.tr("Call"))
            self.call_button.setEnabled(False)
        else:
            self.call_button.setText(self.tr("Call %1").replace("%1", plain_text(row.extension)))
            self.call_button.setEnabled(True)

    def _confirm_index(self, index: QModelIndex) -> None:
        """A double-click: show whom and which number the Call button dials; it does not dial."""
        if not index.isValid():
            return
        row = self.model.row_at(self.proxy.mapToSource(index).row())
        if row is None:
            return
        self.view.selectRow(index.row())
        self._refresh_call_button()
        self.call_button.setFocus()
        who = plain_text(row.pbx_name or row.crm_user_name or row.extension)
        self.message_label.show_message(
            self.tr("Call %1 at %2? Press \u201c%3\u201d.").replace("%1", who)
            .replace("%2", plain_text(row.extension)).replace("%3", self.call_button.text()))

    def _dial_index(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        row = self.model.row_at(self.proxy.mapToSource(index).row())
        if row is None:
            return
        self.message_label.track()
        if self._service.dial(row.extension):
            who = plain_text(row.pbx_name or row.crm_user_name or row.extension)
            self.message_label.show_message(
                self.tr("Asking the PBX to call {0} ({1})\u2026").format(who, plain_text(row.extension)))

    def _on_refreshed(self) -> None:
        self.message_label.show_message("")

    def _on_refresh_failed(self, text: str) -> None:
        self.message_label.show_message(text, error=True)

    def _loading_changed(self, loading: bool) -> None:
        self.refresh_button.setEnabled(not loading)
        if loading:
            self.message_label.show_message(self.tr("Loading the PBX users\u2026"))
