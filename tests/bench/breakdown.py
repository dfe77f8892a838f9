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
    from app.storage import Store
    from app.webhook.app import _json, _parse

    store = Store(database)
    try:
        keys = await store.read(lambda s: [r[0] for r in s.conn.execute("SELECT key FROM phones ORDER BY random() LIMIT 2000")])
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

        out["asyncio.wait_for() wrapper (a task)"] = await _per_call_async(
            lambda: asyncio.wait_for(nothing(), 10), 20000) - await _per_call_async(nothing, 20000)
        out["reply list + json.dumps + web.Response"] = _per_call(
            lambda: _json(reply("get_contact", list_=contact_list(rows))), n)

        # events: validation of a typical call_ringing, and the log line serve writes per event
        event = {"action": "call_ringing", "obj": "UserCRM", "action_id": "e1", "code": 200, "notifies": [],
                 "body": {"call_id": "c1", "session_id": "s1", "crm_user": "3", "domain_user": "9022",
                          "other_leg": "+74952523060", "rt_vars": {"gateway_number": "74951343060"}, "direction": 0}}
        out["event: Envelope + CallEvent validation"] = _per_call(
            lambda: ev.CallEvent.model_validate(Envelope.model_validate(event).body), n)
        import logging

        record = logging.LogRecord("app.events", logging.INFO, __file__, 1, "%s", ("call_ringing call=c1 other=+74952523060 "
                                   "user=9022 crm_user=3 line=74951343060",), None)
        flt = RedactingFilter()
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        out["event: redacting filter + format of its log line"] = _per_call(
            lambda: fmt.format(record) if flt.filter(record) else None, n)
        return out
    finally:
        await store.aclose()


def main() -> int:
    result = asyncio.run(measure(Path(sys.argv[1])))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
