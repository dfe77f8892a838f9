"""The feed hub of one server process: reads the journal once, wakes every agent's connection.

The journal table is the truth (Centrifugo's outbox does the same): the hub keeps the newest rows
in memory, each with its message text built once, and each connection walks them from its own
``seq`` at its own pace (:mod:`app.team.agent_api`). A connection that falls behind the memory
reads the journal itself; one that falls too far behind is dropped and resumes later, so a slow
agent never delays the others.

The hub learns of new rows three ways: this process's own commits (the rows the event's
transaction journaled, handed over after the commit: no read when they follow the last row it
has, a read otherwise), another server process's commits (PostgreSQL ``LISTEN``: the payload is
only the seq, a wake-up, not the data; a seq the hub already has wakes nothing), and a poll every
:data:`POLL_INTERVAL` seconds in case a notification was lost (a listener reconnecting). It also
re-reads the agents twice a second and closes the connections of a revoked or rotated token.

Only the connections a new row may be for are woken (:class:`FeedListener`: a supervisor, the
row's recipient tags, everyone for a team-wide row); the others skip it at their next wake-up,
and every :data:`TICK_INTERVAL` seconds all of them are woken to move past what was not theirs.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.storage import Session, Store
from app.storage.records import AgentRecord, FeedRow
from app.storage.repositories import FEED_CHANNEL

log = logging.getLogger("app.team")

#: seconds between journal polls when no wake-up came
POLL_INTERVAL = 0.3
#: seconds between re-reads of the agents (a revoked token is closed within this + a send), and
#: between checks for a send that waits too long
AGENT_CHECK_INTERVAL = 0.5
#: rows kept in memory (at 200 messages/s: the last ~100 s; older ones are read from the journal)
BUFFER_ROWS = 20_000
#: rows read from the journal at once
READ_BATCH = 1000
#: seconds between wake-ups of every connection (each moves past the rows that were not its own,
#: so that it stays within the memory)
TICK_INTERVAL = 5.0


def _rows_after(seq: int, session: Session) -> list[FeedRow]:
    return session.feed.after(seq, READ_BATCH)


@dataclass(frozen=True, slots=True)
class FeedLine:
    """A journaled row and the text every receiver is sent (``seq``, ``at``, then the data). The
    row kept with it has no payload: the text holds it (the hub keeps 20,000 lines; one copy of
    each message, not two)."""

    row: FeedRow
    text: str

    @classmethod
    def of(cls, row: FeedRow) -> FeedLine:
        text = f'{{"seq":{row.seq},"at":{row.at!r},{row.payload[1:]}'
        return cls(FeedRow(row.seq, row.at, row.type, row.everyone, row.recipients, ""), text)


class FeedListener:
    """What one connection waits on: ``ready`` is set when a row it may want arrived (or at the tick)."""

    __slots__ = ("ready", "sees_all", "tags")

    def __init__(self, tags: frozenset[str], sees_all: bool) -> None:
        self.tags = tags
        self.sees_all = sees_all
        self.ready = asyncio.Event()


class AgentConnection(Protocol):
    """What the hub needs of a live connection: its agent, and a way to close it."""

    agent: AgentRecord

    def close_soon(self, code: int, reason: str) -> object: ...

    def check_send(self, now: float) -> None:
        """Give up on a send that has waited too long (``now``: :meth:`FeedHub.loop_time`)."""


class FeedHub:
    """The in-memory head of the feed journal, shared by this process's agent connections."""

    def __init__(self, store: Store, *, listen_url: str | None = None, buffer_rows: int = BUFFER_ROWS) -> None:
        self.store = store
        self.epoch = ""
        self.last_seq = 0
        self.covered_from = 0        # every row after this seq is in memory (until trimmed)
        self._listen_url = listen_url
        self._lines: deque[FeedLine] = deque()
        self._seqs: deque[int] = deque()
        self._buffer_rows = buffer_rows
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.connections: set[AgentConnection] = set()
        self._listeners: set[FeedListener] = set()
        self._all_seeing: set[FeedListener] = set()
        self._by_tag: dict[str, set[FeedListener]] = {}
        #: the live agents by token hash (re-read twice a second): tokens are checked without a query
        self.agents_by_hash: dict[str, AgentRecord] = {}

    async def start(self) -> None:
        self.epoch = await self.store.write(lambda s: s.meta.get_or_set("feed_epoch", secrets.token_hex(8)))
        self.last_seq = self.covered_from = await self.store.read(lambda s: s.feed.last_seq())
        await self._read_agents()
        self._tasks = [asyncio.create_task(self._follow(), name="feed-follow"),
                       asyncio.create_task(self._check_agents(), name="feed-agents")]
        if self._listen_url:
            self._tasks.append(asyncio.create_task(self._listen(self._listen_url), name="feed-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- what connections ask ------------------------------------------------------------

    @staticmethod
    def loop_time() -> float:
        """The event loop's clock (sends are timed with it)."""
        return asyncio.get_running_loop().time()

    def wake(self, *_: Any) -> None:
        """New rows may be in the journal (a NOTIFY, a test's own append): read them now."""
        self._wake.set()

    def add_local(self, rows: Sequence[FeedRow]) -> None:
        """The rows this process's transaction journaled, after its commit. When they follow the
        last row the hub has, they are the next rows of the journal (appends commit in seq order,
        under the feed's lock) and go to memory without a read; after a gap (another process's
        rows, not read yet) the journal is read instead."""
        if not rows or rows[-1].seq <= self.last_seq:  # read already (a poll came first)
            return
        if rows[0].seq != self.last_seq + 1 or rows[-1].seq - rows[0].seq != len(rows) - 1:
            self.wake()
            return
        self._add(rows)

    def listen(self, tags: frozenset[str], sees_all: bool) -> FeedListener:
        """Register a connection's wake-up (its recipient tags, or every row for a supervisor)."""
        listener = FeedListener(tags, sees_all)
        self._listeners.add(listener)
        if sees_all:
            self._all_seeing.add(listener)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(listener)
        return listener

    def unlisten(self, listener: FeedListener) -> None:
        self._listeners.discard(listener)
        self._all_seeing.discard(listener)
        for tag in listener.tags:
            waiting = self._by_tag.get(tag)
            if waiting is not None:
                waiting.discard(listener)
                if not waiting:
                    del self._by_tag[tag]

    def lines_after(self, seq: int) -> list[FeedLine] | None:
        """The rows after ``seq`` from memory, oldest first; None when they are not all there any more."""
        if seq < self.covered_from:
            return None
        start = bisect.bisect_right(self._seqs, seq)
        return [self._lines[i] for i in range(start, len(self._lines))]

    async def wait_after(self, listener: FeedListener, seq: int) -> None:
        """Return once a row after ``seq`` that ``listener`` may want arrived, or at the next tick
        (no timer per wait: the hub wakes every listener every :data:`TICK_INTERVAL` seconds)."""
        if self.last_seq > seq:
            return
        listener.ready.clear()
        await listener.ready.wait()

    def _notify(self, rows: Sequence[FeedRow]) -> None:
        """Wake the listeners these new rows may be for."""
        tags: set[str] = set()
        for row in rows:
            if row.everyone:
                targets: Iterable[FeedListener] = self._listeners
                break
            tags.update(row.recipients)
        else:
            found = set(self._all_seeing)
            for tag in tags:
                found.update(self._by_tag.get(tag, ()))
            targets = found
        for listener in targets:
            listener.ready.set()

    def _tick(self) -> None:
        for listener in self._listeners:
            listener.ready.set()

    async def first_kept_seq(self) -> int:
        first, last = await self.store.read(lambda s: s.feed.bounds())
        return first if first else last + 1

    # -- following the journal -----------------------------------------------------------

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + TICK_INTERVAL
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_INTERVAL):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._read_new()
            except Exception:  # the database is away for a moment: the next poll tries again
                log.warning("cannot read the feed journal", exc_info=True)
                await asyncio.sleep(POLL_INTERVAL)
            if loop.time() >= next_tick:
                next_tick = loop.time() + TICK_INTERVAL
                self._tick()

    async def _read_new(self) -> None:
        while True:
            after = self.last_seq
            read = await self.store.read(functools.partial(_rows_after, after))
            # rows handed over by add_local meanwhile are there already
            rows = [row for row in read if row.seq > self.last_seq]
            self._add(rows)
            if len(read) < READ_BATCH:
                return

    def _add(self, rows: Sequence[FeedRow]) -> None:
        """The next rows of the journal, in seq order: to memory, then wake who may want them."""
        if not rows:
            return
        for row in rows:
            self._lines.append(FeedLine.of(row))
            self._seqs.append(row.seq)
        self.last_seq = rows[-1].seq
        while len(self._lines) > self._buffer_rows:
            self._lines.popleft()
            self.covered_from = self._seqs.popleft()
        self._notify(rows)

    async def _listen(self, url: str) -> None:
        """Wake on other processes' commits (a dedicated connection: psycopg's notifies() holds it)."""
        import psycopg

        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {FEED_CHANNEL}")
                    delay = 0.5
                    self.wake()  # what was committed while we were not listening
                    async for notify in conn.notifies():
                        if not notify.payload.isdigit() or int(notify.payload) > self.last_seq:
                            self.wake()  # a seq this hub has already (its own commit) wakes nothing
            except (psycopg.Error, OSError) as exc:
                log.warning("feed listener lost its database connection (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _read_agents(self) -> None:
        self.agents_by_hash = {a.token_hash: a for a in await self.store.read(lambda s: s.agents.live())}

    async def _check_agents(self) -> None:
        while True:
            await asyncio.sleep(AGENT_CHECK_INTERVAL)
            now = self.loop_time()
            for connection in tuple(self.connections):
                connection.check_send(now)
            try:
                await self._read_agents()
            except Exception:
                log.warning("cannot read the agents", exc_info=True)
                continue
            live = {a.id: a.token_hash for a in self.agents_by_hash.values()}
            for connection in tuple(self.connections):
                if live.get(connection.agent.id) != connection.agent.token_hash:
                    from app.protocol.agent_api import CloseCode

                    log.info("agent %s: token revoked or rotated, closing", connection.agent.name)
                    connection.close_soon(CloseCode.TOKEN_REJECTED, "token revoked")
