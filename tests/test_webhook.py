"""The webhook over real HTTP: the spec's envelopes, authorization, bad input, deadlines, TLS, log hygiene.

Every test talks to a real aiohttp listener on loopback: the ``engine`` fixture (the whole core on a
real SQLite file) or ``create_app(backend, WebhookConfig(...))`` in a :class:`WebhookServer` where a
test needs other limits than the defaults.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from app.core.logs import setup_logging
from app.protocol.phones import PhoneNormalizer
from app.storage import ContactRecord, CrmUser, PhoneRecord
from app.webhook import WebhookConfig, WebhookServer, create_app
from app.webhook.server import tls_context
from tests.support import canary
from tests.support.bad_inputs import BAD_INPUTS
from tests.support.slow_backend import SlowBackend
from tests.support.webhook import AUTH, call_body, cdr_body, envelope, post

TEST_REPLY = {"action": "test", "obj": "UserCRM", "code": 200, "body": {"success": True}}
EVENTS = ("user_change", "agent_change", "call_ringing", "call_answer", "call_held", "call_active",
          "call_hangup", "cdr_append")


# -- helpers -------------------------------------------------------------------------------------


async def post_bytes(http: aiohttp.ClientSession, url: str, data: Any, *, headers: dict[str, str] | None = None,
                     method: str = "POST") -> tuple[int, Any, Any]:
    """Send ``data`` as it is; returns (status, parsed JSON reply, response headers)."""
    all_headers = {"Content-Type": "application/json", **(headers if headers is not None else AUTH)}
    async with http.request(method, url, data=data, headers=all_headers) as response:
        text = await response.text()
        assert response.content_type == "application/json", f"{response.status} {text[:200]!r}"
        return response.status, json.loads(text), response.headers


async def assert_serving(http: aiohttp.ClientSession, url: str) -> None:
    """The listener still answers a plain ``test``."""
    status, data = await post(http, url, envelope("test"), auth=False)
    assert (status, data) == (200, TEST_REPLY)


def assert_error(status: int, data: Any, expected_status: int, *fragments: str) -> None:
    assert status == expected_status, data
    assert isinstance(data, dict) and data["code"] == expected_status and data["obj"] == "UserCRM"
    assert isinstance(data["error"], str) and data["error"]
    for fragment in fragments:
        assert fragment.lower() in data["error"].lower(), data["error"]


@contextlib.asynccontextmanager
async def serving(backend: Any, config: WebhookConfig, host: str = "127.0.0.1",
                  ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[WebhookServer]:
    server = WebhookServer(create_app(backend, config), host, 0, ssl_context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def count_events(engine: Any) -> int:
    return await engine.store.read(lambda s: s.events.count())


# -- 1. the spec's envelopes ------------------------------------------------------------------------


async def test_test_answers_the_spec_envelope_without_authorization(engine, http):
    status, data = await post(http, engine.server.url, envelope("test"), auth=False)
    assert (status, data) == (200, TEST_REPLY)
    # the same with the key, and on the bare root path some PBX set-ups paste
    status, data = await post(http, engine.server.url, envelope("test"))
    assert (status, data) == (200, TEST_REPLY)
    status, data = await post(http, engine.server.url.removesuffix("webhook"), envelope("test"), auth=False)
    assert (status, data) == (200, TEST_REPLY)


async def test_get_users_lists_the_team_and_this_workstations_user(engine, http):
    await engine.store.write(lambda s: s.users.upsert(CrmUser("1", "Менеджер Рита", "1004")))
    await engine.store.write(lambda s: s.users.upsert(CrmUser("user_crm_30", "Менеджер Иван", "1005")))

    status, data = await post(http, engine.server.url, envelope("get_users"))

    assert status == 200
    assert {k: data[k] for k in ("action", "obj", "code")} == {"action": "get_users", "obj": "UserCRM", "code": 200}
    users = data["body"]
    assert isinstance(users, list)
    for user in users:
        assert set(user) == {"id", "name"}
        assert isinstance(user["id"], str) and isinstance(user["name"], str)
    assert {"id": "3", "name": "Agent Three"} in users  # settings.crm_user / crm_user_name
    assert {"id": "1", "name": "Менеджер Рита"} in users
    assert {"id": "user_crm_30", "name": "Менеджер Иван"} in users
    assert len(users) == 3


CLIENT_NUMBER = "+74951343060"


@pytest.fixture
async def directory(engine) -> dict[str, Any]:
    """A company with a client on +7 495 134-30-60, plus a private person sharing that number."""
    key = PhoneNormalizer().key(CLIENT_NUMBER)

    def fill(session: Any) -> dict[str, Any]:
        company_id = session.contacts.company_id("ООО Ромашка", owner_id="1004")
        petrov = session.contacts.save(ContactRecord(
            None, "Петров А.А.", company_id=company_id, owner_id="1004",
            phones=[PhoneRecord(key, "8 (495) 134-30-60", "work")]))
        private = session.contacts.save(ContactRecord(
            None, "Сидорова Е.", owner_id="1", phones=[PhoneRecord(key, CLIENT_NUMBER)]))
        other = session.contacts.save(ContactRecord(
            None, "Someone Else", phones=[PhoneRecord(PhoneNormalizer().key("+74959999999"), "+74959999999")]))
        return {"company_id": company_id, "petrov": petrov, "private": private, "other": other}

    return await engine.store.write(fill)


@pytest.mark.parametrize("params", [
    {"phone": "4951343060"},
    {"e164_phone": "74951343060"},
    {"phone": "4951343060", "e164_phone": "74951343060"},
    {"phone": "+74951343060"},
    {"e164_phone": "+74951343060"},
    {"phone": 4951343060},
    {"phone": 4951343060, "e164_phone": 74951343060},
    {"phone": "", "e164_phone": "74951343060"},
], ids=["phone", "e164", "both", "phone-plus", "e164-plus", "phone-number", "both-numbers", "empty-phone"])
async def test_get_contact_finds_company_then_contacts(engine, http, directory, params):
    status, data = await post(http, engine.server.url, envelope("get_contact", params=params))

    assert status == 200, data
    assert {k: data[k] for k in ("action", "obj", "code")} == {"action": "get_contact", "obj": "UserCRM", "code": 200}
    assert "body" not in data  # get_contact answers in `list`
    found = data["list"]
    assert [item["type"] for item in found] == ["company", "contact", "contact"]
    company, petrov, private = found
    assert company["id"] == directory["company_id"] and isinstance(company["id"], int)
    assert company["name"] == "ООО Ромашка"
    assert str(company["owner_id"]) == "1004"
    assert petrov["id"] == directory["petrov"] and petrov["name"] == "Петров А.А."
    # the vendor's example swaps these two; the spec means: id is the id, name is the name
    assert petrov["company_id"] == directory["company_id"] and isinstance(petrov["company_id"], int)
    assert petrov["company_name"] == "ООО Ромашка"
    assert str(petrov["owner_id"]) == "1004"
    assert private["id"] == directory["private"] and private["name"] == "Сидорова Е."
    assert str(private["owner_id"]) == "1"
    assert "company_id" not in private or private["company_id"] is None


@pytest.mark.parametrize("params", [{"phone": "4957777777"}, {"e164_phone": "74957777777"}, {"phone": "not a number"},
                                    {"phone": "9022"}])
async def test_get_contact_unknown_number_is_an_empty_list(engine, http, directory, params):
    status, data = await post(http, engine.server.url, envelope("get_contact", params=params))
    assert (status, data) == (200, {"action": "get_contact", "obj": "UserCRM", "code": 200, "list": []})


def vendor_events(call_id: str = "7c97ce9e-97aa-4549-9a92-e0d63f570db8",
                  uniqueid: str = "5548f6ab-efab-4dd9-843b-c53f50a5506a") -> list[dict[str, Any]]:
    """The eight events as the vendor documents them (as JSON), in the order a call produces them."""
    hold = {"user_uid": "9022", "crm_user": "3", "call_id": call_id, "session_id": f"s-{call_id}",
            "other_leg": "+74952523060", "direction": 0}
    hangup = call_body(call_id, hangup_cause="NORMAL_CLEARING", gateway_number="74951343060")
    hangup["variable_answersec"] = "42"
    return [
        envelope("user_change", {"user_uid": "9022", "crm_user": "3", "status": 1, "protocol": 0}),
        envelope("agent_change", {"user_uid": "9022", "crm_user": "3", "base_status": -1, "extra_status": 1,
                                  "status_name": "В работе"}),
        envelope("call_ringing", call_body(call_id)),
        envelope("call_answer", call_body(call_id)),
        envelope("call_held", hold),
        envelope("call_active", hold),
        envelope("call_hangup", hangup),
        envelope("cdr_append", cdr_body(uniqueid)),
    ]


async def test_each_event_is_acknowledged_and_stored(engine, http):
    messages = vendor_events()
    assert [m["action"] for m in messages] == list(EVENTS)
    for message in messages:
        status, data = await post(http, engine.server.url, message)
        assert (status, data) == (200, {"action": message["action"], "obj": "UserCRM", "code": 200})

    def read(session: Any) -> tuple[Any, ...]:
        return (session.events.count(), session.calls.get("7c97ce9e-97aa-4549-9a92-e0d63f570db8"),
                session.presence.get("9022"), session.cdrs.get("5548f6ab-efab-4dd9-843b-c53f50a5506a"))

    events, call, presence, cdr = await engine.store.read(read)
    assert events == 8
    assert call is not None and call.state == "ended"
    assert call.other_leg == "+74952523060" and call.gateway_number == "74951343060"
    assert call.hangup_cause == "NORMAL_CLEARING" and call.answer_seconds == 42 and not call.missed
    assert len(call.hold_periods) == 1
    assert call.hold_periods[0].held_at is not None and call.hold_periods[0].resumed_at is not None
    assert presence is not None
    assert (presence.reg_status, presence.protocol, presence.base_status, presence.status_name) == (
        1, 0, -1, "В работе"
    )
    assert cdr is not None and cdr.data["billsec"] == 3 and cdr.data["src"] == "+74952523060"


async def test_ids_sent_as_numbers_are_accepted(engine, http):
    messages = [
        {"action": "call_ringing", "obj": "UserCRM", "action_id": 41, "code": 200, "notifies": [],
         "body": {"call_id": 777, "session_id": 778, "crm_user": 3, "domain_user": 9022, "other_leg": "+74952523060",
                  "rt_vars": {"gateway_number": 74951343060}, "direction": 0}},
        {"action": "user_change", "obj": "UserCRM", "action_id": 42, "body": {"user_uid": 9023, "crm_user": 30,
                                                                              "status": 1, "protocol": 0}},
        {"action": "cdr_append", "obj": "UserCRM", "action_id": 43, "body": cdr_body(123456, id=112666, project_id=5)},
        {"action": "call_held", "obj": "UserCRM", "action_id": 44, "body": {"call_id": 777, "user_uid": 9022}},
    ]
    for message in messages:
        status, data = await post(http, engine.server.url, message)
        assert (status, data) == (200, {"action": message["action"], "obj": "UserCRM", "code": 200})

    call, presence, cdr = await engine.store.read(
        lambda s: (s.calls.get("777"), s.presence.get("9023"), s.cdrs.get("123456")))
    assert call is not None and call.session_id == "778" and call.crm_user == "3" and call.domain_user == "9022"
    assert call.gateway_number == "74951343060" and call.state == "held"
    assert presence is not None and presence.crm_user == "30"
    assert cdr is not None and str(cdr.data["id"]) == "112666"


async def test_unknown_fields_are_accepted_and_kept(engine, http):
    message = envelope("cdr_append", cdr_body("u-extra", new_pbx_field="kept", nested={"a": [1, 2]}))
    message["new_envelope_field"] = {"anything": True}
    status, data = await post(http, engine.server.url, message)
    assert (status, data) == (200, {"action": "cdr_append", "obj": "UserCRM", "code": 200})

    ringing = envelope("call_ringing", {**call_body("c-extra"), "queue_name": "sales", "score": 0.5})
    ringing["transport"] = "ws"
    status, data = await post(http, engine.server.url, ringing)
    assert (status, data) == (200, {"action": "call_ringing", "obj": "UserCRM", "code": 200})
    status, data = await post(http, engine.server.url, envelope("get_users", params={"page": 1, "filter": None}))
    assert status == 200

    cdr = await engine.store.read(lambda s: s.cdrs.get("u-extra"))
    assert cdr is not None and cdr.data["new_pbx_field"] == "kept" and cdr.data["nested"] == {"a": [1, 2]}
    assert await engine.store.read(lambda s: s.calls.get("c-extra")) is not None


VENDOR_PYTHON_DICT = """{
    'action': 'user_change',
    'action_id': '73913ae3-3051-41bc-8bee-c2c689072a96',
    'obj': 'UserCRM',
    'code': 200,
    'notifies': [],
    'body': {
        'user_uid': '9022',
        'crm_user': '3',
        'status': 1,
        'protocol': 0
    }
}"""

VENDOR_GET_CONTACT_NO_COMMA = """{
    "action": "get_contact",
    "obj": "UserCRM",
    "action_id": "123",
    "params": {
    "phone": "4951343060"
    "e164_phone": "74951343060"
    }
}"""


@pytest.mark.parametrize("text", [VENDOR_PYTHON_DICT, VENDOR_GET_CONTACT_NO_COMMA], ids=["python-dict", "no-comma"])
async def test_vendors_sloppy_examples_are_not_json(engine, http, text):
    status, data, _ = await post_bytes(http, engine.server.url, text.encode())
    assert_error(status, data, 400, "invalid JSON")
    assert await count_events(engine) == 0
    assert await engine.store.read(lambda s: s.presence.get("9022")) is None
    await assert_serving(http, engine.server.url)


# -- 2. authorization ------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "fragment"), [
    ({}, "missing Authorization"),
    ({"Authorization": "Bearer canary-crm-key-wrong000000000"}, "wrong CRM API key"),
    ({"Authorization": canary.CRM_KEY}, "must be the word Bearer"),
    ({"Authorization": "Basic " + base64.b64encode(f"pbx:{canary.CRM_KEY}".encode()).decode()},
     "must be the word Bearer"),
    ({"Authorization": f"Bearer {canary.PBX_KEY}"}, "wrong CRM API key"),
    ({"Authorization": "Bearer"}, "Bearer"),
    ({"Authorization": f"Bearer {canary.CRM_KEY}x"}, "wrong CRM API key"),
    ({"Authorization": f"Bearer {canary.CRM_KEY[:-1]}"}, "wrong CRM API key"),
], ids=["missing", "wrong-key", "unprefixed", "basic", "pbx-key", "bearer-alone", "key-plus-one", "key-minus-one"])
@pytest.mark.parametrize("action", ["get_users", "get_contact", "call_ringing"])
async def test_every_action_but_test_needs_the_crm_key(engine, http, headers, fragment, action):
    message = envelope(action, call_body("c-unauth")) if action == "call_ringing" else \
        envelope(action, params={"phone": "4951343060"} if action == "get_contact" else {})
    status, data, response_headers = await post_bytes(http, engine.server.url, json.dumps(message), headers=headers)

    assert_error(status, data, 401, fragment)
    assert data["action"] == action
    assert "body" not in data and "list" not in data  # nothing about the content leaks to a stranger
    assert response_headers["WWW-Authenticate"].startswith("Bearer")
    assert await count_events(engine) == 0
    # the right key works right after
    status, _ = await post(http, engine.server.url, message)
    assert status == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_the_bearer_scheme_is_case_insensitive(engine, http, scheme):
    status, data, _ = await post_bytes(http, engine.server.url, json.dumps(envelope("get_users")),
                                       headers={"Authorization": f"{scheme} {canary.CRM_KEY}"})
    assert status == 200
    assert data["body"]


async def test_repeated_failures_block_the_address_for_a_while(engine, http):
    config = WebhookConfig(crm_api_key=canary.CRM_KEY, auth_failures_before_block=3, auth_block_seconds=1.0)
    async with serving(engine, config) as server:
        wrong = {"Authorization": "Bearer guess-0000"}
        for _ in range(3):
            status, data, _ = await post_bytes(http, server.url, json.dumps(envelope("get_users")), headers=wrong)
            assert_error(status, data, 401, "wrong CRM API key")

        blocked_at = time.monotonic()
        status, data, headers = await post_bytes(http, server.url, json.dumps(envelope("get_users")), headers=wrong)
        assert_error(status, data, 429, "too many")
        assert 1 <= int(headers["Retry-After"]) <= 2

        # the right key from the same address is never throttled: the PBX may share it (a proxy, a NAT)
        status, data = await post(http, server.url, envelope("get_users"))
        assert status == 200 and {"id": "3", "name": "Agent Three"} in data["body"]
        # the PBX's URL check keeps working
        await assert_serving(http, server.url)

        await asyncio.sleep(max(0.0, blocked_at + 1.1 - time.monotonic()))
        status, data, _ = await post_bytes(http, server.url, json.dumps(envelope("get_users")), headers=wrong)
        assert_error(status, data, 401, "wrong CRM API key")


async def test_successes_do_not_wash_guesses_away(engine, http):
    """Guesses interleaved with the PBX's own requests still add up to a block."""
    config = WebhookConfig(crm_api_key=canary.CRM_KEY, auth_failures_before_block=3, auth_block_seconds=30.0)
    async with serving(engine, config) as server:
        wrong = {"Authorization": "Bearer guess-0000"}
        statuses = []
        for _ in range(4):
            statuses.append((await post_bytes(http, server.url, json.dumps(envelope("get_users")), headers=wrong))[0])
            status, _ = await post(http, server.url, envelope("get_users"))
            assert status == 200
        assert statuses == [401, 401, 401, 429]


async def test_without_a_configured_key_everything_but_test_is_refused(engine, http):
    async with serving(engine, WebhookConfig(crm_api_key=None)) as server:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"},
                        {"Authorization": f"Bearer {canary.CRM_KEY}"}):
            status, data, _ = await post_bytes(http, server.url, json.dumps(envelope("get_users")), headers=headers)
            assert_error(status, data, 401, "no CRM API key is configured")
        status, data, _ = await post_bytes(http, server.url, json.dumps(envelope("call_ringing", call_body("c0"))),
                                           headers={"Authorization": f"Bearer {canary.CRM_KEY}"})
        assert_error(status, data, 401, "no CRM API key is configured")
        await assert_serving(http, server.url)
    assert await count_events(engine) == 0


# -- 3. bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected", "fragment"), [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
async def test_bad_input_gets_a_json_error_naming_the_problem(engine, http, raw, expected, fragment):
    status, data, _ = await post_bytes(http, engine.server.url, raw)
    assert_error(status, data, expected, fragment)
    assert await count_events(engine) == 0
    await assert_serving(http, engine.server.url)


async def test_body_over_one_mib_is_413_with_content_length(engine, http):
    payload = json.dumps({**envelope("get_users"), "padding": "x" * (1024 * 1024)}).encode()
    assert len(payload) > 1024 * 1024
    async with http.post(engine.server.url, data=io.BytesIO(payload), headers=AUTH) as response:
        assert response.request_info.headers["Content-Length"] == str(len(payload))
        status, data = response.status, await response.json()
    assert_error(status, data, 413, "larger than 1048576 bytes")
    await assert_serving(http, engine.server.url)


async def test_body_over_one_mib_is_413_when_chunked(engine, http):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"action":"get_users","obj":"UserCRM","padding":"'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    async with http.post(engine.server.url, data=chunks(), headers=AUTH) as response:
        assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in response.request_info.headers
        status, data = response.status, await response.json()
    assert_error(status, data, 413, "larger than")
    await assert_serving(http, engine.server.url)


async def test_a_body_just_under_the_limit_is_read(engine, http):
    padding = 1024 * 1024 - 200
    payload = json.dumps({**envelope("get_users"), "padding": "x" * padding}).encode()
    assert len(payload) <= 1024 * 1024
    status, data, _ = await post_bytes(http, engine.server.url, io.BytesIO(payload))
    # read whole (not 413) and answered on its merits: an unknown field that big is not kept
    assert_error(status, data, 400, "padding")
    assert data["action"] == "get_users"


async def test_a_trickling_body_is_cut_off_while_others_are_served(engine, http):
    config = WebhookConfig(crm_api_key=canary.CRM_KEY, body_read_timeout=0.5)
    async with serving(engine, config) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         + f"Authorization: Bearer {canary.CRM_KEY}\r\n".encode()
                         + b"Content-Length: 100\r\n\r\n")
            await writer.drain()
            started = time.monotonic()
            reply = asyncio.ensure_future(reader.read(65536))  # the answer, or b"" when the server hangs up
            sent = 0
            served_meanwhile = False
            while not reply.done() and sent < 100:
                with contextlib.suppress(ConnectionError):
                    writer.write(b" ")
                    await writer.drain()
                sent += 1
                if not served_meanwhile:  # another client is not held up by the slow one
                    t0 = time.monotonic()
                    await assert_serving(http, server.url)
                    assert time.monotonic() - t0 < 0.3
                    served_meanwhile = True
                await asyncio.wait({reply}, timeout=0.2)
            data = await asyncio.wait_for(reply, 5)
            elapsed = time.monotonic() - started
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        assert served_meanwhile
        assert sent < 20, "the server kept waiting for the slow body"
        assert elapsed < 3.0
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]
        if data:
            assert b"not received within 0.5 s" in data
        await assert_serving(http, server.url)


async def test_get_is_405_and_unknown_path_is_404_as_json(engine, http):
    status, data, headers = await post_bytes(http, engine.server.url, None, method="GET")
    assert_error(status, data, 405, "Method Not Allowed")
    assert "POST" in headers["Allow"]
    status, data, _ = await post_bytes(http, engine.server.url.replace("/webhook", "/nope"), b'{"action":"test"}')
    assert_error(status, data, 404, "Not Found")
    status, data, _ = await post_bytes(http, engine.server.url.replace("/webhook", "/nope"), None, method="GET")
    assert_error(status, data, 404, "Not Found")
    await assert_serving(http, engine.server.url)


# -- 4. the get_contact deadline ---------------------------------------------------------------------


async def test_a_slow_lookup_is_answered_empty_within_the_deadline(http, caplog):
    backend = SlowBackend(delay=5.0)
    async with serving(backend, WebhookConfig(crm_api_key=canary.CRM_KEY, contact_deadline=0.2)) as server:
        await assert_serving(http, server.url)  # connection warm
        caplog.set_level(logging.WARNING, logger="app.webhook")
        started = time.monotonic()
        status, data = await post(http, server.url, envelope("get_contact", params={"phone": "4951343060"}))
        elapsed = time.monotonic() - started

    assert (status, data) == (200, {"action": "get_contact", "obj": "UserCRM", "code": 200, "list": []})
    assert 0.19 <= elapsed < 0.45, elapsed
    assert backend.lookups_started == 1 and backend.lookups_finished == 0
    warnings = [r for r in caplog.records if r.name == "app.webhook" and r.levelno == logging.WARNING]
    assert any("get_contact" in r.getMessage() and "200 ms" in r.getMessage() for r in warnings), caplog.text


async def test_a_lookup_inside_the_deadline_is_answered(http, caplog):
    backend = SlowBackend(delay=0.02)
    async with serving(backend, WebhookConfig(crm_api_key=canary.CRM_KEY, contact_deadline=1.0)) as server:
        caplog.set_level(logging.WARNING, logger="app.webhook")
        status, data = await post(http, server.url, envelope("get_contact", params={"e164_phone": "74951343060"}))
    assert status == 200 and data["list"] == [{"name": "Too Late Ltd", "id": 1, "type": "company", "owner_id": "1004"}]
    assert backend.lookups_finished == 1
    assert not [r for r in caplog.records if r.name == "app.webhook" and r.levelno >= logging.WARNING]


# -- 5. TLS and where the listener binds ---------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[trustme.CA, str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(str(key_path))
    for i, blob in enumerate(cert.cert_chain_pems):
        blob.write_to_path(str(cert_path), append=i > 0)
    return ca, str(cert_path), str(key_path)


async def test_https_listener_answers_test(engine, http, tls_files):
    ca, cert, key = tls_files
    config = WebhookConfig(crm_api_key=canary.CRM_KEY)
    async with serving(engine, config, ssl_context=tls_context(cert, key)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        async with http.post(server.url, json=envelope("test"), ssl=client_context) as response:
            assert response.status == 200
            assert await response.json() == TEST_REPLY
        async with http.post(server.url, json=envelope("get_users"), headers=AUTH, ssl=client_context) as response:
            assert response.status == 200
        # a client that does not trust the certificate gets no answer at all
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with http.post(server.url, json=envelope("test"), ssl=ssl.create_default_context()):
                pass


async def test_listening_beyond_loopback_without_tls_warns(caplog):
    caplog.set_level(logging.WARNING, logger="app.webhook")
    async with serving(SlowBackend(), WebhookConfig(crm_api_key=canary.CRM_KEY), host="0.0.0.0"):
        pass
    warned = [r for r in caplog.records if r.name == "app.webhook" and "without TLS" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING and "0.0.0.0" in warned[0].getMessage()

    caplog.clear()
    async with serving(SlowBackend(), WebhookConfig(crm_api_key=canary.CRM_KEY), host="127.0.0.1"):
        pass
    assert not [r for r in caplog.records if "without TLS" in r.getMessage()]


# -- 6. secrets never reach the log -----------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Any:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level,
             {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "aiohttp.access")})
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in saved[0]:
            handler.close()
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


async def test_no_secret_reaches_the_log(engine, http, caplog, tmp_path, restore_logging):
    log_file = tmp_path / "logs" / "x.log"
    setup_logging(logging.DEBUG, log_file=log_file)
    # caplog first, so that it sees each record before the file handler's redaction rewrites it
    root = logging.getLogger()
    root.handlers.insert(0, caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    assert logging.getLogger("app.webhook.access").isEnabledFor(logging.DEBUG)

    wrong_key = "near-miss-key-" + uuid.uuid4().hex
    url = engine.server.url
    body = cdr_body("u-secret", link=canary.RECORDING_LINK)
    requests: list[tuple[dict[str, str], Any]] = [
        ({"Authorization": f"Bearer {wrong_key}"}, envelope("get_users")),
        ({"Authorization": canary.CRM_KEY}, envelope("get_users")),
        ({"Authorization": f"Basic {canary.CRM_KEY}"}, envelope("get_users")),
        ({"Authorization": f"Bearer {canary.PBX_KEY}"}, envelope("get_users")),
        (AUTH, envelope("get_users")),
        ({}, envelope("test")),
        (AUTH, envelope("get_contact", params={"phone": "4951343060"})),
        (AUTH, envelope("cdr_append", body)),
        (AUTH, envelope("call_hangup", {**call_body("c-secret"), "link": canary.RECORDING_LINK})),
        (AUTH, b'{"action":"cdr_append","body":{"uniqueid":"bad","link":"' + canary.RECORDING_LINK.encode() + b'"'),
    ]
    statuses = []
    for headers, message in requests:
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        async with http.post(url, data=data, headers={"Content-Type": "application/json", **headers}) as response:
            await response.read()
            statuses.append(response.status)
    async with http.post(f"{url}?file={canary.LINK_TOKEN}&key={canary.CRM_KEY}", json=envelope("test")) as response:
        statuses.append(response.status)
    assert statuses == [401, 401, 401, 401, 200, 200, 200, 200, 200, 400, 200]
    assert await engine.store.read(lambda s: s.cdrs.get("u-secret")) is not None  # the link itself is stored

    await asyncio.sleep(0.05)  # the access log line of the last request is written after its reply
    for handler in root.handlers:
        handler.flush()
    written = log_file.read_text(encoding="utf-8")
    captured = caplog.text  # formatted as each record was emitted, before any filter touched it
    # the logs are really there: one access line per request, the refusals, the events
    assert written.count("POST /webhook") >= len(requests) + 1
    assert "refused get_users" in written and "cdr_append uniqueid=u-secret" in written
    assert "refused get_users" in captured and "POST /webhook" in captured

    for secret in (canary.CRM_KEY, canary.PBX_KEY, canary.LINK_TOKEN, wrong_key, f"Bearer {canary.CRM_KEY}"):
        assert secret not in written, f"{secret!r} in the log file"
        assert secret not in captured, f"{secret!r} in a log record"
