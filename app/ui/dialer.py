"""Click-to-dial: the one service that places calls, and the dialer window.

Every way of starting a call -- the dialer window, a ``tel:``/``callto:``/``sip:`` link the OS
hands over, "Dial clipboard", a double-click in team presence, "Call back" on a missed call --
goes through :class:`DialService`, so the safety rules live in one place: ``make_call`` is sent
exactly once per request and never re-sent (a second request would ring the agent's phone
twice), a request for a number that is still in flight is ignored, and every failure reaches
the agent as one plain sentence instead of a traceback. The same number asked for again within
``dial_repeat_window_s`` (a double-click on a ``tel:`` link launches the app twice) is dialed once,
and the agent is told so.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import phonenumbers
from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QKeyEvent
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

from app.core.api import RecentDial
from app.core.directory import NumberQuery, looks_like_number
from app.pbx.errors import PbxOutcomeUnknown
from app.protocol.phones import Phone, PhoneError
from app.storage import ContactRecord

from .context import UiContext, user_message
from .errors import display_key, missing_pbx_setting, pbx_error_text, phone_error_text
from .format import plain_text, when_text
from .labels import PlainLabel

log = logging.getLogger("app.ui.dialer")

__all__ = ["DialFeedback", "DialService", "DialerEntry", "DialerListModel", "DialerWindow"]

# Longest clipboard text searched for a number (a whole copied page is not worth parsing).
_CLIPBOARD_SCAN_CHARS = 2000
# Rows the dialer's result list shows at most.
_MAX_RESULTS = 30


# -- the service -----------------------------------------------------------------------------


class DialService(QObject):
    """Places calls through the PBX's ``make_call``: exactly once, never re-sent.

    Shared by every window and by the shell (``tel:`` links, "Dial clipboard"), so a number
    that is being dialed anywhere is not dialed again until the PBX has answered.
    After a successful request the number goes to the dial log (the dialer's recent numbers)
    and every missed call from it is cleared: calling back settles them.

    Signals:
        dialing(str, str): the PBX accepted make_call: (number for humans, what was dialed).
            The agent's own phone rings first; :meth:`ringing_notice` words it.
        dial_failed(str): the call was not placed (or it is unknown whether it was); one
            plain sentence for the agent. Also sent when a request is ignored because the
            same number is still being dialed or the text is not a number.
        dialed(str): the dial log and missed calls were updated; the number's matching key
            ("74951343060").
    """

    dialing = Signal(str, str)
    dial_failed = Signal(str)
    dialed = Signal(str)

    def __init__(self, ctx: UiContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._in_flight: set[str] = set()
        self._started: dict[str, float] = {}  # number key → when its last request started (monotonic)

    @property
    def busy(self) -> bool:
        """True while some make_call has not been answered yet."""
        return bool(self._in_flight)

    def is_dialing(self, text: str) -> bool:
        key = self._ctx.normalizer.try_key(text)
        return key is not None and key in self._in_flight

    def ringing_notice(self, display: str) -> str:
        """The notice to show after ``dialing``: the agent must pick up their own phone first."""
        return self.tr("Your phone rings first: answer it and the PBX calls {0}.").format(display)

    def dial(self, text: str) -> bool:
        """Ask the PBX to call ``text`` (any number form or a tel:/callto:/sip: link).

        Returns True when a request was started; otherwise ``dial_failed`` already said why.
        """
        normalizer = self._ctx.normalizer
        try:
            phone = normalizer.parse(text)
        except PhoneError as exc:
            self.dial_failed.emit(phone_error_text(exc))
            return False
        display = normalizer.display(phone)
        if phone.key in self._in_flight:
            log.info("make_call to %s ignored: already in flight", phone.key)
            self.dial_failed.emit(
                self.tr("Already calling {0}: wait for your phone to ring instead of calling again.").format(display)
            )
            return False
        now = time.monotonic()
        window = max(0.0, float(self._ctx.settings.dial_repeat_window_s))
        started = self._started.get(phone.key)
        if started is not None and now - started < window:
            log.info("make_call to %s ignored: asked for again %.2f s after the last one", phone.key, now - started)
            self.dial_failed.emit(
                self.tr("{0} was dialed a moment ago: not dialed again. Wait for your phone to ring.").format(display)
            )
            return False
        missing = missing_pbx_setting(self._ctx, need_crm_user=True)
        if missing is not None:
            self.dial_failed.emit(missing)
            return False
        self._started = {k: t for k, t in self._started.items() if now - t < window}
        self._started[phone.key] = now
        self._in_flight.add(phone.key)
        self._ctx.tasks.start(self._place(phone))
        return True

    def find_number(self, text: str) -> str | None:
        """The phone number in ``text``: all of it, or the first number found in free text."""
        text = (text or "").strip()[:_CLIPBOARD_SCAN_CHARS]
        if not text:
            return None
        normalizer = self._ctx.normalizer
        if normalizer.try_key(text) is not None:
            return text
        for match in phonenumbers.PhoneNumberMatcher(text, normalizer.region, leniency=phonenumbers.Leniency.POSSIBLE):
            if normalizer.try_key(match.raw_string) is not None:
                return match.raw_string
        return None

    def dial_clipboard(self) -> bool:
        """Dial the number on the clipboard ("Dial clipboard" in the tray menu)."""
        text = QGuiApplication.clipboard().text()
        if not text.strip():
            self.dial_failed.emit(self.tr("The clipboard is empty: copy a phone number first."))
            return False
        number = self.find_number(text)
        if number is None:
            self.dial_failed.emit(self.tr("The clipboard holds no phone number."))
            return False
        return self.dial(number)

    async def _place(self, phone: Phone) -> None:
        try:
            try:
                result = await self._ctx.api.calls.dial(phone)  # also writes the dial log, clears missed calls
            except Exception as exc:  # every failure is reported once, none is retried
                log.warning("make_call to %s failed: %s", phone.key, user_message(exc))
                if not isinstance(exc, PbxOutcomeUnknown):  # surely not placed: asking again is no double call
                    self._started.pop(phone.key, None)
                self.dial_failed.emit(pbx_error_text(exc, "make_call"))
                return
            self.dialing.emit(self._ctx.normalizer.display(phone), result.dialed)
            self.dialed.emit(phone.key)
        finally:
            self._in_flight.discard(phone.key)


# -- the dialer's result list ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialerEntry:
    """One row of the dialer list: a contact's number or a recently dialed number."""

    name: str
    company: str
    number: str  # for humans
    dial_text: str  # what DialService.dial gets
    when: float | None = None  # last dialed (recent numbers only)
    contact_id: int | None = None  # the contact the number belongs to (None: nobody has it)


class DialerListModel(QAbstractTableModel):
    """Search results or recent numbers, one number per row (a contact with two phones: two rows)."""

    NAME, COMPANY, NUMBER, WHEN = range(4)
    COLUMN_COUNT = 4
    EntryRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[DialerEntry] = []
        self._recent = False

    @property
    def showing_recent(self) -> bool:
        return self._recent

    def set_entries(self, entries: list[DialerEntry], *, recent: bool) -> None:
        self.beginResetModel()
        self._entries = list(entries)
        self._recent = recent
        self.endResetModel()

    def entry(self, row: int) -> DialerEntry | None:
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def entries(self) -> list[DialerEntry]:
        return list(self._entries)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        entry = self.entry(index.row()) if index.isValid() else None
        if entry is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            column = index.column()
            if column == self.NAME:
                return plain_text(entry.name)
            if column == self.COMPANY:
                return plain_text(entry.company)
            if column == self.NUMBER:
                return plain_text(entry.number)
            if column == self.WHEN:
                return when_text(entry.when) if entry.when else ""
        if role == self.EntryRole:
            return entry
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        return {
            self.NAME: self.tr("Name"),
            self.COMPANY: self.tr("Company"),
            self.NUMBER: self.tr("Number"),
            self.WHEN: self.tr("Last dialed"),
        }.get(section)


def _dial_text(key: str) -> str | None:
    """What :meth:`DialService.dial` gets for a stored number key; None for a key that is no number."""
    try:
        return Phone.from_key(key).text
    except PhoneError:
        return None


class DialerWindow(QWidget):
    """Type a number or a name, see exactly what will be dialed, press Enter.

    The preview shows the ``dst`` make_call will get (the dial format applied), so an agent
    spots a wrong trunk prefix before the phone rings. Contacts are searched as the agent
    types; with an empty field the recent numbers are listed. The list's selected row, when
    there is one, is what Enter and the Call button dial. A double-click on a row opens its
    client card (as "Open card" does): it never dials.

    Signals:
        open_card_requested(int, str): open the client card (contact id or 0, the number).
    """

    open_card_requested = Signal(int, str)

    def __init__(self, ctx: UiContext, service: DialService, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self._ctx = ctx
        self._service = service
        self._generation = 0
        self.setWindowTitle(self.tr("Dial"))
        self.setObjectName("DialerWindow")

        self.number_edit = QLineEdit(self)
        self.number_edit.setPlaceholderText(self.tr("Number, contact name or tel: link"))
        self.number_edit.setClearButtonEnabled(True)
        self.call_button = QPushButton(self.tr("Call"), self)
        self.call_button.setDefault(True)
        self.open_card_button = QPushButton(self.tr("Open card"), self)
        self.open_card_button.setAutoDefault(False)
        self.preview_label = PlainLabel(parent=self)
        self.preview_label.setWordWrap(True)
        self.list_label = PlainLabel(parent=self)
        self.model = DialerListModel(self)
        self.results_view = QTableView(self)
        self.results_view.setModel(self.model)
        self.results_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_view.verticalHeader().hide()
        self.results_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.status_label = PlainLabel(parent=self)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(self.number_edit, 1)
        top.addWidget(self.call_button)
        top.addWidget(self.open_card_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.list_label)
        layout.addWidget(self.results_view, 1)
        layout.addWidget(self.status_label)
        self.resize(520, 420)

        self.number_edit.textChanged.connect(self._text_changed)
        self.number_edit.returnPressed.connect(self.call)
        self.number_edit.installEventFilter(self)
        self.results_view.installEventFilter(self)
        self.results_view.doubleClicked.connect(self._open_row)
        self.results_view.selectionModel().selectionChanged.connect(lambda *_: self._refresh_preview())
        self.call_button.clicked.connect(self.call)
        self.open_card_button.clicked.connect(self.open_card)
        service.dialing.connect(self._on_dialing)
        service.dial_failed.connect(self._on_failed)
        service.dialed.connect(self._on_dialed)

        self._refresh_preview()
        self._search("")

    # -- what the user sees ----------------------------------------------------------------

    def set_number(self, text: str) -> None:
        """Prefill the field (the shell: "Dial…" on a number)."""
        self.number_edit.setText(text)

    def selected_entry(self) -> DialerEntry | None:
        rows = self.results_view.selectionModel().selectedRows()
        return self.model.entry(rows[0].row()) if rows else None

    def target(self) -> str | None:
        """What Call/Enter dials now: the selected row, else the typed text if it is a number."""
        entry = self.selected_entry()
        if entry is not None:
            return entry.dial_text
        text = self.number_edit.text().strip()
        if text and self._ctx.normalizer.try_key(text) is not None:
            return text
        return None

    def call(self) -> None:
        target = self.target()
        if target is None:
            self._refresh_preview()
            return
        if self._service.dial(target):
            phone = self._ctx.normalizer.parse(target)
            self._show_status(self.tr("Asking the PBX to call {0}\u2026").format(self._ctx.normalizer.display(phone)))

    def open_card(self) -> None:
        """The selected row's client card (else the typed number's)."""
        entry = self.selected_entry()
        if entry is not None:
            self.open_card_requested.emit(entry.contact_id or 0, entry.number)
            return
        text = self.number_edit.text().strip()
        if text and self._ctx.normalizer.try_key(text) is not None:
            self.open_card_requested.emit(0, text)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.number_edit.setFocus()

    # -- internals ---------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            if watched is self.number_edit and key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                self._move_selection(1 if key == Qt.Key.Key_Down else -1)
                return True
            if watched is self.results_view and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.call()
                return True
        return super().eventFilter(watched, event)

    def _move_selection(self, step: int) -> None:
        count = self.model.rowCount()
        if count == 0:
            return
        entry_rows = self.results_view.selectionModel().selectedRows()
        row = entry_rows[0].row() + step if entry_rows else (0 if step > 0 else count - 1)
        selection = self.results_view.selectionModel()
        if row < 0 or row >= count:
            selection.clearSelection()
            return
        index = self.model.index(row, 0)
        selection.setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.results_view.scrollTo(index)

    def _open_row(self, index: QModelIndex) -> None:
        entry = self.model.entry(index.row())
        if entry is not None:
            self.open_card_requested.emit(entry.contact_id or 0, entry.number)

    def _text_changed(self, text: str) -> None:
        self._refresh_preview()
        self._search(text)

    def _refresh_preview(self) -> None:
        normalizer = self._ctx.normalizer
        entry = self.selected_entry()
        text = self.number_edit.text().strip()
        if entry is not None:
            dial = normalizer.dial_string(normalizer.parse(entry.dial_text))
            label = plain_text(entry.name or entry.number)
            self.preview_label.setText(self.tr("Will dial {0} ({1})").format(dial, label))
            self.call_button.setEnabled(True)
            self.open_card_button.setEnabled(True)
            return
        if not text:
            self.preview_label.setText(self.tr("Type a number or a contact's name."))
            self.call_button.setEnabled(False)
            self.open_card_button.setEnabled(False)
            return
        try:
            phone = normalizer.parse(text)
        except PhoneError as exc:
            self.call_button.setEnabled(False)
            self.open_card_button.setEnabled(False)
            if not looks_like_number(text) and self.model.rowCount() and not self.model.showing_recent:
                self.preview_label.setText(self.tr("Choose a number below to call."))
            else:
                self.preview_label.setText(phone_error_text(exc))
            return
        self.preview_label.setText(self.tr("Will dial {0}").format(normalizer.dial_string(phone)))
        self.call_button.setEnabled(True)
        self.open_card_button.setEnabled(True)

    def _search(self, text: str) -> None:
        """Start a look-up for ``text``; only the newest one's answer is shown."""
        self._generation += 1
        generation = self._generation
        text = text.strip()
        normalizer = self._ctx.normalizer

        if not text:
            def show_recent(dials: list[RecentDial]) -> None:
                if generation != self._generation:
                    return
                entries = [
                    DialerEntry(dial.contact.name if dial.contact else "",
                                (dial.contact.company_name or "") if dial.contact else "",
                                display_key(normalizer, dial.key), dial_text, dial.at,
                                dial.contact.id if dial.contact else None)
                    for dial in dials if (dial_text := _dial_text(dial.key)) is not None
                ]
                self._show_entries(entries, recent=True)

            self._ctx.tasks.start(self._ctx.api.calls.recent_dials(_MAX_RESULTS), on_done=show_recent)
            return

        query = NumberQuery.parse(normalizer, text)  # which of a found contact's phones matched

        def show_found(contacts: list[ContactRecord]) -> None:
            if generation != self._generation:
                return
            entries: list[DialerEntry] = []
            for contact in contacts:
                for phone in contact.phones:
                    if not query.matches(phone.key):
                        continue
                    dial_text = _dial_text(phone.key)
                    if dial_text is not None:
                        entries.append(DialerEntry(contact.name, contact.company_name or "",
                                                   display_key(normalizer, phone.key), dial_text,
                                                   contact_id=contact.id))
            self._show_entries(entries[:_MAX_RESULTS], recent=False)

        self._ctx.tasks.start(self._ctx.api.contacts.search(text, _MAX_RESULTS), on_done=show_found)

    def _show_entries(self, entries: list[DialerEntry], *, recent: bool) -> None:
        self.model.set_entries(entries, recent=recent)
        self.results_view.setColumnHidden(DialerListModel.WHEN, not recent)
        self.results_view.setColumnHidden(DialerListModel.COMPANY, recent)
        if recent:
            self.list_label.setText(self.tr("Recent numbers") if entries else self.tr("No numbers dialed yet."))
        elif entries:
            self.list_label.setText(self.tr("Contacts"))
        else:
            self.list_label.setText(self.tr("No contact matches."))
        self._refresh_preview()

    def _show_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("error", error)
        self.status_label.setStyleSheet("color: #c62828;" if error else "")

    def _on_dialing(self, display: str, _dialed: str) -> None:
        self._show_status(self._service.ringing_notice(display))

    def _on_failed(self, message: str) -> None:
        self._show_status(message, error=True)

    def _on_dialed(self, _key: str) -> None:
        if not self.number_edit.text().strip():
            self._search("")


class DialFeedback(PlainLabel):
    """The message line of a panel that dials through the shared :class:`DialService`.

    Every window shares one service, so each panel reports only the dials it asked for: call
    :meth:`track` just before ``service.dial(...)`` (which may fail at once), then the line
    shows the PBX's answer ("your phone rings first") or its error, in plain words.
    """

    def __init__(self, service: DialService, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self._service = service
        self._pending = False
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        service.dialing.connect(self._on_dialing)
        service.dial_failed.connect(self._on_dial_failed)

    def track(self) -> None:
        self._pending = True

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.setText(text)
        self.setProperty("error", error)
        self.setStyleSheet("color: #c62828;" if error else "")

    def _on_dialing(self, display: str, _dialed: str) -> None:
        if self._pending:
            self._pending = False
            self.show_message(self._service.ringing_notice(display))

    def _on_dial_failed(self, message: str) -> None:
        if self._pending:
            self._pending = False
            self.show_message(message, error=True)
