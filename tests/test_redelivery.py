"""Redelivery and reordering: the PBX may send an event twice, or late; the journal must not care.

One recorded session (presence changes, an answered call with two holds, a queue call that rang
two agents and one of them took, a missed call, outgoing calls, and a CDR for each call) is
posted over HTTP once, in order, to one fresh engine, and to another fresh engine with every
event three times in a shuffled order. Both journals must hold the same rows.

What is compared, and what is not (because it depends on arrival order by nature):

* Wall-clock timestamps (``first_seen``, ``updated_at``, ``ringing_at``, ``answered_at``,
  ``hangup_at``, hold ``held_at``/``resumed_at``, CDR ``received_at``, presence ``updated_at``)
  are when *we* received something, so only *which* of them are set is compared.
* Every call ends in the session: a call that is still up has a state that depends on whether
  its last ``call_held`` or ``call_active`` arrived last, which no receiver can know without
  timestamps. The number of hold periods is compared (two holds are two periods in any order),
  not which ``held_at`` got paired with which ``resumed_at``.
* The "latest" presence of a user with several changes of the same kind is whichever arrived
  last; events carry no time. User 9024 changes agent status three times: only its history
  count is compared. Every other user has one registration and one agent change, so its latest
  presence is the same in any order and is compared in full (but ``updated_at``).
* The event log keeps every distinct event once, so its row count is compared.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from app.core.engine import Engine
from app.core.secrets import Keys
from app.core.settings import Settings
from app.storage import ContactRecord, PhoneRecord
from tests.support import canary
from tests.support.webhook import cdr_body, post

CALL_TIMESTAMPS = ("first_seen", "updated_at", "ringing_at", "answered_at", "hangup_at")
CLIENTS = {"+74952523060": "Ivan Petrov", "+74957001122": "OOO Romashka"}


def _msg(action: str, body: dict[str, Any], action_id: str) -> dict[str, Any]:
    return {"action": action, "obj": "UserCRM", "action_id": action_id, "code": 200, "notifies": [], "body": body}


def _call(call_id: str, session_id: str, user: str, crm_user: str, other: str, direction: int,
          line: str = "74951343060", **extra: Any) -> dict[str, Any]:
    rt_vars: dict[str, Any] = {"gateway_number": line}
    if "hangup_cause" in extra:
        rt_vars["hangup_cause"] = extra.pop("hangup_cause")
    return {"call_id": call_id, "session_id": session_id, "crm_user": crm_user, "domain_user": user,
            "other_leg": other, "rt_vars": rt_vars, "direction": direction, **extra}


def _hold(call_id: str, session_id: str, user: str, crm_user: str, other: str, direction: int) -> dict[str, Any]:
    return {"user_uid": user, "crm_user": crm_user, "call_id": call_id, "session_id": session_id,
            "other_leg": other, "direction": direction}


def recorded_session() -> list[dict[str, Any]]:
    """41 events as the PBX would post them during a few minutes of a small call center."""
    events: list[dict[str, Any]] = []

    def add(action: str, body: dict[str, Any], action_id: str) -> None:
        events.append(_msg(action, body, action_id))

    # presence: agents log in and take up work
    for user, crm in (("9022", "3"), ("9023", "4"), ("9025", "6")):
        add("user_change", {"user_uid": user, "crm_user": crm, "status": 1, "protocol": 0}, f"reg-{user}")
        add("agent_change", {"user_uid": user, "crm_user": crm, "base_status": -1, "extra_status": 0,
                             "status_name": "В работе"}, f"agent-{user}")
    for n, (base, name) in enumerate(((-1, "В работе"), (-3, "Перерыв"), (-1, "В работе"))):
        add("agent_change", {"user_uid": "9024", "crm_user": "5", "base_status": base, "extra_status": 0,
                             "status_name": name}, f"agent-9024-{n}")

    # 1. an incoming call to me, answered, put on hold twice. The vendor reuses one action_id
    #    across ringing/answer/hangup of a call, so that is what this session does too.
    c1 = ("c1-7c97ce9e", "s1-93758923", "9022", "3", "+74952523060", 0)
    add("call_ringing", _call(*c1), "a-c1")
    add("call_answer", _call(*c1), "a-c1")
    for n in range(2):
        add("call_held", _hold(*c1), f"held-c1-{n}")
        add("call_active", _hold(*c1), f"active-c1-{n}")
    add("call_hangup", _call(*c1, hangup_cause="NORMAL_CLEARING", variable_answersec="95"), "a-c1")
    add("cdr_append", cdr_body(c1[0], src=c1[4], dst="9022", billsec=95, duration=101, hold_accum_seconds=20,
                               id=101), "cdr-c1")

    # 2. a queue call: it rings me and a colleague (two legs, one session); the colleague takes
    #    it, puts it on hold once. The PBX's CDR of a queue call is the caller's channel: the session.
    session = "q-session-d319b916"
    mine = ("q-leg-9022", session, "9022", "3", "+74957001122", 0)
    theirs = ("q-leg-9023", session, "9023", "4", "+74957001122", 0)
    add("call_ringing", _call(*mine), "a-q-mine")
    add("call_ringing", _call(*theirs), "a-q-theirs")
    add("call_answer", _call(*theirs), "a-q-theirs")
    add("call_hangup", _call(*mine, hangup_cause="LOSE_RACE", variable_answersec="0"), "a-q-mine")
    add("call_held", _hold(*theirs), "held-q")
    add("call_active", _hold(*theirs), "active-q")
    add("call_hangup", _call(*theirs, hangup_cause="NORMAL_CLEARING", variable_answersec="61"), "a-q-theirs")
    add("cdr_append", cdr_body(session, src="+74957001122", dst="9023", billsec=61, duration=75,
                               cc_queue_waiting_time=9, lastapp="callcenter", id=102), "cdr-q")

    # 3. a call to me that nobody answered: missed
    c3 = ("c3-missed", "c3-missed", "9022", "3", "+74959990000", 0)
    add("call_ringing", _call(*c3), "a-c3")
    add("call_hangup", _call(*c3, hangup_cause="ORIGINATOR_CANCEL", variable_answersec="0"), "a-c3")
    add("cdr_append", cdr_body(c3[0], src=c3[4], dst="9022", billsec=0, duration=18, dial_status=1,
                               link=None, id=103), "cdr-c3")

    # 4. my outgoing call to a known client, answered
    c4 = ("c4-out", "c4-out", "9022", "3", "+74952523060", 1)
    add("call_ringing", _call(*c4), "a-c4")
    add("call_answer", _call(*c4), "a-c4")
    add("call_hangup", _call(*c4, hangup_cause="NORMAL_CLEARING", variable_answersec="33"), "a-c4")
    add("cdr_append", cdr_body(c4[0], src="9022", dst="84952523060", direction=1, billsec=33, duration=40,
                               id=104), "cdr-c4")

    # 5. a colleague's incoming call, one hold
    c5 = ("c5-col", "c5-col", "9025", "6", "+74957001122", 0)
    add("call_ringing", _call(*c5), "a-c5")
    add("call_answer", _call(*c5), "a-c5")
    add("call_held", _hold(*c5), "held-c5")
    add("call_active", _hold(*c5), "active-c5")
    add("call_hangup", _call(*c5, hangup_cause="NORMAL_CLEARING", variable_answersec="12"), "a-c5")
    add("cdr_append", cdr_body(c5[0], src=c5[4], dst="9025", billsec=12, duration=20, id=105,
                               new_vendor_field={"a": 1}), "cdr-c5")

    # 6. my outgoing call nobody picked up: not a missed call
    c6 = ("c6-noanswer", "c6-noanswer", "9022", "3", "+74951110000", 1)
    add("call_ringing", _call(*c6), "a-c6")
    add("call_hangup", _call(*c6, hangup_cause="NO_ANSWER", variable_answersec="0"), "a-c6")
    add("cdr_append", cdr_body(c6[0], src="9022", dst="84951110000", direction=1, billsec=0, duration=30,
                               dial_status=2, link=None, id=106), "cdr-c6")
    return events


SESSION = recorded_session()
CALL_IDS = ("c1-7c97ce9e", "q-leg-9022", "q-leg-9023", "c3-missed", "c4-out", "c5-col", "c6-noanswer")
CDR_IDS = ("c1-7c97ce9e", "q-session-d319b916", "c3-missed", "c4-out", "c5-col", "c6-noanswer")
USERS = ("9022", "9023", "9024", "9025")
STABLE_PRESENCE = ("9022", "9023", "9025")


@pytest.fixture
async def make_engine(tmp_path: Path, new_database: Callable[[str], str | None]) -> AsyncIterator[Callable[[str], Any]]:
    engines: list[Engine] = []

    async def make(name: str) -> Engine:
        settings = Settings(data_dir=str(tmp_path / name), port=0, crm_user="3", extension="9022").validate()
        engine = Engine(settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=new_database(name))
        engines.append(engine)
        await engine.start()
        for number, contact_name in CLIENTS.items():
            record = ContactRecord(id=None, name=contact_name,
                                   phones=[PhoneRecord(engine.normalizer.key(number), number)])
            await engine.store.write(lambda s, r=record: s.contacts.save(r))
        return engine

    yield make
    for engine in engines:
        await engine.stop()


async def deliver(http: Any, engine: Engine, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        status, reply = await post(http, engine.server.url, message)
        assert status == 200, (message["action"], message["action_id"], reply)


async def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything the journal holds, with wall-clock times reduced to "is it set"."""
    def read(s: Any) -> dict[str, Any]:
        calls = {}
        for call_id in CALL_IDS:
            call = s.calls.get(call_id)
            assert call is not None, call_id
            row = asdict(call)
            for name in CALL_TIMESTAMPS:
                row[name] = row[name] is not None
            row["hold_periods"] = sorted((p.held_at is not None, p.resumed_at is not None) for p in call.hold_periods)
            calls[call_id] = row
        cdrs = {}
        for uniqueid in CDR_IDS:
            cdr = s.cdrs.get(uniqueid)
            assert cdr is not None, uniqueid
            cdrs[uniqueid] = {"data": cdr.data, "other_key": cdr.other_key, "contact_id": cdr.contact_id,
                              "source": cdr.source}
        presence = {}
        for user in STABLE_PRESENCE:
            row = asdict(s.presence.get(user))
            row.pop("updated_at")
            presence[user] = row
        return {
            "calls": calls, "call_count": len(s.calls.recent(1000)),
            "cdrs": cdrs, "cdr_count": s.cdrs.count(),
            "events": s.events.count(),
            "presence": presence, "presence_users": [p.user_uid for p in s.presence.all()],
            "history": {user: len(s.presence.history(user, 1000)) for user in USERS},
        }

    return await engine.store.read(read)


async def test_the_recorded_session_folds_as_the_call_center_saw_it(http, make_engine):
    """The in-order journal is right in itself, so that comparing against it means something."""
    engine = await make_engine("in-order")
    await deliver(http, engine, SESSION)
    snap = await snapshot(engine)
    calls = snap["calls"]
    assert snap["call_count"] == 7 and snap["cdr_count"] == 6
    assert snap["events"] == len(SESSION) == 41
    assert {cid for cid, c in calls.items() if c["missed"]} == {"c3-missed"}
    assert calls["q-leg-9022"]["answered_elsewhere"] is True and calls["q-leg-9022"]["missed"] is False
    assert calls["q-leg-9023"]["answer_seconds"] == 61
    assert calls["c1-7c97ce9e"]["hold_periods"] == [(True, True), (True, True)]
    assert calls["q-leg-9023"]["hold_periods"] == [(True, True)]
    assert all(c["state"] == "ended" for c in calls.values())
    # the queue's CDR belongs to both legs; every other CDR to its own call
    assert calls["q-leg-9022"]["cdr_uniqueid"] == calls["q-leg-9023"]["cdr_uniqueid"] == "q-session-d319b916"
    assert all(calls[c]["cdr_uniqueid"] == c for c in CALL_IDS if not c.startswith("q-"))
    ivan, romashka = await engine.store.read(lambda s: [s.contacts.first_id_by_key(engine.normalizer.key(n))
                                                        for n in CLIENTS])
    assert calls["c1-7c97ce9e"]["contact_id"] == calls["c4-out"]["contact_id"] == ivan
    assert calls["q-leg-9022"]["contact_id"] == calls["c5-col"]["contact_id"] == romashka
    assert calls["c3-missed"]["contact_id"] is None
    assert snap["cdrs"]["c4-out"]["contact_id"] == ivan  # the client's side of an outgoing CDR is dst
    assert snap["history"] == {"9022": 2, "9023": 2, "9024": 3, "9025": 2}
    assert snap["presence"]["9022"]["reg_status"] == 1 and snap["presence"]["9022"]["base_status"] == -1


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8])
async def test_every_event_three_times_in_any_order_leaves_the_same_journal(http, make_engine, seed):
    reference = await make_engine("in-order")
    await deliver(http, reference, SESSION)
    expected = await snapshot(reference)

    shuffled = [copy.deepcopy(m) for m in SESSION for _ in range(3)]
    random.Random(seed).shuffle(shuffled)
    engine = await make_engine(f"shuffled-{seed}")
    await deliver(http, engine, shuffled)
    got = await snapshot(engine)

    for call_id in CALL_IDS:  # call by call first, for a readable failure
        assert got["calls"][call_id] == expected["calls"][call_id], call_id
    assert got == expected
    # user 9024's latest agent status is whichever of its changes came last: one of them
    latest = await engine.store.read(lambda s: s.presence.get("9024"))
    assert (latest.base_status, latest.status_name) in {(-1, "В работе"), (-3, "Перерыв")}


async def test_a_cdr_redelivered_under_a_new_action_id_changes_nothing(http, make_engine):
    engine = await make_engine("cdr-again")
    await deliver(http, engine, SESSION)
    before = await snapshot(engine)

    original = next(m for m in SESSION if m["action"] == "cdr_append" and m["body"]["uniqueid"] == "c1-7c97ce9e")
    again = copy.deepcopy(original)
    again["action_id"] = "cdr-c1-resent"
    again["body"].update(billsec=1, link=None, id=999)  # a resend must not overwrite what we have
    subscription = engine.bus.subscribe()
    await deliver(http, engine, [again])
    after = await snapshot(engine)

    assert after["calls"] == before["calls"]
    assert after["cdrs"] == before["cdrs"]
    assert after["cdr_count"] == before["cdr_count"]
    assert after["events"] == before["events"] + 1  # the delivery itself is logged, nothing else
    try:
        with pytest.raises(TimeoutError):  # nobody is told about a "new" CDR or a changed call
            message = await asyncio.wait_for(subscription.get(), 0.2)
            pytest.fail(f"a redelivered CDR was published: {message!r}")
    finally:
        subscription.close()
