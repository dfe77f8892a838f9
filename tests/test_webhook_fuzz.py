"""Random and hostile bodies against one real listener: never a 5xx, always a JSON envelope.

The Engine (real SQLite file, real aiohttp listener on loopback) runs in a thread with its own
event loop, started once for the module; the test thread posts with ``http.client`` over one
keep-alive connection, as a PBX would.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.engine import Engine
from app.core.secrets import Keys
from app.core.settings import Settings
from app.protocol import events as ev
from tests.support import canary
from tests.support.bad_inputs import envelope_bytes, nested

RIGHT = f"Bearer {canary.CRM_KEY}"
ACTIONS = ("test", "get_users", "get_contact", *ev.EVENT_BODIES)


class Listener:
    """The engine on its own loop in a background thread, and a keep-alive client to it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-engine", daemon=True)
        self.thread.start()
        url = urlsplit(self.call(engine.start()))
        self.host, self.port, self.path = url.hostname, url.port, url.path
        self.conn: http.client.HTTPConnection | None = None
        self.posted = 0

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        return self.conn

    def post(self, body: bytes, authorization: str | None = None, path: str | None = None) -> tuple[int, bytes, str]:
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        for attempt in (1, 2):  # the server may close a kept-alive connection between requests
            conn = self._connection()
            try:
                conn.request("POST", path or self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
                conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                conn.close()
                self.conn = None
            self.posted += 1
            return response.status, data, response.getheader("Content-Type", "")
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        try:
            self.call(self.engine.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    # Refused keys must not block the fuzzer's address: every other request is refused on purpose.
    config = Settings(data_dir=str(data_dir), port=0, crm_user="3", crm_user_name="Agent Three",
                      auth_failures_before_block=10**9).validate()
    running = Listener(Engine(config, Keys(canary.CRM_KEY, canary.PBX_KEY)))
    try:
        yield running
    finally:
        running.close()


def check_reply(status: int, data: bytes, content_type: str) -> dict[str, Any]:
    assert status < 500, f"{status}: {data[:300]!r}"
    assert content_type.startswith("application/json"), f"{status} {content_type}: {data[:300]!r}"
    reply = json.loads(data)
    assert isinstance(reply, dict), reply
    assert reply["code"] == status and reply["obj"] == "UserCRM", reply
    if status >= 400:
        assert isinstance(reply.get("error"), str) and reply["error"], reply
    else:
        assert "error" not in reply and isinstance(reply.get("action"), str), reply
    return reply


def assert_still_serving(listener: Listener) -> None:
    status, data, content_type = listener.post(b'{"action":"test","obj":"UserCRM"}')
    assert check_reply(status, data, content_type) == {"action": "test", "obj": "UserCRM", "code": 200,
                                                       "body": {"success": True}}


# -- the fixed corpus --------------------------------------------------------------------------------


#: Inputs that are odd but valid and must be answered 200.
ACCEPTED: list[tuple[str, bytes, str]] = [
    ("phone-as-number", envelope_bytes("get_contact", params={"phone": 4951343060}), "get_contact"),
    ("e164-as-number", envelope_bytes("get_contact", params={"e164_phone": 74951343060}), "get_contact"),
    ("duplicate-keys", b'{"action":"drop_table","action":"get_users","obj":"UserCRM"}', "get_users"),
    ("paired-surrogates", b'{"action":"agent_change","body":{"user_uid":"9022","status_name":"\\ud83d\\ude00"}}',
     "agent_change"),
    ("nul-char", b'{"action":"agent_change","body":{"user_uid":"9022","status_name":"a\\u0000b"}}', "agent_change"),
    ("max-int64", envelope_bytes("cdr_append", body={"uniqueid": "u-max", "duration": 2**63 - 1}), "cdr_append"),
    ("huge-int-extra-field", envelope_bytes("cdr_append", body={"uniqueid": "u-xl", "crm_score": 10**40}),
     "cdr_append"),
    ("huge-int-id", envelope_bytes("call_ringing", body={"call_id": 10**40}), "call_ringing"),
    ("float-id", envelope_bytes("call_ringing", body={"call_id": 12.0}), "call_ringing"),
    ("deep-but-fine", nested(200), "get_users"),
    ("unicode-escape-action", b'{"action":"\\u0067et_users"}', "get_users"),
    ("null-everything", envelope_bytes("call_hangup", body={"call_id": "n", "session_id": None, "rt_vars": None,
                                                   "variable_answersec": "", "other_leg": None}), "call_hangup"),
]


@pytest.mark.parametrize(("body", "action"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_odd_but_valid_inputs_are_accepted(listener, body, action):
    status, data, content_type = listener.post(body, RIGHT)
    reply = check_reply(status, data, content_type)
    assert status == 200 and reply["action"] == action, reply
    assert_still_serving(listener)


def test_numeric_phone_finds_the_contact(listener):
    """The PBX may send the number as a JSON number: it must still find the client."""
    from app.protocol.phones import PhoneNormalizer
    from app.storage import ContactRecord, PhoneRecord

    key = PhoneNormalizer().key("+74951110022")
    contact_id = listener.call(listener.engine.store.write(lambda s: s.contacts.save(
        ContactRecord(None, "Numeric Caller", owner_id="1004", phones=[PhoneRecord(key, "+74951110022")]))))
    for params in ({"phone": 4951110022}, {"e164_phone": 74951110022}, {"phone": "4951110022"}):
        status, data, content_type = listener.post(envelope_bytes("get_contact", params=params), RIGHT)
        reply = check_reply(status, data, content_type)
        assert [item["id"] for item in reply["list"]] == [contact_id], (params, reply)


def test_unauthorized_bad_input_reveals_nothing_but_the_parse_error(listener):
    # a stranger learns only that the body is not JSON, and nothing is stored for a valid one
    status, data, content_type = listener.post(b"{nope", None)
    assert check_reply(status, data, content_type)["code"] == 400
    before = listener.call(listener.engine.store.read(lambda s: s.events.count()))
    stranger = envelope_bytes("call_ringing", body={"call_id": "stranger"})
    status, data, content_type = listener.post(stranger, "Bearer nope")
    assert check_reply(status, data, content_type)["code"] == 401
    assert listener.call(listener.engine.store.read(lambda s: s.events.count())) == before


# -- hypothesis ------------------------------------------------------------------------------------

TRICKY_TEXT = st.sampled_from([
    "", " ", "\x00", "\ud800", "\udfff", "\ud83d\ude00", "\u202e", "+74951343060", "4951343060", "74951343060",
    "8 (495) 134-30-60", "9022", "tel:+74951343060", "sip:9022@pbx", "+" + "9" * 40, "NaN", "-1", "1e400",
    "null", "true", "UserCRM", "test", "get_contact", "Bearer x", "💩" * 50, "x" * 5000, "'", '"', "\\",
])
#: Unicode text, control characters, combining marks and symbols. Lone surrogates come only from TRICKY_TEXT,
#: rarely: a message holding one is refused whole, so they must not crowd out the messages that reach the
#: store (the fixed corpus aims at them directly).
_ODD = st.text(st.characters(categories=["Cc", "Lu", "Ll", "Nd", "Zs", "So", "Mn"]), max_size=12)
TEXT = st.one_of(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40), _ODD, TRICKY_TEXT,
                 st.text(max_size=40), st.text(max_size=40), st.text(max_size=40), _ODD, st.text(max_size=40))
NUMBERS = st.one_of(st.integers(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(TEXT, children, max_size=5)), max_leaves=25)
#: Smaller junk for single fields: a message carries many of them.
JUNK = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(TEXT, children, max_size=3)), max_leaves=5)
IDS = st.one_of(st.uuids().map(str), st.integers(0, 10**12), st.sampled_from(["1", "9022", "user_crm_30"]), TEXT)


INT_FIELDS = frozenset({"status", "protocol", "base_status", "extra_status", "direction", "variable_answersec",
                        "duration", "billsec", "cc_queue_waiting_time", "dial_status", "hold_accum_seconds"})
ID_FIELDS = frozenset({"id", "call_id", "session_id", "crm_user", "domain_user", "user_uid", "uniqueid", "project_id"})
#: Values of the right type for each kind of field: what gets past validation into the store.
TYPED: dict[str, st.SearchStrategy[Any]] = {
    "int": st.one_of(st.integers(-5, 200), st.integers(-(2**63), 2**63 - 1), st.integers()),
    "id": st.one_of(st.uuids().map(str), st.integers(0, 10**12), st.integers(), TEXT,
                    st.sampled_from(["1", "9022", "user_crm_30"])),
    "dt": st.one_of(st.floats(0, 2e9), st.floats(allow_nan=False), st.integers(-(2**40), 2**40)),
    "rt_vars": st.one_of(st.none(), st.dictionaries(
        st.one_of(st.sampled_from(["gateway_number", "hangup_cause"]), TEXT), SCALARS, max_size=3)),
    "any": JUNK,
    "text": st.one_of(TEXT, st.none()),
}


def _field_values(name: str) -> st.SearchStrategy[Any]:
    if name in INT_FIELDS:
        typed = TYPED["int"]
    elif name in ID_FIELDS:
        typed = TYPED["id"]
    elif name in ("dt", "rt_vars"):
        typed = TYPED[name]
    elif name in ("geo_ids", "geo_names"):
        typed = TYPED["any"]
    else:
        typed = TYPED["text"]
    return st.one_of(typed, typed, typed, typed, typed, typed, JUNK)  # mostly the right type, sometimes anything


def _body(action: str) -> st.SearchStrategy[Any]:
    model = ev.EVENT_BODIES.get(action)
    if model is None:
        return st.one_of(st.none(), JSON)
    fields = {name: _field_values(name) for name in model.model_fields}
    required = {name: fields[name] for name, info in model.model_fields.items() if info.is_required()}
    optional = {name: strategy for name, strategy in fields.items() if name not in required}
    shaped = st.fixed_dictionaries(required, optional=optional)
    return st.one_of(shaped, shaped, shaped, shaped, shaped, shaped, st.fixed_dictionaries({}, optional=optional),
                     JSON)


def _params(action: str) -> st.SearchStrategy[Any]:
    if action == "get_contact":
        phone = st.one_of(TEXT, st.integers(), st.integers(10**9, 10**11), JUNK)
        return st.one_of(st.fixed_dictionaries({}, optional={"phone": phone, "e164_phone": phone}), JUNK)
    return st.one_of(st.just({}), st.just({}), st.just({}), st.dictionaries(TEXT, JUNK, max_size=3), JUNK)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(st.sampled_from(ACTIONS))
    message: dict[str, Any] = {"action": action}
    if draw(st.integers(0, 19)):
        message["obj"] = "UserCRM"
    elif draw(st.booleans()):
        message["obj"] = draw(JUNK)
    if draw(st.integers(0, 2)):
        message["action_id"] = draw(st.one_of(st.uuids().map(str), st.uuids().map(str), st.integers(0, 10**9), IDS,
                                              JUNK))
    if draw(st.integers(0, 3)) == 0 or action not in ev.EVENT_BODIES:
        message["params"] = draw(_params(action))
    if action in ev.EVENT_BODIES or draw(st.integers(0, 4)) == 0:
        message["body"] = draw(_body(action))
        message.setdefault("code", 200)
        message.setdefault("notifies", [])
    for _ in range(draw(st.integers(0, 2))):
        message[draw(TEXT)] = draw(JUNK)
    return message


AUTHORIZATIONS = st.sampled_from([RIGHT, RIGHT, RIGHT, None, "Bearer wrong", canary.CRM_KEY, "Basic eA=="])
FUZZ = settings(deadline=None, derandomize=False, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                                       HealthCheck.filter_too_much])


def _encode(value: Any) -> bytes:
    # Non-finite floats come out as NaN/Infinity, which the webhook must refuse as not JSON.
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


@pytest.mark.slow
def test_fuzz_never_a_server_error(listener):
    counts = {"bytes": 0, "json": 0, "envelopes": 0, "accepted": 0}

    @settings(FUZZ, max_examples=500)
    @given(body=st.binary(max_size=3000), authorization=AUTHORIZATIONS)
    def random_bytes(body: bytes, authorization: str | None) -> None:
        counts["bytes"] += 1
        check_reply(*listener.post(body, authorization))

    @settings(FUZZ, max_examples=600)
    @given(value=JSON, authorization=AUTHORIZATIONS)
    def random_json(value: Any, authorization: str | None) -> None:
        counts["json"] += 1
        check_reply(*listener.post(_encode(value), authorization))

    @settings(FUZZ, max_examples=2200)
    @given(message=envelopes(), authorization=AUTHORIZATIONS)
    def random_envelopes(message: dict[str, Any], authorization: str | None) -> None:
        counts["envelopes"] += 1
        status, data, content_type = listener.post(_encode(message), authorization)
        reply = check_reply(status, data, content_type)
        if status == 200:
            counts["accepted"] += 1
            assert reply["action"] == message["action"]
            if message["action"] == "get_contact":
                assert isinstance(reply["list"], list)
        if authorization != RIGHT and message["action"] != "test":
            assert status in (400, 401), reply  # never served without the key

    random_bytes()
    random_json()
    random_envelopes()
    assert_still_serving(listener)

    total = counts["bytes"] + counts["json"] + counts["envelopes"]
    assert total >= 3000, counts
    # the envelopes got past validation often enough to exercise the handlers, not only the parser
    assert counts["accepted"] >= 200, counts
