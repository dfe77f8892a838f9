"""The agent API on the webhook's listener: ``GET /agent/ws``, the feed of one agent's calls.

Every connection authenticates with the agent's personal token (``Authorization: Bearer``; the
webhook's failure throttle answers 429 to a guesser), is refused for a browser ``Origin`` that is
not allowed (a web page must not ride an agent's token), then gets ``hello``, the replay of what
it missed (from the client's ``after`` seq, when the journal still has it), ``live`` and the live
messages, in ``seq`` order, each once. See docs/agent-api.md for the protocol.

Sending is pulled, not pushed: each connection's sender walks the hub's rows from its own seq
(:class:`~app.team.hub.FeedHub`), so a slow agent only falls behind itself. What waits for one
agent is bounded by the socket's send buffer: once it is full (the app stopped reading), a send
that waits longer than :attr:`FeedLimits.send_timeout` closes the connection with 4008, and the
app resumes later from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from app.core.feed import agent_info
from app.protocol.agent_api import (
    FEED_PATH,
    PING_INTERVAL_SECONDS,
    CloseCode,
    HelloMessage,
    LiveMessage,
    MessageError,
    ResumePoint,
    dump_message,
    resume_mode,
)
from app.storage import Session
from app.storage.records import AgentRecord, FeedRow
from app.webhook.app import LIMITER, remote_address

from .agents import feed_tags, identity_of, token_hash
from .hub import READ_BATCH, FeedHub, FeedLine, FeedListener

log = logging.getLogger("app.team")

#: the largest message an agent's app may send (it sends next to nothing)
MAX_CLIENT_MESSAGE = 64 * 1024
#: the send queue of one connection: bytes written but not yet taken by the socket before a send waits
SEND_QUEUE_BYTES = 256 * 1024
#: how long a closing handshake may take before the socket is simply closed
CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True)
class FeedLimits:
    """How long a connection may make the server wait, and which browser pages may connect."""

    send_timeout: float = 10.0
    allowed_origins: frozenset[str] = field(default_factory=frozenset)


HUB = web.AppKey("feed_hub", FeedHub)
LIMITS = web.AppKey("feed_limits", FeedLimits)
_CONNECTIONS: web.AppKey[set[FeedConnection]] = web.AppKey("feed_connections")
#: the call outcomes every agent's card offers (:func:`app.core.outcomes.team_outcomes`), sent with
#: the agent's identity in ``hello`` and ``GET /agent/api/me``
OUTCOMES: web.AppKey[tuple[str, ...]] = web.AppKey("team_outcomes")


def add_agent_api(app: web.Application, hub: FeedHub, limits: FeedLimits | None = None,
                  outcomes: tuple[str, ...] = ()) -> None:
    """Serve the agent API from ``app`` (called by :func:`app.webhook.app.create_app`'s ``extend``)."""
    app[HUB] = hub
    app[LIMITS] = limits or FeedLimits()
    app[OUTCOMES] = outcomes
    app[_CONNECTIONS] = set()
    app.router.add_get(FEED_PATH, handle_feed)
    app.on_shutdown.append(_close_all)


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    error = web.HTTPException(text=f'{{"status":{status},"error":{_quote(message)}}}',
                              content_type="application/json", headers=headers)
    error.set_status(status)
    return error


def _quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


async def authenticate(request: web.Request) -> AgentRecord:
    """The agent whose token the request carries; raises 401, or 429 for an address that keeps
    guessing. A valid token is never throttled (the hub knows the live tokens: no query for it)."""
    hub = request.app[HUB]
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    digest = token_hash(token) if scheme.lower() == "bearer" and token.strip() else None
    agent = hub.agents_by_hash.get(digest) if digest else None
    remote = remote_address(request)
    if agent is None and digest and not request.app[LIMITER].retry_after(remote):
        # added in the last half second, before the hub re-read the agents
        agent = await hub.store.read(lambda s: s.agents.by_token_hash(digest))
    if agent is not None:
        return agent
    wait = request.app[LIMITER].refuse(remote)
    if wait:
        raise _refusal(429, "too many failed authorizations; try again later", {"Retry-After": str(int(wait) + 1)})
    raise _refusal(401, "an agent token is required: Authorization: Bearer <token> (pbx-companion agents add)",
                   {"WWW-Authenticate": "Bearer"})


def _check_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and origin not in request.app[LIMITS].allowed_origins:
        raise _refusal(403, f"connections from the web page {origin} are not allowed")


async def handle_feed(request: web.Request) -> web.StreamResponse:
    _check_origin(request)
    agent = await authenticate(request)
    try:
        point = ResumePoint.from_query(request.query)
    except MessageError as exc:
        raise _refusal(400, str(exc)) from None
    ws = web.WebSocketResponse(heartbeat=PING_INTERVAL_SECONDS, max_msg_size=MAX_CLIENT_MESSAGE,
                               writer_limit=SEND_QUEUE_BYTES, timeout=CLOSE_TIMEOUT)
    await ws.prepare(request)
    connection = FeedConnection(ws, agent, request.app[HUB], request.app[LIMITS], request.app[OUTCOMES])
    request.app[_CONNECTIONS].add(connection)
    try:
        await connection.run(point)
    finally:
        request.app[_CONNECTIONS].discard(connection)
    return ws


async def _close_all(app: web.Application) -> None:
    """Tell every agent "going away" (they resume on another server process) before the listener closes."""
    connections: set[FeedConnection] = app[_CONNECTIONS]
    closing = [connection.close_soon(CloseCode.GOING_AWAY, "server shutting down") for connection in tuple(connections)]
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_TIMEOUT)


class FeedConnection:
    """One agent's live feed: a sender task walking the journal, the handler reading the socket."""

    def __init__(self, ws: web.WebSocketResponse, agent: AgentRecord, hub: FeedHub, limits: FeedLimits,
                 outcomes: tuple[str, ...] = ()) -> None:
        self.ws = ws
        self.agent = agent
        self.hub = hub
        self.limits = limits
        self.outcomes = outcomes
        self.identity = identity_of(agent)
        self._tags = frozenset(feed_tags(agent))
        self._closing: asyncio.Task[bool] | None = None
        self._listener = FeedListener(self._tags, self.identity.see_all_calls)  # registered by run()
        self._sender: asyncio.Task[None] | None = None
        #: when the send in progress began (loop time); None between sends
        self._sending_since: float | None = None

    def wants(self, row: FeedRow) -> bool:
        return self.identity.see_all_calls or row.everyone or not self._tags.isdisjoint(row.recipients)

    def close_soon(self, code: int, reason: str) -> asyncio.Task[bool]:
        """Close with ``code``; for an agent that stopped reading, without waiting for the queue to drain."""
        if self._closing is None:
            drain = code != CloseCode.TOO_SLOW
            self._closing = asyncio.create_task(self.ws.close(code=code, message=reason.encode(), drain=drain))
        return self._closing

    async def run(self, point: ResumePoint) -> None:
        self.hub.connections.add(self)
        self._listener = self.hub.listen(self._tags, self.identity.see_all_calls)
        sender = self._sender = asyncio.create_task(self._send(point), name=f"feed-send-{self.agent.name}")
        try:
            async for message in self.ws:  # reading is what answers pings and notices a close
                if message.type in (WSMsgType.BINARY, WSMsgType.ERROR):
                    self.close_soon(CloseCode.PROTOCOL_ERROR, "the feed takes no binary frames")
        finally:
            self.hub.connections.discard(self)
            self.hub.unlisten(self._listener)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
            if self._closing is not None:
                with contextlib.suppress(ConnectionError):
                    await self._closing

    async def _put(self, text: str) -> bool:
        """Send one message; False when the connection is gone. A send that waits too long (the
        agent stopped reading) is ended by :meth:`check_send`: no timer per message."""
        self._sending_since = self.hub.loop_time()
        try:
            await self.ws.send_str(text)
        except ConnectionError:
            return False
        finally:
            self._sending_since = None
        return True

    def check_send(self, now: float) -> None:
        """Called by the hub twice a second: a send waiting longer than ``send_timeout`` for an agent
        who stopped reading is cancelled and the connection closed with 4008 (the app resumes later)."""
        since = self._sending_since
        if since is None or now - since <= self.limits.send_timeout or self._closing is not None:
            return
        log.warning("agent %s is not reading: disconnected (it resumes later)", self.agent.name)
        if self._sender is not None:
            self._sender.cancel()
        self.close_soon(CloseCode.TOO_SLOW, "too slow")

    async def _send(self, point: ResumePoint) -> None:
        hub = self.hub
        first, last = await hub.store.read(lambda s: s.feed.bounds())
        server_seq = max(last, hub.last_seq)
        mode = resume_mode(point, epoch=hub.epoch, first_kept_seq=first or server_seq + 1, server_seq=server_seq)
        cursor = point.after if mode == "replay" and point.after is not None else server_seq
        hello = HelloMessage(server_seq=server_seq, resume=mode, epoch=hub.epoch,
                             agent=agent_info(self.identity, self.agent.name, self.outcomes))
        if not await self._put(dump_message(hello)):
            return
        live = False
        while not self.ws.closed:
            lines = hub.lines_after(cursor)
            if lines is None:  # behind the memory: read this agent's rows from the journal
                cursor = await self._replay_from_journal(cursor)
                if cursor < 0:
                    return
                continue
            for line in lines:
                if self.wants(line.row) and not await self._put(line.text):
                    return
            if lines:
                cursor = lines[-1].row.seq
            if not live and cursor >= hub.last_seq:
                if not await self._put(dump_message(LiveMessage())):
                    return
                live = True
            if not lines or cursor >= hub.last_seq:
                await hub.wait_after(self._listener, cursor)

    async def _replay_from_journal(self, cursor: int) -> int:
        """Send this agent's journaled rows after ``cursor``; returns the new cursor (-1: closed)."""
        tags = sorted(self._tags)
        supervisor = self.identity.see_all_calls

        def read(session: Session) -> list[FeedRow]:
            if supervisor:
                return session.feed.after(cursor, READ_BATCH)
            return session.feed.after_for(cursor, tags, READ_BATCH)

        covered = self.hub.covered_from
        rows = await self.hub.store.read(read)
        for row in rows:
            if not await self._put(FeedLine.of(row).text):
                return -1
        if len(rows) < READ_BATCH:  # nothing more of ours up to what the memory holds
            return max(rows[-1].seq if rows else cursor, covered)
        return rows[-1].seq
