"""Click-to-dial: the one service that places calls, and the dialer window.

Every way of starting a call -- the dialer window, a ``tel:``/``callto:``/``sip:`` link the OS
hands over, "Dial clipboard", a double-click in team presence, "Call back" on a missed call --
goes through :class:`DialService`, so the safety rules live in one place: ``make_call`` is sent
exactly once per request and never re-sent (a second request would ring the agent's phone
twice), a request for a number that is still in flight is ignored, and every failure reaches
the agent as one plain sentence instead of a traceback.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import phonenumbers
from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
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
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.engine import NotConfigured
from app.pbx.errors import (
    PbxError,
    PbxKeyRefused,
    PbxOutcomeUnknown,
    PbxProtocolError,
    PbxRejected,
    PbxServerError,
    PbxUnreachable,
)
from app.protocol.phones import (
    MAX_INTERNAL_DIGITS,
    Phone,
    PhoneError,
    PhoneNormalizer,
    is_phone_link,
)
from app.storage import ContactRecord

from .context import UiContext, user_message
from .format import when_text

log = logging.getLogger("app.ui.dialer")

__all__ = [
    "DialService",
    "DialerEntry",
    "DialerListModel",
    "DialerWindow",
    "display_key",
    "looks_like_number",
    "missing_pbx_setting",
    "pbx_error_text",
    "phone_error_text",
]

# Longest clipboard text searched for a number (a whole copied page is not worth parsing).
_CLIPBOARD_SCAN_CHARS = 2000
# Rows the dialer's result list shows at most.
_MAX_RESULTS = 30
# Text that is typed as a number rather than a name: digits and separators, or a phone link.
_NUMBER_LIKE = re.compile(r"[\d\s()+\-./]*\d[\d\s()+\-./]*")


# -- plain sentences for errors --------------------------------------------------------------


def _lead(action: str) -> str:
    if action == "make_call":
        return QCoreApplication.translate("PbxErrors", "Could not place the call")
    if action == "get_domain_user_list":
        return QCoreApplication.translate("PbxErrors", "Could not load the PBX users")
    if action == "switch_call_hold":
        return QCoreApplication.translate("PbxErrors", "Could not switch hold")
    return QCoreApplication.translate("PbxErrors", "The PBX request failed")


def pbx_error_text(exc: BaseException, action: str = "make_call") -> str:
    """One translatable sentence for a failed PBX action (``exc`` from the engine or PbxClient).

    Why not ``str(exc)``: the core's messages are English only; these go through Qt's
    translation and say what the agent can do. ``action`` names what was attempted when the
    error does not say it (NotConfigured, unexpected errors).
    """
    action = getattr(exc, "action", None) or action
    lead = _lead(action)
    if isinstance(exc, PbxOutcomeUnknown):
        if action == "make_call":
            return QCoreApplication.translate(
                "PbxErrors",
                "No reply came from the PBX, so it is not known whether the call was placed: your phone may "
                "ring. Do not call again until you have checked your phone and the call history.",
            )
        if exc.may_have_acted:
            return QCoreApplication.translate(
                "PbxErrors", "{0}: no reply came from the PBX, so it may have acted; check the call before trying again."
            ).format(lead)
        return QCoreApplication.translate("PbxErrors", "{0}: the PBX did not answer in time; try again later.").format(lead)
    if isinstance(exc, PbxKeyRefused):
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the PBX refused the API key (HTTP {1}). Check the PBX API key in Settings."
        ).format(lead, exc.status)
    if isinstance(exc, PbxRejected):
        if exc.message:
            return QCoreApplication.translate("PbxErrors", "{0}: the PBX said no: \u201c{1}\u201d.").format(lead, exc.message)
        if exc.code is not None:
            return QCoreApplication.translate("PbxErrors", "{0}: the PBX said no (code {1}).").format(lead, exc.code)
        return QCoreApplication.translate("PbxErrors", "{0}: the PBX said no.").format(lead)
    if isinstance(exc, PbxUnreachable):
        where = exc.host or QCoreApplication.translate("PbxErrors", "the configured address")
        why = f" ({exc.reason})" if exc.reason else ""
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the PBX at {1} could not be reached{2}. Check the PBX address and your network connection."
        ).format(lead, where, why)
    if isinstance(exc, PbxServerError):
        if exc.status == 429:
            return QCoreApplication.translate(
                "PbxErrors", "{0}: the PBX is receiving too many requests; wait a moment and try again."
            ).format(lead)
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the PBX had a server error (HTTP {1}); try again later."
        ).format(lead, exc.status)
    if isinstance(exc, PbxProtocolError):
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the PBX's reply was not understood. Check the PBX address in Settings."
        ).format(lead)
    if isinstance(exc, NotConfigured):
        return QCoreApplication.translate("PbxErrors", "{0}: {1}.").format(lead, user_message(exc).rstrip("."))
    if isinstance(exc, PbxError):
        return user_message(exc)
    if isinstance(exc, PhoneError):
        return phone_error_text(exc)
    return QCoreApplication.translate("PbxErrors", "{0}: {1}").format(lead, user_message(exc))


def phone_error_text(exc: PhoneError) -> str:
    """Why the typed text cannot be dialed, in plain words."""
    return QCoreApplication.translate("PbxErrors", "Cannot dial this: {0}.").format(exc.reason)


def missing_pbx_setting(ctx: UiContext, *, need_crm_user: bool) -> str | None:
    """The sentence saying which setting is missing before the PBX can be asked, or None.

    Checked before starting a request so the agent reads what to set up (translatable),
    not the core's English NotConfigured text.
    """
    if not ctx.settings.pbx_url:
        return QCoreApplication.translate("PbxErrors", "The PBX is not set up: enter the PBX address in Settings.")
    if not ctx.engine.keys.pbx_api_key:
        return QCoreApplication.translate("PbxErrors", "The PBX is not set up: enter the PBX API key in Settings.")
    if need_crm_user and not ctx.settings.crm_user:
        return QCoreApplication.translate(
            "PbxErrors", "Click-to-dial is not set up: enter this workstation's CRM user in Settings."
        )
    return None


def display_key(normalizer: PhoneNormalizer, key: str | None) -> str:
    """A stored number key ("74951343060", "9022") in the human form ("+7 495 134-30-60")."""
    if not key:
        return ""
    try:
        phone = normalizer.parse(key if len(key) <= MAX_INTERNAL_DIGITS else "+" + key)
    except PhoneError:
        return key
    return normalizer.display(phone)


def _dial_text_of_key(key: str) -> str:
    """Text that parses back to ``key`` (public numbers need their '+')."""
    return key if len(key) <= MAX_INTERNAL_DIGITS else "+" + key


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
        missing = missing_pbx_setting(self._ctx, need_crm_user=True)
        if missing is not None:
            self.dial_failed.emit(missing)
            return False
        self._in_flight.add(phone.key)
        self._ctx.tasks.start(self._place(phone, text))
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

    async def _place(self, phone: Phone, text: str) -> None:
        try:
            try:
                _, dialed, _ = await self._ctx.engine.dial(text)
            except Exception as exc:  # every failure is reported once, none is retried
                log.warning("make_call to %s failed: %s", phone.key, user_message(exc))
                self.dial_failed.emit(pbx_error_text(exc, "make_call"))
                return
            self.dialing.emit(self._ctx.normalizer.display(phone), dialed)
            at = time.time()

            def record(session: Any) -> None:
                session.dials.add(phone.key, dialed, at)
                session.calls.clear_missed_from(phone.key, at)

            await self._ctx.store.write(record)
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
                return entry.name
            if column == self.COMPANY:
                return entry.company
            if column == self.NUMBER:
                return entry.number
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


def looks_like_number(text: str) -> bool:
    """Typed as a number (digits and separators, or a phone link), not as a name."""
    stripped = text.strip()
    return is_phone_link(stripped) or bool(_NUMBER_LIKE.fullmatch(stripped))


def _search_digits(text: str) -> list[str]:
    """Digit strings to look for inside stored keys: as typed, and without a trunk prefix 8/0."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 3:
        return []
    forms = [digits]
    if digits[0] in "80" and len(digits) > 3:
        forms.append(digits[1:])
    return forms


class DialerWindow(QWidget):
    """Type a number or a name, see exactly what will be dialed, press Enter.

    The preview shows the ``dst`` make_call will get (the dial format applied), so an agent
    spots a wrong trunk prefix before the phone rings. Contacts are searched as the agent
    types; with an empty field the recent numbers are listed. The list's selected row, when
    there is one, is what Enter and the Call button dial.
    """

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
        self.preview_label = QLabel(self)
        self.preview_label.setWordWrap(True)
        self.list_label = QLabel(self)
        self.model = DialerListModel(self)
        self.results_view = QTableView(self)
        self.results_view.setModel(self.model)
        self.results_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_view.verticalHeader().hide()
        self.results_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(self.number_edit, 1)
        top.addWidget(self.call_button)
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
        self.results_view.doubleClicked.connect(self._dial_row)
        self.results_view.selectionModel().selectionChanged.connect(lambda *_: self._refresh_preview())
        self.call_button.clicked.connect(self.call)
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

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.number_edit.setFocus()

    # -- internals ---------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
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

    def _dial_row(self, index: QModelIndex) -> None:
        entry = self.model.entry(index.row())
        if entry is not None and self._service.dial(entry.dial_text):
            self._show_status(self.tr("Asking the PBX to call {0}\u2026").format(entry.number))

    def _text_changed(self, text: str) -> None:
        self._refresh_preview()
        self._search(text)

    def _refresh_preview(self) -> None:
        normalizer = self._ctx.normalizer
        entry = self.selected_entry()
        text = self.number_edit.text().strip()
        if entry is not None:
            dial = normalizer.dial_string(normalizer.parse(entry.dial_text))
            label = entry.name or entry.number
            self.preview_label.setText(self.tr("Will dial {0} ({1})").format(dial, label))
            self.call_button.setEnabled(True)
            return
        if not text:
            self.preview_label.setText(self.tr("Type a number or a contact's name."))
            self.call_button.setEnabled(False)
            return
        try:
            phone = normalizer.parse(text)
        except PhoneError as exc:
            self.call_button.setEnabled(False)
            if not looks_like_number(text) and self.model.rowCount() and not self.model.showing_recent:
                self.preview_label.setText(self.tr("Choose a number below to call."))
            else:
                self.preview_label.setText(phone_error_text(exc))
            return
        self.preview_label.setText(self.tr("Will dial {0}").format(normalizer.dial_string(phone)))
        self.call_button.setEnabled(True)

    def _search(self, text: str) -> None:
        """Start a look-up for ``text``; only the newest one's answer is shown."""
        self._generation += 1
        generation = self._generation
        text = text.strip()
        normalizer = self._ctx.normalizer

        if not text:
            def recent(session: Any) -> list[tuple[tuple[str, str, float], ContactRecord | None]]:
                rows = session.dials.recent(_MAX_RESULTS)
                return [(row, next(iter(session.contacts.find_by_key(row[0])), None)) for row in rows]

            def show_recent(rows: list[tuple[tuple[str, str, float], ContactRecord | None]]) -> None:
                if generation != self._generation:
                    return
                entries = [
                    DialerEntry(contact.name if contact else "", (contact.company_name or "") if contact else "",
                                display_key(normalizer, key), _dial_text_of_key(key), at)
                    for (key, _dialed, at), contact in rows
                ]
                self._show_entries(entries, recent=True)

            self._ctx.tasks.start(self._ctx.store.read(recent), on_done=show_recent)
            return

        as_number = looks_like_number(text)
        key = normalizer.try_key(text) if as_number else None
        digit_forms = _search_digits(text) if as_number and not is_phone_link(text) else []

        def find(session: Any) -> list[ContactRecord]:
            found: dict[int, ContactRecord] = {}
            if as_number:
                if key:
                    for contact in session.contacts.find_by_key(key):
                        found.setdefault(contact.id, contact)
                for digits in digit_forms:
                    for contact in session.contacts.search_phone(digits, _MAX_RESULTS):
                        found.setdefault(contact.id, contact)
            else:
                for contact in session.contacts.search(text, _MAX_RESULTS):
                    found.setdefault(contact.id, contact)
            return list(found.values())

        def show_found(contacts: list[ContactRecord]) -> None:
            if generation != self._generation:
                return
            entries: list[DialerEntry] = []
            for contact in contacts:
                for phone in contact.phones:
                    if as_number and phone.key != key and not any(d in phone.key for d in digit_forms):
                        continue
                    entries.append(DialerEntry(contact.name, contact.company_name or "",
                                               display_key(normalizer, phone.key), _dial_text_of_key(phone.key)))
            self._show_entries(entries[:_MAX_RESULTS], recent=False)

        self._ctx.tasks.start(self._ctx.store.read(find), on_done=show_found)

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


class DialFeedback(QLabel):
    """The message line of a panel that dials through the shared :class:`DialService`.

    Every window shares one service, so each panel reports only the dials it asked for: call
    :meth:`track` just before ``service.dial(...)`` (which may fail at once), then the line
    shows the PBX's answer ("your phone rings first") or its error, in plain words.
    """

    def __init__(self, service: DialService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
