"""A client's call timeline: the local journal and CDRs merged into one table, newest first.

The card opens clients with 10,000 calls and more, so the work per row is kept small and
out of the GUI thread where possible:

* the rows come from the service API (standalone: :func:`app.core.timeline.load_timeline` on a
  storage reader thread, two lean queries of plain tuples and the notes, merged there);
* :class:`TimelineModel` formats a row's texts only when a view first asks for them (the
  visible rows), and caches them on the row;
* sorting is one Python ``list.sort`` in :meth:`TimelineModel.sort`; the filter proxy hands
  sorting to it instead of comparing rows through ``data()`` (n·log n calls into Python);
* views use fixed row heights (see :func:`configure_view`), so Qt never measures rows.

The rows, their statuses and the merge are Qt-free (:mod:`app.core.timeline`); the service
API builds them (on a storage thread when standalone) and this module shows them.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QStyleOptionHeader, QTableView

from app.core.timeline import (
    ANSWERED,
    ANSWERED_ELSEWHERE,
    BUSY,
    IN_PROGRESS,
    MISSED,
    NO_ANSWER,
    ON_HOLD,
    RINGING,
    TimelineRow,
    adopt_call,
    fold_leg,
    row_from_call,
    row_time,
)
from app.protocol import events as ev
from app.protocol.phones import PhoneNormalizer
from app.protocol.text import spreadsheet_cell
from app.storage import CallRecord

from .format import duration_text, outcome_label, phone_text, plain_text, plain_tooltip, when_text


def status_label(status: str) -> str:
    """The status as the agent reads it (translated, context "Timeline")."""
    labels = {
        ANSWERED: QCoreApplication.translate("Timeline", "Answered"),
        MISSED: QCoreApplication.translate("Timeline", "Missed"),
        NO_ANSWER: QCoreApplication.translate("Timeline", "Not answered"),
        BUSY: QCoreApplication.translate("Timeline", "Busy"),
        ANSWERED_ELSEWHERE: QCoreApplication.translate("Timeline", "Answered by a colleague"),
        RINGING: QCoreApplication.translate("Timeline", "Ringing"),
        IN_PROGRESS: QCoreApplication.translate("Timeline", "In progress"),
        ON_HOLD: QCoreApplication.translate("Timeline", "On hold"),
    }
    label = labels.get(status)
    return label if label is not None else plain_text(status)  # a status the PBX made up: its text


def direction_text(direction: int | None) -> str:
    if direction == ev.DIRECTION_INCOMING:
        return QCoreApplication.translate("Timeline", "Incoming")
    if direction == ev.DIRECTION_OUTGOING:
        return QCoreApplication.translate("Timeline", "Outgoing")
    return "—"


def link_location(link: str | None) -> str:
    """Host and path of a recording link, never its query string (the access token lives there)."""
    if not link:
        return ""
    try:
        parts = urlsplit(link)
    except ValueError:
        return ""
    return f"{parts.hostname or ''}{parts.path}"


# -- the model --------------------------------------------------------------------------------


class TimelineModel(QAbstractTableModel):
    """The merged call history of one client, one row per call, newest first by default.

    ``SORT_ROLE`` gives a cell's raw value (seconds, counts, booleans), ``ROW_ROLE`` the
    :class:`TimelineRow`. Rows are deduplicated by CDR uniqueid, so pages fetched from the PBX
    can be added again and again (:meth:`add_rows`).
    """

    COL_TIME, COL_DIRECTION, COL_NUMBER, COL_DURATION, COL_BILLSEC, COL_STATUS, COL_RECORDING, COL_NOTE = range(8)
    COLUMN_COUNT = 8
    SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 1
    ROW_ROLE = int(Qt.ItemDataRole.UserRole) + 2

    def __init__(self, normalizer: PhoneNormalizer, parent: QObject | None = None,
                 now: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self._normalizer = normalizer
        self._now = now
        self._rows: list[TimelineRow] = []
        self._by_uniqueid: dict[str, TimelineRow] = {}
        self._by_call: dict[str, TimelineRow] = {}  # journal rows by call_id and by session_id
        self._sort_column = self.COL_TIME
        self._sort_order = Qt.SortOrder.DescendingOrder
        self._headers = [
            self.tr("Time"), self.tr("Direction"), self.tr("Number"), self.tr("Duration"), self.tr("Talk time"),
            self.tr("Status"), self.tr("Recording"), self.tr("Note"),
        ]

    # -- Qt model API ---------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # the tooltip: a narrow column's header is elided (see ColumnFitter)
        if orientation == Qt.Orientation.Horizontal and role in (Qt.ItemDataRole.DisplayRole,
                                                                 Qt.ItemDataRole.ToolTipRole):
            return self._headers[section] if 0 <= section < self.COLUMN_COUNT else None
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            texts = row.texts
            if texts is None:
                texts = row.texts = self._texts(row)
            return texts[column]
        if role == self.SORT_ROLE:
            return self._sort_value(row, column)
        if role == self.ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:  # QToolTip guesses rich text: see plain_tooltip
            if column == self.COL_RECORDING:
                return plain_tooltip(link_location(row.link)) or None
            if column == self.COL_NOTE and row.note:
                return plain_tooltip(row.note)
            if column == self.COL_NUMBER:
                return plain_tooltip(row.number) or None
            if column == self.COL_STATUS:  # a long status is elided in its column
                return plain_tooltip(status_label(row.status)) or None
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.COL_DURATION, self.COL_BILLSEC):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _texts(self, row: TimelineRow) -> list[str]:
        # one line each, no control characters; a built-in outcome in the agent's language
        note, outcome = plain_text(row.note), plain_text(outcome_label(row.outcome))
        if outcome:
            note = f"{outcome} · {note}" if note else outcome
        return [
            when_text(row.time, self._now()),
            direction_text(row.direction),
            phone_text(self._normalizer, row.number),
            duration_text(row.duration),
            duration_text(row.billsec),
            status_label(row.status),
            self.tr("Yes") if row.link else "—",
            note,
        ]

    def _sort_value(self, row: TimelineRow, column: int) -> Any:
        return self._key(column)(row)

    def _key(self, column: int) -> Callable[[TimelineRow], Any]:
        if column == self.COL_DIRECTION:
            return lambda r: -1 if r.direction is None else r.direction
        if column == self.COL_NUMBER:
            return lambda r: r.number or ""
        if column == self.COL_DURATION:
            return lambda r: -1 if r.duration is None else r.duration
        if column == self.COL_BILLSEC:
            return lambda r: -1 if r.billsec is None else r.billsec
        if column == self.COL_STATUS:
            return lambda r: status_label(r.status).casefold()
        if column == self.COL_RECORDING:
            return lambda r: r.link is not None
        if column == self.COL_NOTE:
            return lambda r: (r.outcome.casefold(), r.note.casefold())
        return row_time

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in Python (fast for 10,000 rows); ties stay newest first."""
        if not 0 <= column < self.COLUMN_COUNT:
            column = self.COL_TIME
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        held = [(self._rows[i.row()], i.column()) if 0 <= i.row() < len(self._rows) else (None, 0)
                for i in persistent]
        self._sort_rows(self._rows)
        if persistent:
            position = {id(row): n for n, row in enumerate(self._rows)}
            self.changePersistentIndexList(
                persistent,
                [self.index(position[id(row)], column) if row is not None else QModelIndex()
                 for row, column in held],
            )
        self.layoutChanged.emit()

    def _sort_rows(self, rows: list[TimelineRow]) -> None:
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        if self._sort_column == self.COL_TIME:
            rows.sort(key=row_time, reverse=descending)
            return
        rows.sort(key=row_time, reverse=True)
        rows.sort(key=self._key(self._sort_column), reverse=descending)

    @property
    def sort_column(self) -> int:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    # -- content --------------------------------------------------------------------------

    def row_at(self, row: int) -> TimelineRow:
        return self._rows[row]

    def rows(self) -> list[TimelineRow]:
        """The rows in display order (a copy)."""
        return list(self._rows)

    def set_rows(self, rows: list[TimelineRow]) -> None:
        """Replace everything (the list is taken over, not copied)."""
        self.beginResetModel()
        if not (self._sort_column == self.COL_TIME and self._sort_order == Qt.SortOrder.DescendingOrder):
            self._sort_rows(rows)
        self._rows = rows
        self._by_uniqueid = {}
        self._by_call = {}
        for row in rows:
            self._index(row)
        self.endResetModel()

    def _index(self, row: TimelineRow) -> None:
        if row.uniqueid:
            self._by_uniqueid[row.uniqueid] = row
        if row.call_id:
            self._by_call.setdefault(row.call_id, row)
        if row.session_id:
            self._by_call.setdefault(row.session_id, row)

    def find(self, ref: str) -> int | None:
        """Row number of the call with this note ref, uniqueid or call_id."""
        for n, row in enumerate(self._rows):
            if ref in (row.ref, row.uniqueid, row.call_id):
                return n
        return None

    def add_rows(self, new: Iterable[TimelineRow]) -> int:
        """Add CDR rows (e.g. a page from the PBX); known uniqueids are skipped, a CDR of a call
        the journal shows alone joins that row. Returns how many rows were added."""
        fresh: list[TimelineRow] = []
        for row in new:
            if row.uniqueid and row.uniqueid in self._by_uniqueid:
                continue
            journal = self._by_call.get(row.uniqueid or "") if row.uniqueid else None
            if journal is not None and journal.uniqueid is None:
                self._attach_cdr(journal, row)
                continue
            self._index(row)
            fresh.append(row)
        if not fresh:
            return len(fresh)
        self._sort_rows(fresh)
        in_order = not self._rows or not self._before(fresh[0], self._rows[-1])
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
        self._rows.extend(fresh)
        self.endInsertRows()
        if not in_order:
            self.sort(self._sort_column, self._sort_order)
        return len(fresh)

    def _before(self, a: TimelineRow, b: TimelineRow) -> bool:
        """Would ``a`` sort strictly before ``b``?"""
        key = self._key(self._sort_column)
        ka, kb = key(a), key(b)
        if ka == kb:
            return a.time > b.time
        return ka > kb if self._sort_order == Qt.SortOrder.DescendingOrder else ka < kb

    def _attach_cdr(self, journal: TimelineRow, cdr: TimelineRow) -> None:
        """The CDR of a call shown from the journal arrived: the row becomes the CDR's."""
        seen_live = TimelineRow(journal.ref, journal.time, journal.direction, journal.number, journal.duration,
                                journal.billsec, journal.status, call_id=journal.call_id,
                                session_id=journal.session_id)
        journal.uniqueid, journal.link = cdr.uniqueid, cdr.link
        journal.ref = cdr.uniqueid or journal.ref
        journal.time = cdr.time or journal.time
        journal.duration, journal.billsec, journal.status = cdr.duration, cdr.billsec, cdr.status
        journal.number = cdr.number or journal.number
        if journal.direction is None:
            journal.direction = cdr.direction
        adopt_call(journal, seen_live)
        if cdr.note or cdr.outcome:
            journal.note, journal.outcome = cdr.note, cdr.outcome
        self._by_uniqueid[journal.uniqueid] = journal  # type: ignore[index]
        self._changed(journal)

    def upsert_call(self, call: CallRecord) -> None:
        """A live journal change (the call rings, is answered, ends, gets its CDR)."""
        fresh = row_from_call(call)
        row = self._by_call.get(call.call_id)
        if row is None and call.cdr_uniqueid:
            row = self._by_uniqueid.get(call.cdr_uniqueid)
        if row is None and call.session_id:
            row = self._by_call.get(call.session_id)
        if row is None:
            self._index(fresh)
            self._insert(fresh)
            return
        if row.uniqueid is not None:  # the CDR speaks for the call; the journal adds what it knows
            if row.call_id is None or row.call_id == call.call_id:
                adopt_call(row, fresh)
                self._changed(row)
            return
        if row.call_id == call.call_id:
            row.status, row.duration, row.billsec = fresh.status, fresh.duration, fresh.billsec
            row.direction = fresh.direction if fresh.direction is not None else row.direction
            row.number = fresh.number or row.number
            row.texts = None
        else:
            fold_leg(row, fresh)
        self._by_call.setdefault(call.call_id, row)
        self._changed(row)

    def _insert(self, row: TimelineRow) -> None:
        position = len(self._rows)
        for n, other in enumerate(self._rows):
            if self._before(row, other):
                position = n
                break
        self.beginInsertRows(QModelIndex(), position, position)
        self._rows.insert(position, row)
        self.endInsertRows()

    def _changed(self, row: TimelineRow) -> None:
        row.texts = None
        for n, other in enumerate(self._rows):
            if other is row:
                self.dataChanged.emit(self.index(n, 0), self.index(n, self.COLUMN_COUNT - 1))
                return

    def set_note(self, ref: str, note: str, outcome: str) -> None:
        n = self.find(ref)
        if n is None:
            return
        row = self._rows[n]
        row.note, row.outcome, row.texts = note, outcome, None
        self.dataChanged.emit(self.index(n, self.COL_NOTE), self.index(n, self.COL_NOTE))

    def set_link(self, ref: str, link: str | None) -> None:
        n = self.find(ref)
        if n is None:
            return
        row = self._rows[n]
        row.link, row.texts = link or None, None
        self.dataChanged.emit(self.index(n, self.COL_RECORDING), self.index(n, self.COL_RECORDING))


# -- filtering --------------------------------------------------------------------------------


class TimelineFilterProxy(QSortFilterProxyModel):
    """Direction and date-range filter over a :class:`TimelineModel`.

    Sorting is handed to the source model (one Python sort) instead of Qt comparing rows
    through ``data()``; the proxy itself keeps the source order.
    """

    def __init__(self, model: TimelineModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._direction: int | None = None
        self._start: float | None = None
        self._end: float | None = None
        self._model = model
        self.setSourceModel(model)

    @property
    def direction(self) -> int | None:
        return self._direction

    def set_direction(self, direction: int | None) -> None:
        """Only incoming (0) or outgoing (1) calls; None shows every call."""
        self._change(lambda: setattr(self, "_direction", direction))

    def set_date_range(self, start: float | None, end: float | None) -> None:
        """Only calls with ``start <= time <= end`` (unix seconds; None leaves that side open)."""
        def apply() -> None:
            self._start, self._end = start, end
        self._change(apply)

    def _change(self, apply: Callable[[], None]) -> None:
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            apply()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - Qt < 6.9
            apply()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        direction, start, end = self._direction, self._start, self._end
        if direction is None and start is None and end is None:
            return True
        row = self._model.row_at(source_row)
        if direction is not None and row.direction != direction:
            return False
        if start is not None and row.time < start:
            return False
        return not (end is not None and row.time > end)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._model.sort(column, order)

    def row_at(self, proxy_row: int) -> TimelineRow:
        return self._model.row_at(self.mapToSource(self.index(proxy_row, 0)).row())

    def visible_rows(self) -> list[TimelineRow]:
        return [self.row_at(n) for n in range(self.rowCount())]


class SortArrowHeader(QHeaderView):
    """A header whose sort arrow points the way the values run down the column.

    Qt draws ``AscendingOrder`` as ``SortDown`` and ``DescendingOrder`` as ``SortUp``: the
    newest-first timeline showed an arrow up, which agents read as "oldest first". Here
    descending (newest at the top) is an arrow down, ascending an arrow up.
    """

    def initStyleOptionForIndex(self, option: QStyleOptionHeader, logicalIndex: int) -> None:
        super().initStyleOptionForIndex(option, logicalIndex)
        flipped = {QStyleOptionHeader.SortIndicator.SortUp: QStyleOptionHeader.SortIndicator.SortDown,
                   QStyleOptionHeader.SortIndicator.SortDown: QStyleOptionHeader.SortIndicator.SortUp}
        option.sortIndicator = flipped.get(option.sortIndicator, option.sortIndicator)


def configure_view(view: QTableView) -> None:
    """What keeps a 10,000-row table fast: fixed row heights and no content-sized columns."""
    arrows = SortArrowHeader(Qt.Orientation.Horizontal, view)
    arrows.setSectionsClickable(True)  # what QTableView's own header has
    arrows.setHighlightSections(True)
    arrows.setTextElideMode(Qt.TextElideMode.ElideRight)  # a narrow column's title: "Длител…", its tooltip whole
    view.setHorizontalHeader(arrows)
    vertical = view.verticalHeader()
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(view.fontMetrics().height() + 8)
    vertical.hide()
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    header.setSortIndicator(TimelineModel.COL_TIME, Qt.SortOrder.DescendingOrder)
    header.setSortIndicatorShown(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    view.setSortingEnabled(True)


class ColumnFitter(QObject):
    """Sizes a timeline view's columns to its width: no horizontal scroll bar at the card's size.

    Widths come from sample texts measured once, never from the rows (the card opens clients with
    10,000 calls). What the view's width is given to, in turn: the short columns (time, direction,
    durations, recording) as wide as their longest possible text, the number column as wide as a
    whole number, the status column as wide as the everyday statuses, the note column a little;
    then the short columns' headers whole, left to right (a header that does not fit is elided;
    the title is its tooltip, as in Russian at the default size); then the status column up to its
    longest status ("Answered by a colleague"); the note column takes the rest.
    A longer value elides, and its tooltip shows it whole. Refitted whenever the viewport changes
    width (a resize, the vertical scroll bar coming or going).
    """

    COMPACT = (TimelineModel.COL_TIME, TimelineModel.COL_DIRECTION, TimelineModel.COL_DURATION,
               TimelineModel.COL_BILLSEC, TimelineModel.COL_RECORDING)
    #: a whole number in the number column
    NUMBER_SAMPLE = "+7 495 134-30-60"
    #: what the note column keeps before headers and long statuses take room from it
    NOTE_SAMPLE = "Call back"

    def __init__(self, view: QTableView) -> None:
        super().__init__(view)
        self._view = view
        metrics = view.fontMetrics()
        margin = 2 * (view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1) + 8

        def width(*texts: str) -> int:
            return max(metrics.horizontalAdvance(text) for text in texts) + margin

        long_ago = datetime(2000, 12, 28, 23, 58).timestamp()  # two-digit day and month, a late hour
        longest = duration_text(9 * 3600 + 59 * 60 + 59)
        self._content = {
            TimelineModel.COL_TIME: width(when_text(long_ago), when_text(long_ago, long_ago),
                                          when_text(long_ago, long_ago + 86400)),
            TimelineModel.COL_DIRECTION: width(direction_text(ev.DIRECTION_INCOMING),
                                               direction_text(ev.DIRECTION_OUTGOING)),
            TimelineModel.COL_DURATION: width(longest),
            TimelineModel.COL_BILLSEC: width(longest),
            TimelineModel.COL_RECORDING: width(QCoreApplication.translate("TimelineModel", "Yes"), "—"),
        }
        self._number = width(self.NUMBER_SAMPLE)
        self._note = width(self.NOTE_SAMPLE)
        everyday = (ANSWERED, MISSED, NO_ANSWER, BUSY, IN_PROGRESS)
        self._everyday_status = width(*map(status_label, everyday))
        self._status = width(*map(status_label, (*everyday, ANSWERED_ELSEWHERE, RINGING, ON_HOLD)))
        # the note column takes what is left: Stretch, as a stretched *last* section keeps 100 px at least
        header = view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(TimelineModel.COL_NOTE, QHeaderView.ResizeMode.Stretch)
        view.viewport().installEventFilter(self)
        self.fit()

    def fit(self) -> None:
        header = self._view.horizontalHeader()
        widths = dict(self._content)
        widths[TimelineModel.COL_NUMBER] = self._number
        widths[TimelineModel.COL_STATUS] = self._everyday_status
        spare = self._view.viewport().width() - sum(widths.values()) - self._note

        def grow(column: int, target: int) -> None:
            nonlocal spare
            more = max(0, min(spare, target - widths[column]))
            widths[column] += more
            spare -= more

        for column in self.COMPACT:
            grow(column, header.sectionSizeHint(column))
        grow(TimelineModel.COL_STATUS, self._status)
        for column, size in widths.items():
            header.resizeSection(column, size)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False


# -- CSV --------------------------------------------------------------------------------------

CSV_COLUMNS = ("time", "direction", "number", "duration", "billsec", "status", "outcome", "note", "recording",
               "call_ref")


def timeline_csv(rows: Iterable[TimelineRow], normalizer: PhoneNormalizer) -> str:
    """The rows as CSV for the agent (a spreadsheet).

    Recording links are not exported: their query string is an access token, and without it
    a link leads nowhere. ``recording`` says whether there is one; ``call_ref`` (the PBX's
    uniqueid) finds it in the PBX. Times are local ``YYYY-MM-DD HH:MM:SS``, durations seconds.
    Every cell goes through :func:`~app.protocol.text.spreadsheet_cell`: a note or a number
    from the PBX that starts like a formula is written as text (``'+7 495 …``, ``'=HYPERLINK(…)``).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(map(spreadsheet_cell, [
            datetime.fromtimestamp(row.time).strftime("%Y-%m-%d %H:%M:%S"),
            {ev.DIRECTION_INCOMING: "incoming", ev.DIRECTION_OUTGOING: "outgoing"}.get(row.direction, ""),  # type: ignore[arg-type]
            phone_text(normalizer, row.number) if row.number else "",
            "" if row.duration is None else str(row.duration),
            "" if row.billsec is None else str(row.billsec),
            row.status,
            outcome_label(row.outcome),
            row.note,
            "yes" if row.link else "no",
            row.ref,
        ]))
    return out.getvalue()
