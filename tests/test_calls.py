"""The call journal through the real webhook: events in, one folded row per call out.

Every event is posted over HTTP to the engine's listener; the journal is then read back with
the store's repositories and the live updates with a bus subscription, as the UI does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from app.core.bus import CallChanged, CdrAdded, PresenceChanged
from app.storage import CallRecord, ContactRecord, PhoneRecord
from tests.support.webhook import call_body, cdr_body, envelope, post

CLIENT = "+74952523060"
CLIENT_KEY = "74952523060"



@pytest.fixture
def database(new_database: Callable[[str], str | None]) -> str | None:
    """The call state machine folds the same on both backends."""
    return new_database("calls")

async def send(http: Any, engine: Any, action: str, body: dict[str, Any], action_id: str | None = None) -> None:
    status, reply = await post(http, engine.server.url, envelope(action, body, action_id=action_id))
    assert status == 200, reply
    assert reply == {"action": action, "obj": "UserCRM", "code": 200}


async def get_call(engine: Any, call_id: str) -> CallRecord:
    call = await engine.store.read(lambda s: s.calls.get(call_id))
    assert call is not None, f"no journal row for {call_id}"
    return call


async def drain(subscription: Any) -> list[Any]:
    """Every message published so far (the webhook publishes before it answers)."""
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(subscription.get(), 0.02))
        except TimeoutError:
            return messages


def hold_body(call_id: str, *, session_id: str | None = None, user_uid: str = "9022", crm_user: str = "3",
              other_leg: str = CLIENT, direction: int = 0) -> dict[str, Any]:
    return {"call_id": call_id, "session_id": session_id or f"s-{call_id}", "user_uid": user_uid,
            "crm_user": crm_user, "other_leg": other_leg, "direction": direction}


def hangup_body(
    call_id: str, *, cause: str = "NORMAL_CLEARING", answersec: str | None = "0", **kw: Any
) -> dict[str, Any]:
    body = call_body(call_id, gateway_number="74951343060", hangup_cause=cause, **kw)
    if answersec is not None:
        body["variable_answersec"] = answersec
    return body


async def add_contact(engine: Any, name: str = "Ivan Petrov", raw: str = "+7 (495) 252-30-60") -> int:
    key = engine.normalizer.key(raw)
    assert key == CLIENT_KEY
    contact = ContactRecord(id=None, name=name, phones=[PhoneRecord(key, raw, "work")])
    return await engine.store.write(lambda s: s.contacts.save(contact))


# -- a whole call ---------------------------------------------------------------------------

async def test_a_whole_call_folds_into_one_row(engine, http):
    contact_id = await add_contact(engine)
    subscription = engine.bus.subscribe()
    call_id = "7c97ce9e-97aa-4549-9a92-e0d63f570db8"
    session_id = "93758923-1664-44eb-ae6c-59b27c53b805"
    steps = [
        ("call_ringing", call_body(call_id, session_id=session_id), "ringing"),
        ("call_answer", call_body(call_id, session_id=session_id), "active"),
        ("call_held", hold_body(call_id, session_id=session_id), "held"),
        ("call_active", hold_body(call_id, session_id=session_id), "active"),
        ("call_hangup", hangup_body(call_id, session_id=session_id, answersec="42"), "ended"),
    ]
    for action, body, state in steps:
        await send(http, engine, action, body)
        assert (await get_call(engine, call_id)).state == state, action
    await send(http, engine, "cdr_append", cdr_body(call_id, billsec=42, duration=50))

    calls = await engine.store.read(lambda s: s.calls.recent())
    assert [c.call_id for c in calls] == [call_id]  # one row, not one per event
    call = calls[0]
    assert call.state == "ended"
    assert call.session_id == session_id
    assert call.direction == 0
    assert (call.other_leg, call.other_key) == (CLIENT, CLIENT_KEY)
    assert (call.crm_user, call.domain_user, call.gateway_number) == ("3", "9022", "74951343060")
    assert call.hangup_cause == "NORMAL_CLEARING"
    assert call.answer_seconds == 42
    assert (call.missed, call.answered_elsewhere) == (False, False)
    assert call.contact_id == contact_id
    assert call.cdr_uniqueid == call_id
    assert len(call.hold_periods) == 1
    hold = call.hold_periods[0]
    assert None not in (call.ringing_at, call.answered_at, hold.held_at, hold.resumed_at, call.hangup_at)
    assert call.ringing_at <= call.answered_at <= hold.held_at <= hold.resumed_at <= call.hangup_at

    cdr = await engine.store.read(lambda s: s.cdrs.get(call_id))
    assert cdr is not None and cdr.contact_id == contact_id and cdr.other_key == CLIENT_KEY
    assert cdr.data["billsec"] == 42

    messages = await drain(subscription)
    subscription.close()
    changes = [(m.event, m.call.state) for m in messages if isinstance(m, CallChanged)]
    assert changes == [("call_ringing", "ringing"), ("call_answer", "active"), ("call_held", "held"),
                       ("call_active", "active"), ("call_hangup", "ended"), ("cdr_append", "ended")]
    assert [type(m) for m in messages][-2:] == [CdrAdded, CallChanged]
    assert messages[-1].call.cdr_uniqueid == call_id
    added = [m for m in messages if isinstance(m, CdrAdded)]
    assert len(added) == 1 and added[0].cdr.uniqueid == call_id


async def test_a_cdr_that_arrives_before_the_call_is_linked_when_the_call_appears(engine, http):
    await send(http, engine, "cdr_append", cdr_body("early-cdr"))
    await send(http, engine, "call_ringing", call_body("early-cdr"))
    assert (await get_call(engine, "early-cdr")).cdr_uniqueid == "early-cdr"


@pytest.mark.parametrize("cdr_first", [False, True])
async def test_a_queue_cdr_keyed_by_the_session_links_to_every_leg_in_either_order(engine, http, cdr_first):
    session = "queue-session-cdr"
    legs = [call_body("leg-a", session_id=session), call_body("leg-b", session_id=session, domain_user="9023",
                                                              crm_user="4")]
    if cdr_first:
        await send(http, engine, "cdr_append", cdr_body(session))
    for leg in legs:
        await send(http, engine, "call_ringing", leg)
    if not cdr_first:
        await send(http, engine, "cdr_append", cdr_body(session))
    assert (await get_call(engine, "leg-a")).cdr_uniqueid == session
    assert (await get_call(engine, "leg-b")).cdr_uniqueid == session


async def test_a_call_from_an_unknown_number_has_no_contact(engine, http):
    await add_contact(engine)
    await send(http, engine, "call_ringing", call_body("stranger", other_leg="+74957778899"))
    call = await get_call(engine, "stranger")
    assert call.other_key == "74957778899"
    assert call.contact_id is None


# -- missed or not --------------------------------------------------------------------------

async def test_an_incoming_call_that_rang_and_hung_up_unanswered_is_missed(engine, http):
    subscription = engine.bus.subscribe()
    await send(http, engine, "call_ringing", call_body("m1"))
    await send(http, engine, "call_hangup", hangup_body("m1", cause="ORIGINATOR_CANCEL"))
    call = await get_call(engine, "m1")
    assert call.state == "ended" and call.missed is True
    assert [c.call_id for c in await engine.store.read(lambda s: s.calls.missed("3"))] == ["m1"]
    last = [m for m in await drain(subscription) if isinstance(m, CallChanged)][-1]
    subscription.close()
    assert last.call.missed is True and last.event == "call_hangup"


async def test_an_answered_call_is_not_missed(engine, http):
    await send(http, engine, "call_ringing", call_body("a1"))
    await send(http, engine, "call_answer", call_body("a1"))
    await send(http, engine, "call_hangup", hangup_body("a1", answersec="15"))
    call = await get_call(engine, "a1")
    assert call.state == "ended" and call.missed is False
    assert await engine.store.read(lambda s: s.calls.missed()) == []


async def test_talk_seconds_on_the_hangup_prove_an_answer_nobody_reported(engine, http):
    await send(http, engine, "call_ringing", call_body("s1"))
    await send(http, engine, "call_hangup", hangup_body("s1", answersec="7"))
    call = await get_call(engine, "s1")
    assert call.answered_at is None
    assert call.answer_seconds == 7
    assert call.missed is False


async def test_an_unanswered_outgoing_call_is_not_missed(engine, http):
    await send(http, engine, "call_ringing", call_body("o1", direction=1))
    await send(http, engine, "call_hangup", hangup_body("o1", direction=1, cause="NO_ANSWER"))
    call = await get_call(engine, "o1")
    assert call.state == "ended" and call.direction == 1
    assert call.missed is False


@pytest.mark.parametrize("order", ["answer_then_my_hangup", "my_hangup_then_answer", "nobody_answers"])
async def test_a_queue_call_a_colleague_answered_is_not_missed_on_my_leg(engine, http, order):
    session = "queue-session-1"
    mine = call_body("leg-mine", session_id=session, crm_user="3", domain_user="9022")
    theirs = call_body("leg-theirs", session_id=session, crm_user="4", domain_user="9023")
    my_hangup = hangup_body("leg-mine", session_id=session, crm_user="3", domain_user="9022", cause="LOSE_RACE")
    subscription = engine.bus.subscribe()
    await send(http, engine, "call_ringing", mine)
    await send(http, engine, "call_ringing", theirs)
    if order == "answer_then_my_hangup":
        await send(http, engine, "call_answer", theirs)
        await send(http, engine, "call_hangup", my_hangup)
    elif order == "my_hangup_then_answer":
        await send(http, engine, "call_hangup", my_hangup)
        assert (await get_call(engine, "leg-mine")).missed is True  # nobody had answered yet
        await send(http, engine, "call_answer", theirs)
    else:
        await send(http, engine, "call_hangup", my_hangup)
    answersec = "0" if order == "nobody_answers" else "30"
    await send(http, engine, "call_hangup",
               hangup_body("leg-theirs", session_id=session, crm_user="4", domain_user="9023", answersec=answersec))

    my_leg, their_leg = await get_call(engine, "leg-mine"), await get_call(engine, "leg-theirs")
    assert my_leg.session_id == their_leg.session_id == session
    assert my_leg.state == their_leg.state == "ended"
    my_missed = await engine.store.read(lambda s: s.calls.missed("3"))
    if order == "nobody_answers":
        assert (my_leg.missed, my_leg.answered_elsewhere) == (True, False)
        assert their_leg.missed is True
        assert [c.call_id for c in my_missed] == ["leg-mine"]
    else:
        assert (my_leg.missed, my_leg.answered_elsewhere) == (False, True)
        assert (their_leg.missed, their_leg.answered_elsewhere) == (False, False)
        assert their_leg.answer_seconds == 30
        assert my_missed == []
        # subscribers learn about my leg's correction too, not only about the leg that changed
        mine_updates = [m.call for m in await drain(subscription)
                        if isinstance(m, CallChanged) and m.call.call_id == "leg-mine"]
        assert mine_updates[-1].answered_elsewhere is True and mine_updates[-1].missed is False
    subscription.close()


# -- out of order ---------------------------------------------------------------------------

async def test_a_ringing_that_arrives_after_the_hangup_does_not_revive_the_call(engine, http):
    subscription = engine.bus.subscribe()
    await send(http, engine, "call_hangup", hangup_body("late-ring"))
    await send(http, engine, "call_ringing", call_body("late-ring"))
    calls = await engine.store.read(lambda s: s.calls.recent())
    assert [c.call_id for c in calls] == ["late-ring"]
    call = calls[0]
    assert call.state == "ended"
    assert call.ringing_at is not None and call.hangup_at is not None
    assert call.missed is True  # it really rang and nobody answered
    changes = [m for m in await drain(subscription) if isinstance(m, CallChanged)]
    subscription.close()
    assert [(m.event, m.call.state) for m in changes] == [("call_hangup", "ended"), ("call_ringing", "ended")]


async def test_an_answer_that_arrives_after_the_hangup_is_no_missed_call(engine, http):
    await send(http, engine, "call_ringing", call_body("late-answer"))
    await send(http, engine, "call_hangup", hangup_body("late-answer", answersec=None))
    await send(http, engine, "call_answer", call_body("late-answer"))
    call = await get_call(engine, "late-answer")
    assert call.state == "ended"
    assert call.answered_at is not None
    assert call.missed is False
    assert await engine.store.read(lambda s: s.calls.missed()) == []


async def test_a_hold_without_an_answer_event_means_the_call_was_answered(engine, http):
    await send(http, engine, "call_ringing", call_body("held-first"))
    await send(http, engine, "call_held", hold_body("held-first"))
    assert (await get_call(engine, "held-first")).state == "held"
    await send(http, engine, "call_answer", call_body("held-first"))  # late: must not take it off hold
    assert (await get_call(engine, "held-first")).state == "held"
    await send(http, engine, "call_hangup", hangup_body("held-first", answersec=None))
    call = await get_call(engine, "held-first")
    assert call.answered_at is not None and call.missed is False
    assert len(call.hold_periods) == 1
    assert call.hold_periods[0].held_at is not None and call.hold_periods[0].resumed_at is None


async def test_a_resume_that_overtakes_its_hold_makes_one_hold_period(engine, http):
    await send(http, engine, "call_ringing", call_body("resume-first"))
    await send(http, engine, "call_active", hold_body("resume-first"))
    await send(http, engine, "call_held", hold_body("resume-first"))
    await send(http, engine, "call_hangup", hangup_body("resume-first", answersec=None))
    call = await get_call(engine, "resume-first")
    assert call.missed is False and call.answered_at is not None
    assert len(call.hold_periods) == 1
    assert call.hold_periods[0].held_at is not None and call.hold_periods[0].resumed_at is not None


# -- presence -------------------------------------------------------------------------------

async def test_presence_keeps_the_latest_state_per_user_and_the_history(engine, http):
    subscription = engine.bus.subscribe()
    user = {"user_uid": "9022", "crm_user": "3"}
    await send(http, engine, "user_change", {**user, "status": 1, "protocol": 0})
    await send(http, engine, "agent_change", {**user, "base_status": -1, "extra_status": 0, "status_name": "В работе"})
    await send(http, engine, "user_change", {"user_uid": "9023", "crm_user": "4", "status": 1, "protocol": 0})
    await send(http, engine, "user_change", {**user, "status": 0, "protocol": 0})

    me = await engine.store.read(lambda s: s.presence.get("9022"))
    assert (me.crm_user, me.reg_status, me.protocol) == ("3", 0, 0)
    # a registration change does not forget the agent status, and vice versa
    assert (me.base_status, me.extra_status, me.status_name) == (-1, 0, "В работе")
    colleague = await engine.store.read(lambda s: s.presence.get("9023"))
    assert (colleague.crm_user, colleague.reg_status, colleague.base_status) == ("4", 1, None)

    await send(http, engine, "agent_change", {**user, "base_status": 17, "extra_status": 5, "status_name": "Обучение"})
    me = await engine.store.read(lambda s: s.presence.get("9022"))
    assert (me.base_status, me.extra_status, me.status_name) == (17, 5, "Обучение")  # unknown value kept as-is
    assert me.reg_status == 0

    history = await engine.store.read(lambda s: s.presence.history("9022"))
    assert [(h["kind"], h["reg_status"], h["base_status"]) for h in history] == [
        ("agent", None, 17), ("registration", 0, None), ("agent", None, -1), ("registration", 1, None)]
    assert len(await engine.store.read(lambda s: s.presence.history("9023"))) == 1

    messages = await drain(subscription)
    subscription.close()
    assert all(isinstance(m, PresenceChanged) for m in messages)
    assert [(m.event, m.presence.user_uid) for m in messages] == [
        ("user_change", "9022"), ("agent_change", "9022"), ("user_change", "9023"), ("user_change", "9022"),
        ("agent_change", "9022")]
    assert messages[-1].presence.base_status == 17


# -- the bus follows the commit ---------------------------------------------------------------

async def test_bus_messages_are_published_after_the_event_is_committed(engine, http):
    seen_by_callback: list[tuple[str, str | None]] = []
    seen_by_subscriber: list[tuple[str, str | None]] = []

    def on_message(message: Any) -> None:
        # runs synchronously inside publish(): a fresh read connection must already see the row
        if isinstance(message, CallChanged):
            row = engine.store.read_sync(lambda s: s.calls.get(message.call.call_id))
            seen_by_callback.append((message.event, row.state if row else None))
        elif isinstance(message, CdrAdded):
            row = engine.store.read_sync(lambda s: s.cdrs.get(message.cdr.uniqueid))
            seen_by_callback.append(("cdr", row.uniqueid if row else None))

    disconnect = engine.bus.connect(on_message)
    subscription = engine.bus.subscribe()

    async def follow() -> None:
        async for message in subscription:
            if isinstance(message, CallChanged):
                call_id = message.call.call_id
                row = await engine.store.read(lambda s, call_id=call_id: s.calls.get(call_id))
                seen_by_subscriber.append((message.event, row.state if row else None))
                if message.event == "cdr_append":
                    return

    follower = asyncio.create_task(follow())
    try:
        await send(http, engine, "call_ringing", call_body("bus-1"))
        await send(http, engine, "call_answer", call_body("bus-1"))
        await send(http, engine, "cdr_append", cdr_body("bus-1"))
        await asyncio.wait_for(follower, 5)
    finally:
        disconnect()
        subscription.close()
        follower.cancel()
    assert seen_by_callback == [("call_ringing", "ringing"), ("call_answer", "active"), ("cdr", "bus-1"),
                                ("cdr_append", "active")]
    # the subscriber reads later, so it may see a newer state, but never a missing row
    assert [event for event, _ in seen_by_subscriber] == ["call_ringing", "call_answer", "cdr_append"]
    assert all(state is not None for _, state in seen_by_subscriber)


# -- what is published is what is stored ------------------------------------------------------

async def test_every_published_record_equals_the_journal_read_afresh(engine, http):
    """The fold keeps what it knows in memory (hold periods, the CDR row, the presence row) rather
    than reading each row back: what it publishes must be exactly what a fresh read returns."""
    subscription = engine.bus.subscribe()
    session = "queue-published"
    steps = [
        ("cdr_append", cdr_body("pub-b", dst="9023")),                      # the CDR before its call
        ("call_ringing", call_body("pub-a", session_id=session)),
        ("call_ringing", call_body("pub-b", session_id=session, domain_user="9023", crm_user="4")),
        ("call_active", hold_body("pub-a", session_id=session)),            # resume before its hold
        ("call_held", hold_body("pub-a", session_id=session)),
        ("call_answer", call_body("pub-a", session_id=session)),           # the other leg: answered elsewhere
        ("call_held", hold_body("pub-a", session_id=session)),
        ("call_active", hold_body("pub-a", session_id=session)),
        ("call_held", hold_body("pub-a", session_id=session)),
        ("call_hangup", hangup_body("pub-b", session_id=session, domain_user="9023", crm_user="4")),
        ("call_hangup", hangup_body("pub-a", session_id=session, answersec="40")),
        ("cdr_append", cdr_body(session)),                                  # a queue CDR, keyed by the session
        ("user_change", {"user_uid": "9022", "crm_user": "3", "status": 1, "protocol": 0}),
        ("agent_change", {"user_uid": "9022", "crm_user": "3", "base_status": -1, "extra_status": 0,
                          "status_name": "Break"}),
    ]
    seen = 0
    for action, body in steps:
        await send(http, engine, action, body)
        for message in await drain(subscription):
            seen += 1
            if isinstance(message, CallChanged):
                assert message.call == await get_call(engine, message.call.call_id), action
            elif isinstance(message, CdrAdded):
                uniqueid = message.cdr.uniqueid
                assert message.cdr == await engine.store.read(lambda s, u=uniqueid: s.cdrs.get(u)), action
            elif isinstance(message, PresenceChanged):
                uid = message.presence.user_uid
                assert message.presence == await engine.store.read(lambda s, u=uid: s.presence.get(u)), action
    assert seen >= len(steps)
    held = await get_call(engine, "pub-a")
    assert [(p.held_at is not None, p.resumed_at is not None) for p in held.hold_periods] == [
        (True, True), (True, True), (True, False)]
    assert held.cdr_uniqueid == session
