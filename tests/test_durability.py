"""Acknowledged means durable: ``serve`` as a real process, killed mid-burst and restarted.

The PBX only redelivers what we did not answer with 200, so every event that got a 200 must be
in the database after a crash. And ``serve`` must stop cleanly on SIGTERM/SIGINT (systemd,
Ctrl-C) within a few seconds, idle or with a client connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.core.ingest import dedupe_key
from app.protocol.envelope import Envelope
from app.storage.sqlite import Session
from tests.support.serve_process import ServeProcess
from tests.support.webhook import call_body, cdr_body, envelope, post

ROUNDS = 20
SENDERS = 20
STOP_BUDGET = 5.0


def open_db(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection of our own (read-only: beside the running server, WAL lets both read)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True) if readonly else sqlite3.connect(path)
    conn.row_factory = sqlite3.Row  # what the repositories expect
    return conn


def missing_acknowledged(conn: sqlite3.Connection, acked: list[dict[str, Any]]) -> list[str]:
    """The acknowledged events the database does not hold (with their call or CDR row)."""
    session = Session(conn)
    missing = []
    for message in acked:
        key = dedupe_key(Envelope.model_validate(message), b"")
        body = message["body"]
        if not session.events.has(key):
            missing.append(f"event {key}")
        elif message["action"] == "call_ringing" and session.calls.get(body["call_id"]) is None:
            missing.append(f"call {body['call_id']}")
        elif message["action"] == "cdr_append" and session.cdrs.get(body["uniqueid"]) is None:
            missing.append(f"cdr {body['uniqueid']}")
    return missing


async def burst_until_killed(server: ServeProcess, round_no: int, delay: float) -> tuple[list[dict[str, Any]], int]:
    """SENDERS clients post unique events as fast as they can; SIGKILL after ``delay``.

    Returns the events that got a 200 and how many requests failed (connection lost)."""
    acked: list[dict[str, Any]] = []
    failures = 0
    assert server.url is not None
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=SENDERS)) as http:
        async def sender(n: int) -> None:
            nonlocal failures
            for i in range(100_000):
                uid = f"r{round_no}-s{n}-e{i}"
                if i % 2:
                    message = envelope("cdr_append", cdr_body(uid, id=i), action_id=f"aid-{uid}")
                else:
                    message = envelope("call_ringing", call_body(uid), action_id=f"aid-{uid}")
                try:
                    status, reply = await post(http, server.url, message)
                except (aiohttp.ClientError, ConnectionError, TimeoutError):
                    failures += 1
                    return
                assert status == 200, (status, reply)
                acked.append(message)

        senders = [asyncio.create_task(sender(n)) for n in range(SENDERS)]
        await asyncio.sleep(delay)
        exit_status = server.kill()
        await asyncio.wait_for(asyncio.gather(*senders), 15)
    assert exit_status == -signal.SIGKILL, f"serve was not running when killed ({exit_status}):\n{server.log()}"
    return acked, failures


@pytest.mark.slow
async def test_every_acknowledged_event_survives_sigkill_and_restart(tmp_path: Path):
    rng = random.Random(20240611)
    data_dir = tmp_path / "data"
    acked_so_far: list[dict[str, Any]] = []
    per_round: list[int] = []
    for round_no in range(ROUNDS + 1):
        with ServeProcess(data_dir, tmp_path / f"serve-{round_no}.log") as server:
            await server.astart()  # after round 0 this is the restart on the killed server's files
            conn = open_db(server.database_path, readonly=True)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"after kill #{round_no}"
                missing = missing_acknowledged(conn, acked_so_far)
            finally:
                conn.close()
            assert not missing, f"after kill #{round_no}, {len(missing)} acknowledged events are lost: {missing[:5]}"
            if round_no == ROUNDS:
                assert server.stop(signal.SIGTERM, STOP_BUDGET) == 0, server.log()
                break
            acked, failures = await burst_until_killed(server, round_no, rng.uniform(0.05, 0.5))
            assert failures == SENDERS  # every sender was cut off by the kill, mid-burst
            acked_so_far.extend(acked)
            per_round.append(len(acked))

    # the test means something only when the kills landed while events were being acknowledged
    assert sum(1 for n in per_round if n > 0) >= ROUNDS * 3 // 4, per_round
    assert len(acked_so_far) >= 200, per_round

    db = data_dir / "pbx-companion.sqlite3"
    conn = open_db(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not missing_acknowledged(conn, acked_so_far)
    finally:
        conn.close()


# -- stopping cleanly ------------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path / "data", tmp_path / "serve.log") as process:
        process.start()
        yield process


async def assert_stops_cleanly(server: ServeProcess, signum: int) -> float:
    began = time.monotonic()
    server.send_signal(signum)
    try:
        status = await server.await_exit(STOP_BUDGET)
    except Exception as exc:  # subprocess.TimeoutExpired
        raise AssertionError(f"serve did not stop within {STOP_BUDGET} s of {signum!r}:\n{server.log()}") from exc
    took = time.monotonic() - began
    assert status == 0, server.log()
    assert "stopping" in server.log()
    assert "Traceback" not in server.log()
    conn = open_db(server.database_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    return took


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_stops_cleanly_on_a_signal_when_idle(server, signum):
    await assert_stops_cleanly(server, signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_stops_cleanly_with_a_keep_alive_client_connected(server, signum):
    async with aiohttp.ClientSession() as http:
        status, _ = await post(http, server.url, envelope("call_ringing", call_body("before-stop")))
        assert status == 200  # the connection now idles in the client's keep-alive pool
        await assert_stops_cleanly(server, signum)
    conn = open_db(server.database_path)
    try:
        assert Session(conn).calls.get("before-stop") is not None
    finally:
        conn.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_stops_cleanly_while_a_client_is_stuck_mid_request(server, signum):
    """A client that sent the headers and half of its body and then went quiet."""
    assert server.url is not None
    host, port = server.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"action\": \"call_ringing\", ")
        await writer.drain()
        await asyncio.sleep(0.2)
        await assert_stops_cleanly(server, signum)
        with contextlib.suppress(ConnectionResetError):  # either way: the server hung up on it
            await asyncio.wait_for(reader.read(), 5)
        assert reader.at_eof() or reader.exception() is not None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
