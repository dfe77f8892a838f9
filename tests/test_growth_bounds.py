"""Nothing the PBX (or anyone with the key) posts makes the database grow without bound."""

from __future__ import annotations

import functools

from app.core.engine import _prune_events
from tests.support.webhook import call_body, cdr_body, envelope, post


async def test_an_over_long_field_is_refused_with_a_400_that_names_it(engine, http):
    status, reply = await post(http, engine.server.url, envelope("cdr_append", cdr_body(
        "huge-link", link="https://pbx.example.com/rec?file=" + "x" * (1024 * 1024 - 2000))))
    assert status == 400 and "link" in reply["error"]
    status, reply = await post(http, engine.server.url, envelope("agent_change", {
        "user_uid": "9022", "base_status": -3, "status_name": "В" * 5000}))
    assert status == 400 and "status_name" in reply["error"]
    status, reply = await post(http, engine.server.url, envelope("call_ringing", {
        **call_body("big-extra"), "vendor_blob": "z" * 20_000}))
    assert status == 400 and "vendor_blob" in reply["error"]
    assert await engine.store.read(lambda s: s.events.count()) == 0
    # ordinary sizes still go in
    status, _ = await post(http, engine.server.url, envelope("cdr_append", cdr_body("normal")))
    assert status == 200


async def test_presence_history_is_pruned_with_the_event_log(engine, http):
    for n in range(30):
        status, _ = await post(http, engine.server.url, envelope("agent_change", {
            "user_uid": "9022", "base_status": -1 - n % 3}))
        assert status == 200
    removed = await engine.store.write(functools.partial(_prune_events, days=30, keep=10))
    assert removed == 40  # 20 events and their 20 presence rows
    history = await engine.store.read(lambda s: s.presence.history("9022", 1000))
    assert len(history) == 10
    await engine.store.write(functools.partial(_prune_events, days=-1, keep=1000))  # everything is old now
    assert await engine.store.read(lambda s: s.presence.history("9022", 1000)) == []


async def test_a_flood_of_hold_toggles_keeps_a_bounded_hold_history(engine, http):
    await post(http, engine.server.url, envelope("call_ringing", call_body("held-forever")))
    await post(http, engine.server.url, envelope("call_answer", call_body("held-forever")))
    hold = {"call_id": "held-forever", "user_uid": "9022"}
    for _ in range(130):
        for action in ("call_held", "call_active"):
            status, _ = await post(http, engine.server.url, envelope(action, hold))
            assert status == 200
    call = await engine.store.read(lambda s: s.calls.get("held-forever"))
    assert call is not None and call.state == "active"
    assert len(call.hold_periods) == 100


async def test_free_form_json_fields_are_bounded_too(engine, http):
    """rt_vars, geo_ids/geo_names, notifies and params hold any JSON: the strings inside escape the
    per-text bound, so each is bounded as a whole (8 KiB, like the unknown fields)."""
    big = ["x" * 999] * 20
    status, reply = await post(http, engine.server.url, envelope("call_ringing", {
        **call_body("big-rt-vars"), "rt_vars": {f"v{n}": "y" * 999 for n in range(20)}}))
    assert status == 400 and "rt_vars" in reply["error"]
    status, reply = await post(http, engine.server.url, envelope("cdr_append", cdr_body("big-geo", geo_names=big)))
    assert status == 400 and "geo_names" in reply["error"]
    status, reply = await post(http, engine.server.url, {**envelope("cdr_append", cdr_body("big-notifies")),
                                                         "notifies": big})
    assert status == 400 and "notifies" in reply["error"]
    assert await engine.store.read(lambda s: s.events.count()) == 0
    status, _ = await post(http, engine.server.url, envelope("cdr_append", cdr_body("small-geo", geo_names=["Москва"])))
    assert status == 200


async def test_whitespace_around_the_fields_is_not_stored(engine, http):
    """Every field is bounded, the blanks between them are not: a big event is kept as compact JSON."""
    import json

    message = envelope("cdr_append", cdr_body("padded"))
    padded = json.dumps(message, indent=1).replace("\n", "\n" + " " * 10_000)
    assert len(padded) > 200_000
    status, _ = await post(http, engine.server.url, padded)
    assert status == 200
    stored = await engine.store.read(lambda s: s.events.recent(1))
    assert json.loads(stored[0].payload) == message and len(stored[0].payload) < 2 * len(json.dumps(message))
    status, _ = await post(http, engine.server.url, padded)  # the same event again: a redelivery, not stored twice
    assert status == 200 and await engine.store.read(lambda s: s.events.count()) == 1
