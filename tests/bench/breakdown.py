"""Where a ``get_contact`` and an event spend their time inside ``serve``, piece by piece.

``python -m tests.bench.breakdown DATABASE`` times each step the webhook takes for a request,
in this process, on the real code and the real database (the 100k directory), and prints
JSON: microseconds per call (median of several rounds). The steps are the ones
:mod:`app.webhook.app` runs in order; the HTTP layer itself (aiohttp parsing the request and
writing the response) is what the bare handler of the main benchmark measures.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROUNDS = 5


def _per_call(fn: Callable[[], Any], n: int) -> float:
    best = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(best)


async def _per_call_async(fn: Callable[[], Any], n: int) -> float:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(rounds)


async def measure(database: Path) -> dict[str, float]:
    from app.core.directory import DirectoryService, contact_list
    from app.core.logs import RedactingFilter
    from app.protocol import events as ev
    from app.protocol.envelope import Envelope, reply
    from app.protocol.phones import PhoneNormalizer
    from app.protocol.webhook_actions import GetContactParams
    from app.storage import SqliteStore
    from app.webhook.app import _json, _parse

    store = SqliteStore(database)
    try:
        keys = await store.read(
            lambda s: [r[0] for r in s.conn.execute("SELECT key FROM phones ORDER BY random() LIMIT 2000")]
        )
        message = {"action": "get_contact", "obj": "UserCRM", "action_id": "x1",
                   "params": {"phone": keys[0][1:], "e164_phone": keys[0]}}
        raw = json.dumps(message).encode()
        data = json.loads(raw)
        envelope = Envelope.model_validate(data)
        params = GetContactParams.model_validate(envelope.params)
        directory = DirectoryService(store, PhoneNormalizer(), None)
        rows = await store.read(lambda s: s.contacts.lookup(keys[0]))
        expected = b"Bearer some-key-1234567890"
        out: dict[str, float] = {}
        n = 20000
        out["json.loads + checks (_parse)"] = _per_call(lambda: _parse(raw), n)
        out["auth header compare (hmac)"] = _per_call(lambda: hmac.compare_digest(expected, expected), n)
        out["Envelope.model_validate"] = _per_call(lambda: Envelope.model_validate(data), n)
        out["GetContactParams.model_validate"] = _per_call(lambda: GetContactParams.model_validate(envelope.params), n)
        out["DirectoryService.key_for"] = _per_call(lambda: directory.key_for(params), n)
        i = iter(range(10**9))
        out["SQLite lookup itself (reader connection)"] = await store.read(
            lambda s: _per_call(lambda: s.contacts.lookup(keys[next(i) % len(keys)]), 5000))
        out["store.read() round trip with the lookup (thread hop)"] = await _per_call_async(
            lambda: store.read(lambda s: s.contacts.lookup(keys[next(i) % len(keys)])), 2000)
        out["store.read() round trip, empty function"] = await _per_call_async(lambda: store.read(lambda s: None), 2000)

        async def nothing() -> None:
            return None

        async def in_timeout() -> None:
            async with asyncio.timeout(10):
                await nothing()

        bare_await = await _per_call_async(nothing, 20000)
        out["asyncio.timeout() block (serve uses two per get_contact)"] = (
            await _per_call_async(in_timeout, 20000) - bare_await
        )
        out["asyncio.wait_for() instead (a task each; used before)"] = await _per_call_async(
            lambda: asyncio.wait_for(nothing(), 10), 20000) - bare_await
        out["reply list + json.dumps + web.Response"] = _per_call(
            lambda: _json(reply("get_contact", list_=contact_list(rows))), n)

        out.update(await _whole_handlers(database, keys))

        # events: validation of a typical call_ringing, and the log line serve writes per event
        event = {"action": "call_ringing", "obj": "UserCRM", "action_id": "e1", "code": 200, "notifies": [],
                 "body": {"call_id": "c1", "session_id": "s1", "crm_user": "3", "domain_user": "9022",
                          "other_leg": "+74952523060", "rt_vars": {"gateway_number": "74951343060"}, "direction": 0}}
        out["event: Envelope + CallEvent validation"] = _per_call(
            lambda: ev.CallEvent.model_validate(Envelope.model_validate(event).body), n)
        import logging

        record = logging.LogRecord("app.events", logging.INFO, __file__, 1, "%s",
                                   ("call_ringing call=c1 other=+74952523060 user=9022 crm_user=3 line=74951343060",),
                                   None)
        flt = RedactingFilter()
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        out["event: redacting filter + format of its log line"] = _per_call(
            lambda: fmt.format(record) if flt.filter(record) else None, n)
        return out
    finally:
        await store.aclose()


class _Transport:
    """Just enough of a transport for ``request.remote``."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


class _InlineBackend:
    """``serve``'s own backend, except that get_contact's lookup (same repository call, same
    reply builder) runs right on the event loop's thread instead of on a reader thread."""

    def __init__(self, engine: Any, database: Path) -> None:
        import sqlite3

        from app.storage import Session

        self.engine = engine
        self.conn = sqlite3.connect(database, check_same_thread=False)
        self.session = Session(self.conn)

    async def crm_users(self) -> list[dict[str, str]]:
        return await self.engine.crm_users()

    def find_contacts_now(self, params: Any) -> None:
        return None  # measure the awaited path with the lookup in place

    async def find_contacts(self, params: Any) -> list[dict[str, Any]]:
        from app.core.directory import contact_list

        key = self.engine.directory.key_for(params)
        return [] if key is None else contact_list(self.session.contacts.lookup(key))

    async def ingest_event(self, *args: Any) -> None:
        await self.engine.ingest_event(*args)


async def _whole_handlers(database: Path, keys: list[str]) -> dict[str, float]:
    """``serve``'s handler against the reference handler, in-process with
    a prepared request: everything but the HTTP parsing and the socket."""
    import sqlite3
    from unittest import mock

    from aiohttp import web
    from aiohttp.streams import StreamReader
    from aiohttp.test_utils import make_mocked_request

    from app.core.engine import Engine
    from app.core.secrets import Keys
    from app.core.settings import Settings
    from app.webhook.app import create_app, handle_webhook
    from tests.bench.refserver import LOOKUP

    api_key = "breakdown-key-0123456789"
    engine = Engine(Settings(data_dir=str(database.parent), port=0).validate(), Keys(api_key, None))
    conn = sqlite3.connect(database, check_same_thread=False)
    inline = _InlineBackend(engine, database)
    try:
        serve_app = create_app(engine, engine.webhook_config())
        inline_app = create_app(inline, engine.webhook_config())  # type: ignore[arg-type]
        bodies = [json.dumps({"action": "get_contact", "obj": "UserCRM", "action_id": f"b{i}",
                              "params": {"phone": k[1:], "e164_phone": k}}).encode() for i, k in enumerate(keys)]

        def request(body: bytes, app: web.Application) -> web.Request:
            # the body as the request's stream (the webhook reads request.content, at most its limit)
            payload = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
            payload.feed_data(body)
            payload.feed_eof()
            req = make_mocked_request("POST", "/webhook", app=app, transport=_Transport(), payload=payload, headers={
                "Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                "Content-Length": str(len(body))})

            async def read() -> bytes:
                return body

            req.read = read  # type: ignore[method-assign]
            return req

        async def reference(req: web.Request) -> web.Response:
            data = json.loads(await req.read())
            found = []
            for cid, name, co_id, co_name, co_owner, owner in conn.execute(LOOKUP, (data["params"]["e164_phone"],)):
                if co_id is not None:
                    found.append({"name": co_name, "id": co_id, "type": "company", "owner_id": co_owner})
                found.append({"name": name, "id": cid, "type": "contact", "company_id": co_id,
                              "company_name": co_name, "owner_id": owner})
            reply = {"action": "get_contact", "obj": "UserCRM", "code": 200, "list": found}
            return web.Response(body=json.dumps(reply, ensure_ascii=False).encode(), content_type="application/json")

        async def serve(req: web.Request) -> web.StreamResponse:
            return await handle_webhook(req)

        result = {}
        for title, handler, app in (
            ("whole get_contact handler of serve, no HTTP", serve, serve_app),
            ("the same with the lookup inline (no reader-thread hop)", serve, inline_app),
            ("whole reference handler, same harness", reference, serve_app),
        ):
            rounds = []
            for _ in range(ROUNDS):
                requests = [request(b, app) for b in bodies[:1000]]  # a stream is read once: new ones each round
                start = time.perf_counter()
                for req in requests:
                    response = await handler(req)
                    assert response.status == 200
                rounds.append((time.perf_counter() - start) / len(requests) * 1e6)
            result[title] = statistics.median(rounds)
        return result
    finally:
        conn.close()
        inline.conn.close()
        await engine.store.aclose()


def main() -> int:
    result = asyncio.run(measure(Path(sys.argv[1])))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
