"""The client directory: find a contact by name, company or number, open their card, add one.

The client card used to be reachable only from a live pop-up; after the pop-up closed an agent
could not get back to it for wrap-up notes. This window searches the directory through the
service API (:meth:`ContactsApi.search`: a number, whole or digits of it, or a part of a name or
company) as the agent types, and opens the card of the chosen contact. It follows directory
changes (a contact saved in a card) while it is open.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
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

from app.core.directory import NumberQuery
from app.protocol.phones import PhoneNormalizer
from app.storage import ContactRecord

from .context import UiContext, user_message
from .errors import display_key
from .format import plain_text, plain_tooltip
from .labels import PlainLabel

log = logging.getLogger("app.ui.directory")

__all__ = ["DirectoryModel", "DirectoryWindow"]

#: Contacts the window lists at most (a narrower search finds the rest).
MAX_CONTACTS = 200
#: Typing pauses this long before the directory is searched.
SEARCH_DELAY_MS = 150


class DirectoryModel(QAbstractTableModel):
    """Contacts, one per row: name, company, numbers (works without any widget)."""

    NAME, COMPANY, NUMBERS = range(3)
    COLUMN_COUNT = 3
    ContactRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, normalizer: PhoneNormalizer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._normalizer = normalizer
        self._contacts: list[ContactRecord] = []

    def set_contacts(self, contacts: list[ContactRecord]) -> None:
        self.beginResetModel()
        self._contacts = list(contacts)
        self.endResetModel()

    def contact_at(self, row: int) -> ContactRecord | None:
        return self._contacts[row] if 0 <= row < len(self._contacts) else None

    def contacts(self) -> list[ContactRecord]:
        return list(self._contacts)

    def numbers_text(self, contact: ContactRecord) -> str:
        return ", ".join(display_key(self._normalizer, phone.key) for phone in contact.phones)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._contacts)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        contact = self.contact_at(index.row()) if index.isValid() else None
        if contact is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            column = index.column()
            if column == self.NAME:
                text = contact.name
            elif column == self.COMPANY:
                text = contact.company_name or ""
            elif column == self.NUMBERS:
                text = self.numbers_text(contact)
            else:
                return None
            # a tooltip is a QToolTip, which guesses rich text: never let directory data be markup
            return plain_text(text) if role == Qt.ItemDataRole.DisplayRole else plain_tooltip(text)
        if role == self.ContactRole:
            return contact
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        return {self.NAME: self.tr("Name"), self.COMPANY: self.tr("Company"),
                self.NUMBERS: self.tr("Numbers")}.get(section)


class DirectoryWindow(QWidget):
    """Search the directory; Open card (or double-click, or Enter) on a contact; New contact.

    Signals:
        open_card_requested(int, str): open this contact's card (contact id, its first number).
        create_contact_requested(str): open an empty card (the typed number, if it is one, filled in).
    """

    open_card_requested = Signal(int, str)
    create_contact_requested = Signal(str)

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self._ctx = ctx
        self._generation = 0
        self.setWindowTitle(self.tr("Contacts"))
        self.setObjectName("DirectoryWindow")

        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText(self.tr("Name, company or number"))
        self.search_edit.setClearButtonEnabled(True)
        self.model = DirectoryModel(ctx.normalizer, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setColumnWidth(DirectoryModel.NAME, 220)
        self.view.setColumnWidth(DirectoryModel.COMPANY, 180)
        self.status_label = PlainLabel(parent=self)
        self.status_label.setWordWrap(True)
        self.open_card_button = QPushButton(self.tr("Open card"), self)
        self.new_contact_button = QPushButton(self.tr("New contact"), self)

        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.new_contact_button)
        buttons.addWidget(self.open_card_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self.resize(640, 460)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.search)
        self.search_edit.textChanged.connect(lambda _text: self._search_timer.start())
        self.search_edit.returnPressed.connect(self._enter)
        self.search_edit.installEventFilter(self)
        self.view.installEventFilter(self)
        self.view.doubleClicked.connect(lambda index: self._open_row(index.row()))
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._refresh_buttons())
        self.model.modelReset.connect(self._refresh_buttons)
        self.open_card_button.clicked.connect(self.open_selected)
        self.new_contact_button.clicked.connect(self.new_contact)
        ctx.bridge.contact_changed.connect(self._on_contact_changed)
        self._refresh_buttons()
        self.search()

    # -- what the agent does -------------------------------------------------------------------

    def selected_row(self) -> int:
        rows = self.view.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def open_selected(self) -> None:
        self._open_row(self.selected_row())

    def new_contact(self) -> None:
        text = self.search_edit.text().strip()
        number = text if text and self._ctx.normalizer.try_key(text) is not None else ""
        self.create_contact_requested.emit(number)

    def search(self) -> None:
        """Search for the field's text now (only the newest search's answer is shown)."""
        self._search_timer.stop()
        self._generation += 1
        generation = self._generation
        text = self.search_edit.text().strip()
        query = NumberQuery.parse(self._ctx.normalizer, text)

        def found(contacts: list[ContactRecord]) -> None:
            if generation != self._generation:
                return
            self.model.set_contacts(contacts)
            if contacts:
                self.status_label.setText(self.tr("%n contact(s)", "", len(contacts)))
            elif text:
                self.status_label.setText(self.tr("No contact matches.") + " " + (
                    self.tr("New contact creates one with this number.") if query.key else ""))
            else:
                self.status_label.setText(self.tr("The directory is empty: New contact adds one."))

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                self.status_label.setText(self.tr("Could not search the directory: %1").replace(
                    "%1", user_message(exc)))

        self._ctx.tasks.start(self._ctx.api.contacts.search(text, MAX_CONTACTS), on_done=found, on_error=failed)

    # -- internals ---------------------------------------------------------------------------

    def _open_row(self, row: int) -> None:
        contact = self.model.contact_at(row)
        if contact is None or contact.id is None:
            return
        number = display_key(self._ctx.normalizer, contact.phones[0].key) if contact.phones else ""
        self.open_card_requested.emit(contact.id, number)

    def _enter(self) -> None:
        if self.selected_row() < 0 and self.model.rowCount() == 1:
            self.view.selectRow(0)
        self.open_selected()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            if watched is self.search_edit and key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.model.rowCount():
                row = self.selected_row() + (1 if key == Qt.Key.Key_Down else -1)
                self.view.selectRow(max(0, min(row, self.model.rowCount() - 1)))
                return True
            if watched is self.view and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_selected()
                return True
        return super().eventFilter(watched, event)

    def _refresh_buttons(self) -> None:
        self.open_card_button.setEnabled(self.selected_row() >= 0)

    def _on_contact_changed(self, _contact_id: int, _keys: tuple[str, ...]) -> None:
        if self.isVisible():
            self.search()
