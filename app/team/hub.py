"""The feed hub of one server process: reads the journal once, wakes every agent's connection.

The journal table is the truth (Centrifugo's outbox does the same): the hub keeps the newest rows
in memory, each with its message text built once, and each connection walks them from its own
``seq`` at its own pace (:mod:`app.team.agent_api`). A connection that falls behind the memory
reads the journal itself; one that falls too far behind is dropped and resumes later, so a slow
agent never delays the others.

The hub learns of new rows three ways: this process's own commits (the event bus, at once),
another server process's commits (PostgreSQL ``LISTEN``: the payload is only the seq, and it is
a wake-up, not the data), and a poll every :data:`POLL_INTERVAL` seconds in case a notification
was lost (a listener reconnecting). It also re-reads the agents twice a second and closes the
connections of a revoked or rotated token.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from app.storage import Session, Store
from app.storage.records import AgentRecord, FeedRow
from app.storage.repositories import FEED_CHANNEL

log = logging.getLogger("app.team")

#: seconds between journal polls when no wake-up came
POLL_INTERVAL = 0.3
#: seconds between re-reads of the agents (a revoked token is closed within this + a send)
AGENT_CHECK_INTERVAL = 0.5
#: rows kept in memory (at 200 messages/s: the last ~100 s; older ones are read from the journal)
BUFFER_ROWS = 20_000
#: rows read from the journal at once
READ_BATCH = 1000


def _rows_after(seq: int, session: Session) -> list[FeedRow]:
    return session.feed.after(seq, READ_BATCH)


@dataclass(frozen=True, slots=True)
class FeedLine:
    """A journaled row and the text every receiver is sent (``seq``, ``at``, then the data)."""

    row: FeedRow
    text: str

    @classmethod
    def of(cls, row: FeedRow) -> FeedLine:
        return cls(row, f'{{"seq":{row.seq},"at":{row.at!r},{row.payload[1:]}')


class AgentConnection(Protocol):
    """What the hub needs of a live connection: its agent, and a way to close it."""

    agent: AgentRecord

    def close_soon(self, code: int, reason: str) -> object: ...


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
        self._arrived = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.connections: set[AgentConnection] = set()
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

    def wake(self, *_: Any) -> None:
        """New rows may be in the journal (a local commit, a NOTIFY): read them now."""
        self._wake.set()

    def lines_after(self, seq: int) -> list[FeedLine] | None:
        """The rows after ``seq`` from memory, oldest first; None when they are not all there any more."""
        if seq < self.covered_from:
            return None
        start = bisect.bisect_right(self._seqs, seq)
        return [self._lines[i] for i in range(start, len(self._lines))]

    async def wait_after(self, seq: int, timeout: float) -> None:
        """Return once a row after ``seq`` arrived, or after ``timeout`` seconds."""
        if self.last_seq > seq:
            return
        # asyncio.timeout, not wait_for: a connection closing cancels this, and 3.11's wait_for can
        # keep a cancelled waiter pending until its timeout (the server then waits for it at shutdown)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._arrived.wait()

    async def first_kept_seq(self) -> int:
        first, last = await self.store.read(lambda s: s.feed.bounds())
        return first if first else last + 1

    # -- following the journal -----------------------------------------------------------

    async def _follow(self) -> None:
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

    async def _read_new(self) -> None:
        while True:
            after = self.last_seq
            rows = await self.store.read(functools.partial(_rows_after, after))
            if not rows:
                return
            for row in rows:
                self._lines.append(FeedLine.of(row))
                self._seqs.append(row.seq)
            self.last_seq = rows[-1].seq
            while len(self._lines) > self._buffer_rows:
                self._lines.popleft()
                self.covered_from = self._seqs.popleft()
            arrived, self._arrived = self._arrived, asyncio.Event()
            arrived.set()
            if len(rows) < READ_BATCH:
                return

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
                    async for _ in conn.notifies():
                        self.wake()
            except (psycopg.Error, OSError) as exc:
                log.warning("feed listener lost its database connection (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _read_agents(self) -> None:
        self.agents_by_hash = {a.token_hash: a for a in await self.store.read(lambda s: s.agents.live())}

    async def _check_agents(self) -> None:
        while True:
            await asyncio.sleep(AGENT_CHECK_INTERVAL)
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
