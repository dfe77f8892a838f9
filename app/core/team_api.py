"""The service API in team mode: :class:`~app.core.api.CompanionApi` over a team server's agent API.

With a team server, this computer is not the PBX's webhook: the server is, and it keeps the call
journal, the directory and the PBX key. :class:`TeamApi` is the same service API the windows use
standalone (:class:`~app.core.standalone.StandaloneApi`), with the same signatures, return types
and error types, answered by the server: every read and change is one request to
``/agent/api/…`` (docs/agent-api.md, "REST"), and the changes come from the agent's feed
(``GET /agent/ws``, :class:`~app.core.feed_client.FeedClient`) as the very bus messages the local
engine publishes (:class:`~app.core.bus.CallChanged`, ``PresenceChanged``, ``CdrAdded``). No
window knows which one it has. Qt-free; one ``aiohttp`` session for the app's life (the feed is a
WebSocket, which httpx does not speak, so REST goes through the same library and session).

The agent's token goes in the ``Authorization`` header of each request and nowhere else: not in
a URL, a log line, an exception or a ``repr`` (it is registered with :func:`~app.protocol.redact.redact`
too, so a log line that somehow held it is masked).

**Errors** are the core's types, so windows word them as they do standalone:

* the server could not be reached, the TLS handshake failed, it answered as something other than
  a team server, or its database is away: :class:`TeamUnavailable` (``step`` says which part:
  the address, TLS, the server), also what :func:`check_connection` reports;
* 401 (and 429, which the server answers only to an address that kept sending bad tokens): the
  token was refused, :class:`TeamAuthError` (a :class:`~app.core.api.NotConfigured`: the agent
  needs a new token in the settings);
* 502: the PBX failed on the server's side: the :class:`~app.pbx.errors.PbxError` subclass the
  server's sentence is of (:func:`pbx_error_from_server`), so "your phone may ring" is still told
  apart from "the PBX said no"; a ``make_call`` or ``switch_call_hold`` whose answer was lost on
  the way back from the server is :class:`~app.pbx.errors.PbxOutcomeUnknown` (it may have been
  carried out; it is never re-sent);
* 503 for a missing server setting (its PBX URL or key): :class:`~app.core.api.NotConfigured`;
* any other refusal (400, 403 for hold of another agent's call, 404, 413, 500): :class:`TeamRefused`
  with the server's sentence.

**Connection** (:class:`TeamConnection`, :attr:`TeamApi.connection`): ``connecting`` → ``live``
(the replay is over); then ``connecting`` when the server closed the feed on purpose (restarting),
``unreachable`` when the connection was lost (the heartbeat went unanswered, the network) or an
attempt failed, and ``live`` again once a reconnect's replay is over; ``rejected`` when the token
was revoked (no more attempts); ``stopped`` after :meth:`TeamApi.stop`.
``on_state`` callbacks follow it (the UI shows "team server unreachable", reloads the missed
list when it is ``live`` again), ``on_reset`` callbacks are told when the server answered
``fresh`` or ``reset`` and the UI must reload what it shows over REST.

**Replay**: the messages replayed on a reconnect are collected until ``live`` and then
published, each record's newest message once (a call that rang and ended while the app was away
arrives once, as ended, instead of popping up and closing again); live messages are published as
they come. A message at or below the last seq handled is never published twice.

**Resume point**: after the messages are handled the feed's resume point (seq and epoch) goes to
``state_path`` (JSON, written atomically, owner-only, at most a few times a second), together
with the agent as the server last described them, so that the app resumes after a restart and
can start while the server is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError
from yarl import URL

from app.pbx.errors import (
    PbxError,
    PbxKeyRefused,
    PbxOutcomeUnknown,
    PbxProtocolError,
    PbxRejected,
    PbxServerError,
    PbxUnreachable,
)
from app.protocol import events as ev
from app.protocol.agent_api import (
    FEED_PATH,
    CallMessage,
    CdrMessage,
    CloseCode,
    ContactBody,
    ContactMessage,
    DialBody,
    ErrorMessage,
    HelloMessage,
    LiveMessage,
    NoteBody,
    PhoneBody,
    PresenceMessage,
    ResumePoint,
    WireAgent,
    WireCall,
    WireCaller,
    WirePresence,
    parse_message,
    recording_path,
)
from app.protocol.cdr import CDR_FIELDS
from app.protocol.pbx_actions import DomainUser
from app.protocol.phones import Phone, PhoneError, PhoneNormalizer
from app.protocol.redact import redact, register_secret
from app.storage import CallRecord, CdrRow, ContactRecord, CrmUser, EventRecord, PhoneRecord, PresenceRecord

from .agent import AgentIdentity
from .api import (
    MAX_MISSED,
    CallerInfo,
    CallsApi,
    CardData,
    ContactDraft,
    ContactsApi,
    DialResult,
    EventsApi,
    HistoryApi,
    MissedCall,
    NotConfigured,
    PbxPage,
    PresenceApi,
    RecentDial,
    RecordingMedia,
    RecordingUnavailable,
    SetupProblem,
    TeamSnapshot,
)
from .bus import BusMessage, CallChanged, CdrAdded, ContactChanged, EventBus, PresenceChanged, Subscription
from .feed import agent_identity_from, call_record_from, caller_info_from, presence_record_from
from .feed_client import FeedClient, FeedDrop, FeedRejected, FeedText
from .history import HistoryEntry
from .timeline import TimelineRow

if TYPE_CHECKING:
    from app.webhook.ratelimit import Refusal

    from .contacts_io import ImportSummary
    from .secrets import Keys
    from .settings import Settings

log = logging.getLogger("app.core.team")

#: The REST endpoints' common prefix (docs/agent-api.md, "REST").
API_PREFIX: Final = "/agent/api"
#: How long connecting may take, and the longest wait for a byte of an answer (the feed's
#: handshake, a recording); a lost feed is noticed by its heartbeat (a pong missing for half the
#: 10 s ping interval), so "unreachable" shows within about 15 s, or 10 s + 10 s for a server
#: that stopped answering before the connection was lost.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 10.0
#: A recording comes through the server from the PBX's file server, which may pause longer.
RECORDING_READ_TIMEOUT = 30.0
#: The longest one request may take: an ordinary one, and the PBX's history (the server walks
#: up to 2000 records of the PBX's get_cdr before it answers).
REQUEST_TIMEOUT = 30.0
#: the numbers the dialer's "recent" list keeps
MAX_RECENT_DIALS = 50
#: the largest recording the player takes through the server (held in memory: ~70 min of 128 kbit/s)
MAX_RECORDING_BYTES = 64 * 1024 * 1024
PBX_HISTORY_TIMEOUT = 300.0
#: Limits the server sets (rest.py): keys per timeline/history request, search and missed limits.
MAX_KEYS = 20
MAX_SEARCH_LIMIT = 200
MAX_CDR_RECORDS = 2000
#: The feed's caller facts answer ``contacts.caller`` for this long after the call's message
#: (the pop-up asks right away); later, or for a call without them, the server is asked.
CALLER_FRESH_SECONDS = 60.0
CALLER_CACHE_SIZE = 256
#: The resume point is written at most this often.
STATE_WRITE_INTERVAL = 0.25
STATE_VERSION = 1

ConnectionState = Literal["connecting", "live", "unreachable", "rejected", "stopped"]
CONNECTING: Final = "connecting"
LIVE: Final = "live"
UNREACHABLE: Final = "unreachable"
REJECTED: Final = "rejected"
STOPPED: Final = "stopped"

#: why :meth:`TeamApi.start` refuses to start without a token
NO_TOKEN: Final = "no agent token is set: enter the token the administrator gave you in the settings"

#: Which part of reaching the team server failed (:class:`TeamUnavailable`, :class:`ConnectionCheck`).
Step = Literal["url", "tls", "token", "server", "feed"]

#: The feed's call events as the PBX actions the windows know from the local bus.
CALL_ACTIONS: Final[Mapping[str, str]] = {
    "ringing": ev.CALL_RINGING,
    "answered": ev.CALL_ANSWER,
    "held": ev.CALL_HELD,
    "active": ev.CALL_ACTIVE,
    "ended": ev.CALL_HANGUP,
    "missed": ev.CALL_HANGUP,
    "updated": ev.CDR_APPEND,
}
PRESENCE_ACTIONS: Final[Mapping[str, str]] = {"registration": ev.USER_CHANGE, "agent_status": ev.AGENT_CHANGE}
#: A feed the server closed on purpose (restarting, the app too slow, a bad frame): reconnecting
#: right away will most likely work, so the state is "connecting" rather than "unreachable".
_ORDERLY_CLOSES = frozenset({1000, CloseCode.GOING_AWAY, CloseCode.TOO_SLOW, CloseCode.PROTOCOL_ERROR})
#: ``CdrRow.source`` of a CDR that came from the team server's feed.
TEAM_SOURCE: Final = "team"


# -- errors ------------------------------------------------------------------------------------


class TeamAuthError(NotConfigured):
    """The team server refused the agent token (unknown, revoked or rotated): the agent needs a
    new one from the administrator (``pbx-companion agents rotate``), entered in the settings.

    A :class:`NotConfigured`: like a missing key, it is fixed in the settings, not by retrying.
    """


class TeamUnavailable(RuntimeError):
    """The team server could not be asked: ``step`` is what failed -- ``"url"`` (no connection to
    the address, or what answered is not a team server), ``"tls"`` (the TLS handshake or the
    server's certificate), ``"server"`` (the server answered but cannot serve now: its database
    is away, or the proxy in front of it found no server). ``str()`` is one readable sentence."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(reason)
        self.step: Step = step
        self.reason = reason


class TeamRefused(RuntimeError):
    """The team server refused the request: ``status`` is its HTTP status (400 bad input, 403
    hold of a call that is not the agent's, 404 no such call or contact of theirs, 413, 500 a bug
    on the server) and ``str()`` its sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TeamPbxError(PbxError):
    """A PBX failure the server reported in words this client does not recognise: ``str()`` is
    the server's sentence as it is."""

    def __init__(self, action: str, message: str) -> None:
        self.server_message = message
        super().__init__(action, message)

    def _sentence(self) -> str:
        return self.server_message


# The sentences of app.pbx.errors (what the server answers with a 502), read back into their class.
_ACTION = re.compile(r"\((?P<action>[a-z][a-z_]*)\)")
_AT = r"(?: at (?P<host>[^\s;,()]+))?"
_PBX_SENTENCES: tuple[tuple[type[PbxError], re.Pattern[str]], ...] = (
    (PbxUnreachable, re.compile(rf"^Could not .+: the PBX{_AT} could not be reached(?: \((?P<reason>.*)\))?; check ")),
    (PbxKeyRefused, re.compile(rf"^Could not .+: the PBX{_AT} refused the API key \(HTTP (?P<status>\d+)\)")),
    (PbxRejected, re.compile(r'^The PBX refused to .+?\([a-z_]+\)(?: \((?:code (?P<code>-?\d+))?(?:, )?'
                             r'(?:"(?P<message>.*)")?\))?(?:; check the PBX address in the settings)?\.$')),
    (PbxProtocolError, re.compile(rf"^Could not .+: the reply of the PBX{_AT} was not understood"
                                  r"(?: \((?P<detail>.*)\))?; check ")),
    (PbxServerError, re.compile(rf"^Could not .+: the PBX{_AT} (?:is receiving too many requests|had a server "
                                r"error) \(HTTP (?P<status>\d+)\)")),
    (PbxOutcomeUnknown, re.compile(rf"^It is not known whether the PBX{_AT} .+, because no reply came"
                                   r"(?: \((?P<reason>.*?)\))?[:;] ")),
    (PbxOutcomeUnknown, re.compile(rf"^Could not .+: no reply from the PBX{_AT}(?: \((?P<reason>.*)\))?; try again")),
)


def pbx_error_from_server(action: str, message: str) -> PbxError:
    """The :class:`PbxError` subclass (with its fields) whose sentence the server answered with a 502.

    The server sends ``str()`` of its PBX error (redacted); this reads it back, so that a window
    words a team-mode failure as it words a local one (``pbx_error_text``). ``action`` is the
    endpoint's PBX action, used when the sentence names none. A sentence of no known form is a
    :class:`TeamPbxError` that reads as the server's text.
    """
    found = _ACTION.search(message)
    action = found["action"] if found else action
    for kind, pattern in _PBX_SENTENCES:
        match = pattern.match(message)
        if match is None:
            continue
        parts = match.groupdict()
        host = parts.get("host") or None
        if kind is PbxUnreachable:
            return PbxUnreachable(action, parts.get("reason") or "", host=host)
        if kind is PbxKeyRefused:
            return PbxKeyRefused(action, int(parts["status"]), host=host)
        if kind is PbxRejected:
            code = parts.get("code")
            return PbxRejected(action, None if code is None else int(code), parts.get("message") or "", host=host)
        if kind is PbxProtocolError:
            return PbxProtocolError(action, parts.get("detail") or "", host=host)
        if kind is PbxServerError:
            return PbxServerError(action, int(parts["status"]), host=host)
        return PbxOutcomeUnknown(action, parts.get("reason") or "", host=host)
    return TeamPbxError(action, message)


# -- the server's address ------------------------------------------------------------------------


def server_base(server_url: str) -> str:
    """The team server's base URL from what the agent typed (``https://team.example:8765``).

    A trailing ``/webhook`` (the URL ``serve`` prints for the PBX) is dropped. Raises
    :class:`NotConfigured` for an address that is not an http(s) URL, or that carries a user
    name, password, query or fragment (the token goes in a header, nothing secret in the URL).
    """
    text = (server_url or "").strip()
    try:
        url = URL(text)
    except (ValueError, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise NotConfigured("the team server address must be an http:// or https:// URL, "
                            "e.g. https://team.example:8765")
    if url.user or url.password or url.query_string or url.fragment:
        raise NotConfigured("the team server address must not contain a user name, password, query or fragment")
    path = url.path.rstrip("/")
    path = path.removesuffix("/webhook")
    return str(url.with_path(path or "/")).rstrip("/")


def _where(base: str) -> str:
    url = URL(base)
    return f"{url.host}:{url.port}" if url.port is not None else str(url.host)


def describe_failure(exc: BaseException, base: str) -> TeamUnavailable:
    """What a failure to connect to the server means, as a :class:`TeamUnavailable` naming the step."""
    where = _where(base)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        why = getattr(exc.certificate_error, "verify_message", "") or type(exc.certificate_error).__name__
        return TeamUnavailable("tls", f"the team server at {where} has a certificate this computer does not trust "
                                      f"({why}); check the address, or give the CA certificate in the settings")
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)):
        reason = getattr(getattr(exc, "os_error", exc), "reason", None) or type(exc).__name__
        return TeamUnavailable("tls", f"the TLS handshake with the team server at {where} failed ({reason}); "
                                      "check whether the address should start with http:// or https://")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return TeamUnavailable("url", f"the team server's name {URL(base).host} could not be resolved; "
                                      "check the address and the network")
    if isinstance(exc, aiohttp.ClientConnectorError):
        why = exc.os_error.strerror or type(exc.os_error).__name__
        return TeamUnavailable("url", f"could not connect to the team server at {where} ({why.lower()}); "
                                      "check the address and that the server is running")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TeamUnavailable("url", f"the team server at {where} did not accept the connection in time; "
                                      "check the address and the network")
    if isinstance(exc, TimeoutError):
        return TeamUnavailable("url", f"the team server at {where} did not answer in time; try again later")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return TeamUnavailable("url", f"the team server at {where} closed the connection without answering; "
                                      "check whether the address should start with http:// or https://")
    return TeamUnavailable("url", f"the team server at {where} could not be asked ({type(exc).__name__})")


# -- one request ---------------------------------------------------------------------------------


class _Rest:
    """Requests to one server with one token over a session someone else owns."""

    def __init__(self, base: str, token: str, session: aiohttp.ClientSession, ssl_context: ssl.SSLContext | None,
                 on_refused: Callable[[TeamAuthError], Any] | None = None) -> None:
        self.base = base
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._session = session
        self._ssl: ssl.SSLContext | bool = ssl_context or True
        self._on_refused = on_refused

    def url(self, path: str) -> URL:
        """The URL of an already quoted ``path`` (``quote``: ids in paths are the PBX's text)."""
        return URL(self.base + path, encoded=True)

    async def request(self, method: str, path: str, *, params: Any = None, body: Any = None,
                      action: str | None = None, sends_once: bool = False,
                      timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        """One JSON request; returns the answer's JSON object or raises the mapped error.

        ``action``: the PBX action the endpoint runs (for a 502); ``sends_once``: a PBX action
        with an effect (make_call, switch_call_hold): an answer lost after the request was sent
        is :class:`PbxOutcomeUnknown`, as the PBX client reports it.
        """
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=CONNECT_TIMEOUT)
        try:
            async with self._session.request(method, self.url(path), params=params, data=data, headers=headers,
                                             ssl=self._ssl, timeout=limits, allow_redirects=False) as response:
                status = response.status
                answer = await response.read()
                is_json = response.content_type == "application/json"
        except aiohttp.ClientConnectorError as exc:  # nothing was sent
            raise describe_failure(exc, self.base) from None
        except aiohttp.ConnectionTimeoutError as exc:
            raise describe_failure(exc, self.base) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            if sends_once and action:
                why = "the team server did not answer in time" if isinstance(exc, TimeoutError) else \
                    f"the connection to the team server broke ({type(exc).__name__})"
                raise PbxOutcomeUnknown(action, why) from None
            raise describe_failure(exc, self.base) from None
        return self._answer(status, answer, is_json, action)

    def _answer(self, status: int, raw: bytes, is_json: bool, action: str | None) -> dict[str, Any]:
        payload: Any = None
        if is_json:
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
        if not isinstance(payload, dict):
            raise self._not_a_team_server(status)
        if 200 <= status < 300:
            return payload
        if payload.get("status") != status or not isinstance(payload.get("error"), str):
            raise self._not_a_team_server(status)  # an error, but not in the team server's words
        message = redact(payload["error"])
        if status in (401, 429):
            if status == 429:
                text = ("the team server refused the agent token, and too many refused attempts came from this "
                        "computer's address: wait a while, then enter a valid token in the settings")
            else:
                text = ("the team server refused the agent token (it is unknown, or was revoked or replaced): "
                        "ask the administrator for a new token and enter it in the settings")
            error = TeamAuthError(text)
            if self._on_refused is not None:
                self._on_refused(error)
            raise error
        if status == 502:
            raise pbx_error_from_server(action or "", message)
        if status == 503:
            if "database" in message:
                raise TeamUnavailable("server", f"the team server cannot answer now: {message}")
            raise NotConfigured(f"the team server is not set up: {message}")
        raise TeamRefused(status, message)

    def _not_a_team_server(self, status: int) -> TeamUnavailable:
        where = _where(self.base)
        if status in (502, 503, 504):
            return TeamUnavailable("server", f"the address {where} answered HTTP {status} instead of the team "
                                             "server (a proxy in front of a server that is not running?)")
        return TeamUnavailable("url", f"the address {where} answered HTTP {status}, but not as a pbx-companion "
                                      "team server; check the address")


def _q(text: str) -> str:
    return quote(text, safe="")


# -- records from the wire -----------------------------------------------------------------------


def _contact(data: Mapping[str, Any]) -> ContactRecord:
    phones = [PhoneRecord(str(p["key"]), str(p["raw"]), p.get("label"), p.get("extension"))
              for p in data.get("phones") or []]
    return ContactRecord(id=data.get("id"), name=str(data.get("name") or ""), company_id=data.get("company_id"),
                         company_name=data.get("company_name"), owner_id=data.get("owner_id"),
                         email=data.get("email"), note=data.get("note"), extra=dict(data.get("extra") or {}),
                         phones=phones)


def _call(data: Mapping[str, Any]) -> CallRecord:
    return call_record_from(WireCall.model_validate(data))


def _user(data: Mapping[str, Any]) -> CrmUser:
    return CrmUser(str(data["id"]), str(data.get("name") or data["id"]), data.get("extension"))


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What "Test connection" found (:func:`check_connection`).

    ``ok``: the address, TLS, the token and the feed all work. Otherwise ``step`` is the first
    part that failed (``"url"``, ``"tls"``, ``"token"``, ``"server"``, ``"feed"``) and ``message``
    says what to do. On success ``agent`` is who the token belongs to and ``setup_problem`` a
    setting the *server* lacks (its PBX URL or key: the administrator's to fix), if any.
    """

    ok: bool
    step: Step | None
    message: str
    agent: WireAgent | None = None
    setup_problem: SetupProblem | None = None


# -- the connection's state ----------------------------------------------------------------------


class TeamConnection:
    """The feed connection's state for the UI (Qt-free): ``state``, ``reason`` (a readable
    sentence, or "") and ``since`` (``time.monotonic()`` of the last change).

    ``on_state(callback)``: ``callback(state, reason)`` after each change; ``on_reset(callback)``:
    ``callback(mode)`` when the server answered ``"fresh"`` or ``"reset"`` (reload what is shown).
    Both return the function that disconnects the callback. Callbacks run on the event loop.
    """

    def __init__(self) -> None:
        self.state: ConnectionState = CONNECTING
        self.reason = ""
        self.since = time.monotonic()
        self._state_callbacks: list[Callable[[str, str], Any]] = []
        self._reset_callbacks: list[Callable[[str], Any]] = []
        self._waiters: list[tuple[frozenset[str], asyncio.Future[str]]] = []

    def __repr__(self) -> str:
        return f"TeamConnection({self.state!r})"

    def on_state(self, callback: Callable[[str, str], Any]) -> Callable[[], None]:
        self._state_callbacks.append(callback)
        return lambda: _discard(self._state_callbacks, callback)

    def on_reset(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        self._reset_callbacks.append(callback)
        return lambda: _discard(self._reset_callbacks, callback)

    async def wait_for(self, *states: str, timeout: float | None = None) -> str:
        """Wait until the state is one of ``states`` (now or later); returns it."""
        if self.state in states:
            return self.state
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        entry = (frozenset(states), future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            _discard(self._waiters, entry)

    def set(self, state: ConnectionState, reason: str = "") -> None:
        if state == self.state and reason == self.reason:
            return
        changed = state != self.state
        self.state, self.reason = state, reason
        if changed:
            self.since = time.monotonic()
            log.info("team server connection: %s%s", state, f" ({redact(reason)})" if reason else "")
        for wanted, future in tuple(self._waiters):
            if state in wanted and not future.done():
                future.set_result(state)
        for callback in tuple(self._state_callbacks):
            try:
                callback(state, reason)
            except Exception:
                log.exception("a connection state callback failed")

    def reset(self, mode: str) -> None:
        for callback in tuple(self._reset_callbacks):
            try:
                callback(mode)
            except Exception:
                log.exception("a reset callback failed")


def _discard(items: list[Any], item: Any) -> None:
    with contextlib.suppress(ValueError):
        items.remove(item)


# -- the resume point on disk --------------------------------------------------------------------

_state_lock = threading.Lock()


@dataclass(slots=True)
class _Saved:
    point: ResumePoint = field(default_factory=ResumePoint)
    agent: WireAgent | None = None
    dials: list[tuple[str, str, float]] = field(default_factory=list)


def _saved_dials(value: Any) -> list[tuple[str, str, float]]:
    """The saved dial list's well-formed entries: ``[key, dialed, at]``, newest first."""
    if not isinstance(value, list):
        return []
    return [(entry[0], entry[1], float(entry[2])) for entry in value[:MAX_RECENT_DIALS]
            if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and entry[0].isdigit()
            and isinstance(entry[1], str) and isinstance(entry[2], int | float) and not isinstance(entry[2], bool)]


def read_state(path: Path | None, base: str) -> _Saved:
    """The resume point and agent saved for this server (nothing for another server or a bad file)."""
    if path is None:
        return _Saved()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _Saved()
    except (OSError, ValueError) as exc:
        log.warning("team state %s unreadable (%s): starting without a resume point", path, type(exc).__name__)
        return _Saved()
    if not isinstance(data, dict) or data.get("server") != base or data.get("version") != STATE_VERSION:
        return _Saved()
    after, epoch = data.get("after"), data.get("epoch")
    point = ResumePoint()
    if type(after) is int and after >= 0 and isinstance(epoch, str) and epoch:
        point = ResumePoint(after, epoch)
    agent = None
    with contextlib.suppress(ValidationError):
        agent = WireAgent.model_validate(data.get("agent"))
    return _Saved(point, agent, _saved_dials(data.get("dials")))


def write_state(path: Path, data: Mapping[str, Any]) -> None:
    """Write the state atomically (a temporary file, then a rename), owner-only."""
    from app.storage.files import private_dir, private_file

    with _state_lock:
        private_dir(path.parent)
        tmp = path.with_name(path.name + ".tmp")
        private_file(tmp)
        tmp.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)


# -- the services --------------------------------------------------------------------------------


class _Contacts:
    def __init__(self, api: TeamApi) -> None:
        self._api = api

    async def find_by_number(self, key: str) -> list[ContactRecord]:
        if not re.fullmatch(r"[0-9]{1,20}", key or ""):
            return []  # not a number key: nobody has it
        answer = await self._api.rest.request("GET", f"{API_PREFIX}/contacts", params={"key": key})
        return [_contact(c) for c in answer["contacts"]]

    async def search(self, text: str, limit: int) -> list[ContactRecord]:
        text = (text or "").strip()
        if not text or limit <= 0:
            return []
        params = {"q": text[:200], "limit": str(min(limit, MAX_SEARCH_LIMIT))}
        answer = await self._api.rest.request("GET", f"{API_PREFIX}/contacts/search", params=params)
        return [_contact(c) for c in answer["contacts"]]

    async def get(self, contact_id: int) -> ContactRecord | None:
        try:
            answer = await self._api.rest.request("GET", f"{API_PREFIX}/contacts/{int(contact_id)}")
        except TeamRefused as exc:
            if exc.status == 404:
                return None
            raise
        return _contact(answer["contact"])

    async def save(self, draft: ContactDraft, *, contact_id: int | None, call_id: str | None = None) -> int:
        try:
            body = ContactBody(name=draft.name, company=draft.company or "", owner_id=draft.owner_id or None,
                               email=draft.email or "", note=draft.note or "",
                               phones=[PhoneBody(raw=p.raw, label=p.label or None) for p in draft.phones],
                               call_id=call_id or None).model_dump(mode="json")
        except ValidationError as exc:
            raise TeamRefused(400, f"the contact cannot be saved: {_problems(exc)}") from None
        rest = self._api.rest
        answer: dict[str, Any] | None = None
        if contact_id is not None:
            try:
                answer = await rest.request("PUT", f"{API_PREFIX}/contacts/{int(contact_id)}", body=body)
            except TeamRefused as exc:
                if exc.status != 404:
                    raise
                # deleted meanwhile: saved as a new contact, as the local service does
        if answer is None:
            answer = await rest.request("POST", f"{API_PREFIX}/contacts", body=body)
        self._api._forget_callers()  # the caller facts of live calls may name this contact now
        return int(answer["id"])

    async def caller(self, call: CallRecord) -> CallerInfo:
        api = self._api
        cached = api._cached_caller(call.call_id)
        if cached is not None:
            return cached
        try:
            answer = await api.rest.request("GET", f"{API_PREFIX}/calls/{_q(call.call_id)}/caller")
        except TeamRefused as exc:
            if exc.status == 404:  # not (or no longer) a call of this agent's: the number only
                return CallerInfo()
            raise
        info = caller_info_from(WireCaller.model_validate(answer["caller"]))
        return info if info is not None else CallerInfo()

    async def card(self, contact_id: int | None, key: str | None, call_id: str | None) -> CardData:
        api = self._api
        if contact_id is None and not key:  # nothing to look up: the server wants one of them
            return CardData(None, list(api._users), [], [], None)
        params = {name: str(value) for name, value in (("contact_id", contact_id), ("key", key),
                                                        ("call_id", call_id)) if value not in (None, "")}
        answer = await api.rest.request("GET", f"{API_PREFIX}/card", params=params)
        team = [_user(u) for u in answer["team"]]
        api._users = team
        contact = answer.get("contact")
        call = answer.get("call")
        return CardData(None if contact is None else _contact(contact), team, [str(k) for k in answer["keys"]],
                        [api._row(r) for r in answer["rows"]], None if call is None else _call(call))

    async def import_file(self, path: Path, progress: Callable[[int, int], Any] | None = None) -> ImportSummary:
        raise NotConfigured("importing contacts is not offered by the team server to agents: the administrator "
                            "imports the file on the server (pbx-companion contacts import FILE)")

    async def export_file(self, path: Path, fmt: str) -> int:
        raise NotConfigured("exporting contacts is not offered by the team server to agents: the administrator "
                            "exports them on the server (pbx-companion contacts export)")


def _problems(error: ValidationError) -> str:
    found = []
    for problem in error.errors(include_url=False, include_input=False)[:3]:
        place = ".".join(str(part) for part in problem["loc"])
        found.append(f"{place}: {problem['msg']}" if place else problem["msg"])
    return "; ".join(found)


def _keys(keys: Sequence[str]) -> list[str]:
    """The number keys the server accepts, each once, in order."""
    return sorted({k for k in keys if k and re.fullmatch(r"[0-9]{1,20}", k)})


class _History:
    def __init__(self, api: TeamApi) -> None:
        self._api = api

    async def timeline(self, keys: Sequence[str]) -> list[TimelineRow]:
        wanted = _keys(keys)
        rows: list[TimelineRow] = []
        for start in range(0, len(wanted), MAX_KEYS):  # a contact has at most 20 numbers: one request
            answer = await self._api.rest.request("GET", f"{API_PREFIX}/timeline",
                                                  params=[("key", k) for k in wanted[start:start + MAX_KEYS]])
            rows += [self._api._row(r) for r in answer["rows"]]
        if len(wanted) > MAX_KEYS:
            rows.sort(key=lambda r: r.time, reverse=True)
        return rows

    async def entries(self, number: str, limit: int) -> list[HistoryEntry]:
        """Derived from the server's timeline (there is no history endpoint): each row as a CDR
        dict with the timeline's fields; a call seen live without a CDR has no uniqueid."""
        key = self._api.normalizer.key(number)
        entries = []
        for row in (await self.timeline([key]))[:max(limit, 0)]:
            data: dict[str, Any] = dict.fromkeys(CDR_FIELDS)
            incoming = row.direction == ev.DIRECTION_INCOMING
            data.update(uniqueid=row.uniqueid, dt=row.time, direction=row.direction,
                        src=row.number if incoming else None, dst=None if incoming else row.number,
                        duration=row.duration, billsec=row.billsec, call_id=row.call_id, status=row.status)
            if row.link:
                data["link"] = row.link
            entries.append(HistoryEntry(data, None))
        return entries

    async def pbx_pages(self, keys: Sequence[str], *, max_records: int | None = None) -> AsyncIterator[PbxPage]:
        wanted = []
        for key in _keys(keys):
            with contextlib.suppress(PhoneError):
                wanted.append(Phone.from_key(key).key)
        if not wanted or (max_records is not None and max_records <= 0):
            return
        params: list[tuple[str, str]] = [("key", k) for k in wanted[:MAX_KEYS]]
        if max_records is not None:
            params.append(("max_records", str(min(max_records, MAX_CDR_RECORDS))))
        answer = await self._api.rest.request("GET", f"{API_PREFIX}/cdr", params=params, action="get_cdr",
                                              timeout=PBX_HISTORY_TIMEOUT)
        for page in answer["pages"]:
            records = [self._api._cdr_data(r["uniqueid"], r["cdr"], bool(r.get("recording"))) for r in page["records"]]
            notes = {str(ref): (str(n.get("note") or ""), str(n.get("outcome") or ""))
                     for ref, n in page["notes"].items()}
            yield PbxPage(records, notes)

    async def recording_link(self, uniqueid: str) -> str | None:
        """The server's recording URL of this CDR (``GET RECORDING_PATH``): it needs the agent's
        ``Authorization`` header (:meth:`TeamApi.open_recording`) and is a 404 while there is none."""
        return self._api.recording_url(uniqueid) if uniqueid else None

    async def recording(self, link: str) -> RecordingMedia:
        """The audio, through the server with the agent's token (the player could not send it), held
        in memory only: nothing of it, and no PBX link, is written to the agent's disk."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with self._api.open_recording(link) as response:
                async for chunk in response.chunks:
                    size += len(chunk)
                    if size > MAX_RECORDING_BYTES:
                        raise RecordingUnavailable(
                            f"the recording is larger than {MAX_RECORDING_BYTES // (1024 * 1024)} MiB: "
                            "ask the administrator for the file")
                    chunks.append(chunk)
                content_type = response.headers.get("Content-Type", "")
        except TeamRefused as exc:
            if exc.status == 404:
                raise RecordingUnavailable("the recording is not published yet") from None
            raise
        return RecordingMedia(data=b"".join(chunks), content_type=content_type)

    def shared_outcomes(self) -> tuple[str, ...]:
        """The server's list, as its last ``hello`` or ``me`` said (kept with the resume point, so an
        app started while the server is away offers it too)."""
        agent = self._api._saved_agent
        return agent.outcomes if agent is not None else ()


class _Calls:
    def __init__(self, api: TeamApi) -> None:
        self._api = api

    def setup_problem(self, *, need_crm_user: bool) -> SetupProblem | None:
        # The PBX URL and key are the server's settings (a 503 says so when they are missing): only
        # the agent's own CRM user is this workstation's concern, and the server knows it.
        if need_crm_user and not self._api.identity.crm_user:
            return SetupProblem.CRM_USER
        return None

    async def dial(self, phone: Phone) -> DialResult:
        try:
            answer = await self._api.rest.request("POST", f"{API_PREFIX}/dial",
                                                  body=DialBody(number=phone.text).model_dump(mode="json"),
                                                  action="make_call", sends_once=True, timeout=60.0)
        except TeamRefused as exc:
            if exc.status == 400 and exc.message.startswith("not a phone number: "):
                raise PhoneError(phone.text, exc.message.removeprefix("not a phone number: ")) from None
            raise
        result = DialResult(phone, str(answer["dialed"]))
        self._api._remember_dial(phone.key, result.dialed)
        return result

    async def hold(self, call_id: str) -> None:
        await self._api.rest.request("POST", f"{API_PREFIX}/calls/{_q(call_id)}/hold", action="switch_call_hold",
                                     sends_once=True, timeout=60.0)

    async def missed(self, limit: int = MAX_MISSED) -> list[MissedCall]:
        if limit <= 0:
            return []
        answer = await self._api.rest.request("GET", f"{API_PREFIX}/missed",
                                              params={"limit": str(min(limit, MAX_MISSED))})
        return [MissedCall(_call(m["call"]), None if m.get("contact") is None else _contact(m["contact"]))
                for m in answer["missed"]]

    async def clear_missed(self, call_id: str) -> bool:
        try:
            answer = await self._api.rest.request("POST", f"{API_PREFIX}/missed/{_q(call_id)}/clear")
        except TeamRefused as exc:
            if exc.status == 404:  # not this agent's call (or none): nothing was cleared
                return False
            raise
        return bool(answer["cleared"])

    async def clear_all_missed(self) -> int:
        answer = await self._api.rest.request("POST", f"{API_PREFIX}/missed/clear")
        return int(answer["cleared"])

    async def recent_dials(self, limit: int) -> list[RecentDial]:
        """The numbers this app dialed (its own list: the server's dial log is not per agent), each
        with the directory's first contact for it, asked of the server together."""
        dials = self._api._dials[:max(0, limit)]
        if not dials:
            return []

        async def contact(key: str) -> ContactRecord | None:
            try:
                found = await self._api.contacts.find_by_number(key)
            except (TeamUnavailable, TeamRefused, NotConfigured):
                return None  # the number is still worth showing while the server is away
            return found[0] if found else None

        contacts = await asyncio.gather(*(contact(key) for key, _, _ in dials))
        return [RecentDial(key, dialed, at, found) for (key, dialed, at), found in zip(dials, contacts, strict=True)]

    async def set_note(self, ref: str, note: str, outcome: str) -> None:
        try:
            body = NoteBody(note=note, outcome=outcome).model_dump(mode="json")
        except ValidationError as exc:
            raise TeamRefused(400, f"the note cannot be saved: {_problems(exc)}") from None
        await self._api.rest.request("PUT", f"{API_PREFIX}/notes/{_q(ref)}", body=body)


class _Presence:
    def __init__(self, api: TeamApi) -> None:
        self._api = api

    async def team(self) -> TeamSnapshot:
        api = self._api
        answer = await api.rest.request("GET", f"{API_PREFIX}/presence")
        users = [_user(u) for u in answer["users"]]
        api._users = users
        return TeamSnapshot(users, [presence_record_from(WirePresence.model_validate(p)) for p in answer["presence"]],
                            [_call(c) for c in answer["live_calls"]])

    async def mine(self) -> list[PresenceRecord]:
        if self._api._rest is None:
            return []  # not connected yet: nothing known; the app reads it again once live
        answer = await self._api.rest.request("GET", f"{API_PREFIX}/presence/mine")
        return [presence_record_from(WirePresence.model_validate(p)) for p in answer["presence"]]

    async def pbx_users(self) -> list[DomainUser]:
        answer = await self._api.rest.request("GET", f"{API_PREFIX}/pbx-users", action="get_domain_user_list")
        return [DomainUser.model_validate(u) for u in answer["users"]]


class _Events:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    def connect(self, callback: Callable[[BusMessage], Any]) -> Callable[[], None]:
        return self._bus.connect(callback)

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        return self._bus.subscribe(maxsize)


@dataclass(frozen=True, slots=True)
class RecordingResponse:
    """The start of a recording's answer (:meth:`TeamApi.open_recording`): status 200 or 206,
    the headers a player needs, and the audio as it arrives."""

    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]


_FeedMessage = CallMessage | PresenceMessage | CdrMessage | ContactMessage


class TeamApi:
    """:class:`~app.core.api.CompanionApi` over a team server (see the module docstring).

    ``server_url``: the team server (``https://team.example:8765``); ``token``: the agent's
    personal token; ``state_path``: where the resume point is kept (None: nowhere, every start
    is "fresh"); ``ssl_context``: to trust a server certificate of the team's own CA;
    ``normalizer``: the number rules of the local settings (their region), for parsing and showing.

    ``await start()`` asks the server who the token belongs to and starts following the feed;
    ``await stop()`` stops it and closes the session.
    """

    def __init__(self, server_url: str, token: str, *, state_path: Path | None,
                 ssl_context: ssl.SSLContext | None = None, normalizer: PhoneNormalizer | None = None) -> None:
        self.server_url = server_base(server_url)
        # An empty token is refused by start() (the app still comes up, says so and offers the settings).
        self._token = (token or "").strip()
        register_secret(self._token)
        self._state_path = state_path
        self._ssl = ssl_context
        self._normalizer = normalizer or PhoneNormalizer()
        self.connection = TeamConnection()
        self._bus = EventBus()
        self._identity = AgentIdentity()
        self._setup_problem: SetupProblem | None = None
        #: the agent's name as the server knows it
        self.name = ""
        self._users: list[CrmUser] = []
        self._callers: OrderedDict[str, tuple[float, CallerInfo]] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._rest: _Rest | None = None
        self._feed: FeedClient | None = None
        self._follower: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # the feed: the last seq handled (of ``_epoch``), replayed messages waiting for ``live``
        self._epoch: str | None = None
        self._last_seq = 0
        self._replaying = False
        self._pending: dict[tuple[str, ...], _FeedMessage] = {}
        self._saver: asyncio.Task[None] | None = None
        self._dirty = False
        self._saved_agent: WireAgent | None = None
        #: the numbers this app dialed, newest first, each once (key, dialed form, when): the dialer's
        #: "recent" list; kept with the resume point (the server's dial log is not per agent)
        self._dials: list[tuple[str, str, float]] = []
        #: feed messages at or below the last seq handled that were not published again
        self.duplicates = 0
        self.contacts: ContactsApi = _Contacts(self)
        self.history: HistoryApi = _History(self)
        self.calls: CallsApi = _Calls(self)
        self.presence: PresenceApi = _Presence(self)
        self.events: EventsApi = _Events(self._bus)

    def __repr__(self) -> str:  # never the token
        return f"TeamApi({self.server_url!r}, agent={self.name!r}, state={self.connection.state!r})"

    # -- the CompanionApi properties ---------------------------------------------------------

    @property
    def identity(self) -> AgentIdentity:
        return self._identity

    @property
    def normalizer(self) -> PhoneNormalizer:
        return self._normalizer

    @property
    def webhook_url(self) -> str | None:
        return None  # the team server is the PBX's webhook, not this process

    async def recent_events(self, limit: int) -> list[EventRecord]:
        return []  # the PBX's events reach the server; this app keeps no event log

    def recent_refusals(self) -> list[Refusal]:
        return []  # nothing posts to this app: the team server's refusals are in its own log

    # -- connection ----------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``connecting``, ``live``, ``unreachable``, ``rejected`` (or ``stopped``)."""
        return self.connection.state

    def on_state(self, callback: Callable[[str, str], Any]) -> Callable[[], None]:
        """``callback(state, reason)`` after each change of :attr:`state`; returns the disconnect."""
        return self.connection.on_state(callback)

    def on_reset(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """``callback(mode)`` when the server answered "fresh" or "reset": reload what is shown."""
        return self.connection.on_reset(callback)

    def reconnect_now(self) -> None:
        """The network came back or the computer woke up: while the feed is away, try at once
        instead of at the end of the backoff wait."""
        if self._feed is not None and self.connection.state != LIVE:
            self._feed.wake()

    @property
    def server_setup_problem(self) -> SetupProblem | None:
        """A setting the server lacks (its PBX URL or key), as ``/agent/api/me`` said at start."""
        return self._setup_problem

    @property
    def feed(self) -> FeedClient | None:
        """The feed client while started (its ``attempts`` and ``connections`` counters)."""
        return self._feed

    @property
    def rest(self) -> _Rest:
        if self._rest is None:
            raise TeamUnavailable("url", "the connection to the team server is not started")
        return self._rest

    def recording_url(self, uniqueid: str) -> str:
        """The server's URL of a CDR's recording (no secret in it; it needs the Authorization header)."""
        return self.server_url + recording_path(uniqueid)

    async def start(self) -> None:
        """Ask the server who the token belongs to (``GET /agent/api/me``), then follow the feed.

        Raises :class:`TeamAuthError` for a refused token. When the server cannot be reached the
        app still starts with the agent saved at the last run (the feed keeps trying; the state
        is ``unreachable``); without one it raises :class:`TeamUnavailable`.
        """
        if self._session is not None:
            raise RuntimeError("TeamApi.start() was called twice")
        if not self._token:
            error = TeamAuthError(NO_TOKEN)
            self.connection.set(REJECTED, str(error))
            raise error
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT),
            headers={"User-Agent": "pbx-companion"})
        self._rest = _Rest(self.server_url, self._token, self._session, self._ssl, on_refused=self._refused)
        saved = await asyncio.to_thread(read_state, self._state_path, self.server_url)
        self._saved_agent = saved.agent
        self._dials = saved.dials
        self._epoch, self._last_seq = saved.point.epoch, saved.point.after or 0
        self.connection.set(CONNECTING)
        try:
            me = await self.rest.request("GET", f"{API_PREFIX}/me")
        except TeamAuthError as exc:
            self.connection.set(REJECTED, str(exc))
            await self._close_session()
            raise
        except TeamUnavailable as exc:
            if saved.agent is None:
                self.connection.set(UNREACHABLE, str(exc))
                await self._close_session()
                raise
            self._set_agent(saved.agent)
            self.connection.set(UNREACHABLE, str(exc))
        except BaseException:
            await self._close_session()
            raise
        else:
            self._set_agent(WireAgent.model_validate(me["agent"]))
            problem = me.get("setup_problem")
            self._setup_problem = SetupProblem(problem) if problem in {p.value for p in SetupProblem} else None
            await self._load_users()
        self._feed = FeedClient(self.server_url, self._token, point=saved.point, ssl_context=self._ssl,
                                session=self._session, on_drop=self._dropped)
        self._follower = asyncio.create_task(self._follow(self._feed), name="team-feed")

    async def stop(self) -> None:
        """Stop following the feed, write the resume point, close the session."""
        tasks = [t for t in (self._follower, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._follower = None
        self._flush_pending()
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._saver
            self._saver = None
        if self._dirty:
            await self._save_now()
        await self._close_session()
        if self.connection.state != REJECTED:
            self.connection.set(STOPPED)

    async def __aenter__(self) -> TeamApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        self._rest = None
        if session is not None:
            await session.close()

    def _background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load_users(self) -> None:
        """The team's CRM users, to tell whether a caller's responsible employee is this agent."""
        try:
            await self.presence.team()
        except (TeamUnavailable, TeamRefused, NotConfigured) as exc:
            log.info("team users not loaded: %s", redact(str(exc)))

    def _remember_dial(self, key: str, dialed: str) -> None:
        self._dials = [(key, dialed, time.time()), *(d for d in self._dials if d[0] != key)][:MAX_RECENT_DIALS]
        self._schedule_save()

    def _set_agent(self, agent: WireAgent) -> None:
        self._identity = agent_identity_from(agent)
        self.name = agent.name
        if agent != self._saved_agent:
            self._saved_agent = agent
            self._schedule_save()

    def _refused(self, error: TeamAuthError) -> None:
        """A REST request was refused the token: the feed will be too (it is told within a second)."""
        log.warning("team server: %s", error)

    # -- recordings ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def open_recording(self, link: str, *, byte_range: str | None = None) -> AsyncIterator[RecordingResponse]:
        """Stream a recording from the server with the agent's token (for the player).

        ``link`` must be one of this server's recording URLs (:meth:`recording_url`): the token
        is never sent anywhere else. ``byte_range`` is a ``Range`` header value (seeking).
        Raises :class:`TeamRefused` (404: none, or not published yet) and the other mapped errors.
        """
        prefix = self.server_url + recording_path("")
        if not link.startswith(prefix) or "?" in link or "#" in link:
            raise ValueError("not a recording URL of this team server")
        rest = self.rest
        headers = {"Authorization": rest._headers["Authorization"], "Accept-Encoding": "identity"}
        if byte_range:
            headers["Range"] = byte_range
        assert self._session is not None
        limits = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=RECORDING_READ_TIMEOUT)
        try:
            response = await self._session.get(URL(link, encoded=True), headers=headers, ssl=rest._ssl,
                                               timeout=limits, allow_redirects=False)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise describe_failure(exc, self.server_url) from None
        try:
            if response.status not in (200, 206):
                raw = await response.read()
                rest._answer(response.status, raw, response.content_type == "application/json", None)
                raise TeamRefused(response.status, f"HTTP {response.status}")  # a 2xx that is not audio
            passed = {name: response.headers[name] for name in ("Content-Type", "Content-Length", "Content-Range",
                                                                 "Accept-Ranges") if name in response.headers}
            yield RecordingResponse(response.status, passed, response.content.iter_chunked(64 * 1024))
        finally:
            response.release()

    # -- the feed --------------------------------------------------------------------------------

    async def _follow(self, feed: FeedClient) -> None:
        try:
            async for item in feed.messages():
                self._handle(item)
        except FeedRejected as exc:
            self._flush_pending()
            self._replaying = False
            if self._dirty:
                self._schedule_save()
            self.connection.set(REJECTED, f"{exc}: ask the administrator for a new token and enter it in the "
                                          "settings")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: logged; the state says the feed is not followed
            log.exception("the team feed stopped")
            self.connection.set(UNREACHABLE, f"the team feed stopped ({type(exc).__name__})")

    def _dropped(self, drop: FeedDrop) -> None:
        self._flush_pending()  # a replay cut short: what arrived is handled (the resume point is past it)
        self._replaying = False
        if self._dirty:
            self._schedule_save()
        if drop.connected and drop.close_code in _ORDERLY_CLOSES:  # the server said so: back in a moment
            self.connection.set(CONNECTING, "the team server closed the connection; reconnecting")
        elif drop.connected:  # no answer to the heartbeat, a reset, the network: the server is not there now
            self.connection.set(UNREACHABLE, "the connection to the team server was lost (no answer, or the "
                                             "network); reconnecting")
        elif drop.error is not None:
            self.connection.set(UNREACHABLE, str(describe_failure(drop.error, self.server_url)))
        elif drop.status is not None:
            self.connection.set(UNREACHABLE, f"the team server answered HTTP {drop.status} to the feed; retrying")
        else:
            self.connection.set(UNREACHABLE, "the team server could not be reached; retrying")

    def _handle(self, item: FeedText) -> None:
        message = item.message
        if isinstance(message, (CallMessage, PresenceMessage, CdrMessage, ContactMessage)):
            if message.seq <= self._last_seq:
                self.duplicates += 1
                return
            self._last_seq = message.seq
            if isinstance(message, CallMessage) and message.caller is not None:
                self._remember_caller(message)
            elif isinstance(message, ContactMessage):
                self._forget_callers()  # a caller's name or company may be another now
            if self._replaying:
                key = _pending_key(message)
                self._pending.pop(key, None)  # re-inserted: the order is by each record's newest seq
                self._pending[key] = message
            else:
                self._publish(message)
                self._schedule_save()
        elif isinstance(message, HelloMessage):
            self._flush_pending()
            if message.epoch != self._epoch:
                self._epoch, self._last_seq = message.epoch, 0
            if message.resume != "replay":  # the snapshot covers up to server_seq; newer ones come live
                self._last_seq = message.server_seq
            self._replaying = True
            self._set_agent(message.agent)
            if message.resume != "replay":
                self._background(self._load_users())
                self.connection.reset(message.resume)
        elif isinstance(message, LiveMessage):
            self._flush_pending()
            self._replaying = False
            self._schedule_save()
            self.connection.set(LIVE)
        elif isinstance(message, ErrorMessage):
            log.warning("team feed: the server said %s: %s", message.code, redact(message.message))
        elif message is None:  # a message type of a newer server: its seq counts as seen
            self._schedule_save()

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for message in sorted(pending.values(), key=lambda m: m.seq):
            self._publish(message)
        if pending:
            self._dirty = True

    def _publish(self, message: _FeedMessage) -> None:
        bus_message: BusMessage
        if isinstance(message, CallMessage):
            bus_message = CallChanged(call_record_from(message.call), CALL_ACTIONS.get(message.event, ev.CDR_APPEND))
        elif isinstance(message, PresenceMessage):
            bus_message = PresenceChanged(presence_record_from(message.presence), PRESENCE_ACTIONS[message.event])
        elif isinstance(message, ContactMessage):
            bus_message = ContactChanged(message.contact_id, tuple(message.keys))
        else:
            bus_message = CdrAdded(CdrRow(message.uniqueid, self._cdr_data(message.uniqueid, message.cdr,
                                                                           message.recording),
                                          message.other_key, message.contact_id, message.at, TEAM_SOURCE))
        self._bus.publish(bus_message)

    # -- the resume point --------------------------------------------------------------------------

    def _schedule_save(self) -> None:
        self._dirty = True
        if self._state_path is None or self._replaying:
            return
        if self._saver is None or self._saver.done():
            self._saver = asyncio.create_task(self._save_soon(), name="team-state")

    async def _save_soon(self) -> None:
        while self._dirty:
            await asyncio.sleep(STATE_WRITE_INTERVAL)
            await self._save_now()

    async def _save_now(self) -> None:
        self._dirty = False
        if self._state_path is None:
            return
        feed = self._feed
        point = feed.point if feed is not None else ResumePoint(self._last_seq or None, self._epoch)
        if self._pending:  # replayed messages not handed on yet: resume before them
            point = ResumePoint(min(m.seq for m in self._pending.values()) - 1, point.epoch)
        data: dict[str, Any] = {"version": STATE_VERSION, "server": self.server_url, "after": point.after,
                                "epoch": point.epoch,
                                "agent": None if self._saved_agent is None else self._saved_agent.model_dump(),
                                "dials": [list(dial) for dial in self._dials]}
        try:
            await asyncio.to_thread(write_state, self._state_path, data)
        except OSError as exc:
            log.warning("team state %s not written: %s", self._state_path, exc)

    # -- data from the wire ----------------------------------------------------------------------

    def _cdr_data(self, uniqueid: str, cdr: Mapping[str, Any], recording: bool) -> dict[str, Any]:
        """A CDR's fields as the server sent them; ``link`` is the server's recording URL when it
        has a recording (so the timeline shows one and the player is given it), else absent."""
        data = dict(cdr)
        data.pop("link", None)
        if recording:
            data["link"] = self.recording_url(uniqueid)
        return data

    def _row(self, data: Mapping[str, Any]) -> TimelineRow:
        uniqueid = data.get("uniqueid")
        link = self.recording_url(uniqueid) if data.get("recording") and uniqueid else None
        return TimelineRow(str(data["ref"]), float(data.get("time") or 0.0), data.get("direction"), data.get("number"),
                           data.get("duration"), data.get("billsec"), str(data.get("status") or ""), link, uniqueid,
                           data.get("call_id"), data.get("session_id"), str(data.get("note") or ""),
                           str(data.get("outcome") or ""))

    # -- caller facts --------------------------------------------------------------------------

    def _remember_caller(self, message: CallMessage) -> None:
        info = caller_info_from(message.caller)
        if info is None:
            return
        self._callers.pop(message.call.call_id, None)
        self._callers[message.call.call_id] = (time.monotonic(), info)
        while len(self._callers) > CALLER_CACHE_SIZE:
            self._callers.popitem(last=False)

    def _cached_caller(self, call_id: str) -> CallerInfo | None:
        cached = self._callers.get(call_id)
        if cached is None or time.monotonic() - cached[0] > CALLER_FRESH_SECONDS:
            return None
        return self.caller_as_mine(cached[1])

    def _forget_callers(self) -> None:
        self._callers.clear()

    def caller_as_mine(self, info: CallerInfo) -> CallerInfo:
        """The feed's caller facts as this agent sees them.

        One journaled message goes to several agents, so the server sends ``owner_is_me`` false;
        it is decided here the way the server decides it for one agent: the responsible employee
        is this agent when the owner the server could not resolve is this agent's CRM user id or
        extension, or when it resolved it to the name of the CRM user whose id is this agent's.
        (Two CRM users of the same name cannot be told apart from the name alone.)
        """
        me = self._identity
        owner = info.owner_name
        mine = info.owner_is_me
        if owner and not mine:
            if me.is_me(owner):
                mine = True
                owner = self.name or owner
            elif me.crm_user:
                mine = any(u.id == me.crm_user and u.name == owner for u in self._users)
        return dataclasses.replace(info, owner_name=owner, owner_is_me=mine)


def _pending_key(message: _FeedMessage) -> tuple[str, ...]:
    if isinstance(message, CallMessage):
        return ("call", message.call.call_id)
    if isinstance(message, PresenceMessage):
        return ("presence", message.presence.user_uid, message.event)
    if isinstance(message, ContactMessage):
        return ("contact", str(message.contact_id))
    return ("cdr", message.uniqueid)


# -- "Test connection" -----------------------------------------------------------------------------


#: the resume point and the agent as last seen, in the data directory (:func:`team_api_for`)
STATE_FILE: Final = "team-feed.json"


def team_ssl_context(cafile: str) -> ssl.SSLContext | None:
    """The TLS context that trusts ``cafile`` (the team's own CA) besides nothing else; None: the
    system's CAs. Raises :class:`NotConfigured` for a file that cannot be read as a CA certificate."""
    if not cafile:
        return None
    try:
        return ssl.create_default_context(cafile=os.path.expanduser(cafile))
    except (OSError, ssl.SSLError) as exc:
        raise NotConfigured(f"the team server's CA certificate {cafile} cannot be used: {exc}") from None


def team_api_for(settings: Settings, keys: Keys) -> TeamApi:
    """The tray app's service API in team mode: the settings' server, CA and number rules, the
    agent token the app read at start, the resume point in the data directory."""
    return TeamApi(settings.team_server, keys.agent_token or "", state_path=settings.data_path / STATE_FILE,
                   ssl_context=team_ssl_context(settings.team_cafile), normalizer=settings.phone_normalizer())


async def check_connection(server_url: str, token: str, *, ssl_context: ssl.SSLContext | None = None,
                           timeout: float = CONNECT_TIMEOUT) -> ConnectionCheck:
    """Try the address, TLS, the token and the feed in turn; say which step failed (never raises
    for a failure to connect). The token goes only in the Authorization header."""
    try:
        base = server_base(server_url)
    except NotConfigured as exc:
        return ConnectionCheck(False, "url", str(exc))
    if not token or not token.strip():
        return ConnectionCheck(False, "token", NO_TOKEN)
    token = token.strip()
    register_secret(token)
    limits = aiohttp.ClientTimeout(total=timeout * 2, sock_connect=timeout, sock_read=timeout)
    async with aiohttp.ClientSession(timeout=limits, headers={"User-Agent": "pbx-companion"}) as session:
        rest = _Rest(base, token, session, ssl_context)
        try:
            me = await rest.request("GET", f"{API_PREFIX}/me", timeout=timeout * 2)
        except TeamAuthError as exc:
            return ConnectionCheck(False, "token", str(exc))
        except TeamUnavailable as exc:
            return ConnectionCheck(False, exc.step, str(exc))
        except (TeamRefused, NotConfigured, PbxError) as exc:
            return ConnectionCheck(False, "server", f"the team server answered: {exc}")
        try:
            agent = WireAgent.model_validate(me.get("agent"))
        except ValidationError:
            return ConnectionCheck(False, "url", f"the address {_where(base)} answered, but not as a pbx-companion "
                                                 "team server; check the address")
        problem_value = me.get("setup_problem")
        problem = SetupProblem(problem_value) if problem_value in {p.value for p in SetupProblem} else None
        failed = await _check_feed(session, base, token, ssl_context, timeout)
        if failed is not None:
            return failed
    message = f"connected as {agent.name}"
    if problem is not None:
        message += f"; the team server lacks a setting ({problem.value}): tell the administrator"
    return ConnectionCheck(True, None, message, agent, problem)


async def _check_feed(session: aiohttp.ClientSession, base: str, token: str, ssl_context: ssl.SSLContext | None,
                      timeout: float) -> ConnectionCheck | None:
    """Open the feed once and read its hello and live (a proxy may pass requests but not WebSockets)."""
    try:
        async with asyncio.timeout(timeout * 2):
            async with session.ws_connect(base + FEED_PATH, headers={"Authorization": f"Bearer {token}"},
                                          ssl=ssl_context or True) as ws:
                frame = await ws.receive()
                if frame.type != aiohttp.WSMsgType.TEXT or not isinstance(parse_message(frame.data), HelloMessage):
                    raise ValueError("no hello")
                while True:  # then the replay (none: the check connects without a resume point) and live
                    frame = await ws.receive()
                    if frame.type != aiohttp.WSMsgType.TEXT:
                        raise ValueError("the feed closed before live")
                    with contextlib.suppress(ValueError):
                        if isinstance(parse_message(frame.data), LiveMessage):
                            break
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status in (401, 403):
            return ConnectionCheck(False, "token", "the team server refused the agent token for the live feed")
        return ConnectionCheck(False, "feed", f"the team server answers, but its live feed could not be opened "
                                              f"(HTTP {exc.status}): a proxy that does not pass WebSockets?")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return ConnectionCheck(False, "feed", f"the team server answers, but its live feed could not be opened "
                                              f"({type(exc).__name__}): a proxy that does not pass WebSockets?")
    return None


__all__ = [
    "CONNECTING",
    "LIVE",
    "REJECTED",
    "STOPPED",
    "UNREACHABLE",
    "ConnectionCheck",
    "RecordingResponse",
    "TeamApi",
    "TeamAuthError",
    "TeamConnection",
    "TeamPbxError",
    "TeamRefused",
    "TeamUnavailable",
    "check_connection",
    "describe_failure",
    "pbx_error_from_server",
    "server_base",
]
