"""HTTP client of the PBX's UserCRM API (``POST {pbx}/integration/usercrm/``, Bearer pbx_apikey).

Safety rules this module keeps:

* ``make_call`` and ``switch_call_hold`` are sent exactly once. If the answer is lost after the
  request may have reached the PBX we raise :class:`PbxOutcomeUnknown` instead of re-sending:
  a second ``make_call`` rings the agent's phone twice.
* Read-only actions (``get_cdr``, ``get_domain_user_list``) are retried on connect errors, timeouts,
  dropped connections, HTTP 429 and 502/503/504, with full-jitter exponential backoff.
* The API key appears in no log record, exception message or repr. httpx/httpcore loggers are set
  to WARNING because httpx logs full URLs at INFO.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from app.protocol.cdr import CdrRecord
from app.protocol.pbx_actions import (
    GET_CDR,
    GET_DOMAIN_USER_LIST,
    MAKE_CALL,
    SWITCH_CALL_HOLD,
    DomainUser,
    GetCdrParams,
    GetCdrRequest,
    MakeCallParams,
    SwitchCallHoldParams,
    request,
)

from .errors import (
    PbxError,
    PbxKeyRefused,
    PbxOutcomeUnknown,
    PbxProtocolError,
    PbxRejected,
    PbxReplyTooLarge,
    PbxServerError,
    PbxUnreachable,
)

__all__ = ["PbxClient"]

log = logging.getLogger(__name__)

# httpx logs every request's full URL at INFO; httpcore logs connection details at DEBUG.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

API_PATH = "integration/usercrm/"
#: Upper bound of one backoff sleep, and of a honoured ``Retry-After``.
BACKOFF_CAP = 5.0
#: The largest PBX reply read (a get_cdr page of 100 records is ~100 KB); bigger ones are refused.
MAX_REPLY_BYTES = 8 * 1024 * 1024
#: HTTP statuses worth another try of a read-only action.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Keys under which a tolerant reader finds a list inside ``body``.
_LIST_KEYS = ("list", "items")
#: Keys under which a PBX may put a human-readable error.
_MESSAGE_KEYS = ("message", "error", "msg", "detail", "error_message", "description")


class _Secret:
    """Holds the API key; its repr never shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class _Retry(Exception):
    """Internal: one attempt failed in a way worth another try (read-only actions only)."""

    def __init__(self, final: PbxError, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.final = final
        self.reason = reason
        self.retry_after = retry_after


def _parse_base_url(pbx_url: str) -> tuple[str, str]:
    """Return (base URL ending in ``/integration/usercrm/``, host[:port] for messages)."""
    if not isinstance(pbx_url, str) or not pbx_url.strip():
        raise ValueError("the PBX address is empty; it must look like https://pbx.example.com")
    url = pbx_url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the PBX address must start with https:// (or http://), like https://pbx.example.com")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("the PBX address must not contain a user name, password, query (?...) or fragment (#...)")
    try:
        _ = parts.port  # validates the port: raises ValueError if it is not a number in range
    except ValueError:
        raise ValueError("the PBX address has an invalid port") from None
    host = parts.netloc
    path = parts.path.rstrip("/")
    # Tolerate an address pasted with the API path already on it.
    if path.endswith("/integration/usercrm"):
        path = path[: -len("/integration/usercrm")]
    base = f"{parts.scheme}://{parts.netloc}{path}/{API_PATH}"
    return base, host


def _check_key(api_key: str) -> str:
    if not isinstance(api_key, str) or not api_key.strip():
        raise ValueError("the PBX API key is empty")
    key = api_key.strip()
    if any(not (0x21 <= ord(ch) <= 0x7E) for ch in key):
        # Do not echo the key: it is a secret even when malformed.
        raise ValueError("the PBX API key contains spaces or characters that cannot be sent in an HTTP header")
    return key


def _unix_seconds(value: float, *, round_up: bool) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("start_dt/end_dt must be unix timestamps (seconds)")
    return str(math.ceil(value) if round_up else math.floor(value))


def _validation_summary(error: ValidationError) -> str:
    """Field names and messages only: input values may hold tokens (CDR ``link``)."""
    items = []
    for err in error.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "record"
        items.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(items)


class PbxClient:
    """Asynchronous client of the PBX UserCRM API; one shared connection pool for its whole life.

    Use ``async with PbxClient(url, key) as pbx:`` or call :meth:`aclose`. All methods raise
    :class:`app.pbx.errors.PbxError` subclasses on failure (``ValueError`` for bad arguments).
    """

    def __init__(
        self,
        pbx_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base_url, self._host = _parse_base_url(pbx_url)
        self._key = _Secret(_check_key(api_key))
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if retries < 0 or backoff < 0:
            raise ValueError("retries and backoff must not be negative")
        self._timeout = float(timeout)
        self._connect_timeout = float(connect_timeout)
        self._retries = int(retries)
        self._backoff = float(backoff)
        self._max_reply = int(max_reply_bytes)
        self._closed = False
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {self._key.value}",
                "Accept": "application/json",
                "User-Agent": "pbx-companion",
            },
            timeout=httpx.Timeout(self._timeout, connect=self._connect_timeout),
            transport=transport,
            # A redirect would turn the POST into a GET or drop the Authorization header: report it instead.
            follow_redirects=False,
        )

    # -- life cycle -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The PBX host[:port], safe to show and log."""
        return self._host

    def __repr__(self) -> str:
        return f"PbxClient(host={self._host!r})"

    async def aclose(self) -> None:
        """Close the connection pool. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._http.aclose()

    async def __aenter__(self) -> PbxClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- actions --------------------------------------------------------------------------------

    async def get_cdr(
        self,
        *,
        numbers: Sequence[str] | None = None,
        start_dt: float | None = None,
        end_dt: float | None = None,
        newest_first: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CdrRecord]:
        """One page of call history. ``numbers`` filters on src or dst; an empty list matches nothing
        (returns ``[]`` without asking: "no numbers" must not mean "every call")."""
        if isinstance(numbers, (str, bytes)):
            raise TypeError("numbers must be a list of phone numbers, not a single string")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive integer")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError("offset must be a non-negative integer")
        number_list: list[str] | None = None
        if numbers is not None:
            number_list = [str(n).strip() for n in numbers if str(n).strip()]
            if not number_list:
                return []
        params = GetCdrParams(
            start_dt=None if start_dt is None else _unix_seconds(start_dt, round_up=False),
            end_dt=None if end_dt is None else _unix_seconds(end_dt, round_up=True),
            src_or_dst_list=number_list,
        )
        req = GetCdrRequest(sort={"dt": "-" if newest_first else "+"}, limit=limit, offset=offset, params=params)
        message = request(
            GET_CDR,
            str(uuid.uuid4()),
            params.model_dump(exclude_none=True),
            sort=req.sort,
            limit=req.limit,
            offset=req.offset,
        )
        body = await self._call(GET_CDR, message)
        return self._validate_list(GET_CDR, body, CdrRecord)

    async def iter_cdr(
        self,
        *,
        numbers: Sequence[str] | None = None,
        start_dt: float | None = None,
        end_dt: float | None = None,
        newest_first: bool = True,
        page_size: int = 100,
        max_records: int | None = None,
    ) -> AsyncIterator[CdrRecord]:
        """Every matching record, one at a time (see :meth:`iter_cdr_pages`)."""
        async for page in self.iter_cdr_pages(numbers=numbers, start_dt=start_dt, end_dt=end_dt,
                                              newest_first=newest_first, page_size=page_size,
                                              max_records=max_records):
            for record in page:
                yield record

    async def iter_cdr_pages(
        self,
        *,
        numbers: Sequence[str] | None = None,
        start_dt: float | None = None,
        end_dt: float | None = None,
        newest_first: bool = True,
        page_size: int = 100,
        max_records: int | None = None,
    ) -> AsyncIterator[list[CdrRecord]]:
        """Every matching record, page by page (offset += page size) until a short page.

        Each yielded list holds the records new to this walk (never empty): records seen on an
        earlier page are skipped (new calls shift "newest first" pages while we walk them), and
        a full page of nothing new stops the walk (a PBX ignoring ``offset``). Callers that show
        progress store and show a page at a time; ``max_records`` caps the total.

        A page whose reply is over ``max_reply_bytes`` is asked for again in halves (and the page
        size grows back after); a single record over the bound alone is skipped with a warning, so
        one broken or hostile record does not end the walk.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError("page_size must be a positive integer")
        if max_records is not None and max_records < 0:
            raise ValueError("max_records must not be negative")
        seen: set[str] = set()
        yielded = 0
        offset = 0
        size = page_size
        while max_records is None or yielded < max_records:
            try:
                page = await self.get_cdr(
                    numbers=numbers,
                    start_dt=start_dt,
                    end_dt=end_dt,
                    newest_first=newest_first,
                    limit=size,
                    offset=offset,
                )
            except PbxReplyTooLarge:
                if size > 1:
                    size //= 2
                    continue
                log.warning("PBX get_cdr: the record at offset %d alone is larger than %d bytes; skipped",
                            offset, self._max_reply)
                offset += 1
                continue
            fresh: list[CdrRecord] = []
            for record in page:
                if record.uniqueid in seen:
                    continue
                seen.add(record.uniqueid)
                fresh.append(record)
            if max_records is not None:
                fresh = fresh[: max_records - yielded]
            if fresh:
                yielded += len(fresh)
                yield fresh
            if max_records is not None and yielded >= max_records:
                return
            if len(page) < size:
                return
            if not fresh:
                log.warning("PBX get_cdr returned the same records again at offset %d; stopping", offset)
                return
            offset += len(page)
            size = min(page_size, size * 2)

    async def make_call(self, crm_user_id: str, dst: str) -> Any:
        """Click-to-dial: the PBX rings the agent's phone, then ``dst``. Sent exactly once.

        Returns the reply ``body`` (e.g. ``{"success": true}``; ``None`` if the PBX sent none).
        A lost answer raises :class:`PbxOutcomeUnknown`: the phone may ring, do not retry blindly.
        """
        if not isinstance(dst, str) or not dst.strip():
            raise ValueError("the number to call is empty")
        params = self._params(MakeCallParams, crm_user_id=crm_user_id, dst=dst.strip())
        message = request(MAKE_CALL, str(uuid.uuid4()), params)
        return self._check_success(MAKE_CALL, await self._call(MAKE_CALL, message))

    async def switch_call_hold(self, crm_user_id: str, call_id: str) -> Any:
        """Toggle hold on ``call_id``. Sent exactly once (a second toggle would undo the first)."""
        params = self._params(SwitchCallHoldParams, crm_user_id=crm_user_id, call_id=call_id)
        message = request(SWITCH_CALL_HOLD, str(uuid.uuid4()), params)
        return self._check_success(SWITCH_CALL_HOLD, await self._call(SWITCH_CALL_HOLD, message))

    async def get_domain_user_list(self) -> list[DomainUser]:
        """The PBX's users (extensions)."""
        message = request(GET_DOMAIN_USER_LIST, str(uuid.uuid4()), {})
        body = await self._call(GET_DOMAIN_USER_LIST, message)
        return self._validate_list(GET_DOMAIN_USER_LIST, body, DomainUser)

    # -- internals ------------------------------------------------------------------------------

    @staticmethod
    def _params(model: type[BaseModel], **values: Any) -> dict[str, Any]:
        try:
            return model.model_validate(values).model_dump()
        except ValidationError as exc:
            fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")}))
            raise ValueError(f"invalid {fields or 'arguments'}: ids must be non-empty strings") from None

    def _redact(self, text: object) -> str:
        value = str(text)
        key = self._key.value
        if key and key in value:
            value = value.replace(key, "***")
        return value

    async def _call(self, action: str, message: dict[str, Any]) -> Any:
        """Send one action; retry read-only ones. Returns the envelope's body."""
        if self._closed:
            raise RuntimeError("this PbxClient is closed")
        idempotent = action in (GET_CDR, GET_DOMAIN_USER_LIST)
        attempts = 1 + (self._retries if idempotent else 0)
        log.debug("PBX %s action_id=%s -> %s", action, message["action_id"], self._host)
        for attempt in range(1, attempts + 1):
            try:
                return await self._attempt(action, message, idempotent=idempotent)
            except _Retry as retry:
                if attempt >= attempts:
                    raise retry.final from None
                delay = self._delay(attempt, retry.retry_after)
                log.warning(
                    "PBX %s attempt %d/%d failed (%s); retrying in %.2f s",
                    action, attempt, attempts, retry.reason, delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, BACKOFF_CAP)
        return random.uniform(0.0, min(BACKOFF_CAP, self._backoff * 2.0 ** min(attempt - 1, 32)))

    async def _attempt(self, action: str, message: dict[str, Any], *, idempotent: bool) -> Any:
        host = self._host

        def unknown(reason: str) -> PbxError:
            error = PbxOutcomeUnknown(action, reason, host=host)
            if idempotent:
                raise _Retry(error, reason)
            return error

        try:
            # httpx's read timeout is per read; this bounds the whole exchange (a drip-feeding server).
            async with asyncio.timeout(self._connect_timeout + self._timeout):
                response = await self._bounded_post(action, message, host)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            reason = self._connect_reason(exc)
            error = PbxUnreachable(action, reason, host=host)
            if idempotent:
                raise _Retry(error, reason) from None
            raise error from None
        except (httpx.TimeoutException, TimeoutError):
            raise unknown(f"timed out after {self._timeout:g} s") from None
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.CloseError):
            raise unknown("the connection was closed before the reply") from None
        except httpx.ProxyError:
            # The proxy's message may quote its own credentials: keep it out.
            raise PbxUnreachable(action, "the HTTP proxy refused the connection", host=host) from None
        except httpx.TransportError as exc:
            # Never include str(exc) here: a local protocol error may quote header values.
            raise PbxUnreachable(action, type(exc).__name__, host=host) from None

        log.debug("PBX %s action_id=%s <- HTTP %d", action, message["action_id"], response.status_code)
        return self._read_reply(action, response, idempotent=idempotent)

    async def _bounded_post(self, action: str, message: dict[str, Any], host: str) -> httpx.Response:
        """POST and read the reply, refusing one larger than ``max_reply_bytes`` before it is all in
        memory (a broken or hostile PBX answering ``get_cdr`` with hundreds of MB)."""
        limit = self._max_reply
        too_large = PbxReplyTooLarge(action, f"the reply is larger than {limit} bytes", host=host)
        async with self._http.stream("POST", "", json=message) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large
            body = bytearray()
            async for chunk in response.aiter_bytes():  # decoded: a small gzip bomb counts at its real size
                body += chunk
                if len(body) > limit:
                    raise too_large
        decoded = ("content-encoding", "content-length")
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in decoded]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=response.request)

    def _connect_reason(self, exc: Exception) -> str:
        if isinstance(exc, httpx.ConnectTimeout):
            return f"no connection within {self._connect_timeout:g} s"
        if isinstance(exc, httpx.PoolTimeout):
            return "too many requests in flight"
        text = self._redact(exc)
        chain: list[BaseException] = []
        cause: BaseException | None = exc
        while cause is not None and cause not in chain and len(chain) < 10:
            chain.append(cause)
            cause = cause.__cause__ or cause.__context__
        if any(isinstance(c, ssl.SSLError) for c in chain) or "SSL" in text or "CERTIFICATE" in text.upper():
            ssl_error = next((c for c in chain if isinstance(c, ssl.SSLError)), None)
            detail = getattr(ssl_error, "reason", None) or text
            return f"TLS handshake failed: {self._redact(detail)}"
        if any(isinstance(c, socket.gaierror) for c in chain):
            return "the host name could not be resolved"
        if any(isinstance(c, ConnectionRefusedError) for c in chain) or "refused" in text.lower():
            return "connection refused"
        if any(isinstance(c, ConnectionResetError) for c in chain):
            return "the connection was reset"
        return text or type(exc).__name__

    def _read_reply(self, action: str, response: httpx.Response, *, idempotent: bool) -> Any:
        host = self._host
        status = response.status_code
        if status in (401, 403):
            raise PbxKeyRefused(action, status, host=host)
        if status in RETRY_STATUSES or status >= 500:
            if not idempotent and status in (502, 504):
                # A gateway gave up waiting for the PBX: the PBX may still have acted.
                raise PbxOutcomeUnknown(action, f"gateway error HTTP {status}", host=host)
            error = PbxServerError(action, status, host=host)
            if idempotent and status in RETRY_STATUSES:
                raise _Retry(error, f"HTTP {status}", self._retry_after(response))
            raise error
        if 300 <= status < 400:
            location = urlsplit(response.headers.get("location", ""))
            where = f" to {location.scheme}://{location.hostname}" if location.hostname else ""
            raise PbxProtocolError(action, f"HTTP {status} redirect{where}", host=host)
        if 400 <= status < 500:
            data = self._try_json(response)
            raise PbxRejected(action, status, self._message_of(data) or response.reason_phrase, host=host)
        if not 200 <= status < 300:
            raise PbxProtocolError(action, f"unexpected HTTP {status}", host=host)

        data = self._json(action, response)
        if not isinstance(data, dict):
            raise PbxProtocolError(action, f"the reply is a JSON {type(data).__name__}, not an object", host=host)
        code = data.get("code")
        if code is not None:
            if isinstance(code, str) and code.strip().isdigit():
                code = int(code.strip())
            if isinstance(code, bool) or not isinstance(code, int):
                raise PbxProtocolError(action, "the reply's code is not a number", host=host)
            if code != 200:
                raise PbxRejected(action, code, self._message_of(data), host=host)
        if "body" in data:
            return data["body"]
        if "list" in data:  # get_contact-style reply
            return data["list"]
        if code == 200:
            return None
        raise PbxProtocolError(action, "the reply has neither code nor body", host=host)

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        value = response.headers.get("retry-after", "").strip()
        try:
            seconds = float(value)
        except ValueError:
            return None  # an HTTP date, or nothing: use our own backoff
        return seconds if math.isfinite(seconds) and seconds >= 0 else None

    def _json(self, action: str, response: httpx.Response) -> Any:
        content = response.content
        ctype = response.headers.get("content-type", "").lower()
        head = content[:512].lstrip().lower()
        if "html" in ctype or head.startswith((b"<!doctype", b"<html", b"<head", b"<body")):
            raise PbxProtocolError(action, "an HTML page instead of JSON", host=self._host)
        if not content.strip():
            raise PbxProtocolError(action, "an empty reply", host=self._host)
        try:
            return json.loads(content)
        except (ValueError, RecursionError):
            raise PbxProtocolError(action, "the reply is not JSON", host=self._host) from None

    @staticmethod
    def _try_json(response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError):
            return None

    def _message_of(self, data: Any) -> str:
        """The PBX's own explanation, looked for at the top level and inside ``body``."""
        for where in (data, data.get("body") if isinstance(data, dict) else None):
            if isinstance(where, dict):
                for key in _MESSAGE_KEYS:
                    value = where.get(key)
                    if isinstance(value, str) and value.strip():
                        return self._redact(value)
                    if isinstance(value, dict):
                        inner = value.get("message") or value.get("text")
                        if isinstance(inner, str) and inner.strip():
                            return self._redact(inner)
        return ""

    def _check_success(self, action: str, body: Any) -> Any:
        if isinstance(body, dict) and body.get("success") is False:
            code = body.get("code")
            raise PbxRejected(
                action,
                code if isinstance(code, int) and not isinstance(code, bool) else None,
                self._message_of(body) or "the PBX answered success: false",
                host=self._host,
            )
        return body

    def _validate_list(self, action: str, body: Any, model: type[BaseModel]) -> list[Any]:
        items = body
        if isinstance(body, dict):
            for key in _LIST_KEYS:
                if isinstance(body.get(key), list):
                    items = body[key]
                    break
        if not isinstance(items, list):
            shape = "nothing" if body is None else f"a JSON {type(body).__name__}"
            raise PbxProtocolError(action, f"expected a list of records, got {shape}", host=self._host)
        result = []
        for index, item in enumerate(items):
            try:
                result.append(model.model_validate(item))
            except ValidationError as exc:
                raise PbxProtocolError(
                    action, f"record {index + 1} is invalid: {_validation_summary(exc)}", host=self._host
                ) from None
        return result
