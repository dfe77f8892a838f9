"""The team server's agent feed (``GET /agent/ws``): its messages, close codes and resume rules.

The team server owns the PBX webhook; each agent's desktop app follows it over one WebSocket
and receives only its own calls (docs/agent-api.md is the prose version of this module). Both
ends import these models, so the wire format has one definition and nothing hand-writes JSON.

Two kinds of messages travel, both JSON objects told apart by ``type``:

* **feed messages** (``call``, ``presence``, ``cdr``) are journaled by the server. Each has a
  ``seq`` (the journal's, global to the team, so one agent sees gaps) and ``at`` (when it was
  journaled). A client that reconnects with the last seq it saw gets what it missed.
* **control messages** (``hello``, ``live``, ``error``) describe the connection and have no seq.

Every feed message carries the whole folded record (the call as the journal now knows it), not
a diff: applying one twice is harmless and the newest one is the truth. ``event`` only says
what just happened, for a client that wants to word it.

Compatibility: every model ignores fields it does not know (``extra="ignore"``), so a newer
server may add fields and an older app goes on working. Ignore rather than the PBX models'
"allow": here we own both ends, the declared fields are the whole contract, and a message
built by the server can never carry along something undeclared (the PBX's recording link, for
one). A message ``type`` the client does not know raises :class:`UnknownMessageType`, which
carries its ``seq`` so the client can skip it and still resume from the right place; a call
``event`` it does not know reads as ``"updated"`` (the record is the truth anyway). Any other
new value of an existing field is a breaking change and needs a new endpoint.

Pure data: no I/O, and nothing from ``app.storage`` or ``app.core`` (this is the lowest layer;
:mod:`app.core.feed` converts the journal's records to and from these models).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias, get_args
from urllib.parse import quote

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

# -- where and how to connect ------------------------------------------------------------------

#: The feed's WebSocket endpoint. The agent token goes in ``Authorization: Bearer <token>``,
#: never in the URL (URLs end up in proxy and access logs).
FEED_PATH = "/agent/ws"
#: Query parameter: the last ``seq`` the client has applied (``/agent/ws?after=41&epoch=...``).
AFTER_PARAM = "after"
#: Query parameter: the ``epoch`` of the hello that ``after`` came from.
EPOCH_PARAM = "epoch"
#: Where the app fetches a CDR's recording (``recording: true``). The PBX's own link carries a
#: secret token and never reaches an agent; the server fetches it on the agent's behalf.
RECORDING_PATH = "/agent/api/recordings/{uniqueid}"

#: The server pings every connection this often (WebSocket ping frames; clients answer with pongs,
#: which aiohttp and browsers do on their own).
PING_INTERVAL_SECONDS = 10.0
#: A peer heard nothing from for this long is gone: the server drops a client that stopped
#: answering pings, and a client that got neither a ping nor a message reconnects.
SILENCE_TIMEOUT_SECONDS = 30.0


def recording_path(uniqueid: str) -> str:
    """:data:`RECORDING_PATH` for one CDR (the uniqueid quoted: it is the PBX's text)."""
    return RECORDING_PATH.format(uniqueid=quote(uniqueid, safe=""))


class CloseCode(enum.IntEnum):
    """Why the server closed a feed connection, and so whether the client should come back."""

    GOING_AWAY = 1001
    """The server is shutting down or restarting: reconnect (with backoff) and resume."""

    PROTOCOL_ERROR = 4000
    """The client sent something the feed cannot read (a binary frame, not JSON). A client bug:
    log it, then reconnect with backoff and resume (the client's state is still good)."""

    TOKEN_REJECTED = 4001
    """The agent token is unknown or was revoked while connected. Do NOT reconnect: it would be
    refused again. Tell the agent to ask for a new token."""

    TOO_SLOW = 4008
    """The client did not read fast enough and its bounded send queue overflowed (the server
    never waits for one slow agent). Nothing is lost: reconnect and resume, the journal replays
    what was dropped."""


def should_reconnect(code: int | None) -> bool:
    """Should a client reconnect after the server closed with ``code``?

    Yes for everything but a rejected token, codes this version does not know included (an
    abnormal closure, 1006, is a network problem): the journal makes reconnecting safe.
    """
    return code != CloseCode.TOKEN_REJECTED


#: ``error.code`` for a text message the server could not read (it then closes with 4000).
ERROR_BAD_MESSAGE = "bad_message"
#: ``error.code`` for a request this server does not offer (the connection stays open).
ERROR_UNSUPPORTED = "unsupported"


# -- shared pieces -----------------------------------------------------------------------------


class AgentWireModel(BaseModel):
    """Base of every agent-feed model: unknown fields ignored, values immutable once built.

    ``from_attributes`` lets :mod:`app.core.feed` validate the journal's dataclasses directly.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, from_attributes=True)


#: A unix time in seconds; JSON has no infinity or NaN, so neither is a time.
Timestamp = Annotated[float, Field(allow_inf_nan=False)]
#: A journal position: a true JSON integer (``true`` or ``"3"`` is junk, not a seq).
Seq = Annotated[int, Field(ge=1, strict=True)]

#: ``call.state``: the values of ``app.storage.CallState``.
CallStateName = Literal["ringing", "active", "held", "ended"]
#: ``call`` message ``event``: the feed's own names (not the PBX's action names).
CallFeedEvent = Literal["ringing", "answered", "held", "active", "ended", "missed", "updated"]
CALL_FEED_EVENTS: tuple[CallFeedEvent, ...] = get_args(CallFeedEvent)
#: ``presence`` message ``event``: SIP registration (``user_change``) or call-center status (``agent_change``).
PresenceFeedEvent = Literal["registration", "agent_status"]
#: ``hello.resume``: see :func:`resume_mode`.
ResumeMode = Literal["replay", "reset", "fresh"]


def _unknown_call_event_is_update(value: Any) -> Any:
    """A newer server's call event this client does not know: the record still tells what changed."""
    if isinstance(value, str) and value not in CALL_FEED_EVENTS:
        return "updated"
    return value


# -- the records a message carries -------------------------------------------------------------


class WireHoldPeriod(AgentWireModel):
    """One time on hold (``resumed_at`` None: still on hold)."""

    held_at: Timestamp | None
    resumed_at: Timestamp | None


class WireCall(AgentWireModel):
    """A call as the journal folded it: exactly the fields of ``app.storage.CallRecord``."""

    call_id: str
    state: CallStateName
    first_seen: Timestamp
    updated_at: Timestamp
    session_id: str | None = None
    direction: int | None = None
    other_leg: str | None = None
    other_key: str | None = None
    crm_user: str | None = None
    domain_user: str | None = None
    gateway_number: str | None = None
    ringing_at: Timestamp | None = None
    answered_at: Timestamp | None = None
    hangup_at: Timestamp | None = None
    hangup_cause: str | None = None
    answer_seconds: int | None = None
    missed: bool = False
    answered_elsewhere: bool = False
    contact_id: int | None = None
    cdr_uniqueid: str | None = None
    missed_cleared_at: Timestamp | None = None
    hold_periods: list[WireHoldPeriod] = Field(default_factory=list)


class WireCaller(AgentWireModel):
    """What a pop-up shows about the caller (``app.core.api.CallerInfo``), sent with the call so
    the pop-up needs no second request."""

    contact_id: int | None = None
    name: str | None = None
    company: str | None = None
    more_contacts: int = 0
    owner_name: str | None = None
    owner_is_me: bool = False
    earlier_calls: int = 0
    earlier_capped: bool = False
    last_call_at: Timestamp | None = None


class WirePresence(AgentWireModel):
    """A PBX user's latest registration and call-center status (``app.storage.PresenceRecord``)."""

    user_uid: str
    crm_user: str | None
    reg_status: int | None
    protocol: int | None
    base_status: int | None
    extra_status: int | None
    status_name: str | None
    updated_at: Timestamp


class WireAgent(AgentWireModel):
    """Who the token belongs to, as the server knows them: whose calls are "mine"; and what the
    server sets for every agent's app."""

    name: str
    crm_user: str | None = None
    extension: str | None = None
    supervisor: bool = False  # receives every call of the team
    #: the call outcomes the team's cards offer (the server's ``outcomes`` setting: built-in codes and
    #: the call center's words); empty when the server sets none (each app offers its own)
    outcomes: tuple[str, ...] = ()


# -- secrets never leave the server ------------------------------------------------------------

#: CDR fields never sent to an agent whatever they hold: ``link`` is the PBX's recording URL with
#: its access token (the app uses :data:`RECORDING_PATH` instead).
WITHHELD_CDR_FIELDS = frozenset({"link"})
# "scheme://anything?": a URL with a query string, where the PBX puts tokens.
_URL_WITH_QUERY = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#]*\?")


def _holds_url_with_query(value: Any) -> bool:
    """Is there a URL with a query string anywhere in this JSON value (nested ones included)?"""
    pending = [value]
    while pending:  # a loop, not recursion: the PBX decides how deep its extra fields nest
        item = pending.pop()
        if isinstance(item, str):
            if _URL_WITH_QUERY.search(item):
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return False


def agent_safe_cdr(data: Mapping[str, Any]) -> dict[str, Any]:
    """A CDR's wire fields fit for an agent: without :data:`WITHHELD_CDR_FIELDS` and without any
    field holding a URL with a query string (a field the PBX adds later may carry a token too)."""
    return {
        name: value for name, value in data.items()
        if name not in WITHHELD_CDR_FIELDS and not _holds_url_with_query(value)
    }


# -- feed messages -----------------------------------------------------------------------------
# Each is its data (what the server journals) plus the journal's seq and time: the *Data models
# are what app.core.feed builds, the *Message models what travels.


class CallData(AgentWireModel):
    """A call changed: the whole folded call and, when known, who is calling."""

    type: Literal["call"] = "call"
    event: Annotated[CallFeedEvent, BeforeValidator(_unknown_call_event_is_update)]
    call: WireCall
    caller: WireCaller | None = None


class PresenceData(AgentWireModel):
    """A PBX user's registration or call-center status changed (everyone receives the team's)."""

    type: Literal["presence"] = "presence"
    event: PresenceFeedEvent
    presence: WirePresence


class CdrData(AgentWireModel):
    """A call detail record arrived. ``cdr`` is the PBX's record as stored, secrets withheld."""

    type: Literal["cdr"] = "cdr"
    uniqueid: str
    cdr: dict[str, Any]
    other_key: str | None = None
    contact_id: int | None = None
    recording: bool = False  # the server has a recording: GET RECORDING_PATH

    @field_validator("cdr")
    @classmethod
    def _withhold_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        # in the model, not only in the converter: no way of building a CDR message can leak a link
        return agent_safe_cdr(value)


class ContactData(AgentWireModel):
    """A contact of the shared directory was created or changed (everyone receives it): windows
    showing it or one of its numbers read it again over REST. ``keys``: its number keys before
    and after the change."""

    type: Literal["contact"] = "contact"
    contact_id: Annotated[int, Field(ge=1, strict=True)]
    keys: list[str] = Field(default_factory=list, max_length=100)


class Journaled(AgentWireModel):
    """What the journal adds to every feed message: its position and when it was written."""

    seq: Seq
    at: Timestamp


class CallMessage(CallData, Journaled):
    """``{"seq", "at", "type": "call", "event", "call", "caller"}``"""


class PresenceMessage(PresenceData, Journaled):
    """``{"seq", "at", "type": "presence", "event", "presence"}``"""


class CdrMessage(CdrData, Journaled):
    """``{"seq", "at", "type": "cdr", "uniqueid", "cdr", "other_key", "contact_id", "recording"}``"""


class ContactMessage(ContactData, Journaled):
    """``{"seq", "at", "type": "contact", "contact_id", "keys"}``"""


# -- control messages --------------------------------------------------------------------------


class HelloMessage(AgentWireModel):
    """The first message on every connection: where the journal is and what follows.

    ``server_seq`` is the newest seq (0: empty journal); ``epoch`` names the journal, so a seq
    from another server database is recognised and answered with ``reset``.
    """

    type: Literal["hello"] = "hello"
    server_seq: Annotated[int, Field(ge=0, strict=True)]
    resume: ResumeMode
    epoch: Annotated[str, Field(min_length=1)]
    agent: WireAgent


class LiveMessage(AgentWireModel):
    """The replay is over: every message from here on is live."""

    type: Literal["live"] = "live"


class ErrorMessage(AgentWireModel):
    """The server refuses something the client sent; ``code`` is for programs, ``message`` for logs."""

    type: Literal["error"] = "error"
    code: str
    message: str


# -- the unions --------------------------------------------------------------------------------

FeedData: TypeAlias = Annotated[CallData | PresenceData | CdrData | ContactData, Field(discriminator="type")]
FeedMessage: TypeAlias = Annotated[CallMessage | PresenceMessage | CdrMessage | ContactMessage,
                                   Field(discriminator="type")]
ControlMessage: TypeAlias = Annotated[HelloMessage | LiveMessage | ErrorMessage, Field(discriminator="type")]
AgentMessage: TypeAlias = Annotated[
    CallMessage | PresenceMessage | CdrMessage | ContactMessage | HelloMessage | LiveMessage | ErrorMessage,
    Field(discriminator="type"),
]

_FEED_MESSAGES: TypeAdapter[FeedMessage] = TypeAdapter(FeedMessage)
_AGENT_MESSAGES: TypeAdapter[AgentMessage] = TypeAdapter(AgentMessage)
_MESSAGE_MODELS: tuple[type[AgentWireModel], ...] = (
    CallMessage, PresenceMessage, CdrMessage, ContactMessage, HelloMessage, LiveMessage, ErrorMessage,
)
#: Every ``type`` this version knows.
MESSAGE_TYPES: frozenset[str] = frozenset(model.model_fields["type"].default for model in _MESSAGE_MODELS)


class MessageError(ValueError):
    """A text that is not a message of this feed; the text says what is wrong with it."""


class UnknownMessageType(MessageError):
    """A well-formed message of a ``type`` this version does not know (from a newer server).

    Not junk: skip it, and when it has a ``seq`` remember that as seen so resuming does not ask
    for it again.
    """

    def __init__(self, message_type: str, seq: int | None) -> None:
        super().__init__(f"unknown message type {message_type!r}" + ("" if seq is None else f" (seq {seq})"))
        self.message_type = message_type
        self.seq = seq


def _validated(adapter: TypeAdapter[Any], data: Mapping[str, Any], what: str) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            location = error["loc"][1:] if error["loc"][:1] == (data.get("type"),) else error["loc"]
            place = ".".join(str(part) for part in location)
            problems.append(f"{place}: {error['msg']}" if place else error["msg"])
        raise MessageError(f"invalid {what}: " + "; ".join(problems)) from exc


def feed_message(seq: int, at: float, data: FeedData | Mapping[str, Any]) -> FeedMessage:
    """The message for journaled data: its model (:mod:`app.core.feed` builds it) or the JSON
    object the journal stored. Raises :class:`MessageError` for data that is not a feed message."""
    fields = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    kind = fields.get("type")
    message: FeedMessage = _validated(_FEED_MESSAGES, {**fields, "seq": seq, "at": at}, f"{kind!r} feed data")
    return message


def parse_message(text: str) -> FeedMessage | ControlMessage:
    """Read one text frame of the feed.

    Raises :class:`MessageError` saying what is wrong (not JSON, not an object, no ``type``, a
    field missing or out of range) and :class:`UnknownMessageType` for a type from a newer server.
    Fields it does not know are ignored.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MessageError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise MessageError("not a message: JSON nested too deeply") from exc
    if not isinstance(data, dict):
        raise MessageError(f"a message is a JSON object, not {type(data).__name__}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise MessageError("a message needs a string 'type'")
    if kind not in MESSAGE_TYPES:
        seq = data.get("seq")
        raise UnknownMessageType(kind, seq if type(seq) is int else None)
    message: FeedMessage | ControlMessage = _validated(_AGENT_MESSAGES, data, f"{kind!r} message")
    return message


def dump_message(message: FeedMessage | ControlMessage) -> str:
    """One message as compact JSON, non-ASCII text as is (UTF-8 on the wire, not ``\\u`` escapes)."""
    return message.model_dump_json()


# -- resuming ----------------------------------------------------------------------------------

_DECIMAL = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a connecting client stands: the last seq it applied and the epoch it came from.

    After ``live`` a client's point is the larger of its last seq and ``hello.server_seq``: the
    replay (or the snapshot it reloaded after a reset) covered everything up to there, and so a
    quiet agent does not fall behind the journal's trimming.
    """

    after: int | None = None
    epoch: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ResumePoint:
        """Read :data:`AFTER_PARAM` and :data:`EPOCH_PARAM`; raises :class:`MessageError` for an
        ``after`` that is not a non-negative integer (the server answers 400)."""
        after_text = query.get(AFTER_PARAM)
        after = None
        if after_text:
            if not _DECIMAL.fullmatch(after_text) or int(after_text) >= 2**63:
                raise MessageError(f"{AFTER_PARAM} must be a non-negative integer")
            after = int(after_text)
        return cls(after, query.get(EPOCH_PARAM) or None)

    def query(self) -> dict[str, str]:
        """The query parameters a client connects with (none for a first connection)."""
        params: dict[str, str] = {}
        if self.after is not None:
            params[AFTER_PARAM] = str(self.after)
            if self.epoch:
                params[EPOCH_PARAM] = self.epoch
        return params


def resume_mode(point: ResumePoint, *, epoch: str, first_kept_seq: int, server_seq: int) -> ResumeMode:
    """What the server answers a connecting client in ``hello.resume``.

    ``first_kept_seq`` is the oldest seq the journal still holds (``server_seq + 1`` when it holds
    none). "replay" only when every message after the client's seq is still there and the seq
    is of this journal: the epoch matches and the seq is not from the future (a restored
    database). Otherwise "reset": the client reloads its state over REST. No seq: "fresh".
    """
    if point.after is None:
        return "fresh"
    if point.epoch == epoch and first_kept_seq - 1 <= point.after <= server_seq:
        return "replay"
    return "reset"


# -- REST request bodies -----------------------------------------------------------------------
# What the app sends to ``/agent/api/…`` (docs/agent-api.md, "REST"): the server validates with
# these models and the app builds its requests with them. Declared fields only: a field a request
# adds (an older or newer app, or one naming another CRM user to dial as) is ignored. Strict: "3"
# is not a number and 3 is not a string.


class RestBody(BaseModel):
    """Base of every REST request body: unknown fields ignored, declared ones strict, immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


_Text = Annotated[str, StringConstraints(max_length=200)]


class DialBody(RestBody):
    """``POST /agent/api/dial``: the number as typed (a phone link too)."""

    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PhoneBody(RestBody):
    """One number of a contact: as typed (the server derives its key and extension) and its label."""

    raw: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class ContactBody(RestBody):
    """``POST /agent/api/contacts`` and ``PUT /agent/api/contacts/{id}``: a contact draft
    (``app.core.api.ContactDraft``) and the live call the card was opened on, which saving links."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    company: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    owner_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] = ""
    note: Annotated[str, StringConstraints(max_length=10_000)] = ""
    phones: Annotated[list[PhoneBody], Field(max_length=20)] = []
    call_id: _Text | None = None


class NoteBody(RestBody):
    """``PUT /agent/api/notes/{ref}``."""

    note: Annotated[str, StringConstraints(max_length=10_000)] = ""
    outcome: Annotated[str, StringConstraints(max_length=200)] = ""
