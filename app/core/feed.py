"""The journal's records as agent-feed messages and back (:mod:`app.protocol.agent_api`).

Both directions live here so that they cannot drift apart: the team server turns what the bus
publishes (``CallChanged``, ``PresenceChanged``, ``CdrAdded``) into feed data, and the app in
team mode turns feed messages back into the same ``CallRecord``/``PresenceRecord``/``CallerInfo``
its windows already show, so no window knows whether the call came from a local webhook or a
server. A record survives record → message → JSON → message → record unchanged.

Qt-free and without I/O: the server calls it on its event loop, the tests without a network.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from app.protocol import events as ev
from app.protocol.agent_api import (
    CallData,
    CallFeedEvent,
    CdrData,
    ContactData,
    PresenceData,
    PresenceFeedEvent,
    WireAgent,
    WireCall,
    WireCaller,
    WirePresence,
)
from app.storage import CallRecord, CallState, CdrRow, HoldPeriod, PresenceRecord

from .agent import AgentIdentity
from .api import CallerInfo
from .calls import is_missed

# The feed event an action names, and the states in which its effect shows on the call. An event
# whose effect does not show (a queue sibling that another leg's answer only marked "answered
# elsewhere", a late ringing after the hangup) is "updated": the feed never claims a call rang,
# was answered or ended when its record says otherwise.
_ACTION_EFFECTS: dict[str, tuple[CallFeedEvent, frozenset[CallState]]] = {
    ev.CALL_RINGING: ("ringing", frozenset({CallState.RINGING})),
    ev.CALL_ANSWER: ("answered", frozenset({CallState.ACTIVE, CallState.HELD})),
    ev.CALL_HELD: ("held", frozenset({CallState.HELD})),
    ev.CALL_ACTIVE: ("active", frozenset({CallState.ACTIVE})),
    ev.CALL_HANGUP: ("ended", frozenset({CallState.ENDED})),
}
_PRESENCE_EVENTS: dict[str, PresenceFeedEvent] = {ev.USER_CHANGE: "registration", ev.AGENT_CHANGE: "agent_status"}

_Record = TypeVar("_Record")


def call_feed_event(action: str, call: CallRecord) -> CallFeedEvent:
    """The feed's name for what the PBX ``action`` did to the folded ``call``.

    call_ringing → ringing, call_answer → answered, call_held → held, call_active → active,
    call_hangup → missed (:func:`~app.core.calls.is_missed`) or ended; cdr_append and any other
    action → updated, and so is an action whose effect the call's state does not show.
    """
    effect = _ACTION_EFFECTS.get(action)
    if effect is None or call.state not in effect[1]:
        return "updated"
    if action == ev.CALL_HANGUP and is_missed(call):
        return "missed"
    return effect[0]


def presence_feed_event(action: str) -> PresenceFeedEvent:
    """``user_change`` → registration, ``agent_change`` → agent_status."""
    try:
        return _PRESENCE_EVENTS[action]
    except KeyError:
        raise ValueError(f"not a presence event: {action!r}") from None


# -- records → feed data (the server) ---------------------------------------------------------


def call_message_data(call: CallRecord, action: str, caller: CallerInfo | None) -> CallData:
    """The feed data of a ``CallChanged(call, action)``, with the pop-up's caller facts if known."""
    return CallData(
        event=call_feed_event(action, call),
        call=WireCall.model_validate(call),
        caller=None if caller is None else WireCaller.model_validate(caller),
    )


def presence_message_data(presence: PresenceRecord, action: str) -> PresenceData:
    """The feed data of a ``PresenceChanged(presence, action)``."""
    return PresenceData(event=presence_feed_event(action), presence=WirePresence.model_validate(presence))


def cdr_message_data(row: CdrRow, has_recording: bool) -> CdrData:
    """The feed data of a ``CdrAdded(row)``; the model itself withholds the recording link."""
    return CdrData(uniqueid=row.uniqueid, cdr=row.data, other_key=row.other_key, contact_id=row.contact_id,
                   recording=has_recording)


def contact_message_data(contact_id: int, keys: tuple[str, ...]) -> ContactData:
    """The feed data of a ``ContactChanged`` (the directory is shared: it goes to everyone)."""
    return ContactData(contact_id=contact_id, keys=list(keys))


def agent_info(identity: AgentIdentity, name: str, outcomes: tuple[str, ...] = ()) -> WireAgent:
    """``hello.agent`` (and ``GET /agent/api/me``) for an agent the server knows by this identity;
    ``outcomes``: the server's list for every agent (:func:`app.core.outcomes.team_outcomes`)."""
    return WireAgent(name=name, crm_user=identity.crm_user or None, extension=identity.extension or None,
                     supervisor=identity.see_all_calls, outcomes=outcomes)


# -- feed messages → records (the app in team mode) -------------------------------------------


def _record(record_type: type[_Record], model: BaseModel, **converted: Any) -> _Record:
    """A record from a model with the same field names; ``converted`` replaces fields whose record
    type is not the wire type (an enum, nested records)."""
    return record_type(**{**model.model_dump(exclude=set(converted)), **converted})


def call_record_from(call: WireCall) -> CallRecord:
    """The journal's record of a feed call (``state`` as :class:`~app.storage.CallState`)."""
    return _record(CallRecord, call, state=CallState(call.state),
                   hold_periods=[_record(HoldPeriod, period) for period in call.hold_periods])


def presence_record_from(presence: WirePresence) -> PresenceRecord:
    return _record(PresenceRecord, presence)


def caller_info_from(caller: WireCaller | None) -> CallerInfo | None:
    """What the pop-up shows; None when the server sent no caller facts."""
    return None if caller is None else _record(CallerInfo, caller)


def agent_identity_from(agent: WireAgent) -> AgentIdentity:
    """Whose calls are "mine" for the app, from the server's ``hello.agent``."""
    return AgentIdentity(agent.crm_user or "", agent.extension or "", agent.supervisor)
