"""The aiohttp application: ``POST /webhook`` for every action the PBX sends.

Everything a client can send is answered with a JSON envelope: 200 for what we understood,
4xx naming the problem for what we did not. A 5xx only ever means our own storage failed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from app.protocol import events as ev
from app.protocol import webhook_actions as wa
from app.protocol.envelope import Envelope, error_reply, reply
from app.protocol.redact import redact

from .backend import BackendUnavailable, WebhookBackend
from .ratelimit import AuthFailureLimiter, IpNetwork, Refusal, RefusalLog, client_address

log = logging.getLogger("app.webhook")

MAX_BODY = 1024 * 1024
#: what is read of a request without the right key: enough for ``test``, the only action it may ask
UNAUTHENTICATED_MAX_BODY = 4096
#: an event larger than this is kept as compact JSON, not as it came: every field is bounded, but
#: whitespace between them is not, and the event log keeps each event's text (real ones are < 2 KiB)
COMPACT_ABOVE = 16 * 1024
WEBHOOK_PATHS = ("/webhook", "/")


@dataclass
class WebhookConfig:
    """How the webhook behaves; built from the settings by the core."""

    crm_api_key: str | None
    contact_deadline: float = 0.4
    body_read_timeout: float = 10.0
    auth_failures_before_block: int = 10
    auth_block_seconds: float = 60.0
    max_body: int = MAX_BODY
    #: reverse proxies whose X-Forwarded-For / Forwarded name the client (none: the peer is the client)
    trusted_proxies: frozenset[IpNetwork] = frozenset()

    def __repr__(self) -> str:
        key = "set" if self.crm_api_key else "unset"
        return f"WebhookConfig(crm_api_key={key}, contact_deadline={self.contact_deadline})"


BACKEND = web.AppKey("backend", WebhookBackend)
CONFIG = web.AppKey("config", WebhookConfig)
LIMITER = web.AppKey("auth_limiter", AuthFailureLimiter)
REFUSALS = web.AppKey("refusal_log", RefusalLog)
_EXPECTED_AUTH = web.AppKey("expected_authorization", bytes)


class BadRequest(Exception):
    """A request we answer with a 4xx JSON error (never logged with its body)."""

    def __init__(self, status: int, message: str, action: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.action = action
        self.headers = headers


def _json(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(),
        status=status, content_type="application/json", charset="utf-8", headers=headers,
    )


def _error(status: int, message: str, action: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    return _json(error_reply(action, status, message), status, headers)


def _describe(error: ValidationError, where: str) -> str:
    first = error.errors()[0]
    path = ".".join(str(p) for p in first.get("loc", ())) or where
    if where and path != where:
        path = f"{where}.{path}"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{path}: {first.get('msg', 'invalid')}{more}"


async def handle_not_found(request: web.Request) -> web.Response:
    """Every other path: a JSON 404 (routes instead of a middleware, which would wrap every call)."""
    return _error(404, "Not Found")


def remote_address(request: web.Request) -> str:
    """The client's address (behind a trusted reverse proxy: the one it forwarded for)."""
    return client_address(request.remote, request.headers, request.app[CONFIG].trusted_proxies)


_remote = remote_address


async def _read_body(request: web.Request, limit: int) -> bytes:
    config = request.app[CONFIG]
    too_large = BadRequest(413, f"request body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        if request.content.is_eof():  # the body came with the headers (the usual case): no timer needed
            return await _read_at_most(request, limit, too_large)
        async with asyncio.timeout(config.body_read_timeout):  # unlike wait_for(), no task per request
            return await _read_at_most(request, limit, too_large)
    except TimeoutError:
        raise BadRequest(408, f"request body not received within {config.body_read_timeout:g} s") from None
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None


async def _read_at_most(request: web.Request, limit: int, too_large: BadRequest) -> bytes:
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _parse(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise BadRequest(400, "empty body: expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(400, "invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(400, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(400, f"body must be a JSON object, not {type(data).__name__}")
    if "\\ud" in text.lower() and _has_lone_surrogate(data):
        raise BadRequest(400, "invalid JSON: a string holds an unpaired surrogate escape (\\ud800-\\udfff)")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _has_lone_surrogate(data: Any) -> bool:
    """Whether a string (key or value) holds a lone surrogate, which no UTF-8 text can carry."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            items = (item,)
        elif isinstance(item, dict):
            items = tuple(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in items:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _has_key(request: web.Request) -> bool:
    """Whether the request carries the CRM API key (Bearer, the scheme case-insensitive; constant time)."""
    expected = request.app[_EXPECTED_AUTH]
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    given = token.strip().encode("utf-8", "surrogateescape")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given, expected)


def _refuse(request: web.Request, action: str | None) -> BadRequest:
    """The answer to a request without the right key: 401, or 429 once its address guessed too often.
    Only failures are counted and throttled: the right key is never refused (see ratelimit)."""
    remote = _remote(request)
    wait = request.app[LIMITER].refuse(remote)
    if wait:
        request.app[REFUSALS].refused("throttled", "throttled key guesses from %s (429)", remote,
                                      record=Refusal(time.time(), 429, action or "", remote, "too many wrong keys"))
        return BadRequest(429, "too many failed authorizations; try again later", action,
                          {"Retry-After": str(int(wait) + 1)})
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not request.app[_EXPECTED_AUTH]:
        message = "no CRM API key is configured on this workstation"
    elif not header:
        message = "missing Authorization header: expected the CRM API key after 'Bearer '"
    elif scheme.lower() != "bearer" or not token:
        message = "the Authorization header must be the word Bearer, a space and the CRM API key"
    else:
        message = "wrong CRM API key"
    request.app[REFUSALS].refused(f"401 {message}", "refused %s from %s: %s", action, remote, message,
                                  record=Refusal(time.time(), 401, action or "", remote, message))
    return BadRequest(401, message, action, {"WWW-Authenticate": 'Bearer realm="pbx-companion"'})


async def handle_webhook(request: web.Request) -> web.Response:
    if request.method != "POST":
        return _error(405, "Method Not Allowed: the PBX posts JSON here", headers={"Allow": "POST"})
    action: str | None = None
    try:
        has_key = _has_key(request)
        try:  # without the key only `test` may be asked: a big body is not read, let alone parsed
            raw = await _read_body(request, request.app[CONFIG].max_body if has_key else UNAUTHENTICATED_MAX_BODY)
        except BadRequest as exc:
            raise exc if has_key or exc.status != 413 else _refuse(request, None) from None
        data = _parse(raw)
        action = data.get("action") if isinstance(data.get("action"), str) else None
        if action != wa.TEST and not has_key:
            raise _refuse(request, action)  # before we say anything about the request's content
        try:
            envelope = Envelope.model_validate(data)
        except ValidationError as exc:
            raise BadRequest(400, _describe(exc, ""), action) from None
        action = envelope.action
        if len(raw) > COMPACT_ABOVE:
            raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return await _dispatch(request, envelope, raw)
    except BadRequest as exc:
        if exc.status not in (401, 429):
            refused_action, remote = exc.action or action or "", _remote(request)
            request.app[REFUSALS].refused(str(exc.status), "answered %d to %s from %s: %s", exc.status,
                                          refused_action or "?", remote, exc.message, level=logging.INFO,
                                          record=Refusal(time.time(), exc.status, refused_action, remote, exc.message))
        response = _error(exc.status, exc.message, exc.action or action, exc.headers)
        if exc.status in (408, 413) or not request.content.is_eof():
            # don't read the rest of a body we refused: aiohttp would, to keep the connection (up to
            # its lingering time), and a keyless client posting 1 MiB bodies would cost us each MiB
            response.force_close()
        return response
    except BackendUnavailable as exc:
        log.error("could not store %s: %s", action, redact(str(exc)))
        return _error(503, "storage unavailable, please redeliver", action)


async def _dispatch(request: web.Request, envelope: Envelope, raw: bytes) -> web.Response:
    backend = request.app[BACKEND]
    action = envelope.action
    if action == wa.GET_CONTACT:
        return await _get_contact(request, envelope)
    if action == wa.TEST:
        return _json(reply(wa.TEST, body={"success": True}))
    if action == wa.GET_USERS:
        return _json(reply(wa.GET_USERS, body=await backend.crm_users()))
    model = ev.EVENT_BODIES.get(action)
    if model is None:
        raise BadRequest(400, f"unknown action {action!r}", action)
    if not isinstance(envelope.body, dict):
        raise BadRequest(400, f"{action} needs a body object", action)
    try:
        body = model.model_validate(envelope.body)
    except ValidationError as exc:
        raise BadRequest(400, _describe(exc, "body"), action) from None
    await backend.ingest_event(envelope, body, raw, _remote(request))
    return _json(reply(action))


async def _get_contact(request: web.Request, envelope: Envelope) -> web.Response:
    try:
        params = wa.GetContactParams.model_validate(envelope.params)
    except ValidationError as exc:
        raise BadRequest(400, _describe(exc, "params"), wa.GET_CONTACT) from None
    backend = request.app[BACKEND]
    found = backend.find_contacts_now(params)  # the usual case: answered in place, no timer, no thread
    if found is not None:
        return _json(reply(wa.GET_CONTACT, list_=found))
    deadline = request.app[CONFIG].contact_deadline
    try:
        async with asyncio.timeout(deadline):  # unlike wait_for(), no task per request
            found = await backend.find_contacts(params)
    except TimeoutError:
        log.warning("get_contact for %s took longer than %d ms: answered an empty list so the PBX can route the call",
                    params.phone or params.e164_phone, deadline * 1000)
        found = []
    except BackendUnavailable as exc:
        log.error("get_contact lookup failed: %s; answered an empty list", redact(str(exc)))
        found = []
    return _json(reply(wa.GET_CONTACT, list_=found))


async def handle_health(request: web.Request) -> web.Response:
    return _json({"ok": True})


def create_app(backend: WebhookBackend, config: WebhookConfig,
               extend: Sequence[Callable[[web.Application], None]] = ()) -> web.Application:
    """Build the webhook application around ``backend`` (the core's services); ``extend`` adds
    more routes on the same listener (the team server's agent API) before the catch-all 404."""
    app = web.Application(client_max_size=config.max_body, handler_args={"max_field_size": 16384})
    app[BACKEND] = backend
    app[CONFIG] = config
    app[LIMITER] = AuthFailureLimiter(config.auth_failures_before_block, 60.0, config.auth_block_seconds)
    app[REFUSALS] = RefusalLog(log)
    app[_EXPECTED_AUTH] = config.crm_api_key.encode() if config.crm_api_key else b""
    for path in WEBHOOK_PATHS:
        app.router.add_route("*", path, handle_webhook)  # it answers 405 itself for other methods
    app.router.add_get("/health", handle_health)
    for add_routes in extend:
        add_routes(app)
    app.router.add_route("*", "/{tail:.*}", handle_not_found)
    return app
