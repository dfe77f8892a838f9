"""The call state machine: folds ringing → answer → held/active → hangup → CDR into one call.

Events carry no timestamps and may arrive out of order or twice, so the fold is built to be
order-insensitive where it matters:

* the state only moves forward by rank (ringing < active/held < ended): a late ``call_ringing``
  never revives an ended call, so no ghost calls;
* "answered" is a fact that any of answer, hold, resume or ``variable_answersec > 0`` proves,
  and it is never undone: a hangup that overtakes its answer does not make a false missed call;
* "missed" is derived, never stored as a decision taken once: an incoming call that ended here
  unanswered, while nobody else in its session (a queue's other legs) answered it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.protocol import events as ev
from app.protocol.events import CallEvent, HoldEvent
from app.protocol.phones import PhoneNormalizer
from app.storage import CallRecord, CallState

if TYPE_CHECKING:
    from app.storage import Session

RINGING, ACTIVE, HELD, ENDED = CallState.RINGING, CallState.ACTIVE, CallState.HELD, CallState.ENDED
_RANK = {RINGING: 0, ACTIVE: 1, HELD: 1, ENDED: 2}


#: Hold periods kept per call (a real call has a handful; a hostile stream must not grow one forever).
MAX_HOLD_PERIODS = 100

def _advance(call: CallRecord, state: CallState) -> None:
    if _RANK[state] > _RANK[call.state] or (_RANK[state] == _RANK[call.state] and state != call.state):
        call.state = state


def was_answered(answered_at: float | None, answer_seconds: int | None) -> bool:
    """The one "answered" rule: an answer, hold or resume was seen, or the PBX counted talk time."""
    return answered_at is not None or bool(answer_seconds)


def answered(call: CallRecord) -> bool:
    """Was this leg answered (see :func:`was_answered`)? Never undone once true."""
    return was_answered(call.answered_at, call.answer_seconds)


def is_missed(call: CallRecord) -> bool:
    """Rang here, incoming, ended, never answered here or by anyone else in its session."""
    incoming = call.direction == ev.DIRECTION_INCOMING or (call.direction is None and call.gateway_number is not None)
    return incoming and call.state == ENDED and not answered(call) and not call.answered_elsewhere


class CallFolder:
    """Applies call events to the journal inside the caller's write transaction."""

    def __init__(self, normalizer: Callable[[], PhoneNormalizer]) -> None:
        self._normalizer = normalizer

    @property
    def normalizer(self) -> PhoneNormalizer:
        """The number rules in force (they follow the settings)."""
        return self._normalizer()

    def apply(self, session: Session, action: str, body: CallEvent | HoldEvent, at: float) -> list[CallRecord]:
        """Fold one event; returns every call row it changed (siblings in a queue included)."""
        # the call and the other legs of the session the event names, with their hold periods: one query
        found = session.calls.with_session(body.call_id, body.session_id)
        call = next((c for c in found if c.call_id == body.call_id), None)
        if call is None:
            call = CallRecord(call_id=body.call_id, state=RINGING, first_seen=at, updated_at=at)
        self._fill(session, call, body)
        if call.cdr_uniqueid is None:  # after _fill: a CDR may be keyed by the session_id just learnt
            self._link_cdr(session, call)
        call.updated_at = at

        if action == ev.CALL_RINGING:
            call.ringing_at = call.ringing_at or at
            _advance(call, RINGING)
        elif action == ev.CALL_ANSWER:
            call.answered_at = call.answered_at or at
            if call.state != HELD:
                _advance(call, ACTIVE)
        elif action == ev.CALL_HANGUP:
            assert isinstance(body, CallEvent)
            call.hangup_at = call.hangup_at or at
            call.hangup_cause = body.hangup_cause or call.hangup_cause
            if body.variable_answersec is not None:
                call.answer_seconds = body.variable_answersec
            call.state = ENDED
        elif action in (ev.CALL_HELD, ev.CALL_ACTIVE):
            # a call can only be put on hold once it was answered
            call.answered_at = call.answered_at or at
            if action == ev.CALL_HELD:
                _advance(call, HELD)
            else:
                _advance(call, ACTIVE)
        else:  # pragma: no cover - the caller dispatches only call actions here
            raise ValueError(f"not a call event: {action}")

        changed = [call]
        if call.session_id:
            in_session = (found if call.session_id == body.session_id  # read above, else (rare) now
                          else session.calls.in_session(call.session_id))
            siblings = [c for c in in_session if c.call_id != call.call_id and c.session_id == call.session_id]
            if any(answered(s) for s in siblings):
                call.answered_elsewhere = True
            if answered(call):
                for sibling in siblings:
                    if not sibling.answered_elsewhere and not answered(sibling):
                        sibling.answered_elsewhere = True
                        sibling.missed = is_missed(sibling)
                        session.calls.save(sibling)
                        changed.append(sibling)
        call.missed = is_missed(call)
        session.calls.save(call)
        # call.hold_periods are all of the call's periods (read above, or none for a new call)
        if action in (ev.CALL_HELD, ev.CALL_ACTIVE) and len(call.hold_periods) >= MAX_HOLD_PERIODS:
            pass  # a flood of hold toggles on one call: its state follows, its hold history stops growing
        elif action in (ev.CALL_HELD, ev.CALL_ACTIVE):
            session.calls.add_hold_event(call, at, held=action == ev.CALL_HELD)
        return changed

    def _fill(self, session: Session, call: CallRecord, body: CallEvent | HoldEvent) -> None:
        """Fill in what the call row does not know yet; a later event never blanks a field."""
        call.session_id = call.session_id or body.session_id
        call.crm_user = call.crm_user or body.crm_user
        if call.direction is None:
            call.direction = body.direction
        if isinstance(body, CallEvent):
            call.domain_user = call.domain_user or body.domain_user
            call.gateway_number = call.gateway_number or body.gateway_number
        else:
            call.domain_user = call.domain_user or body.user_uid
        if body.other_leg and not call.other_leg:
            call.other_leg = body.other_leg
            call.other_key = self.normalizer.try_key(body.other_leg)
            if call.other_key and call.contact_id is None:
                call.contact_id = session.contacts.first_id_by_key(call.other_key)

    @staticmethod
    def _link_cdr(session: Session, call: CallRecord) -> None:
        """A CDR that arrived before the call: keyed by its call_id or (a queue's) session_id,
        the same two keys ``CallRepository.by_cdr`` links by when the CDR comes last."""
        keys = [call.call_id] if not call.session_id or call.session_id == call.call_id else [
            call.call_id, call.session_id]
        call.cdr_uniqueid = session.cdrs.first_known(keys)
