"""PbxClient against a real HTTP fake PBX (aiohttp on 127.0.0.1): wire format, errors, retries, secrets."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from app.pbx import (
    PbxClient,
    PbxError,
    PbxKeyRefused,
    PbxOutcomeUnknown,
    PbxProtocolError,
    PbxRejected,
    PbxServerError,
    PbxUnreachable,
)
from app.protocol.cdr import CdrRecord
from app.protocol.pbx_actions import DomainUser
from tests.fakes.fake_pbx import FakePbx, make_cdr, refused_url

KEY = "pbx-test-key-7f3a9c"
T0 = 1633074025.0

MakeClient = Callable[..., PbxClient]


@pytest.fixture
async def fake() -> AsyncIterator[FakePbx]:
    pbx = FakePbx(api_key=KEY)
    await pbx.start()
    try:
        yield pbx
    finally:
        await pbx.stop()


@pytest.fixture
async def make_client(fake: FakePbx) -> AsyncIterator[MakeClient]:
    clients: list[PbxClient] = []

    def make(url: str | None = None, key: str = KEY, **kwargs: object) -> PbxClient:
        options: dict[str, object] = {"timeout": 2.0, "connect_timeout": 1.0, "retries": 2, "backoff": 0.01}
        options.update(kwargs)
        client = PbxClient(url or fake.url, key, **options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture
async def client(make_client: MakeClient) -> PbxClient:
    return make_client()


def _uuid4(value: object) -> bool:
    try:
        return isinstance(value, str) and uuid.UUID(value).version == 4
    except ValueError:
        return False


# -- requests on the wire, exactly as the vendor documents them ----------------------------------


async def test_get_cdr_request_is_the_vendor_example(fake: FakePbx, client: PbxClient) -> None:
    await client.get_cdr(
        numbers=["+74951343060", "+74952523060"], start_dt=1633074025, end_dt=1633074725,
        newest_first=False, limit=10, offset=0,
    )
    [sent] = fake.requests
    assert _uuid4(sent["action_id"])
    assert sent == {
        "action": "get_cdr",
        "obj": "UserCRM",
        "action_id": sent["action_id"],
        "sort": {"dt": "+"},
        "limit": 10,
        "offset": 0,
        "params": {
            "start_dt": "1633074025",
            "end_dt": "1633074725",
            "src_or_dst_list": ["+74951343060", "+74952523060"],
        },
    }
    # Same key order as the vendor's example.
    assert list(sent) == ["action", "obj", "action_id", "sort", "limit", "offset", "params"]
    assert fake.auth_headers == [f"Bearer {KEY}"]


async def test_get_cdr_defaults_and_timestamps(fake: FakePbx, client: PbxClient) -> None:
    await client.get_cdr()
    await client.get_cdr(start_dt=T0 + 0.7, end_dt=T0 + 10.2)
    first, second = fake.requests
    assert first["sort"] == {"dt": "-"} and first["limit"] == 50 and first["offset"] == 0
    assert first["params"] == {}
    # Unix seconds as strings; the window is widened, never narrowed, to whole seconds.
    assert second["params"] == {"start_dt": str(int(T0)), "end_dt": str(int(T0) + 11)}
    assert first["action_id"] != second["action_id"]


async def test_make_call_request_and_reply(fake: FakePbx, client: PbxClient) -> None:
    body = await client.make_call("user_crm_30", "89066800404")
    assert body == {"success": True}
    [sent] = fake.requests
    assert _uuid4(sent["action_id"])
    assert sent == {
        "action": "make_call",
        "obj": "UserCRM",
        "action_id": sent["action_id"],
        "params": {"crm_user_id": "user_crm_30", "dst": "89066800404"},
    }
    assert fake.calls == [{"crm_user_id": "user_crm_30", "dst": "89066800404"}]


async def test_switch_call_hold_request_and_reply(fake: FakePbx, client: PbxClient) -> None:
    body = await client.switch_call_hold("user_crm_30", "725d2f5b-34e3-48df-96f4-8fa729da1098")
    assert body == {"success": True}
    [sent] = fake.requests
    assert sent == {
        "action": "switch_call_hold",
        "obj": "UserCRM",
        "action_id": sent["action_id"],
        "params": {"crm_user_id": "user_crm_30", "call_id": "725d2f5b-34e3-48df-96f4-8fa729da1098"},
    }
    assert fake.holds == [sent["params"]]


async def test_get_domain_user_list(fake: FakePbx, client: PbxClient) -> None:
    users = await client.get_domain_user_list()
    [sent] = fake.requests
    assert sent == {"action": "get_domain_user_list", "obj": "UserCRM", "action_id": sent["action_id"], "params": {}}
    assert all(isinstance(u, DomainUser) for u in users)
    assert [(u.uid, u.id, u.display_name) for u in users] == [("777", "3103", "Иванов"), ("1111", "1937", "Петров")]


async def test_numeric_crm_user_id_is_sent_as_string(fake: FakePbx, client: PbxClient) -> None:
    await client.make_call(30, "89066800404")  # type: ignore[arg-type]
    assert fake.requests[0]["params"]["crm_user_id"] == "30"


async def test_url_variants_reach_the_api_path(fake: FakePbx, make_client: MakeClient) -> None:
    for url in (fake.url, fake.url + "/", fake.url + "/integration/usercrm/"):
        assert await make_client(url).get_domain_user_list()
    assert len(fake.requests) == 3


async def test_bad_arguments_raise_before_sending(fake: FakePbx, client: PbxClient) -> None:
    with pytest.raises(ValueError):
        await client.make_call("user_crm_30", "  ")
    with pytest.raises(ValueError):
        await client.make_call("", "89066800404")
    with pytest.raises(ValueError):
        await client.switch_call_hold("user_crm_30", "")
    with pytest.raises(ValueError):
        await client.get_cdr(limit=0)
    with pytest.raises(TypeError):
        await client.get_cdr(numbers="+74951343060")
    assert fake.requests == []


def test_constructor_validates_without_echoing_the_key() -> None:
    with pytest.raises(ValueError) as info:
        PbxClient("https://pbx.example.com", "bad key\nwith-newline-SECRET")
    assert "SECRET" not in str(info.value)
    for url in ("pbx.example.com", "ftp://pbx.example.com", "https://u:p@pbx.example.com", "https://pbx.example.com/?a=1"):
        with pytest.raises(ValueError):
            PbxClient(url, KEY)


# -- get_cdr filtering, paging and tolerant bodies -----------------------------------------------


async def test_get_cdr_filters_by_number_and_time(fake: FakePbx, client: PbxClient) -> None:
    fake.cdrs = [
        make_cdr("a", T0 + 1, src="9022", dst="+74952523060"),
        make_cdr("b", T0 + 2, src="84952523060", dst="9022"),  # same number in trunk form
        make_cdr("c", T0 + 3, src="9022", dst="+74951111111"),
        make_cdr("d", T0 + 400, src="9022", dst="+74952523060"),
    ]
    records = await client.get_cdr(numbers=["+7 (495) 252-30-60"], newest_first=False)
    assert [r.uniqueid for r in records] == ["a", "b", "d"]
    assert all(isinstance(r, CdrRecord) for r in records)
    records = await client.get_cdr(numbers=["+74952523060"], start_dt=T0, end_dt=T0 + 100)
    assert [r.uniqueid for r in records] == ["b", "a"]  # newest first by default
    records = await client.get_cdr(limit=2, offset=1, newest_first=False)
    assert [r.uniqueid for r in records] == ["b", "c"]
    assert records[0].id is not None and records[0].dt == T0 + 2


async def test_get_cdr_empty_number_list_matches_nothing(fake: FakePbx, client: PbxClient) -> None:
    fake.cdrs = [make_cdr("a", T0)]
    assert await client.get_cdr(numbers=[]) == []
    assert await client.get_cdr(numbers=["", "  "]) == []
    assert fake.requests == []


@pytest.mark.parametrize("shape", ["list", "dict_list", "dict_items"])
async def test_get_cdr_accepts_tolerated_body_shapes(fake: FakePbx, client: PbxClient, shape: str) -> None:
    fake.cdrs = [make_cdr("a", T0), make_cdr("b", T0 + 1)]
    fake.cdr_body_shape = shape
    assert [r.uniqueid for r in await client.get_cdr()] == ["b", "a"]


async def test_get_cdr_rejects_other_body_shapes(fake: FakePbx, client: PbxClient) -> None:
    fake.cdrs = [make_cdr("a", T0)]
    fake.cdr_body_shape = "dict_other"
    with pytest.raises(PbxProtocolError, match="get_cdr"):
        await client.get_cdr()


async def test_missing_code_with_a_body_is_ok(fake: FakePbx, client: PbxClient) -> None:
    fake.omit_code = True
    fake.cdrs = [make_cdr("a", T0)]
    assert [r.uniqueid for r in await client.get_cdr()] == ["a"]
    assert await client.make_call("user_crm_30", "89066800404") == {"success": True}


async def test_invalid_record_is_a_protocol_error_without_its_values(fake: FakePbx, client: PbxClient) -> None:
    bad = make_cdr("a", T0)
    del bad["uniqueid"]
    bad["duration"] = "not a number"
    fake.cdrs = [bad]
    with pytest.raises(PbxProtocolError) as info:
        await client.get_cdr()
    message = str(info.value)
    assert "uniqueid" in message
    assert "secret-rec-token" not in message and "not a number" not in message


async def test_success_false_is_a_rejection(fake: FakePbx, client: PbxClient) -> None:
    fake.action_body = {"success": False, "message": "User is not registered"}
    with pytest.raises(PbxRejected) as info:
        await client.make_call("user_crm_30", "89066800404")
    assert info.value.message == "User is not registered"
    assert len(fake.requests) == 1


async def test_iter_cdr_walks_all_pages(fake: FakePbx, client: PbxClient) -> None:
    fake.cdrs = [make_cdr(f"u{i:02d}", T0 + i) for i in range(25)]
    records = [r async for r in client.iter_cdr(page_size=10, newest_first=False)]
    assert [r.uniqueid for r in records] == [f"u{i:02d}" for i in range(25)]
    assert [(r["limit"], r["offset"]) for r in fake.requests] == [(10, 0), (10, 10), (10, 20)]


async def test_iter_cdr_exact_multiple_and_max_records(fake: FakePbx, client: PbxClient) -> None:
    fake.cdrs = [make_cdr(f"u{i:02d}", T0 + i) for i in range(20)]
    records = [r async for r in client.iter_cdr(page_size=10)]
    assert [r.uniqueid for r in records] == [f"u{i:02d}" for i in reversed(range(20))]
    assert [r["offset"] for r in fake.requests] == [0, 10, 20]  # the empty third page ends the walk

    fake.requests.clear()
    records = [r async for r in client.iter_cdr(page_size=10, max_records=12)]
    assert len(records) == 12
    assert [r["offset"] for r in fake.requests] == [0, 10]


async def test_iter_cdr_passes_filters_and_skips_shifted_duplicates(fake: FakePbx, client: PbxClient) -> None:
    fake.cdrs = [make_cdr(f"u{i:02d}", T0 + i, dst="+74952523060" if i % 2 else "+74951111111") for i in range(10)]
    walk = client.iter_cdr(numbers=["84952523060"], page_size=3)
    first = [await anext(walk) for _ in range(3)]
    # A new call arrives while we page "newest first": the next page starts with a record we saw.
    fake.cdrs.append(make_cdr("new", T0 + 100, dst="+74952523060"))
    rest = [r async for r in walk]
    ids = [r.uniqueid for r in first + rest]
    assert len(ids) == len(set(ids))
    assert set(ids) == {f"u{i:02d}" for i in range(1, 10, 2)}
    assert all(r["params"]["src_or_dst_list"] == ["84952523060"] for r in fake.requests)


# -- every error from its real cause -------------------------------------------------------------


async def test_http500_is_a_server_error_and_not_retried(fake: FakePbx, client: PbxClient) -> None:
    fake.mode = "http500"
    with pytest.raises(PbxServerError) as info:
        await client.get_cdr()
    assert info.value.status == 500 and info.value.action == "get_cdr"
    assert len(fake.requests) == 1


@pytest.mark.parametrize("mode", ["html", "garbage"])
async def test_non_json_is_a_protocol_error(fake: FakePbx, client: PbxClient, mode: str) -> None:
    fake.mode = mode
    with pytest.raises(PbxProtocolError) as info:
        await client.get_domain_user_list()
    assert info.value.action == "get_domain_user_list"
    assert ("HTML" in str(info.value)) == (mode == "html")
    assert len(fake.requests) == 1


async def test_hang_times_out_and_read_actions_retry(fake: FakePbx, make_client: MakeClient) -> None:
    fake.mode = "hang"
    client = make_client(timeout=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(PbxOutcomeUnknown) as info:
        await client.get_cdr()
    assert time.monotonic() - started < 3
    assert not info.value.may_have_acted
    assert len(fake.requests) == 2


async def test_reject_envelope_carries_code_and_message(fake: FakePbx, client: PbxClient) -> None:
    fake.mode = "reject"
    with pytest.raises(PbxRejected) as info:
        await client.make_call("user_crm_30", "89066800404")
    assert info.value.code == 400
    assert info.value.message == fake.reject_message
    assert fake.reject_message in str(info.value)


async def test_http_4xx_is_a_rejection_and_not_retried(fake: FakePbx, client: PbxClient) -> None:
    fake.mode = "http400"
    with pytest.raises(PbxRejected) as info:
        await client.get_cdr()
    assert info.value.code == 400 and info.value.message == fake.reject_message
    assert len(fake.requests) == 1


async def test_refused_port_is_unreachable(make_client: MakeClient) -> None:
    client = make_client(refused_url())
    with pytest.raises(PbxUnreachable) as info:
        await client.get_cdr()
    assert "refused" in str(info.value)
    with pytest.raises(PbxUnreachable):
        await client.make_call("user_crm_30", "89066800404")


async def test_tls_failure_is_unreachable(fake: FakePbx, make_client: MakeClient) -> None:
    client = make_client(fake.url.replace("http://", "https://"), retries=0)
    with pytest.raises(PbxUnreachable) as info:
        await client.make_call("user_crm_30", "89066800404")
    assert "TLS" in str(info.value)
    assert fake.requests == []


async def test_wrong_key_is_refused_and_not_retried(fake: FakePbx, make_client: MakeClient) -> None:
    client = make_client(key="wrong-key")
    with pytest.raises(PbxKeyRefused) as info:
        await client.get_cdr()
    assert info.value.status == 401
    assert "API key" in str(info.value) and "wrong-key" not in str(info.value)
    assert fake.authorized == [False]


async def test_drop_is_retried_for_reads_then_outcome_unknown(fake: FakePbx, client: PbxClient) -> None:
    fake.mode = "drop"
    with pytest.raises(PbxOutcomeUnknown):
        await client.get_domain_user_list()
    assert len(fake.requests) == 3  # 1 + retries


# -- retries: read actions recover, actions with effects are sent once ---------------------------


@pytest.mark.parametrize("mode", ["flaky", "ratelimit"])
async def test_get_cdr_retries_then_succeeds(fake: FakePbx, make_client: MakeClient, mode: str) -> None:
    fake.cdrs = [make_cdr("a", T0)]
    fake.mode = mode
    fake.flaky_failures = 2
    records = await make_client(retries=3).get_cdr()
    assert [r.uniqueid for r in records] == ["a"]
    assert len(fake.requests) == 3
    assert len({r["action_id"] for r in fake.requests}) == 1  # one logical request


@pytest.mark.parametrize("mode", ["flaky", "ratelimit"])
async def test_get_domain_user_list_retries_then_succeeds(fake: FakePbx, make_client: MakeClient, mode: str) -> None:
    fake.mode = mode
    fake.flaky_failures = 1
    assert len(await make_client(retries=1).get_domain_user_list()) == 2
    assert len(fake.requests) == 2


async def test_retries_run_out(fake: FakePbx, make_client: MakeClient) -> None:
    fake.mode = "flaky"
    fake.flaky_failures = 10
    with pytest.raises(PbxServerError) as info:
        await make_client(retries=2).get_cdr()
    assert info.value.status == 503
    assert len(fake.requests) == 3


async def test_retry_after_zero_beats_a_long_backoff(fake: FakePbx, make_client: MakeClient) -> None:
    fake.mode = "ratelimit"
    fake.flaky_failures = 2
    started = time.monotonic()
    await make_client(retries=2, backoff=30.0).get_domain_user_list()
    assert time.monotonic() - started < 2  # full jitter up to 5 s would have been possible
    assert len(fake.requests) == 3


def test_backoff_is_full_jitter_capped() -> None:
    client = PbxClient("http://127.0.0.1:9", KEY, backoff=1.0)
    try:
        delays = [client._delay(attempt, None) for attempt in (1, 2, 3, 10) for _ in range(50)]
        assert all(0.0 <= d <= 5.0 for d in delays)
        assert max(client._delay(1, None) for _ in range(200)) <= 1.0
        assert client._delay(1, 100.0) == 5.0 and client._delay(1, 0.0) == 0.0
    finally:
        asyncio.run(client.aclose())


@pytest.mark.parametrize("mode", ["hang", "flaky", "ratelimit", "drop", "http500"])
@pytest.mark.parametrize("action", ["make_call", "switch_call_hold"])
async def test_actions_with_effects_are_sent_exactly_once(
    fake: FakePbx, make_client: MakeClient, mode: str, action: str
) -> None:
    fake.mode = mode
    fake.flaky_failures = 1
    client = make_client(timeout=0.3, retries=3)
    with pytest.raises(PbxError) as info:
        if action == "make_call":
            await client.make_call("user_crm_30", "89066800404")
        else:
            await client.switch_call_hold("user_crm_30", "725d2f5b")
    expected = {"hang": PbxOutcomeUnknown, "drop": PbxOutcomeUnknown, "flaky": PbxServerError,
                "ratelimit": PbxServerError, "http500": PbxServerError}[mode]
    assert type(info.value) is expected
    await asyncio.sleep(0.05)  # nothing is re-sent later either
    assert fake.actions() == [action]
    assert fake.calls == [] and fake.holds == []


async def test_gateway_timeout_is_retried_for_reads_and_unknown_for_make_call(
    fake: FakePbx, client: PbxClient
) -> None:
    fake.mode = "http504"
    with pytest.raises(PbxServerError) as server_error:
        await client.get_cdr()
    assert server_error.value.status == 504
    assert len(fake.requests) == 3
    fake.requests.clear()
    # The gateway gave up waiting for the PBX, which may still have placed the call.
    with pytest.raises(PbxOutcomeUnknown):
        await client.make_call("user_crm_30", "89066800404")
    assert fake.actions() == ["make_call"]


async def test_make_call_outcome_unknown_says_the_phone_may_ring(fake: FakePbx, make_client: MakeClient) -> None:
    fake.mode = "hang"
    with pytest.raises(PbxOutcomeUnknown) as info:
        await make_client(timeout=0.3).make_call("user_crm_30", "89066800404")
    assert info.value.may_have_acted
    assert "phone may ring" in str(info.value) and "make_call" in str(info.value)


# -- secrets and messages ------------------------------------------------------------------------


async def test_key_appears_in_no_log_record_error_or_repr(
    fake: FakePbx, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.reject_message = f"key {KEY} is not allowed to call"  # a PBX echoing the key back
    client = make_client(timeout=0.3, retries=1)
    errors: list[PbxError] = []
    fake.cdrs = [make_cdr("a", T0)]
    await client.get_cdr()
    await client.make_call("user_crm_30", "89066800404")
    for mode in ("flaky", "ratelimit", "hang", "drop", "http500", "html", "garbage", "reject", "http400"):
        fake.mode = mode
        fake.flaky_failures = 5
        for call in (client.get_cdr, lambda: client.make_call("user_crm_30", "89066800404")):
            try:
                await call()
            except PbxError as exc:
                errors.append(exc)
    fake.mode = "ok"
    for url, key in ((refused_url(), KEY), (fake.url, KEY + "-wrong")):
        try:
            await make_client(url, key=key, retries=1).get_cdr()
        except PbxError as exc:
            errors.append(exc)

    assert len(errors) >= 18
    assert any(r.levelno == logging.WARNING and "retrying" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in str(record.args)
        assert "secret-rec-token" not in record.getMessage()
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error)
        assert KEY not in str(error.__cause__ or "") and KEY not in str(error.__context__ or "")
    assert repr(client) == f"PbxClient(host='{fake.url.removeprefix('http://')}')"
    assert KEY not in repr(client) and KEY not in str(vars(client))


async def test_retries_are_logged_with_action_attempt_and_reason(
    fake: FakePbx, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.mode = "flaky"
    fake.flaky_failures = 1
    await make_client(retries=2).get_cdr()
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = warning.getMessage()
    assert "get_cdr" in message and "1/3" in message and "HTTP 503" in message
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


async def test_error_messages_are_one_sentence_naming_the_action(fake: FakePbx, make_client: MakeClient) -> None:
    errors: list[PbxError] = []
    client = make_client(timeout=0.3, retries=0)
    fake.flaky_failures = 100
    for mode in ("http500", "html", "reject", "hang", "drop", "flaky"):
        fake.mode = mode
        for action, call in (
            ("get_cdr", client.get_cdr),
            ("make_call", lambda: client.make_call("user_crm_30", "89066800404")),
            ("switch_call_hold", lambda: client.switch_call_hold("user_crm_30", "c1")),
            ("get_domain_user_list", client.get_domain_user_list),
        ):
            with pytest.raises(PbxError) as info:
                await call()
            assert info.value.action == action
            errors.append(info.value)
    with pytest.raises(PbxUnreachable) as unreachable:
        await make_client(refused_url() + "/", retries=0).get_cdr()
    errors.append(unreachable.value)
    for error in errors:
        text = str(error)
        assert f"({error.action})" in text, text
        assert text.endswith(".") and "\n" not in text and text.count(". ") == 0, text
        assert "http://" not in text and "?" not in text, text


async def test_closed_client(fake: FakePbx) -> None:
    async with PbxClient(fake.url, KEY) as client:
        assert await client.get_domain_user_list()
    await client.aclose()  # twice is fine
    with pytest.raises(RuntimeError):
        await client.get_domain_user_list()


# -- the fake itself, as other tests use it ------------------------------------------------------


async def test_fake_runs_in_a_thread_for_subprocess_tests() -> None:
    pbx = FakePbx(api_key=KEY)
    url = pbx.start_in_thread()
    try:
        assert url.startswith("http://127.0.0.1:")
        async with PbxClient(url, KEY, timeout=2, connect_timeout=1) as client:
            assert await client.make_call("user_crm_30", "89066800404") == {"success": True}
        assert pbx.calls == [{"crm_user_id": "user_crm_30", "dst": "89066800404"}]
    finally:
        pbx.stop_thread()
    async with PbxClient(url, KEY, timeout=1, connect_timeout=1, retries=0) as client:
        with pytest.raises(PbxUnreachable):
            await client.get_cdr()


async def test_fake_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError):
        FakePbx().mode = "sideways"


async def test_a_reply_larger_than_the_bound_is_refused_and_paging_still_works(fake: FakePbx) -> None:
    """A PBX answering get_cdr with a huge body: refused with the size named, nothing held in memory."""
    from aiohttp import web

    from app.pbx import PbxClient, PbxProtocolError

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"code": 200, "body": ["')
        for _ in range(64):
            await response.write(b"x" * 65536)
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", huge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        huge_pbx = PbxClient(f"http://127.0.0.1:{port}/", fake.api_key, retries=0, max_reply_bytes=1024 * 1024)
        async with huge_pbx as client:
            with pytest.raises(PbxProtocolError, match="larger than 1048576 bytes"):
                await client.get_cdr(start_dt=0, end_dt=1)
    finally:
        await runner.cleanup()
    # an ordinary PBX behind the same bound answers as before
    async with PbxClient(fake.url, fake.api_key, max_reply_bytes=1024 * 1024) as client:
        assert await client.get_cdr(start_dt=0, end_dt=1) is not None


async def test_a_cdr_walk_goes_on_past_a_page_too_large_to_read(fake: FakePbx, make_client: MakeClient,
                                                                caplog: pytest.LogCaptureFixture):
    """A page over the reply bound is asked for again in halves; a record over it alone is skipped."""
    from app.pbx import PbxReplyTooLarge

    fake.cdrs = [make_cdr(f"call-{n:03d}", 1633333000.0 + n) for n in range(250)]
    fake.cdrs[130]["link"] = "https://pbx.example.com/rec?file=" + "x" * (300 * 1024)  # newest first: offset 119
    client = make_client(max_reply_bytes=256 * 1024)
    with pytest.raises(PbxReplyTooLarge, match="larger than 262144 bytes"):
        await client.get_cdr(limit=100, offset=100)
    caplog.set_level(logging.WARNING, logger="app.pbx")
    pages = [page async for page in client.iter_cdr_pages(page_size=100)]
    got = [record.uniqueid for page in pages for record in page]
    assert got == [f"call-{n:03d}" for n in range(249, -1, -1) if n != 130]
    assert [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()] == [
        "PBX get_cdr: the record at offset 119 alone is larger than 262144 bytes; skipped"]
    requests = [r for r in fake.requests if r.get("action") == "get_cdr"]
    assert len(requests) < 30  # halves around the big record, full pages again after it


async def test_the_reply_bound_is_a_setting(engine):
    from app.core.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="pbx_max_reply_mb"):
        Settings(pbx_max_reply_mb=0).validate()
    engine.settings.pbx_url, engine.settings.pbx_max_reply_mb = "https://pbx.example.com", 0.25
    assert engine.pbx._max_reply == 256 * 1024
