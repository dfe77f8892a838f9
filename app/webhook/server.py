"""Running the webhook application on a socket, with a redacting access log."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from app.protocol.redact import redact

log = logging.getLogger("app.webhook")
access_log = logging.getLogger("app.webhook.access")

SHUTDOWN_TIMEOUT = 3.0


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


class WebhookServer:
    """The listening socket of the webhook. ``start()`` binds; ``stop()`` closes within a few seconds."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/webhook"

    async def start(self) -> str:
        if not is_loopback(self.host) and self.ssl_context is None:
            log.warning("the webhook listens on %s without TLS: the CRM API key crosses the network in clear text;"
                        " use --tls-cert/--tls-key or a TLS proxy", self.host)
        raise_open_file_limit()
        runner = web.AppRunner(self.app, access_log_class=RedactingAccessLogger, access_log=access_log,
                               shutdown_timeout=SHUTDOWN_TIMEOUT, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True)
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
