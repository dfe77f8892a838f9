"""The agent feed's wire format (app/protocol/agent_api.py, app/core/feed.py, docs/agent-api.md).

What an agent would notice if it broke: a call that comes out of team mode different from the
one the server journaled, a recording token reaching an agent's machine, a hangup shown as
"ended" when it was missed, an app that stops following the server after the server got a
new field, a documented example the app cannot read.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from app.core.api import CallerInfo
from app.core.feed import (
    agent_identity_from,
    agent_info,
    call_feed_event,
    call_message_data,
    call_record_from,
    caller_info_from,
    cdr_message_data,
    presence_message_data,
    presence_record_from,
)
from app.protocol import events as ev
from app.protocol.agent_api import (
    CallMessage,
    CdrData,
    CdrMessage,
    CloseCode,
    HelloMessage,
    LiveMessage,
    MessageError,
    PresenceMessage,
    ResumePoint,
    UnknownMessageType,
    WireCall,
    WireCaller,
    WireHoldPeriod,
    WirePresence,
    dump_message,
    feed_message,
    parse_message,
    recording_path,
    resume_mode,
    should_reconnect,
)
from app.storage import CallRecord, CallState, CdrRow, HoldPeriod, PresenceRecord
from tests.support import canary

DOC = Path(__file__).resolve().parents[1] / "docs" / "agent-api.md"


def held_twice_call() -> CallRecord:
    """An answered incoming call, on hold a second time: every field set, none at its default."""
    return CallRecord(
        call_id="c-1", state=CallState.HELD, first_seen=1767254390.02, updated_at=1767254460.25,
        session_id="s-7781", direction=0, other_leg="+74952523060", other_key="74952523060", crm_user="3",
        domain_user="9022", gateway_number="74951343060", ringing_at=1767254390.02, answered_at=1767254395.5,
        hangup_at=None, hangup_cause="NORMAL_CLEARING", answer_seconds=12, missed=True, answered_elsewhere=True,
        contact_id=1204, cdr_uniqueid="1767254390.7781", missed_cleared_at=1767254400.0,
        hold_periods=[HoldPeriod(1767254410.0, 1767254420.75), HoldPeriod(1767254450.125, None)],
    )


def through_the_wire(data: Any, seq: int = 58, at: float = 1767254461.5) -> Any:
    """Journal the data as the server would (JSON), send it, and read it back as the app does."""
    stored = json.loads(json.dumps(data.model_dump(mode="json")))
    return parse_message(dump_message(feed_message(seq, at, stored)))


# -- nothing is lost between the server's journal and the app ---------------------------------


def test_a_call_on_hold_comes_out_of_team_mode_as_the_server_journaled_it() -> None:
    call = held_twice_call()
    caller = CallerInfo(contact_id=1204, name="Иван Петров", company="ООО «Ромашка»", more_contacts=2,
                        owner_name="Анна Смирнова", owner_is_me=True, earlier_calls=7, earlier_capped=True,
                        last_call_at=1767168000.0)

    message = through_the_wire(call_message_data(call, ev.CALL_HELD, caller))

    assert isinstance(message, CallMessage)
    assert (message.seq, message.at, message.event) == (58, 1767254461.5, "held")
    back = call_record_from(message.call)
    assert back == call
    assert type(back.state) is CallState
    assert all(type(period) is HoldPeriod for period in back.hold_periods)
    assert caller_info_from(message.caller) == caller


def test_a_call_without_caller_facts_has_none() -> None:
    message = through_the_wire(call_message_data(held_twice_call(), ev.CALL_HELD, None))
    assert caller_info_from(message.caller) is None


def test_presence_comes_out_as_the_server_journaled_it() -> None:
    presence = PresenceRecord("9022", "3", 1, 1, -3, 0, "Перерыв", 1767254410.49)
    message = through_the_wire(presence_message_data(presence, ev.AGENT_CHANGE))
    assert isinstance(message, PresenceMessage)
    assert message.event == "agent_status"
    assert presence_record_from(message.presence) == presence


@pytest.mark.parametrize(("wire", "record"), [
    (WireCall, CallRecord), (WireHoldPeriod, HoldPeriod), (WirePresence, PresenceRecord), (WireCaller, CallerInfo),
], ids=lambda t: t.__name__)
def test_the_feed_carries_every_field_of_the_record(wire: Any, record: Any) -> None:
    """A field added to a record but not to the feed would vanish silently in team mode."""
    assert list(wire.model_fields) == [field.name for field in dataclasses.fields(record)]


def test_the_app_takes_its_identity_from_hello() -> None:
    from app.core.agent import AgentIdentity

    supervisor = AgentIdentity(crm_user="3", extension="9022", see_all_calls=True)
    assert agent_identity_from(agent_info(supervisor, "Анна")) == supervisor
    assert agent_info(AgentIdentity(), "Новый").model_dump() == {
        "name": "Новый", "crm_user": None, "extension": None, "supervisor": False, "outcomes": ()}


# -- the recording link never leaves the server -----------------------------------------------


@pytest.mark.parametrize("link", ["https://pbx.example/rec/1.mp3?token=SECRET",
                                  canary.RECORDING_LINK.replace(canary.LINK_TOKEN, "SECRET")])
def test_a_cdr_message_never_carries_the_recording_link_or_its_token(link: str) -> None:
    row = CdrRow(
        uniqueid="1767254390.7781",
        data={"uniqueid": "1767254390.7781", "src": "+74952523060", "dst": "9022", "billsec": 42, "link": link,
              "rec_path": "2026/01/01/1767254390.7781.mp3", "pbx_rating": 5,  # a field the PBX added later
              "rec_mirror": {"urls": [link.replace("SECRET", "SECRET-2")]}},  # ... one with a token inside
        other_key="74952523060", contact_id=1204, received_at=1767254466.0, source="event",
    )

    text = dump_message(feed_message(60, 1767254466.0, cdr_message_data(row, has_recording=True)))

    assert "SECRET" not in text
    message = parse_message(text)
    assert isinstance(message, CdrMessage)
    assert message.cdr == {"uniqueid": "1767254390.7781", "src": "+74952523060", "dst": "9022", "billsec": 42,
                           "rec_path": "2026/01/01/1767254390.7781.mp3", "pbx_rating": 5}
    assert message.recording is True
    assert recording_path(message.uniqueid) == "/agent/api/recordings/1767254390.7781"


def test_a_cdr_message_built_by_hand_withholds_the_link_too() -> None:
    data = CdrData(uniqueid="u-1", cdr={"uniqueid": "u-1", "link": "https://pbx.example/rec/1.mp3"})
    assert "link" not in data.cdr
    assert "pbx.example" not in dump_message(feed_message(1, 1.0, data))


# -- what the event says ----------------------------------------------------------------------


def a_call(state: CallState, **facts: Any) -> CallRecord:
    return CallRecord(call_id="c-1", state=state, first_seen=1.0, updated_at=2.0, direction=0,
                      gateway_number="74951343060", **facts)


@pytest.mark.parametrize(("action", "call", "event"), [
    (ev.CALL_RINGING, a_call(CallState.RINGING), "ringing"),
    (ev.CALL_ANSWER, a_call(CallState.ACTIVE, answered_at=2.0), "answered"),
    (ev.CALL_HELD, a_call(CallState.HELD, answered_at=2.0), "held"),
    (ev.CALL_ACTIVE, a_call(CallState.ACTIVE, answered_at=2.0), "active"),
    (ev.CALL_HANGUP, a_call(CallState.ENDED, answer_seconds=0), "missed"),
    (ev.CALL_HANGUP, a_call(CallState.ENDED, answered_at=2.0, answer_seconds=30), "ended"),
    (ev.CALL_HANGUP, a_call(CallState.ENDED, answered_elsewhere=True), "ended"),  # a colleague took it
    (ev.CDR_APPEND, a_call(CallState.ENDED, cdr_uniqueid="u-1"), "updated"),
    # a queue leg that rang here while a colleague answered: it was not answered here
    (ev.CALL_ANSWER, a_call(CallState.RINGING, answered_elsewhere=True), "updated"),
    # a ringing that arrived after the hangup does not revive the call
    (ev.CALL_RINGING, a_call(CallState.ENDED), "updated"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_the_event_names_what_happened_to_this_call(action: str, call: CallRecord, event: str) -> None:
    assert call_feed_event(action, call) == event


def test_a_missed_call_reaches_the_app_as_missed() -> None:
    missed = a_call(CallState.ENDED, answer_seconds=0, missed=True)
    message = through_the_wire(call_message_data(missed, ev.CALL_HANGUP, None))
    assert (message.event, message.call.missed) == ("missed", True)


# -- reading what the server sends ------------------------------------------------------------


@pytest.mark.parametrize(("text", "says"), [
    ("", "not JSON"),
    ("<html>502 Bad Gateway</html>", "not JSON"),
    ('["call"]', "a message is a JSON object, not list"),
    ('{"seq": 1}', "needs a string 'type'"),
    ('{"type": 7}', "needs a string 'type'"),
    ('{"type": "live"', "not JSON"),
    ("[" * 100_000, "nested too deeply"),
    ('{"type": "call", "seq": 0, "at": 1, "event": "ringing", "call": {"call_id": "c", "state": "ringing", '
     '"first_seen": 1, "updated_at": 1}}', "seq: Input should be greater than or equal to 1"),
    ('{"type": "call", "seq": true, "at": 1, "event": "ringing", "call": {"call_id": "c", "state": "ringing", '
     '"first_seen": 1, "updated_at": 1}}', "seq: Input should be a valid integer"),
    ('{"type": "call", "seq": 3, "at": 1, "event": "ringing", "call": {"call_id": "c", "state": "parked", '
     '"first_seen": 1, "updated_at": 1}}', "call.state: Input should be"),
    ('{"type": "presence", "seq": 3, "at": NaN, "event": "registration", "presence": {}}', "at: "),
    ('{"type": "hello", "server_seq": 3, "resume": "replay", "agent": {"name": "A"}}', "epoch: Field required"),
])
def test_junk_is_rejected_with_a_message_that_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(MessageError) as raised:
        parse_message(text)
    assert says in str(raised.value)


def test_a_message_type_from_a_newer_server_can_be_skipped_without_losing_the_resume_point() -> None:
    with pytest.raises(UnknownMessageType) as raised:
        parse_message('{"seq": 77, "at": 5.0, "type": "voicemail", "box": "9022"}')
    assert (raised.value.message_type, raised.value.seq) == ("voicemail", 77)
    assert isinstance(raised.value, MessageError)


def test_fields_from_a_newer_server_are_tolerated() -> None:
    newer = {
        "seq": 61, "at": 1767254470.0, "type": "call", "event": "transferred", "priority": "high",
        "call": {"call_id": "c-9", "state": "active", "first_seen": 1.0, "updated_at": 2.0, "queue": "sales",
                 "hold_periods": [{"held_at": 1.5, "resumed_at": 1.75, "reason": "consult"}]},
        "caller": {"name": "Иван", "vip": True},
    }
    message = parse_message(json.dumps(newer))
    assert isinstance(message, CallMessage)
    assert message.event == "updated"  # an event this version does not know: the record says what changed
    assert call_record_from(message.call).hold_periods == [HoldPeriod(1.5, 1.75)]
    assert message.caller is not None and message.caller.name == "Иван"
    assert not {"priority", "queue", "reason", "vip"} & set(re.findall(r'"(\w+)":', dump_message(message)))

    hello = parse_message('{"type": "hello", "server_seq": 0, "resume": "fresh", "epoch": "e", "compression": null,'
                          ' "agent": {"name": "A", "team": "sales"}}')
    assert isinstance(hello, HelloMessage)


def test_a_hello_with_reset_tells_the_app_to_reload() -> None:
    hello = parse_message('{"type": "hello", "server_seq": 90311, "resume": "reset", "epoch": "Q1b77a04",'
                          ' "agent": {"name": "Анна", "crm_user": "3", "extension": "9022", "supervisor": false}}')
    assert isinstance(hello, HelloMessage)
    assert (hello.resume, hello.server_seq, hello.epoch) == ("reset", 90311, "Q1b77a04")
    assert parse_message('{"type": "live"}') == LiveMessage()


def test_messages_are_compact_and_keep_names_readable() -> None:
    call = dataclasses.replace(held_twice_call(), hold_periods=[])
    text = dump_message(feed_message(1, 2.0, call_message_data(call, ev.CALL_RINGING, CallerInfo(name="Иван"))))
    assert '"name":"Иван"' in text
    assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))


def test_every_example_in_the_documentation_is_a_message_the_app_reads() -> None:
    feed_part = DOC.read_text(encoding="utf-8").split("\n## REST", 1)[0]  # REST bodies are not feed messages
    examples = re.findall(r"```json\n(.*?)```", feed_part, flags=re.DOTALL)
    types = {parse_message(example).type for example in examples}
    assert types == {"call", "presence", "cdr", "contact", "hello", "live", "error"}


# -- reconnecting -----------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "reconnect"), [
    (CloseCode.TOKEN_REJECTED, False), (4001, False),
    (CloseCode.TOO_SLOW, True), (CloseCode.GOING_AWAY, True), (CloseCode.PROTOCOL_ERROR, True),
    (1006, True), (None, True),
])
def test_only_a_rejected_token_stops_the_app_from_reconnecting(code: int | None, reconnect: bool) -> None:
    assert should_reconnect(code) is reconnect


@pytest.mark.parametrize(("point", "mode"), [
    (ResumePoint(), "fresh"),
    (ResumePoint(41, "K7"), "replay"),
    (ResumePoint(57, "K7"), "replay"),           # up to date: nothing to replay, then live
    (ResumePoint(9, "K7"), "replay"),            # the next one it needs (10) is the oldest kept
    (ResumePoint(8, "K7"), "reset"),             # seq 9 was trimmed from the journal
    (ResumePoint(41, "Q1"), "reset"),            # another server database
    (ResumePoint(41, None), "reset"),
    (ResumePoint(99, "K7"), "reset"),            # from the future: a restored database
])
def test_the_server_replays_only_what_it_still_has(point: ResumePoint, mode: str) -> None:
    assert resume_mode(point, epoch="K7", first_kept_seq=10, server_seq=57) == mode


def test_the_resume_point_travels_in_the_query() -> None:
    point = ResumePoint(41, "K7f2c9d1e")
    assert point.query() == {"after": "41", "epoch": "K7f2c9d1e"}
    assert ResumePoint.from_query(point.query()) == point
    assert ResumePoint().query() == {}
    assert ResumePoint.from_query({}) == ResumePoint()


@pytest.mark.parametrize("after", ["-1", "abc", "1e3", "٣", "99999999999999999999"])
def test_a_malformed_resume_point_is_refused(after: str) -> None:
    with pytest.raises(MessageError, match="after must be a non-negative integer"):
        ResumePoint.from_query({"after": after, "epoch": "K7"})
