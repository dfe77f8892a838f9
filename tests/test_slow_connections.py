"""Slow connections (issue 12): a flood of clients that send their headers a byte at a time holds
neither the file descriptors nor the PBX's requests, and writes a few log lines, not one per client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import aiohttp
import pytest

from app.webhook.server import RESERVED_FILES, effective_max_connections
from tests.support import canary
from tests.support.webhook import envelope

MAX_CONNECTIONS = 200
HEADER_TIMEOUT = 2.0
SLOW_CLIENTS = 300
#: what a slow client sends, one byte at a time: a request whose headers never end
DRIP = b"POST /webhook HTTP/1.1\r\nHost: pbx\r\nContent-Type: application/json\r\nX-Padding: " + b"a" * 4096


@pytest.fixture
def settings(settings):
    settings.max_connections = MAX_CONNECTIONS
    settings.header_timeout_s = HEADER_TIMEOUT
    return settings.validate()


class SlowClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent = 0
        self.closed_at: float | None = None

    def drip(self) -> None:
        if self.closed_at is None and not self.writer.is_closing():
            self.writer.write(DRIP[self.sent % len(DRIP):][:1])
            self.sent += 1

    async def watch(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.reader.read()  # the server answers nothing: this ends when it closes the connection
        self.closed_at = time.monotonic()


async def _slow_clients(port: int, count: int) -> list[SlowClient]:
    clients = []
    for _ in range(count):
        clients.append(SlowClient(*await asyncio.open_connection("127.0.0.1", port)))
        clients[-1].drip()
    return clients


async def _pbx_request(url: str) -> tuple[int, float]:
    """The PBX's get_contact on a new connection (as after a reconnect): status and seconds taken."""
    started = time.monotonic()
    message = json.dumps(envelope("get_contact", params={"phone": "+74952523060"}))
    async with (aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
                session.post(url, data=message, headers={"Authorization": f"Bearer {canary.CRM_KEY}"},
                             timeout=aiohttp.ClientTimeout(total=5)) as response):
        await response.read()
        return response.status, time.monotonic() - started


async def test_a_flood_of_slow_clients_keeps_neither_the_pbx_out_nor_the_connections(
        engine, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="app.webhook")
    opened = time.monotonic()
    clients = await _slow_clients(engine.server.port, SLOW_CLIENTS)
    watchers = [asyncio.create_task(c.watch()) for c in clients]

    async def drip() -> None:
        while True:
            await asyncio.sleep(0.2)
            for client in clients:
                client.drip()

    dripping = asyncio.create_task(drip())
    try:
        await asyncio.sleep(0.5)
        assert engine.server.open_connections <= MAX_CONNECTIONS
        for _ in range(5):  # while the slow clients hold (at most) every connection
            status, took = await _pbx_request(engine.server.url)
            assert status == 200 and took < 1.0, (status, took)
        async with asyncio.timeout(HEADER_TIMEOUT + 5):
            await asyncio.gather(*watchers)
    finally:
        dripping.cancel()
        for client in clients:
            client.writer.close()
        await asyncio.gather(dripping, *watchers, return_exceptions=True)
    last = max(c.closed_at or 0 for c in clients) - opened
    assert last < HEADER_TIMEOUT + 2.0, last  # each slow client was closed after the header timeout (or sooner)
    assert all(c.sent > 1 for c in clients[-MAX_CONNECTIONS:])  # they were dripping, not idle
    assert engine.server.open_connections == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "app.webhook" and "connection" in r.getMessage()]
    assert 1 <= len(lines) <= 4, lines  # one line per kind of refusal, not one per client
    status, _ = await _pbx_request(engine.server.url)
    assert status == 200


async def test_the_pbxs_kept_alive_connection_outlives_a_flood_of_slow_clients(engine):
    """At the limit the slow clients make room for each other; the connection that already
    carried a request (the PBX's, kept alive) is not the one closed, although it is the oldest."""
    reader, writer = await asyncio.open_connection("127.0.0.1", engine.server.port)
    body = json.dumps(envelope("test")).encode()
    request = (b"POST /webhook HTTP/1.1\r\nHost: pbx\r\nContent-Type: application/json\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def exchange() -> bytes:
        writer.write(request)
        status_line = await asyncio.wait_for(reader.readline(), 5)
        length = 0
        while (line := await asyncio.wait_for(reader.readline(), 5)).strip():
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return status_line

    assert (await exchange()).startswith(b"HTTP/1.1 200")
    clients = await _slow_clients(engine.server.port, MAX_CONNECTIONS + 100)
    try:
        await asyncio.sleep(0.3)
        assert engine.server.open_connections <= MAX_CONNECTIONS
        assert (await exchange()).startswith(b"HTTP/1.1 200")  # the same connection, still open
    finally:
        writer.close()
        for client in clients:
            client.writer.close()


async def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(engine):
    reader, writer = await asyncio.open_connection("127.0.0.1", engine.server.port)
    body = json.dumps(envelope("test")).encode()
    writer.write(b"POST /webhook HTTP/1.1\r\nHost: pbx\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    status_line = await reader.readline()
    assert status_line.startswith(b"HTTP/1.1 200")
    writer.write(b"POST /web")  # the next request begins, and its headers never end
    started = time.monotonic()
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(HEADER_TIMEOUT + 3):
            while await reader.read(65536):
                pass
    assert HEADER_TIMEOUT - 0.5 < time.monotonic() - started < HEADER_TIMEOUT + 1.5
    writer.close()


async def test_a_busy_connection_is_never_evicted(engine, http):
    """At the limit, only connections between requests make room; one in a request keeps it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", engine.server.port)
    writer.write(b"POST /webhook HTTP/1.1\r\nHost: pbx\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                 b"Authorization: Bearer " + canary.CRM_KEY.encode() + b"\r\n\r\n{")  # in a request: its body comes
    await writer.drain()
    await asyncio.sleep(0.1)
    clients = await _slow_clients(engine.server.port, MAX_CONNECTIONS + 20)
    try:
        await asyncio.sleep(0.3)
        assert not reader.at_eof()
        writer.write(b" " * 99)
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert status_line.startswith(b"HTTP/1.1 400")  # '{' and spaces: answered, not cut off
    finally:
        writer.close()
        for client in clients:
            client.writer.close()


def test_asyncio_accept_errors_are_one_line_per_interval(caplog: pytest.LogCaptureFixture):
    from app.webhook.server import _install_accept_filter

    _install_accept_filter(60.0)
    caplog.set_level(logging.INFO)
    loop = asyncio.new_event_loop()
    try:
        for _ in range(1000):
            loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                         "exception": OSError(24, "Too many open files")})
    finally:
        loop.close()
    lines = [r for r in caplog.records if "accept" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in lines]
    assert "Too many open files" in lines[0].getMessage()


def test_max_connections_leaves_files_for_the_rest():
    assert effective_max_connections(1000, 65536) == 1000
    assert effective_max_connections(1000, 1024) == 1024 - RESERVED_FILES
    assert effective_max_connections(1000, None) == 1000
