"""The webhook facing the internet: key guessers, proxies, big unauthenticated bodies, log floods."""

from __future__ import annotations

import json
import logging
import re

import pytest

from app.webhook import WebhookConfig
from app.webhook.ratelimit import AuthFailureLimiter, RefusalLog, client_address, parse_networks
from tests.support import canary
from tests.support.webhook import envelope, post
from tests.test_webhook import assert_error, post_bytes, serving

WRONG = {"Authorization": "Bearer guess-0000"}


async def test_a_guesser_sharing_the_pbxs_address_never_keeps_the_pbx_out(engine, http):
    """The case that locked the PBX out: guesses from the proxy's address between its events."""
    config = WebhookConfig(crm_api_key=canary.CRM_KEY, auth_failures_before_block=3, auth_block_seconds=60.0)
    async with serving(engine, config) as server:
        stored = 0
        for _event in range(20):
            for _ in range(3):
                await post_bytes(http, server.url, json.dumps(envelope("get_users")), headers=WRONG)
            status, reply = await post(http, server.url, envelope("agent_change", {"user_uid": "9022",
                                                                                   "base_status": -1}))
            assert status == 200, reply
            stored += 1
        assert stored == 20
        assert await engine.store.read(lambda s: s.events.count()) == 20


async def test_only_a_trusted_proxy_may_name_the_client(engine, http):
    trusted = WebhookConfig(crm_api_key=canary.CRM_KEY, auth_failures_before_block=2, auth_block_seconds=60.0,
                            trusted_proxies=parse_networks("127.0.0.1"))
    async with serving(engine, trusted) as server:
        for _ in range(2):  # client 203.0.113.5 behind our proxy guesses: it is blocked...
            await post_bytes(http, server.url, "{}", headers={**WRONG, "X-Forwarded-For": "203.0.113.5"})
        status, data, _ = await post_bytes(http, server.url, "{}", headers={**WRONG, "X-Forwarded-For": "203.0.113.5"})
        assert_error(status, data, 429)
        # ...another client behind the same proxy is not
        status, data, _ = await post_bytes(http, server.url, "{}", headers={**WRONG, "X-Forwarded-For": "203.0.113.6"})
        assert_error(status, data, 401)
    untrusted = WebhookConfig(crm_api_key=canary.CRM_KEY, auth_failures_before_block=2, auth_block_seconds=60.0)
    async with serving(engine, untrusted) as server:
        statuses = []
        for n in range(3):  # without trusted proxies a forged header is ignored: the peer is blocked
            statuses.append((await post_bytes(http, server.url, "{}",
                                              headers={**WRONG, "X-Forwarded-For": f"198.51.100.{n}"}))[0])
        assert statuses == [401, 401, 429]


def test_the_forwarding_chain_is_believed_only_up_to_our_own_proxies():
    proxies = parse_networks("10.0.0.0/8, 192.0.2.1")
    chain = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.1.2.3"}  # the client forged 6.6.6.6 in front
    assert client_address("192.0.2.1", chain, proxies) == "203.0.113.9"
    assert client_address("203.0.113.50", chain, proxies) == "203.0.113.50"  # not our proxy: its own address
    assert client_address("192.0.2.1", {"Forwarded": 'for="[2001:db8::7]:4711";proto=https'}, proxies) == "2001:db8::7"
    assert client_address("192.0.2.1", {}, proxies) == "192.0.2.1"
    with pytest.raises(ValueError, match="not an address"):
        parse_networks("10.0.0.0/8 proxy.example")


def test_the_limiters_memory_stays_bounded_with_many_addresses():
    clock = [0.0]
    limiter = AuthFailureLimiter(max_failures=2, window=60, block_seconds=60, clock=lambda: clock[0],
                                 max_tracked=1000)
    for n in range(200_000):
        limiter.failed(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")
        limiter.failed(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")  # each one blocked
    assert len(limiter) <= 2000
    assert limiter.retry_after("10.3.13.63") > 0  # the newest are remembered


async def test_without_the_key_a_big_body_is_not_read(engine, http):
    big = json.dumps({"action": "get_users", "obj": "UserCRM", "pad": "x" * (1024 * 1024 - 100)})
    status, data, _ = await post_bytes(http, engine.server.url, big, headers={})
    assert_error(status, data, 401, "missing Authorization")
    status, data, _ = await post_bytes(http, engine.server.url, big, headers=WRONG)
    assert_error(status, data, 401, "wrong CRM API key")
    # with the key the same size is read and answered on its merits (its unknown field is too big to keep)
    status, data, _ = await post_bytes(http, engine.server.url, big)
    assert_error(status, data, 400, "pad")
    status, data = await post(http, engine.server.url, envelope("test"), auth=False)  # test needs no key
    assert status == 200


async def test_the_rest_of_a_refused_body_is_not_read_either(engine):
    """After the 401 the connection is closed: a keyless client streaming 64 MiB gets no further
    than what the socket buffers hold (aiohttp would read the rest, to keep the connection)."""
    import asyncio
    import time

    size = 64 * 1024 * 1024
    _, writer = await asyncio.open_connection("127.0.0.1", engine.server.port)
    writer.write(f"POST /webhook HTTP/1.1\r\nHost: pbx\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {size}\r\n\r\n".encode())
    chunk, sent, started = b"x" * 65536, 0, time.monotonic()
    try:
        while sent < size:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 5)
            sent += len(chunk)
    except (ConnectionError, OSError):
        pass
    assert sent < size // 4, sent  # refused long before the body's end
    assert time.monotonic() - started < 5
    writer.close()


async def test_a_flood_of_refusals_writes_a_few_log_lines(engine, http, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="app.webhook")
    for _ in range(200):
        await post_bytes(http, engine.server.url, json.dumps(envelope("get_users")), headers=WRONG)
    lines = [r for r in caplog.records if r.name == "app.webhook"]
    assert 1 <= len(lines) <= 3, [r.getMessage() for r in lines]


def test_a_refusal_log_says_how_many_it_left_out():
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("tests.refusals")
    logger.addHandler(handler := Collect())
    try:
        clock = [0.0]
        refusals = RefusalLog(logger, interval=60, clock=lambda: clock[0])
        for _ in range(50):
            refusals.refused("401", "refused from %s", "198.51.100.1")
        clock[0] = 61.0
        refusals.refused("401", "refused from %s", "198.51.100.1")
    finally:
        logger.removeHandler(handler)
    assert records == ["refused from 198.51.100.1", "refused from 198.51.100.1 (49 more like it in the last 60 s"
                       " not logged)"]




def test_a_trusted_proxies_setting_that_names_no_network_is_a_settings_error():
    from app.core.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=re.escape("trusted_proxies: not an address or network: 'proxy.example'")):
        Settings(trusted_proxies="10.0.0.1, proxy.example").validate()
    assert Settings(trusted_proxies="10.0.0.0/8 ::1").validate().trusted_proxies == "10.0.0.0/8 ::1"


def test_a_listening_process_may_open_as_many_files_as_the_system_allows():
    import resource
    import subprocess
    import sys

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)
    code = ("import resource; from app.webhook.server import raise_open_file_limit; "
            "raise_open_file_limit(); print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard)))
    expected = hard if hard != resource.RLIM_INFINITY else 65536
    assert int(done.stdout) == expected > low or hard == low
