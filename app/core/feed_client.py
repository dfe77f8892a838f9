"""The agent's side of the team server's feed: connect, resume, reconnect (Qt-free).

Used by ``pbx-companion watch`` and by the tray app in team mode. It connects to
``/agent/ws`` with the agent's token in the header, remembers the last ``seq`` it handed on and
the journal's epoch, and after a dropped connection (Wi-Fi switch, hibernation, a server killed)
connects again with jittered exponential backoff and resumes from there: the server replays what
was missed, so nothing is lost and nothing comes twice. A rejected token (4001, or 401 on the
upgrade) stops it with :class:`FeedRejected`: reconnecting would only be refused again.

Hooks for an owner that shows the connection (the tray app's :class:`~app.core.team_api.TeamApi`):
``session`` lets it share its HTTP session, ``on_drop`` is told about every connection that ended
or could not be opened (:class:`FeedDrop`, before the backoff wait), and :attr:`FeedClient.attempts`
counts connection attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from app.protocol.agent_api import (
    FEED_PATH,
    PING_INTERVAL_SECONDS,
    CloseCode,
    HelloMessage,
    LiveMessage,
    MessageError,
    ResumePoint,
    UnknownMessageType,
    parse_message,
    should_reconnect,
)

log = logging.getLogger("app.feed")

#: first and longest wait before reconnecting (seconds); each wait is jittered by ±50 %
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


def backoff_delays() -> Iterator[float]:
    """The waits between connection attempts: :data:`BACKOFF_FIRST` doubling up to
    :data:`BACKOFF_MAX`, each jittered by ±50 % so that a whole team does not reconnect at once."""
    delay = BACKOFF_FIRST
    while True:
        yield delay * random.uniform(0.5, 1.5)
        delay = min(delay * 2, BACKOFF_MAX)


class FeedRejected(RuntimeError):
    """The server refused the agent's token (unknown, revoked or rotated): get a new one."""


@dataclass(frozen=True, slots=True)
class FeedText:
    """One message as received (``text``) and as parsed (None: a type from a newer server)."""

    text: str
    message: object | None


@dataclass(frozen=True, slots=True)
class FeedDrop:
    """A connection that ended (``connected``: it had been open) or an attempt that failed; the
    client waits (backoff) and tries again. At most one of ``close_code`` (the server closed the
    feed), ``status`` (it refused the upgrade) and ``error`` (the network, TLS, a timeout) is set;
    none when the feed simply ended."""

    url: str
    connected: bool
    close_code: int | None = None
    status: int | None = None
    error: BaseException | None = None


class FeedClient:
    """Follows one agent's feed across reconnects; iterate :meth:`messages`.

    ``servers``: one URL (a load balancer in front of several server processes), or several
    (tried in turn after a connection is lost: any of them resumes from the same journal).
    ``session``: an open session to connect with (its owner closes it, and its timeout bounds
    connecting: ``connect_timeout`` is then not used); None: one of its own for each
    :meth:`messages`. ``on_drop(FeedDrop)`` is called, on the event loop, each time a connection
    ended or could not be opened and the client is about to wait and try again (not for a
    rejected token: :meth:`messages` raises :class:`FeedRejected` then).
    """

    def __init__(self, servers: str | Sequence[str], token: str, *, point: ResumePoint | None = None,
                 ssl_context: ssl.SSLContext | None = None, connect_timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None,
                 on_drop: Callable[[FeedDrop], Any] | None = None) -> None:
        self.urls = [url.rstrip("/") + FEED_PATH for url in ([servers] if isinstance(servers, str) else servers)]
        if not self.urls:
            raise ValueError("FeedClient needs at least one server URL")
        self._next = 0
        self._token = token
        self.point = point or ResumePoint()
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._session = session
        self._on_drop = on_drop
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self.connections = 0
        #: connection attempts, successful or not
        self.attempts = 0

    def wake(self) -> None:
        """Try again now instead of at the end of the backoff wait (the network came back, the
        computer woke up, the agent asked); does nothing while connected."""
        self._wake.set()

    @property
    def url(self) -> str:
        """The feed URL connected to (or tried) now."""
        return self.urls[self._next % len(self.urls)]

    def __repr__(self) -> str:  # never the token
        return f"FeedClient({self.urls!r}, after={self.point.after})"

    async def messages(self) -> AsyncIterator[FeedText]:
        """Every message of the feed, hello/live included, in order, across reconnects."""
        if self._session is not None:
            async for item in self._follow(self._session):
                yield item
            return
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=self._connect_timeout)) as http:
            async for item in self._follow(http):
                yield item

    async def _follow(self, http: aiohttp.ClientSession) -> AsyncIterator[FeedText]:
        delays = backoff_delays()
        headers = {"Authorization": f"Bearer {self._token}"}
        timeout = aiohttp.ClientWSTimeout(ws_close=5.0)
        while True:
            close_code: int | None = None
            status: int | None = None
            error: BaseException | None = None
            opened = received = False
            url = self.url
            self.attempts += 1
            try:
                async with http.ws_connect(url, headers=headers, params=self.point.query(),
                                           heartbeat=PING_INTERVAL_SECONDS, ssl=self._ssl or True,
                                           timeout=timeout, autoping=True) as ws:
                    opened = True
                    self.connections += 1
                    self.connected.set()
                    async for item in self._read(ws):
                        received = True
                        yield item
                    close_code = ws.close_code
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    raise FeedRejected(f"the server refused the agent token ({exc.status})") from None
                status = exc.status
                log.warning("feed: the server answered %s; retrying", exc.status)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error = exc
                log.warning("feed: %s; retrying", type(exc).__name__)
            finally:
                self.connected.clear()
                self._next += 1
            if close_code is not None and not should_reconnect(close_code):
                raise FeedRejected("the server closed the feed: the agent token was revoked or rotated")
            if self._on_drop is not None:
                try:
                    self._on_drop(FeedDrop(url, opened, close_code, status, error))
                except Exception:
                    log.exception("feed: the on_drop callback failed")
            if received:  # the connection worked: the next attempt comes soon again
                delays = backoff_delays()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(next(delays)):
                    await self._wake.wait()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[FeedText]:
        server_seq = 0
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            text = frame.data
            try:
                message: object | None = parse_message(text)
            except UnknownMessageType as exc:
                message = None
                if exc.seq is not None:
                    self.point = ResumePoint(exc.seq, self.point.epoch)
            except MessageError as exc:
                log.warning("feed: unreadable message skipped (%s)", exc)
                continue
            if isinstance(message, HelloMessage):
                server_seq = message.server_seq
                if message.resume != "replay":  # fresh or reset: the snapshot covers up to server_seq
                    self.point = ResumePoint(message.server_seq, message.epoch)
                else:
                    self.point = ResumePoint(self.point.after, message.epoch)
            elif isinstance(message, LiveMessage):
                self.point = ResumePoint(max(self.point.after or 0, server_seq), self.point.epoch)
            elif message is not None and hasattr(message, "seq"):
                self.point = ResumePoint(message.seq, self.point.epoch)
            yield FeedText(text, message)


__all__ = ["CloseCode", "FeedClient", "FeedDrop", "FeedRejected", "FeedText"]
