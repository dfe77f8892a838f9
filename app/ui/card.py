"""The client card ("анкета клиента"): who the client is, and every call with them.

Left: the contact editor (:class:`ContactForm`), also used for "Create contact" when the card
is opened for a number nobody has yet. Right: the merged call timeline (journal + CDRs, see
:mod:`app.ui.timeline`) with filters, "Load older calls from PBX", notes and outcomes per call,
CSV export and the recording player.

Everything the card shows comes from one read through the service API when it opens (contact,
team, the timeline with its notes); afterwards the Qt bridge keeps the timeline live. Saving is
one call of the service API (one transaction): the contact, its company, its phones, and the
links of earlier calls and CDRs from those numbers to it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QDateTime, QItemSelection, Qt, QTime, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.core.api import CardData, ContactDraft
from app.core.outcomes import offered_outcomes, outcome_code
from app.core.timeline import TimelineRow, apply_notes, row_from_cdr
from app.protocol import events as ev
from app.protocol.phones import Phone, PhoneError, PhoneNormalizer
from app.storage import CallRecord, CallState, CdrRow, ContactRecord, CrmUser, PhoneRecord

from .context import UiContext, user_message
from .errors import missing_pbx_setting, pbx_error_text
from .format import call_count_text, outcome_label, phone_text, plain_text
from .labels import PlainLabel
from .player import RecordingPlayer
from .timeline import (
    ColumnFitter,
    TimelineFilterProxy,
    TimelineModel,
    configure_view,
    status_label,
    timeline_csv,
)

__all__ = ["ClientCard", "ContactDraft", "ContactForm", "PhoneRow"]

log = logging.getLogger("app.ui.card")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INVALID_STYLE = "border: 1px solid #c0392b;"


class PhoneRow(QWidget):
    """One number in the editor: the number, its label, Call and Remove.

    Signals:
        dial_requested(str): Call was pressed (the number as typed).
        remove_requested(): Remove was pressed.
    """

    dial_requested = Signal(str)
    remove_requested = Signal()

    def __init__(self, number: str = "", label: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.number_edit = QLineEdit(number)
        self.number_edit.setCursorPosition(0)  # a long number shows its start, not its last digits
        self.number_edit.setPlaceholderText(self.tr("Phone number"))
        # Room for a whole international number: squeezed, the field showed only its last digits.
        self.number_edit.setMinimumWidth(self.number_edit.fontMetrics().horizontalAdvance("+7 000 000-00-00") + 16)
        self.label_combo = QComboBox()
        self.label_combo.setEditable(True)
        self.label_combo.addItems(["", self.tr("mobile"), self.tr("work"), self.tr("home"), self.tr("fax")])
        self.label_combo.setCurrentText(label)
        self.label_combo.setToolTip(self.tr("Label"))
        self.call_button = QPushButton(self.tr("Call"))
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setToolTip(self.tr("Remove this number"))
        self.error_label = PlainLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.hide()

        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.number_edit, 3)
        line.addWidget(self.label_combo, 2)
        line.addWidget(self.call_button)
        line.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(line)
        layout.addWidget(self.error_label)

        self.number_edit.textChanged.connect(self._text_changed)
        self.call_button.clicked.connect(lambda: self.dial_requested.emit(self.number()))
        self.remove_button.clicked.connect(self.remove_requested.emit)
        self._text_changed()

    def number(self) -> str:
        return self.number_edit.text().strip()

    def label(self) -> str:
        return self.label_combo.currentText().strip()

    def set_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))
        self.number_edit.setStyleSheet(_INVALID_STYLE if text else "")

    def _text_changed(self) -> None:
        self.call_button.setEnabled(bool(self.number()))
        if self.error_label.isVisibleTo(self):
            self.set_error("")


class ContactForm(QWidget):
    """The contact editor: name, company, phones (several, labelled), responsible, e-mail, note.

    Validation happens in :meth:`draft`; errors are shown next to the fields and the typed
    values stay as they are, so nothing is lost to a typo.

    Signals:
        dial_requested(str): Call was pressed next to a number.
    """

    dial_requested = Signal(str)

    def __init__(self, normalizer: PhoneNormalizer, own_crm_user: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._normalizer = normalizer
        self._own = own_crm_user
        self._rows: list[PhoneRow] = []

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(self.tr("Full name"))
        self.company_edit = QLineEdit()
        self.owner_combo = QComboBox()
        self.email_edit = QLineEdit()
        self.note_edit = QPlainTextEdit()
        self.note_edit.setPlaceholderText(self.tr("Anything colleagues should know about this client"))
        self.note_edit.setTabChangesFocus(True)
        self.add_phone_button = QPushButton(self.tr("Add number"))
        self.add_phone_button.clicked.connect(lambda: self.add_phone().number_edit.setFocus())
        self.error_label = PlainLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.hide()

        self._phones_box = QVBoxLayout()
        self._phones_box.setContentsMargins(0, 0, 0, 0)
        phones = QWidget()
        phones_layout = QVBoxLayout(phones)
        phones_layout.setContentsMargins(0, 0, 0, 0)
        phones_layout.addLayout(self._phones_box)
        phones_layout.addWidget(self.add_phone_button, 0, Qt.AlignmentFlag.AlignLeft)

        form = QFormLayout(self)
        form.addRow(self.tr("Name"), self.name_edit)
        form.addRow(self.tr("Company"), self.company_edit)
        form.addRow(self.tr("Phones"), phones)
        form.addRow(self.tr("Responsible"), self.owner_combo)
        form.addRow(self.tr("E-mail"), self.email_edit)
        form.addRow(self.tr("Note"), self.note_edit)
        form.addRow(self.error_label)
        self.set_team([])

    # -- filling --------------------------------------------------------------------------

    def set_team(self, users: list[CrmUser], owner_id: str | None = None) -> None:
        """The employees to choose the responsible one from (``users.list``), or nobody."""
        self._team = list(users)
        self.owner_combo.clear()
        self.owner_combo.addItem(self.tr("— nobody —"), None)
        for user in users:
            name = plain_text(user.name or user.id)
            if self._own and user.id == self._own:
                name = self.tr("%1 (you)").replace("%1", name)
            self.owner_combo.addItem(name, user.id)
        self.set_owner(owner_id)

    def set_owner(self, owner_id: str | None) -> None:
        if not owner_id:
            self.owner_combo.setCurrentIndex(0)
            return
        index = self.owner_combo.findData(owner_id)
        if index < 0:
            # Not a CRM user id: an extension (from an import) or a user no longer in the team.
            # Keep it as it is, so saving the card does not drop it.
            by_extension = next((u for u in self._team if u.extension and u.extension == owner_id), None)
            shown_id = plain_text(owner_id)
            text = (self.tr("%1 (extension %2)").replace("%1", plain_text(by_extension.name)).replace("%2", shown_id)
                    if by_extension else self.tr("Unknown employee (%1)").replace("%1", shown_id))
            self.owner_combo.addItem(text, owner_id)
            index = self.owner_combo.count() - 1
        self.owner_combo.setCurrentIndex(index)

    def set_contact(self, contact: ContactRecord | None, number: str | None = None) -> None:
        """Show a stored contact, or an empty form with ``number`` pre-filled ("Create contact")."""
        for row in list(self._rows):
            self._remove_row(row)
        self.show_error("")
        self.name_edit.setStyleSheet("")
        self.email_edit.setStyleSheet("")
        if contact is None:
            self.name_edit.clear()
            self.company_edit.clear()
            self.email_edit.clear()
            self.note_edit.clear()
            self.set_owner(None)
            self.add_phone(number or "")
            return
        self.name_edit.setText(contact.name)
        self.company_edit.setText(contact.company_name or "")
        self.email_edit.setText(contact.email or "")
        self.note_edit.setPlainText(contact.note or "")
        self.set_owner(contact.owner_id)
        for phone in contact.phones:
            self.add_phone(phone.raw or phone.key, phone.label or "")
        if not contact.phones:
            self.add_phone("")

    def add_phone(self, number: str = "", label: str = "") -> PhoneRow:
        row = PhoneRow(number, label)
        row.dial_requested.connect(self.dial_requested.emit)
        row.remove_requested.connect(lambda: self._remove_row(row))
        self._rows.append(row)
        self._phones_box.addWidget(row)
        return row

    def _remove_row(self, row: PhoneRow) -> None:
        if row in self._rows:
            self._rows.remove(row)
            self._phones_box.removeWidget(row)
            row.hide()
            row.deleteLater()

    def phone_rows(self) -> list[PhoneRow]:
        return list(self._rows)

    # -- reading back ---------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def snapshot(self) -> tuple[Any, ...]:
        """The fields as typed, unvalidated and without side effects: tells whether the agent edited them."""
        return (self.name_edit.text(), self.company_edit.text(), self.owner_combo.currentData(),
                self.email_edit.text(), self.note_edit.toPlainText(),
                tuple((row.number(), row.label()) for row in self._rows))

    def draft(self) -> ContactDraft | None:
        """The form's values, or None after showing what is wrong."""
        errors: list[str] = []
        name = self.name_edit.text().strip()
        self.name_edit.setStyleSheet("" if name else _INVALID_STYLE)
        if not name:
            errors.append(self.tr("Enter the client's name."))
        phones: list[PhoneRecord] = []
        seen: dict[str, int] = {}
        for n, row in enumerate(self._rows, start=1):
            text = row.number()
            if not text:
                row.set_error("")
                continue
            try:
                phone = self._normalizer.parse(text)
            except PhoneError as exc:
                message = self.tr("Not a phone number: %1.").replace("%1", exc.reason)
                row.set_error(message)
                errors.append(self.tr("Number %1: %2").replace("%1", str(n)).replace("%2", message))
                continue
            if phone.key in seen:
                message = self.tr("The same number as number %1.").replace("%1", str(seen[phone.key]))
                row.set_error(message)
                errors.append(self.tr("Number %1: %2").replace("%1", str(n)).replace("%2", message))
                continue
            seen[phone.key] = n
            row.set_error("")
            phones.append(PhoneRecord(phone.key, text, row.label() or None, phone.extension))
        email = self.email_edit.text().strip()
        bad_email = bool(email) and not _EMAIL.match(email)
        self.email_edit.setStyleSheet(_INVALID_STYLE if bad_email else "")
        if bad_email:
            errors.append(self.tr("The e-mail address does not look right."))
        if errors:
            self.show_error("\n".join(errors))
            return None
        self.show_error("")
        return ContactDraft(name, self.company_edit.text().strip(), self.owner_combo.currentData(), email,
                            self.note_edit.toPlainText().strip(), phones)


class ClientCard(QWidget):
    """One client's card: details (editable) and the whole call history with them.

    ``ClientCard(ctx, contact_id, None)`` opens a contact; ``ClientCard(ctx, None, number,
    call_id)`` opens the contact with that number, or -- nobody has it -- "Create contact" with
    the number filled in: saving creates the contact and links the current call and the
    earlier calls and CDRs from its numbers to it.

    Signals:
        dial_requested(str): Call was pressed next to a number (the shell dials it).
        contact_saved(int): the contact was saved (its id; new contacts get one here).
        loaded(): the card shows the stored data (first open and every reload).
        pbx_progress(int): older calls from the PBX so far (after each page).
        pbx_finished(int, int): loading older calls ended: records fetched, rows new to the card.
    """

    dial_requested = Signal(str)
    contact_saved = Signal(int)
    loaded = Signal()
    pbx_progress = Signal(int)
    pbx_finished = Signal(int, int)

    def __init__(self, ctx: UiContext, contact_id: int | None, number: str | None, call_id: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self._ctx = ctx
        self._normalizer: PhoneNormalizer = ctx.normalizer
        self._contact_id = contact_id or None  # the pop-up says 0 for "unknown"
        self._contact: ContactRecord | None = None
        self._number = (number or "").strip() or None
        self._number_key = self._normalizer.try_key(self._number) if self._number else None
        self._call_id = call_id or None
        self._call: CallRecord | None = None
        self._keys: set[str] = set()
        self._loading = False
        self._pending: list[tuple[str, Any]] = []
        self._load_task: asyncio.Task[Any] | None = None
        self._pbx_task: asyncio.Task[Any] | None = None
        self._pbx_fetched = 0
        self._selected: TimelineRow | None = None
        self._hold_pending = False
        self.export_dialog: QFileDialog | None = None
        self.setObjectName("ClientCard")

        self._build_header()
        self._build_contact_side()
        self._build_timeline_side()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._contact_box)
        splitter.addWidget(self._timeline_box)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        layout = QVBoxLayout(self)
        layout.addLayout(self._header)
        layout.addWidget(self.message_label)
        layout.addWidget(splitter, 1)
        self.resize(1240, 700)  # room for both halves in Russian; fits a 1366x768 screen
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)

        ctx.bridge.call_changed.connect(self._on_call_changed)
        ctx.bridge.cdr_added.connect(self._on_cdr_added)
        ctx.bridge.contact_changed.connect(self._on_contact_changed)
        self._shown_form: tuple[Any, ...] = ()  # the form as last loaded: tells the agent's own edits
        self._refresh_title()
        self._refresh_current_call()
        self.reload()

    # -- building -------------------------------------------------------------------------

    def _build_header(self) -> None:
        self.title_label = PlainLabel()
        font = self.title_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.title_label.setFont(font)
        self.subtitle_label = PlainLabel()
        self.call_state_label = PlainLabel()
        self.hold_button = QPushButton(self.tr("Hold"))
        self.hold_button.clicked.connect(self.toggle_hold)
        titles = QVBoxLayout()
        titles.addWidget(self.title_label)
        titles.addWidget(self.subtitle_label)
        self._header = QHBoxLayout()
        self._header.addLayout(titles, 1)
        self._header.addWidget(self.call_state_label)
        self._header.addWidget(self.hold_button)
        self.message_label = PlainLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()

    def _build_contact_side(self) -> None:
        self.form = ContactForm(self._normalizer, self._ctx.identity.crm_user)
        self.form.dial_requested.connect(self.dial_requested.emit)
        self.save_button = QPushButton(self.tr("Save"))
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.save_status_label = PlainLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_status_label, 1)
        buttons.addWidget(self.save_button)
        self._contact_box = QGroupBox(self.tr("Client"))
        layout = QVBoxLayout(self._contact_box)
        layout.addWidget(self.form, 1)
        layout.addLayout(buttons)

    def _build_timeline_side(self) -> None:
        self.timeline_model = TimelineModel(self._normalizer, self)
        self.timeline_proxy = TimelineFilterProxy(self.timeline_model, self)
        self.timeline_view = QTableView()
        self.timeline_view.setModel(self.timeline_proxy)
        configure_view(self.timeline_view)
        # the columns fit the card's width (no horizontal scroll bar); long values elide, with tooltips
        self.column_fitter = ColumnFitter(self.timeline_view)
        self.timeline_view.selectionModel().selectionChanged.connect(self._selection_changed)

        self.direction_combo = QComboBox()
        self.direction_combo.addItem(self.tr("All calls"), None)
        self.direction_combo.addItem(self.tr("Incoming"), ev.DIRECTION_INCOMING)
        self.direction_combo.addItem(self.tr("Outgoing"), ev.DIRECTION_OUTGOING)
        self.direction_combo.currentIndexChanged.connect(self._direction_changed)
        self.date_check = QCheckBox(self.tr("From"))
        today = QDate.currentDate()
        self.date_from = QDateEdit(today.addDays(-30))
        self.date_to = QDateEdit(today)
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setEnabled(False)
            edit.dateChanged.connect(self._dates_changed)
        self.date_check.toggled.connect(self._dates_changed)
        self.count_label = PlainLabel()
        filters = QHBoxLayout()
        filters.addWidget(self.direction_combo)
        filters.addWidget(self.date_check)
        filters.addWidget(self.date_from)
        filters.addWidget(PlainLabel(self.tr("to")))
        filters.addWidget(self.date_to)
        filters.addStretch(1)
        filters.addWidget(self.count_label)

        self.load_older_button = QPushButton(self.tr("Load older calls from PBX"))
        self.load_older_button.clicked.connect(self.load_older_calls)
        self.export_button = QPushButton(self.tr("Export CSV…"))
        self.export_button.clicked.connect(self._choose_export_file)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 0)  # busy: the PBX does not say how many there are
        self.progress_bar.setMaximumWidth(140)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.progress_label = PlainLabel()
        self.progress_label.setWordWrap(True)  # a long result must wrap, not widen the whole card
        self.cancel_load_button = QPushButton(self.tr("Cancel"))
        self.cancel_load_button.clicked.connect(self.cancel_loading)
        self.cancel_load_button.hide()
        actions = QHBoxLayout()
        actions.addWidget(self.load_older_button)
        actions.addWidget(self.progress_bar)
        actions.addWidget(self.progress_label, 1)
        actions.addWidget(self.cancel_load_button)
        actions.addWidget(self.export_button)

        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText(self.tr("Note about the selected call"))
        self.note_edit.returnPressed.connect(self.save_note)
        self.outcome_combo = QComboBox()
        self.outcome_combo.setEditable(True)
        # the team's list or the outcomes setting's; stored as codes, shown in the agent's language
        self.outcome_combo.addItem("", "")
        for code in offered_outcomes(self._ctx.api.history.shared_outcomes(), self._ctx.settings.outcomes):
            self.outcome_combo.addItem(outcome_label(code), code)
        self.outcome_combo.setToolTip(self.tr("Outcome of the call"))
        self.save_note_button = QPushButton(self.tr("Save note"))
        self.save_note_button.clicked.connect(self.save_note)
        notes = QHBoxLayout()
        notes.addWidget(PlainLabel(self.tr("Outcome")))
        notes.addWidget(self.outcome_combo)
        notes.addWidget(self.note_edit, 1)
        notes.addWidget(self.save_note_button)

        self.player = RecordingPlayer()
        self.player.set_loader(self._ctx.api.history.recording, self._ctx.tasks)
        self.player.retry_requested.connect(self._retry_recording)

        self._timeline_box = QGroupBox(self.tr("Calls"))
        layout = QVBoxLayout(self._timeline_box)
        layout.addLayout(filters)
        layout.addWidget(self.timeline_view, 1)
        layout.addLayout(actions)
        layout.addLayout(notes)
        layout.addWidget(self.player)
        self._set_note_editing(None)

    # -- public ---------------------------------------------------------------------------

    @property
    def contact_id(self) -> int | None:
        return self._contact_id

    @property
    def call_id(self) -> str | None:
        return self._call_id

    @property
    def is_loading(self) -> bool:
        return self._loading

    @property
    def is_loading_from_pbx(self) -> bool:
        return self._pbx_task is not None

    def shows(self, contact_id: int | None, key: str | None) -> bool:
        """Is this the card of this contact (by id), or of this number key (the number it was opened
        for, or one of its contact's numbers)? The shell keeps one card per client."""
        if contact_id:
            return self._contact_id == contact_id
        return bool(key) and (key == self._number_key or key in self._keys)

    def attach_call(self, call_id: str) -> None:
        """Follow this live call too (the card was open already when a pop-up asked for it)."""
        if call_id and call_id != self._call_id:
            self._call_id, self._call = call_id, None
            self.reload()

    def reload(self) -> None:
        """Read the contact, the team and the timeline again (one read through the service API)."""
        if self._load_task is not None:
            self._load_task.cancel()
        self._loading = True
        self._pending = []
        self._load_task = self._start(self._ctx.api.contacts.card(self._contact_id, self._number_key, self._call_id),
                                      on_done=self._loaded, on_error=self._load_failed)

    def save(self) -> None:
        """Validate, then write the contact (and link its numbers' calls) in one transaction."""
        draft = self.form.draft()
        if draft is None:
            self.save_status_label.setText(self.tr("Not saved: see the errors above."))
            return
        self.save_button.setEnabled(False)
        self.save_status_label.setText(self.tr("Saving…"))
        self._start(self._ctx.api.contacts.save(draft, contact_id=self._contact_id, call_id=self._call_id),
                    on_done=self._saved, on_error=self._save_failed)

    def load_older_calls(self) -> None:
        """Page through the PBX's ``get_cdr`` for this client's numbers; each page is stored and shown."""
        if self._pbx_task is not None:
            return
        keys = self._searchable_keys()
        if not keys:
            self._show_message(self.tr("Save a phone number first: the PBX finds calls by number."))
            return
        missing = missing_pbx_setting(self._ctx, need_crm_user=False)
        if missing:
            self._show_message(missing)
            return
        self._show_message("")
        self._pbx_fetched = 0
        self._set_pbx_busy(True)
        self.progress_label.setText(self.tr("Asking the PBX…"))
        self._pbx_task = self._start(self._page_through(keys), on_done=self._pbx_done, on_error=self._pbx_failed)

    def cancel_loading(self) -> None:
        task, self._pbx_task = self._pbx_task, None
        if task is None:
            return
        task.cancel()
        self._set_pbx_busy(False)
        self.progress_label.setText(
            self.tr("Cancelled: %n call(s) loaded from the PBX.", "", self._pbx_fetched)
        )

    def _searchable_keys(self) -> list[str]:
        """The card's number keys the PBX can be asked for (those that stand for a number)."""
        keys = []
        for key in sorted(self._keys):
            try:
                Phone.from_key(key)
            except PhoneError:
                continue
            keys.append(key)
        return keys

    def save_note(self) -> None:
        """Store the note and outcome of the selected call (keyed by its uniqueid or call_id)."""
        row = self._selected
        if row is None:
            return
        ref, note, outcome = row.ref, self.note_edit.text().strip(), self.selected_outcome()
        self.save_note_button.setEnabled(False)

        def done(_: None) -> None:
            self.save_note_button.setEnabled(self._selected is not None)
            self.timeline_model.set_note(ref, note, outcome)
            self._show_message(self.tr("Note saved."))

        def failed(exc: BaseException) -> None:
            self.save_note_button.setEnabled(self._selected is not None)
            self._show_message(self.tr("The note was not saved: %1").replace("%1", user_message(exc)))

        self._start(self._ctx.api.calls.set_note(ref, note, outcome), on_done=done, on_error=failed)

    def export_csv(self, path: str | Path) -> None:
        """Write the calls the timeline shows (filters applied) to ``path`` as CSV (UTF-8 with BOM,
        which spreadsheet programs need to read Cyrillic). Recording links are left out, see
        :func:`app.ui.timeline.timeline_csv`."""
        rows = self.timeline_proxy.visible_rows()
        text = timeline_csv(rows, self._normalizer)
        target = Path(path)

        def done(_: Any) -> None:
            self._show_message(self.tr("Exported %n call(s) to %1.", "", len(rows)).replace("%1", str(target)))

        def failed(exc: BaseException) -> None:
            self._show_message(self.tr("Could not export: %1").replace("%1", user_message(exc)))

        self._start(asyncio.to_thread(target.write_text, text, encoding="utf-8-sig"),
                    on_done=done, on_error=failed)

    def toggle_hold(self) -> None:
        """Ask the PBX to toggle hold; the button follows the PBX's call_held/call_active events."""
        if not self._call_id or self._hold_pending:
            return
        missing = missing_pbx_setting(self._ctx, need_crm_user=True)
        if missing:
            self._show_message(missing)
            return
        self._hold_pending = True
        self._refresh_current_call()

        def finished(_: Any = None) -> None:
            self._hold_pending = False
            self._refresh_current_call()

        def failed(exc: BaseException) -> None:
            finished()
            self._show_message(pbx_error_text(exc, "switch_call_hold"))

        self._start(self._ctx.api.calls.hold(self._call_id), on_done=finished, on_error=failed)

    def selected_outcome(self) -> str:
        """The outcome to store: a listed outcome's code (chosen, or its words typed), else the text typed."""
        text = self.outcome_combo.currentText().strip()
        for n in range(self.outcome_combo.count()):
            if self.outcome_combo.itemText(n) == text:
                return str(self.outcome_combo.itemData(n) or "")
        return outcome_code(text)

    def select_call(self, ref: str) -> bool:
        """Select the call with this uniqueid/call_id in the timeline (when the filters show it)."""
        n = self.timeline_model.find(ref)
        if n is None:
            return False
        index = self.timeline_proxy.mapFromSource(self.timeline_model.index(n, 0))
        if not index.isValid():
            return False
        self.timeline_view.selectRow(index.row())
        self.timeline_view.scrollTo(index)
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_loading()
        if self._load_task is not None:
            self._load_task.cancel()
            self._load_task = None
        self.player.stop()
        super().closeEvent(event)

    def _start(self, coro: Any, *, on_done: Callable[[Any], Any] | None = None,
               on_error: Callable[[BaseException], Any] | None = None) -> asyncio.Task[Any]:
        """``ctx.tasks.start`` whose callbacks do nothing once the card is gone (the shell may
        delete a closed card while its last write is still being committed)."""
        def guard(fn: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
            if fn is None:
                return None

            def call(value: Any) -> Any:
                if isValid(self):
                    return fn(value)
                return None

            return call

        return self._ctx.tasks.start(coro, on_done=guard(on_done), on_error=guard(on_error))

    # -- loading --------------------------------------------------------------------------

    def _loaded(self, data: CardData) -> None:
        self._load_task = None
        self._loading = False
        self._contact = data.contact
        if data.contact is not None:
            self._contact_id = data.contact.id
        elif self._contact_id is not None:
            self._show_message(self.tr("This contact no longer exists; saving creates it again."))
            self._contact_id = None
        self._keys = set(data.keys)
        self._call = data.call or self._call
        self.form.set_team(data.team)
        self.form.set_contact(data.contact, self._number)
        self._shown_form = self.form.snapshot()
        self.timeline_model.set_rows(data.rows)
        self._set_note_editing(None)  # a reset clears the selection without selectionChanged
        pending, self._pending = self._pending, []
        for kind, item in pending:
            self._apply_live(kind, item)
        self._refresh_title()
        self._refresh_count()
        self._refresh_current_call()
        if self._call_id:
            self.select_call(self._call_id)
        self.loaded.emit()

    def _load_failed(self, exc: BaseException) -> None:
        self._load_task = None
        self._loading = False
        self._show_message(self.tr("Could not read the client's data: %1").replace("%1", user_message(exc)))

    def _saved(self, contact_id: int) -> None:
        self._contact_id = contact_id
        self.save_button.setEnabled(True)
        self.save_status_label.setText(self.tr("Saved."))
        self.contact_saved.emit(contact_id)
        self.reload()

    def _save_failed(self, exc: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.save_status_label.setText(self.tr("Not saved."))
        self.form.show_error(self.tr("Could not save: %1").replace("%1", user_message(exc)))

    # -- older calls from the PBX -----------------------------------------------------------

    async def _page_through(self, keys: list[str]) -> tuple[int, int]:
        added = 0
        pages = self._ctx.api.history.pbx_pages(keys)
        try:
            async for page in pages:
                if not isValid(self):
                    break
                if not page.records:
                    continue
                rows = [row_from_cdr(record) for record in page.records]
                apply_notes(rows, page.notes)
                added += self.timeline_model.add_rows(rows)
                self._pbx_fetched += len(page.records)
                self._refresh_count()
                self.progress_label.setText(
                    self.tr("Loading older calls from the PBX… %n call(s) so far", "", self._pbx_fetched)
                )
                self.pbx_progress.emit(self._pbx_fetched)
        finally:
            close = getattr(pages, "aclose", None)
            if close is not None:
                await close()
        return self._pbx_fetched, added

    def _pbx_done(self, result: tuple[int, int]) -> None:
        fetched, added = result
        log.info("loaded %d older calls from the PBX for the card (%d new to it)", fetched, added)
        self._pbx_task = None
        self._set_pbx_busy(False)
        loaded = self.tr("Loaded %n call(s) from the PBX", "", fetched)
        new = self.tr("%n new", "", added)
        self.progress_label.setText(self.tr("%1, %2.").replace("%1", loaded).replace("%2", new))
        self.pbx_finished.emit(fetched, added)

    def _pbx_failed(self, exc: BaseException) -> None:
        self._pbx_task = None
        self._set_pbx_busy(False)
        self.progress_label.setText(self.tr("%n call(s) loaded from the PBX.", "", self._pbx_fetched)
                                    if self._pbx_fetched else "")
        self._show_message(pbx_error_text(exc, "get_cdr"))

    def _set_pbx_busy(self, busy: bool) -> None:
        self.progress_bar.setVisible(busy)
        self.cancel_load_button.setVisible(busy)
        self.load_older_button.setEnabled(not busy)

    # -- live updates -----------------------------------------------------------------------

    def _on_call_changed(self, call: CallRecord, event: str) -> None:
        if call.call_id == self._call_id:
            self._call = call
            self._refresh_current_call()
        if self._loading:
            self._pending.append(("call", call))
        else:
            self._apply_live("call", call)

    def _on_contact_changed(self, contact_id: int, keys: tuple[str, ...]) -> None:
        """Someone (another window, or another agent through the team server) saved this client:
        show it as it is now -- unless the agent is editing it here, who is told instead."""
        if not (self.shows(contact_id, None) or (self._contact_id is None and self._number_key in keys)):
            return
        if not self.save_button.isEnabled():
            return  # our own save: _saved reloads
        if self.form.snapshot() != self._shown_form:
            self.save_status_label.setText(self.tr("Someone else changed this client meanwhile: Save keeps your "
                                                   "version, closing and reopening the card shows theirs."))
            return
        if self._contact_id is None:
            self._contact_id = contact_id
        self.reload()

    def _on_cdr_added(self, row: CdrRow) -> None:
        if self._loading:
            self._pending.append(("cdr", row))
        else:
            self._apply_live("cdr", row)

    def _apply_live(self, kind: str, item: Any) -> None:
        if kind == "call":
            if item.other_key and item.other_key in self._keys:
                self.timeline_model.upsert_call(item)
                self._refresh_count()
        elif item.other_key and item.other_key in self._keys:
            self.timeline_model.add_rows([row_from_cdr(item.data)])
            self._refresh_count()
            if self._selected is not None and self._selected.uniqueid == item.uniqueid:
                self.player.set_recording(self._selected.link)

    # -- the selected call ------------------------------------------------------------------

    def _selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        rows = self.timeline_view.selectionModel().selectedRows()
        row = self.timeline_proxy.row_at(rows[0].row()) if rows else None
        self._set_note_editing(row)

    def _set_note_editing(self, row: TimelineRow | None) -> None:
        self._selected = row
        for widget in (self.note_edit, self.outcome_combo, self.save_note_button):
            widget.setEnabled(row is not None)
        self.note_edit.setText(row.note if row else "")
        self.note_edit.setCursorPosition(0)  # show a stored note from its start, not its last words
        stored = outcome_code(row.outcome) if row else ""
        index = self.outcome_combo.findData(stored)
        if index >= 0:
            self.outcome_combo.setCurrentIndex(index)
        else:
            self.outcome_combo.setCurrentText(outcome_label(stored))
        if row is None:
            self.player.clear()
        else:
            self.player.set_recording(row.link)

    def _retry_recording(self) -> None:
        """Retry: the CDR may have got its link meanwhile; then play whatever link there is."""
        row = self._selected
        if row is None:
            return
        uniqueid = row.uniqueid
        if not uniqueid:
            self.player.set_recording(row.link, autoplay=True)
            return

        def done(link: str | None) -> None:
            link = link or row.link
            if link != row.link:
                self.timeline_model.set_link(row.ref, link)
            if self._selected is row:
                self.player.set_recording(link, autoplay=True)

        self._start(self._ctx.api.history.recording_link(uniqueid), on_done=done,
                    on_error=lambda exc: self.player.set_recording(row.link, autoplay=True))

    # -- filters ----------------------------------------------------------------------------

    def _direction_changed(self) -> None:
        self.timeline_proxy.set_direction(self.direction_combo.currentData())
        self._refresh_count()

    def _dates_changed(self) -> None:
        enabled = self.date_check.isChecked()
        self.date_from.setEnabled(enabled)
        self.date_to.setEnabled(enabled)
        if enabled:
            start = QDateTime(self.date_from.date(), QTime(0, 0)).toSecsSinceEpoch()
            end = QDateTime(self.date_to.date(), QTime(23, 59, 59, 999)).toMSecsSinceEpoch() / 1000
            self.timeline_proxy.set_date_range(float(start), float(end))
        else:
            self.timeline_proxy.set_date_range(None, None)
        self._refresh_count()

    def set_date_range(self, start: QDate | None, end: QDate | None) -> None:
        """Show only calls between these days (inclusive); None on both shows every call."""
        if start is None and end is None:
            self.date_check.setChecked(False)
            return
        self.date_from.setDate(start or QDate(2000, 1, 1))
        self.date_to.setDate(end or QDate.currentDate())
        self.date_check.setChecked(True)
        self._dates_changed()

    # -- what the agent sees ------------------------------------------------------------------

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _refresh_count(self) -> None:
        shown, total = self.timeline_proxy.rowCount(), self.timeline_model.rowCount()
        if shown == total:
            self.count_label.setText(call_count_text(total))
        else:
            self.count_label.setText(
                self.tr("%1 of %2").replace("%1", str(shown)).replace("%2", call_count_text(total))
            )

    def _refresh_title(self) -> None:
        contact = self._contact
        number = phone_text(self._normalizer, self._number) if self._number else ""
        if contact is not None:
            title = plain_text(contact.name)
            subtitle = plain_text(contact.company_name)
        else:
            title = self.tr("New contact")
            subtitle = number
        self.title_label.setText(title)
        self.subtitle_label.setText(subtitle)
        self.subtitle_label.setVisible(bool(subtitle))
        self.setWindowTitle(self.tr("Client card — %1").replace("%1", title if contact is not None else
                                                                 (number or title)))

    def _refresh_current_call(self) -> None:
        call = self._call
        if not self._call_id or call is None:
            self.call_state_label.hide()
            self.hold_button.hide()
            return
        state = {CallState.RINGING: "ringing", CallState.ACTIVE: "in_progress",
                 CallState.HELD: "on_hold"}.get(call.state)
        if state is None:
            self.call_state_label.setText(self.tr("Call ended"))
        else:
            self.call_state_label.setText(self.tr("Current call: %1").replace("%1", status_label(state)))
        self.call_state_label.show()
        self.hold_button.setVisible(CallState(call.state).connected)
        self.hold_button.setText(self.tr("Resume") if call.state == CallState.HELD else self.tr("Hold"))
        self.hold_button.setEnabled(not self._hold_pending)

    def _choose_export_file(self) -> None:
        name = (self._contact.name if self._contact else (self._number or "calls")).strip() or "calls"
        safe = re.sub(r"[^\w.-]+", "_", name).strip("_") or "calls"
        default = Path.home() / f"{safe}-{datetime.now():%Y-%m-%d}.csv"
        dialog = QFileDialog(self, self.tr("Export calls"), str(default), self.tr("CSV files (*.csv)"))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.fileSelected.connect(self.export_csv)
        self.export_dialog = dialog
        dialog.open()
