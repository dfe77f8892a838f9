"""Where an event's time goes in the team server's write path, PostgreSQL next to SQLite.

    .venv/bin/python -m tests.bench.team_breakdown [--calls 200] [--history 0,10,50,100]

In this process, on the real code: :class:`~app.core.ingest.EventIngestor` with the team
server's :class:`~app.team.journal.FeedJournal` (what ``serve`` runs for every webhook event),
one event at a time (no group commit), on a durable PostgreSQL (:func:`tests.bench.pgbench.bench_postgres`)
and on an SQLite file with the same 10k-contact directory. The database connections are wrapped
to count the statements each event sends and to time how long a transaction holds the feed's
append lock (from the first ``pg_advisory_xact_lock`` to its ``COMMIT``: the other server
process cannot journal meanwhile). ``--history``: the caller has already called that many times
(the caller facts of ringing and answer read the number's earlier calls). Then the read that
answers ``get_contact``, through ``store.read`` (on SQLite also inline). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from . import datagen
from .pgbench import bench_postgres, load_dataset

ACTIONS = ("call_ringing", "call_answer", "call_held", "call_active", "call_hangup", "cdr_append")


class Counting:
    """Wraps a connection class's statement methods: counts them, times the feed lock's hold."""

    def __init__(self) -> None:
        self.statements = 0
        self.lock_at: float | None = None
        self.lock_held: list[float] = []

    def install(self, cls: type, *, lock_is_statement: bool) -> None:
        counting = self
        for name in ("execute", "executemany", "tuples"):
            original = getattr(cls, name)

            def wrapped(self: Any, sql: str, *args: Any, _original: Any = original) -> Any:
                counting.statements += 1
                result = _original(self, sql, *args)
                if sql == "COMMIT" and counting.lock_at is not None:
                    counting.lock_held.append(time.perf_counter() - counting.lock_at)
                    counting.lock_at = None
                return result

            setattr(cls, name, wrapped)
        lock = cls.append_lock

        def append_lock(self: Any, key: int) -> None:
            counting.statements += lock_is_statement  # SQLite's single writer needs none
            if counting.lock_at is None:
                counting.lock_at = time.perf_counter()
            lock(self, key)

        cls.append_lock = append_lock
        notify = cls.notify

        def notify_counted(self: Any, channel: str, payload: str) -> None:
            counting.statements += lock_is_statement
            notify(self, channel, payload)

        cls.notify = notify_counted


def call_events(call_id: str, client: str, crm_user: str, ext: str) -> list[dict[str, Any]]:
    base = {"call_id": call_id, "session_id": f"s-{call_id}", "crm_user": crm_user, "domain_user": ext,
            "other_leg": client, "rt_vars": {"gateway_number": "74951343060"}, "direction": 0}
    hold = {"call_id": call_id, "session_id": f"s-{call_id}", "user_uid": ext, "crm_user": crm_user,
            "other_leg": client, "direction": 0}
    cdr = {"id": 1, "uniqueid": call_id, "dt": 1.7e9, "src": client, "dst": ext, "duration": 30, "billsec": 20,
           "dial_status": 0, "direction": 0, "gateway_number": "+74951343060", "link": "https://pbx.example.com/x?f=1"}
    bodies = [base, base, hold, hold, {**base, "variable_answersec": "20",
                                       "rt_vars": {"gateway_number": "74951343060", "hangup_cause": "NORMAL_CLEARING"}},
              cdr]
    return [{"action": action, "obj": "UserCRM", "action_id": f"{call_id}-{action}", "code": 200, "notifies": [],
             "body": body} for action, body in zip(ACTIONS, bodies, strict=True)]


async def run_backend(database: str | Path, counting: Counting, clients: list[str], calls: int,
                      histories: list[int]) -> dict[str, Any]:
    from app.core.bus import EventBus
    from app.core.ingest import EventIngestor
    from app.core.settings import Settings
    from app.protocol.envelope import Envelope
    from app.protocol.events import EVENT_BODIES
    from app.storage import open_store
    from app.team.journal import FeedJournal

    store = open_store(database)
    normalizer = Settings().phone_normalizer()
    ingestor = EventIngestor(store, EventBus(), lambda: normalizer)
    ingestor.journal = FeedJournal().append
    out: dict[str, Any] = {}
    try:
        async def one_call(call_id: str, client: str) -> dict[str, tuple[int, float]]:
            per: dict[str, tuple[int, float]] = {}
            for message in call_events(call_id, client, "1001", "7001"):
                raw = json.dumps(message).encode()
                envelope = Envelope.model_validate(message)
                body = EVENT_BODIES[envelope.action].model_validate(envelope.body)
                before, wall = counting.statements, time.perf_counter()
                await ingestor.ingest(envelope, body, raw)
                per[envelope.action] = (counting.statements - before, time.perf_counter() - wall)
            return per

        for history in histories:
            client = clients[history]
            for n in range(history):  # the caller's earlier calls
                await one_call(f"h{history}-{n}-{uuid.uuid4().hex[:6]}", client)
            statements: Counter[str] = Counter()
            walls: dict[str, list[float]] = {a: [] for a in ACTIONS}
            held_before = len(counting.lock_held)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            rounds = calls if history == 0 else max(10, calls // 10)
            for n in range(rounds):
                per = await one_call(f"m{history}-{n}-{uuid.uuid4().hex[:6]}",
                                     clients[len(histories) + n] if history == 0 else client)
                for action, (count, wall) in per.items():
                    statements[action] += count
                    walls[action].append(wall * 1000)
            events = rounds * len(ACTIONS)
            held = counting.lock_held[held_before:]
            out[f"history={history}"] = {
                "events": events,
                "statements_per_event": {a: statements[a] / rounds for a in ACTIONS},
                "statements_per_call": sum(statements.values()) / rounds,
                "ms_per_event_p50": {a: statistics.median(walls[a]) for a in ACTIONS},
                "process_cpu_ms_per_event": (time.process_time() - cpu0) / events * 1000,
                "wall_ms_per_event": (time.perf_counter() - wall0) / events * 1000,
                "feed_lock_held_ms_p50": statistics.median(held) * 1000 if held else None,
                "feed_lock_held_ms_max": max(held) * 1000 if held else None,
            }
    finally:
        await store.aclose()
    return out


async def measure_reads(database: str | Path, keys: list[str], rounds: int = 2000) -> dict[str, float]:
    """µs per ``get_contact`` lookup (``contacts.lookup``) through ``store.read``, median of 5 runs;
    on SQLite also inline (``store.read_inline``: no thread hop)."""
    from app.storage import InlineReadRefused, open_store

    store = open_store(database)
    out: dict[str, float] = {}
    try:
        async def reads() -> float:
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                for i in range(rounds // 5):
                    key = keys[i % len(keys)]
                    await store.read(lambda s, key=key: s.contacts.lookup(key))
                runs.append((time.perf_counter() - started) / (rounds // 5) * 1e6)
            return statistics.median(runs)

        await reads()  # warm the pool and the caches
        out["store.read(lookup)"] = await reads()
        try:
            started = time.perf_counter()
            for i in range(rounds):
                store.read_inline(lambda s, i=i: s.contacts.lookup(keys[i % len(keys)]))
            out["store.read_inline(lookup)"] = (time.perf_counter() - started) / rounds * 1e6
        except InlineReadRefused:
            pass
    finally:
        await store.aclose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.team_breakdown", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls from new numbers (default 200)")
    parser.add_argument("--history", default="0,10,50,100", help="earlier calls of the caller (default 0,10,50,100)")
    parser.add_argument("--contacts", type=int, default=10_000)
    args = parser.parse_args(argv)
    histories = [int(h) for h in args.history.split(",")]
    from app.storage.connection import PgConnection, SqliteConnection

    counting = Counting()
    counting.install(PgConnection, lock_is_statement=True)
    counting.install(SqliteConnection, lock_is_statement=False)
    dataset = datagen.make_dataset(args.contacts)
    clients = ["+" + key for key in dataset.known_keys[: args.calls + len(histories) + 200]]
    results: dict[str, Any] = {}
    with bench_postgres() as pg, tempfile.TemporaryDirectory(prefix="pbx-team-breakdown-") as tmp:
        url = pg.create_database("breakdown")
        load_dataset(dataset, url)
        sqlite = Path(tmp) / "pbx-companion.sqlite3"
        datagen.load_into_store(dataset, sqlite)
        for name, database in (("postgresql", url), ("sqlite", sqlite)):
            print(f"{name} ...", file=sys.stderr, flush=True)
            results[name] = asyncio.run(run_backend(database, counting, clients, args.calls, histories))
            results[name]["reads_us"] = asyncio.run(measure_reads(database, dataset.known_keys[:2000]))
    json.dump(results, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
