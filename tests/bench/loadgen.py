"""The load generator: its own process, a minimal keep-alive HTTP/1.1 client on raw asyncio.

``python -m tests.bench.loadgen SPEC.json`` prints one JSON object with the measurements.

Open loop (``mode: "open"``): request *i* is due at ``start + i / rate`` whatever happened to
the earlier ones; its latency is measured from that due time, not from when it was actually
written, so a server stall shows up in full instead of being hidden by a client that waits
(coordinated omission). A request due while every connection is busy gets a new connection.

Closed loop (``mode: "closed"``): ``concurrency`` senders each send the next request as soon
as the previous reply arrived; the completion rate is the sustainable throughput.

The event loop uses ``select()`` rather than ``epoll``: epoll's timeout has millisecond
granularity, which would send every request up to 1 ms late; ``select`` sleeps to the
microsecond. The lateness that remains is reported as ``send_lag``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import selectors
import sys
import time
from collections.abc import Callable
from typing import Any

_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
MAX_CONNECTIONS = 512


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.on_reply: Callable[[int, bytes], None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, on_reply: Callable[[int, bytes], None]) -> None:
        self.on_reply = on_reply
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.on_reply is None:
            return
        head = bytes(self.buffer[:end])
        match = _CONTENT_LENGTH.search(head)
        total = end + 4 + (int(match.group(1)) if match else 0)
        if len(self.buffer) < total:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4:total])
        del self.buffer[:total]
        callback, self.on_reply = self.on_reply, None
        if b"\r\nconnection: close" in head.lower():
            self.closed = True
        callback(status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.on_reply is not None:
            callback, self.on_reply = self.on_reply, None
            callback(-1, b"")


def build_request(host: str, port: int, path: str, body: bytes, authorization: str | None) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "User-Agent: pbx-companion-bench"]
    if authorization:
        head.append(f"Authorization: {authorization}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "p999": None, "max": None, "mean": None}
    ordered = sorted(values)

    def rank(q: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "p999": rank(0.999),
            "max": ordered[-1], "mean": sum(ordered) / len(ordered)}


class Runner:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.host: str = spec["host"]
        self.port: int = spec["port"]
        self.loop = asyncio.get_running_loop()
        self.idle: list[Connection] = []
        self.opened = 0
        self.waiting: list[int] = []  # requests due while MAX_CONNECTIONS were busy
        with open(spec["requests_file"], encoding="utf-8") as f:
            items = [json.loads(line) for line in f if line.strip()]
        self.bodies = [json.dumps(item["message"], ensure_ascii=False, separators=(",", ":")).encode()
                       for item in items]
        self.expect = [item.get("expect") for item in items]
        self.requests = [build_request(self.host, self.port, spec.get("path", "/webhook"), body,
                                       spec.get("authorization")) for body in self.bodies]

    async def connect(self) -> Connection:
        _, conn = await self.loop.create_connection(Connection, self.host, self.port)
        self.opened += 1
        return conn

    def check(self, index: int, status: int, body: bytes) -> bool:
        """Whether the reply is what the request deserved (only when the spec asks to check)."""
        if status != 200:
            return False
        expect = self.expect[index]
        if expect is None or not self.spec.get("check", False):
            return True
        try:
            found = json.loads(body).get("list")
        except ValueError:
            return False
        return isinstance(found, list) and (expect == "unknown") == (not found)

    # -- open loop -----------------------------------------------------------------------

    async def open_loop(self, first: int, count: int, rate: float) -> dict[str, Any]:
        sched = [0.0] * count
        sent = [0.0] * count
        recv = [0.0] * count
        status = [0] * count
        correct = [False] * count
        done = 0
        finished = self.loop.create_future()
        pending_connects = 0

        def on_reply_for(i: int, conn: Connection) -> Callable[[int, bytes], None]:
            def on_reply(code: int, body: bytes) -> None:
                nonlocal done
                recv[i] = self.loop.time()
                status[i] = code
                correct[i] = self.check(first + i, code, body)
                done += 1
                if not conn.closed:
                    if self.waiting:
                        dispatch(self.waiting.pop(0), conn)
                    else:
                        self.idle.append(conn)
                elif self.waiting:
                    start_connect(self.waiting.pop(0))
                if done == count and not finished.done():
                    finished.set_result(None)
            return on_reply

        def dispatch(i: int, conn: Connection) -> None:
            sent[i] = self.loop.time()
            conn.send(self.requests[first + i], on_reply_for(i, conn))

        async def connect_then(i: int) -> None:
            nonlocal pending_connects, done
            try:
                conn = await self.connect()
            except OSError:
                recv[i] = self.loop.time()
                status[i] = -2
                done += 1
                if done == count and not finished.done():
                    finished.set_result(None)
                return
            finally:
                pending_connects -= 1
            dispatch(i, conn)

        def start_connect(i: int) -> None:
            nonlocal pending_connects
            pending_connects += 1
            tasks.add(task := self.loop.create_task(connect_then(i)))
            task.add_done_callback(tasks.discard)

        tasks: set[asyncio.Task[None]] = set()
        start = self.loop.time() + 0.05
        for i in range(count):
            sched[i] = start + i / rate
        next_i = 0

        def tick() -> None:
            nonlocal next_i
            now = self.loop.time()
            while next_i < count and sched[next_i] <= now:
                i = next_i
                next_i += 1
                if self.idle:
                    dispatch(i, self.idle.pop())
                elif self.opened + pending_connects < MAX_CONNECTIONS:
                    start_connect(i)
                else:
                    self.waiting.append(i)
            if next_i < count:
                self.loop.call_at(sched[next_i], tick)

        self.loop.call_at(start, tick)
        drain = float(self.spec.get("drain_timeout", 10.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished, (count / rate) + drain + 1.0)
        unanswered = sum(1 for i in range(count) if status[i] == 0)
        ok = [i for i in range(count) if status[i] == 200]
        lat = [(recv[i] - sched[i]) * 1000 for i in ok]
        service = [(recv[i] - sent[i]) * 1000 for i in ok]
        lag = [(sent[i] - sched[i]) * 1000 for i in range(count) if sent[i]]
        last = max((recv[i] for i in ok), default=start)
        samples = (
            {"latency_samples": lat, "service_samples": service, "lag_samples": lag} if self.spec.get("samples") else {}
        )
        return {
            **samples,
            "mode": "open", "rate": rate, "requests": count, "ok": len(ok),
            "wrong": sum(1 for i in ok if not correct[i]),
            "errors": sum(1 for s in status if s not in (0, 200)),
            "statuses": _count(s for s in status if s not in (0, 200)),
            "unanswered": unanswered,
            "elapsed_s": last - start, "achieved_rate": len(ok) / max(1e-9, last - start),
            "latency_ms": percentiles(lat), "service_ms": percentiles(service), "send_lag_ms": percentiles(lag),
            "connections": self.opened,
        }

    # -- closed loop ---------------------------------------------------------------------

    async def closed_loop(self, first: int, concurrency: int, duration: float) -> dict[str, Any]:
        available = len(self.requests) - first
        latencies: list[float] = []
        statuses: list[int] = []
        next_index = first
        stop_at = self.loop.time() + duration
        started = self.loop.time()
        ran_out = False

        async def sender() -> None:
            nonlocal next_index, ran_out
            conn = await self.connect()
            while self.loop.time() < stop_at:
                if next_index >= first + available:
                    ran_out = True
                    return
                i = next_index
                next_index += 1
                reply: asyncio.Future[tuple[int, bytes]] = self.loop.create_future()
                t0 = self.loop.time()
                conn.send(self.requests[i], lambda code, body, f=reply: f.done() or f.set_result((code, body)))
                code, _ = await reply
                latencies.append((self.loop.time() - t0) * 1000)
                statuses.append(code)
                if conn.closed:
                    conn = await self.connect()

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        elapsed = self.loop.time() - started
        ok = sum(1 for s in statuses if s == 200)
        return {
            "mode": "closed", "concurrency": concurrency, "requests": len(statuses), "ok": ok,
            "errors": len(statuses) - ok, "statuses": _count(s for s in statuses if s != 200),
            "elapsed_s": elapsed, "achieved_rate": ok / elapsed, "ran_out_of_requests": ran_out,
            "latency_ms": percentiles(latencies), "used_requests": next_index - first,
        }

    async def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        await asyncio.sleep(0.05)


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return counts


async def main_async(spec: dict[str, Any]) -> dict[str, Any]:
    runner = Runner(spec)
    try:
        for _ in range(int(spec.get("preconnect", 4))):
            runner.idle.append(await runner.connect())
        result: dict[str, Any] = {}
        position = int(spec.get("offset", 0))
        if spec["mode"] == "open":
            rate = float(spec["rate"])
            warmup = int(rate * float(spec.get("warmup_s", 0)))
            if warmup:
                result["warmup"] = await runner.open_loop(position, warmup, rate)
                position += warmup
            count = min(int(rate * float(spec["duration_s"])), len(runner.requests) - position)
            result["run"] = await runner.open_loop(position, count, rate)
        else:
            result["run"] = await runner.closed_loop(0, int(spec["concurrency"]), float(spec["duration_s"]))
        return result
    finally:
        await runner.close()


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        result = loop.run_until_complete(main_async(spec))
    finally:
        loop.close()
    result["client_cpu_s"] = time.process_time()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
