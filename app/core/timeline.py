"""A client's call timeline as rows: the local journal and CDRs merged into one list, newest first.

Qt-free, so the standalone service builds rows on a storage thread and a team server can build
the same rows; :mod:`app.ui.timeline` shows them.

Merging follows :func:`app.core.history.merge_history`: a CDR and the journal row of the
same call (linked by ``cdr_uniqueid``, or the CDR's uniqueid being the call's ``call_id``) are
one entry. A queue rings several agents with one client call: journal rows of one session
without a CDR yet are shown once, with the best outcome among the legs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from app.protocol import events as ev
from app.protocol.phones import MAX_INTERNAL_DIGITS
from app.storage import CallRecord, CallState

from .calls import was_answered

if TYPE_CHECKING:
    from app.storage import Session

# -- statuses ---------------------------------------------------------------------------------

ANSWERED = "answered"
MISSED = "missed"
NO_ANSWER = "no_answer"
BUSY = "busy"
ANSWERED_ELSEWHERE = "answered_elsewhere"
RINGING = "ringing"
IN_PROGRESS = "in_progress"
ON_HOLD = "on_hold"

# Which leg of a queue call speaks for the client call: the best outcome wins.
_STATUS_RANK = {ANSWERED: 7, ON_HOLD: 6, IN_PROGRESS: 5, RINGING: 4, ANSWERED_ELSEWHERE: 3, BUSY: 2,
                NO_ANSWER: 1, MISSED: 0}
_LIVE = frozenset({RINGING, IN_PROGRESS, ON_HOLD})


# -- rows -------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class TimelineRow:
    """One client call as the timeline shows it.

    ``ref`` is the key of its note and outcome (the CDR's uniqueid, else the journal's
    call_id). ``texts`` caches the formatted cells; whoever changes a field sets it to None.
    """

    ref: str
    time: float
    direction: int | None
    number: str | None
    duration: int | None
    billsec: int | None
    status: str
    link: str | None = None
    uniqueid: str | None = None
    call_id: str | None = None
    session_id: str | None = None
    note: str = ""
    outcome: str = ""
    texts: list[str] | None = None

    @property
    def live(self) -> bool:
        return self.status in _LIVE


def _looks_external(text: str | None) -> bool:
    return bool(text) and sum(ch.isdigit() for ch in text) > MAX_INTERNAL_DIGITS  # type: ignore[union-attr]


def cdr_status(direction: int | None, billsec: int | None, cause: str | None) -> str:
    if billsec:
        return ANSWERED
    if cause == "USER_BUSY":
        return BUSY
    return MISSED if direction == ev.DIRECTION_INCOMING else NO_ANSWER


def row_from_cdr_values(uniqueid: str, dt: float | None, src: str | None, dst: str | None,
                        direction: int | None, duration: int | None, billsec: int | None,
                        link: str | None, cause: str | None) -> TimelineRow:
    """A row from a CDR's fields (in ``CDR_TIMELINE_COLUMNS`` order)."""
    if direction == ev.DIRECTION_INCOMING:
        number = src
    elif direction == ev.DIRECTION_OUTGOING:
        number = dst
    else:
        number = src if _looks_external(src) or not _looks_external(dst) else dst
    return TimelineRow(uniqueid, float(dt or 0.0), direction, number, duration, billsec,
                       cdr_status(direction, billsec, cause), link or None, uniqueid)


def row_from_cdr(data: dict[str, Any]) -> TimelineRow:
    """A row from a CDR dict (``CdrRow.data`` or ``CdrRecord.wire_dict()``)."""
    return row_from_cdr_values(str(data["uniqueid"]), data.get("dt"), data.get("src"), data.get("dst"),
                               data.get("direction"), data.get("duration"), data.get("billsec"),
                               data.get("link"), data.get("bridge_hangup_cause"))


def call_status(state: str, direction: int | None, answered: bool, missed: bool, elsewhere: bool) -> str:
    if state == CallState.RINGING:
        return RINGING
    if state == CallState.HELD:
        return ON_HOLD
    if state == CallState.ACTIVE:
        return IN_PROGRESS
    if missed:
        return MISSED
    if answered:
        return ANSWERED
    if elsewhere:
        return ANSWERED_ELSEWHERE
    return MISSED if direction == ev.DIRECTION_INCOMING else NO_ANSWER


def row_from_call_values(call_id: str, session_id: str | None, direction: int | None, other_leg: str | None,
                         state: str, at: float, answered_at: float | None, hangup_at: float | None,
                         answer_seconds: int | None, missed: Any, elsewhere: Any) -> TimelineRow:
    """A row from a journal call (``CALL_TIMELINE_COLUMNS`` order, without ``cdr_uniqueid``)."""
    answered = was_answered(answered_at, answer_seconds)
    status = call_status(state, direction, answered, bool(missed), bool(elsewhere))
    duration = None if hangup_at is None else max(0, round(hangup_at - at))
    return TimelineRow(call_id, at, direction, other_leg, duration, answer_seconds, status,
                       call_id=call_id, session_id=session_id)


def row_from_call(call: CallRecord) -> TimelineRow:
    return row_from_call_values(call.call_id, call.session_id, call.direction, call.other_leg, call.state,
                                call.ringing_at or call.first_seen, call.answered_at, call.hangup_at,
                                call.answer_seconds, call.missed, call.answered_elsewhere)


def adopt_call(cdr_row: TimelineRow, call_row: TimelineRow) -> None:
    """The journal knows what a CDR cannot: answered by a colleague, or missed here."""
    cdr_row.call_id = call_row.call_id
    cdr_row.session_id = call_row.session_id
    if call_row.status in (MISSED, ANSWERED_ELSEWHERE) and cdr_row.status != ANSWERED:
        cdr_row.status = call_row.status
    if cdr_row.direction is None:
        cdr_row.direction = call_row.direction
    cdr_row.texts = None


def fold_leg(row: TimelineRow, leg: TimelineRow) -> None:
    """A queue's other leg of the same client call: keep the earliest time and the best outcome."""
    if _STATUS_RANK[leg.status] > _STATUS_RANK[row.status]:
        row.status, row.billsec, row.duration = leg.status, leg.billsec, leg.duration
        row.call_id, row.ref = leg.call_id, leg.ref
    row.time = min(row.time, leg.time)
    row.texts = None


def merge_rows(calls: Iterable[Sequence[Any]], cdrs: Iterable[Sequence[Any]]) -> list[TimelineRow]:
    """Journal tuples (``CALL_TIMELINE_COLUMNS``) and CDR tuples (``CDR_TIMELINE_COLUMNS``) → rows, newest first.

    The hot loop of opening a card (two passes over 10,000 tuples): the common cases are
    inlined; a journal call that its CDR already shows creates no row object at all.
    """
    incoming, outgoing = ev.DIRECTION_INCOMING, ev.DIRECTION_OUTGOING
    by_uniqueid: dict[str, TimelineRow] = {}
    rows: list[TimelineRow] = []
    append = rows.append
    for uniqueid, dt, src, dst, direction, duration, billsec, link, cause in cdrs:
        if uniqueid in by_uniqueid:
            continue
        if direction == incoming:
            number = src
        elif direction == outgoing:
            number = dst
        else:
            number = src if _looks_external(src) or not _looks_external(dst) else dst
        if billsec:
            status = ANSWERED
        elif cause == "USER_BUSY":
            status = BUSY
        else:
            status = MISSED if direction == incoming else NO_ANSWER
        row = TimelineRow(uniqueid, float(dt or 0.0), direction, number, duration, billsec, status, link or None,
                          uniqueid)
        by_uniqueid[uniqueid] = row
        append(row)
    sessions: dict[str, TimelineRow] = {}
    for values in calls:
        call_id, session_id, cdr_uniqueid = values[0], values[1], values[11]
        linked = (by_uniqueid.get(cdr_uniqueid) if cdr_uniqueid else None) or by_uniqueid.get(call_id)
        if linked is not None:
            if linked.call_id is None:
                linked.call_id = call_id
                linked.session_id = session_id
                if linked.direction is None:
                    linked.direction = values[2]
                if values[9] and linked.status != ANSWERED:  # missed here
                    linked.status = MISSED
                elif (values[10] and linked.status != ANSWERED and values[6] is None
                      and not values[8]):  # a colleague took it
                    linked.status = ANSWERED_ELSEWHERE
            continue  # or another leg of a call its CDR already shows
        row = row_from_call_values(*values[:11])
        if session_id:
            first = sessions.get(session_id)
            if first is not None:
                fold_leg(first, row)
                continue
            sessions[session_id] = row
        append(row)
    rows.sort(key=_by_time, reverse=True)
    return rows


def note_refs(rows: Iterable[TimelineRow]) -> list[str]:
    """Every key a row's note may be stored under (a note taken live is keyed by the call_id)."""
    refs: list[str] = []
    for row in rows:
        refs.append(row.ref)
        if row.call_id and row.call_id != row.ref:
            refs.append(row.call_id)
    return refs


def apply_notes(rows: Iterable[TimelineRow], notes: dict[str, tuple[str, str]]) -> None:
    if not notes:
        return
    for row in rows:
        found = notes.get(row.ref) or (notes.get(row.call_id) if row.call_id else None)
        if found is not None:
            row.note, row.outcome = found
            row.texts = None


def load_timeline(session: Session, keys: Sequence[str], limit: int = 100_000) -> list[TimelineRow]:
    """A client's rows with their notes; runs inside ``store.read`` (a storage thread)."""
    rows = merge_rows(session.calls.timeline_rows(keys, limit), session.cdrs.timeline_rows(keys, limit))
    apply_notes(rows, session.notes.many(note_refs(rows)))
    return rows


def row_time(row: TimelineRow) -> float:
    """The sort key of a row: when the call started."""
    return row.time


_by_time = attrgetter("time")
