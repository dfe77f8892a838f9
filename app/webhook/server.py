"""Running the webhook application on a socket, with a redacting access log.

The listener faces the internet (the PBX is a cloud service), so it bounds what a client that never
finishes costs: at most ``max_connections`` open connections, and ``header_timeout`` seconds for a
request's headers to arrive. A connection over the limit evicts one that is not in a request --
the oldest still sending its first headers, else the one idle the longest -- so a flood of slow
connections cannot keep the PBX out; only when every connection is busy with a request is the new
one closed at once. A refused request's body is not read (one read of 16 KiB at most). Each kind
of refusal is logged once per interval (:class:`RefusalLog`), asyncio's "accept" errors too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler

from app.protocol.redact import redact

from .ratelimit import RefusalLog

log = logging.getLogger("app.webhook")
access_log = logging.getLogger("app.webhook.access")

SHUTDOWN_TIMEOUT = 3.0
#: the defaults of :class:`ListenerLimits`
MAX_CONNECTIONS = 1000
HEADER_TIMEOUT = 10.0
#: an idle keep-alive connection is closed after this (aiohttp's own default is an hour)
KEEPALIVE_TIMEOUT = 75.0
#: what one read of a connection takes (asyncio's own is 256 KiB; the PBX's events are a few KiB)
READ_SIZE = 16 * 1024
#: files kept free when ``max_connections`` is clamped to the open-file limit: asyncio accepts up to
#: the listen backlog (128) at once before any is counted, and the database, the PBX client, the logs
#: and the agents' feed hold files too
RESERVED_FILES = 256


@dataclass(frozen=True)
class ListenerLimits:
    """What one client may hold of the listener (settings ``max_connections``, ``header_timeout_s``)."""

    max_connections: int = MAX_CONNECTIONS
    header_timeout: float = HEADER_TIMEOUT
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    #: one log line per kind of refusal per this many seconds
    log_interval: float = 60.0


class RedactingAccessLogger(AbstractAccessLogger):
    """One line per request: no headers (the Authorization key), no query string (link tokens)."""

    def log(self, request: Any, response: Any, time: float) -> None:
        self.logger.debug(
            "%s %s %s %d %.1fms", request.remote, request.method, redact(request.path), response.status, time * 1000
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def raise_open_file_limit() -> int | None:
    """Raise this process's soft limit of open files to the hard one (each connection takes one;
    the usual soft limit of 1024 is what a burst of slow connections exhausts first). Returns the
    new soft limit, None where there is no such limit (Windows)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class _ConnectionGuard:
    """The connections of one listener: how many are open, which are between requests, the header
    deadlines. Its :meth:`protocol` is the listener's protocol factory (aiohttp's handler, guarded)."""

    def __init__(self, server: web.Server, limits: ListenerLimits, refusals: RefusalLog) -> None:
        self.server = server
        self.limits = limits
        self.refusals = refusals
        #: open connections, oldest first (a dict keeps insertion order; removal is O(1))
        self.open: dict[_GuardedHandler, None] = {}

    def protocol(self) -> _GuardedHandler:
        return _GuardedHandler(self, self.server, loop=self.server._loop, **self.server._kwargs)

    def admit(self, handler: _GuardedHandler) -> bool:
        """Whether a new connection may stay. At the limit one that is not in a request makes room:
        the oldest that never completed a request (a slow client), else the one idle the longest
        (the PBX's kept-alive connection, in use every few seconds, is the last to go); when every
        connection is in a request, the new one is refused."""
        if len(self.open) >= self.limits.max_connections:
            victim = next((h for h in self.open if h.never_served()), None)
            if victim is None:
                idle = [h for h in self.open if h.between_requests()]
                victim = min(idle, key=lambda h: h.last_request) if idle else None
            if victim is None:
                self.refusals.refused("connections full", "refused a connection: all %d connections are busy"
                                      " with requests (max_connections)", self.limits.max_connections)
                return False
            self.refusals.refused("connections evicted", "closed an idle or slow connection to make room:"
                                  " %d connections open (max_connections)", self.limits.max_connections)
            victim.drop()
        self.open[handler] = None
        return True

    def headers_late(self) -> None:
        self.refusals.refused("headers late", "closed a connection that sent no complete request headers"
                              " within %g s", self.limits.header_timeout, level=logging.INFO)


class _GuardedHandler(RequestHandler):
    """aiohttp's connection handler, counted by the guard, with a deadline for each request's headers."""

    __slots__ = ("_admitted", "_guard", "_header_timer", "last_request")

    def __init__(self, guard: _ConnectionGuard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard
        self._admitted = False
        self._header_timer: asyncio.TimerHandle | None = None
        #: when this connection's last request arrived (loop time)
        self.last_request = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit(self):
            if isinstance(transport, asyncio.Transport):
                transport.abort()  # before aiohttp starts a task for it: a refusal costs one accept and one close
            else:
                transport.close()
            return
        self._admitted = True
        if hasattr(transport, "max_size"):  # asyncio reads up to 256 KiB at a time: a client whose body we
            transport.max_size = READ_SIZE  # refuse after 4 KiB would have us copy that much first
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._guard.open.pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:  # a request's headers are complete
            self._disarm()
            self.last_request = self._loop.time()
        elif data and self._header_timer is None and self.between_requests():
            self._arm()  # the next request on a kept-alive connection has begun

    def never_served(self) -> bool:
        """Still sending its first request's headers."""
        return self._request_count == 0 and not self._upgraded

    def between_requests(self) -> bool:
        """Not in a request: still sending the first request's headers, or waiting for the next one."""
        if self._upgraded or self._messages or self._request_in_progress:
            return False
        if self._request_count == 0:
            return True
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def drop(self) -> None:
        self._disarm()
        self.force_close()

    def _arm(self) -> None:
        timeout = self._guard.limits.header_timeout
        if timeout > 0:
            self._header_timer = self._loop.call_later(timeout, self._headers_late, self._request_count)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self, count: int) -> None:
        self._header_timer = None
        if self._request_count == count and self.between_requests():
            self._guard.headers_late()
            self.force_close()


class AcceptErrorFilter(logging.Filter):
    """asyncio logs each failed ``accept()`` (out of file descriptors: EMFILE) and each failed
    set-up of an incoming connection with a traceback, as often as they happen: one line per kind
    per interval, without the traceback, is enough."""

    KINDS = ("socket.accept() out of system resource", "Error on transport creation for incoming connection")

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.refusals = RefusalLog(log, interval)

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        kind = next((k for k in self.KINDS if message.startswith(k)), None)
        if kind is None:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        self.refusals.refused(kind, "%s: %s", kind, exc or "", level=logging.WARNING)
        return False


def _install_accept_filter(interval: float) -> None:
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, AcceptErrorFilter) for f in asyncio_log.filters):
        asyncio_log.addFilter(AcceptErrorFilter(interval))


def effective_max_connections(wanted: int, open_files: int | None) -> int:
    """``max_connections``, but never more than the open-file limit leaves after :data:`RESERVED_FILES`."""
    if open_files is None or open_files <= 0:
        return wanted
    return max(1, min(wanted, open_files - RESERVED_FILES))


class _GuardedSite(web.TCPSite):
    """aiohttp's TCP site with the guard's protocol factory (and TLS handshakes under the header timeout)."""

    __slots__ = ("_guard",)

    def __init__(self, runner: web.BaseRunner, guard: _ConnectionGuard, *args: Any, **kwargs: Any) -> None:
        super().__init__(runner, *args, **kwargs)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        handshake = self._guard.limits.header_timeout if self._ssl_context and self._guard.limits.header_timeout > 0 \
            else None
        self._server = await loop.create_server(
            self._guard.protocol, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port, ssl_handshake_timeout=handshake,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


class WebhookServer:
    """The listening socket of the webhook. ``start()`` binds; ``stop()`` closes within a few seconds."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None, limits: ListenerLimits | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.limits = limits or ListenerLimits()
        self._runner: web.AppRunner | None = None
        self._guard: _ConnectionGuard | None = None

    @property
    def open_connections(self) -> int:
        return len(self._guard.open) if self._guard else 0

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/webhook"

    async def start(self) -> str:
        if not is_loopback(self.host) and self.ssl_context is None:
            log.warning("the webhook listens on %s without TLS: the CRM API key crosses the network in clear text;"
                        " use --tls-cert/--tls-key or a TLS proxy", self.host)
        open_files = raise_open_file_limit()
        limits = self.limits
        allowed = effective_max_connections(limits.max_connections, open_files)
        if allowed < limits.max_connections:
            log.warning("max_connections %d is more than the open-file limit (%s) allows: at most %d connections",
                        limits.max_connections, open_files, allowed)
            limits = ListenerLimits(allowed, limits.header_timeout, limits.keepalive_timeout, limits.log_interval)
        _install_accept_filter(limits.log_interval)
        runner = web.AppRunner(self.app, access_log_class=RedactingAccessLogger, access_log=access_log,
                               shutdown_timeout=SHUTDOWN_TIMEOUT, handle_signals=False,
                               keepalive_timeout=limits.keepalive_timeout, lingering_time=0)
        await runner.setup()
        assert runner.server is not None
        self._guard = _ConnectionGuard(runner.server, limits, RefusalLog(log, limits.log_interval))
        site = _GuardedSite(runner, self._guard, self.host, self.port, ssl_context=self.ssl_context,
                            reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        for address in runner.addresses:
            self.port = address[1]
            break
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
