"""The agent API's REST half: ``/agent/api/…``, the app's service API over HTTP (docs/agent-api.md).

Each endpoint is one method of :mod:`app.core.api`, run by a :class:`~app.core.standalone.StandaloneApi`
built for the agent whose token the request carries (their identity, their CRM user), so the
rules are the service API's own: what "mine" is, what saving a contact links, what dialing logs
and clears. What this module adds is the server's part: who may act on which call.

* A call an agent reads or clears (caller facts, a missed call) must be one the feed sends them
  (:meth:`AgentIdentity.is_mine`: their CRM user or extension; every call for a supervisor);
  anything else is answered 404, as for a call that does not exist.
* Hold toggles only the agent's own leg (their CRM user or extension, supervisors included):
  ``switch_call_hold`` goes out as the agent's CRM user and steers that user's phone, so
  "hold" on a colleague's conversation is not the button's meaning. Another agent's call is 403.
* ``make_call`` and ``switch_call_hold`` always go out as the token's CRM user: nothing in a
  request names the user (a body field that tries is ignored).
* A recording is streamed through the server (its PBX link carries an access token and never
  reaches an agent) to whoever the CDR's feed message went to; anyone else gets 404.

Every answer is JSON (the recording excepted): errors are ``{"status": …, "error": "…"}`` with
400 for bad input, 401/429 for the token (:func:`~app.team.agent_api.authenticate`), 403/404 as
above, 502 when the PBX failed (its message, redacted), 503 when a setting is missing or the
database is away. No answer carries a traceback, a key or a recording link.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict
from typing import Any

import httpx
from aiohttp import web
from pydantic import ValidationError

from app.core.agent import AgentIdentity
from app.core.api import (
    MAX_MISSED,
    CardData,
    ContactDraft,
    MissedCall,
    NotConfigured,
    PbxPage,
    TeamSnapshot,
)
from app.core.engine import Engine
from app.core.standalone import StandaloneApi
from app.core.timeline import TimelineRow
from app.pbx import PbxError
from app.protocol.agent_api import (
    RECORDING_PATH,
    CdrData,
    ContactBody,
    DialBody,
    NoteBody,
    RestBody,
    WireCall,
    WireCaller,
    WirePresence,
)
from app.protocol.phones import PhoneError
from app.protocol.redact import redact
from app.storage import (
    CallRecord,
    CdrRow,
    ContactRecord,
    CrmUser,
    PhoneRecord,
    PresenceRecord,
    Session,
    StorageError,
)
from app.storage.records import AgentRecord

from .agent_api import HUB, OUTCOMES, authenticate
from .agents import identity_of

log = logging.getLogger("app.team")

#: every REST path starts with this
API = "/agent/api"
#: the most PBX records one ``GET /agent/api/cdr`` walks (its ``max_records`` default and cap)
DEFAULT_CDR_RECORDS = 500
MAX_CDR_RECORDS = 2000
#: number keys one timeline or get_cdr request may name
MAX_KEYS = 20
#: contacts a search may return
DEFAULT_SEARCH_LIMIT = 20
MAX_SEARCH_LIMIT = 200
#: bytes per chunk when streaming a recording
RECORDING_CHUNK = 64 * 1024
#: how long the PBX's file server may take (connect / between two chunks)
RECORDING_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
#: headers of the PBX's answer passed on to the agent (with its Content-Type)
_PASSED_HEADERS = ("Content-Length", "Content-Range", "Accept-Ranges", "Content-Encoding", "Last-Modified", "ETag")
_RANGE = re.compile(r"bytes=[0-9]*-[0-9]*(,\s*[0-9]*-[0-9]*)*")
_KEY = re.compile(r"[0-9]{1,20}")
_DECIMAL = re.compile(r"[0-9]{1,9}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Handler = Callable[[web.Request, StandaloneApi], Awaitable[web.StreamResponse]]


# -- answers -----------------------------------------------------------------------------------
# One serialiser per record type. Records with a wire model (calls, presence, caller facts, CDRs)
# go through it, so REST and the feed send the same fields; the CDR model withholds the link.


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json(payload: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=_dumps)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    response = _json({"status": status, "error": message}, status)
    if headers:
        response.headers.update(headers)
    return response


class Refused(Exception):
    """Answer ``status`` with this message (bad input, not yours, not found)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def call_json(call: CallRecord) -> dict[str, Any]:
    return WireCall.model_validate(call).model_dump(mode="json")


def presence_json(presence: PresenceRecord) -> dict[str, Any]:
    return WirePresence.model_validate(presence).model_dump(mode="json")


def contact_json(contact: ContactRecord) -> dict[str, Any]:
    return asdict(contact)


def user_json(user: CrmUser) -> dict[str, Any]:
    return asdict(user)


def cdr_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """A CDR as the feed's ``cdr`` data (the link withheld, ``recording`` saying there is one)."""
    data = CdrData(uniqueid=str(record.get("uniqueid") or ""), cdr=dict(record), recording=bool(record.get("link")))
    return data.model_dump(mode="json", exclude={"type"})


def timeline_row_json(row: TimelineRow) -> dict[str, Any]:
    """A timeline row without its recording link (``recording``: there is one) or cached cell texts."""
    data = asdict(row)
    del data["texts"]
    data["recording"] = bool(data.pop("link"))
    return data


def notes_json(notes: Mapping[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    return {ref: {"note": note, "outcome": outcome} for ref, (note, outcome) in notes.items()}


def pbx_page_json(page: PbxPage) -> dict[str, Any]:
    return {"records": [cdr_json(record) for record in page.records], "notes": notes_json(page.notes)}


def missed_json(missed: MissedCall) -> dict[str, Any]:
    return {"call": call_json(missed.call), "contact": None if missed.contact is None else contact_json(missed.contact)}


def card_json(card: CardData) -> dict[str, Any]:
    return {"contact": None if card.contact is None else contact_json(card.contact),
            "team": [user_json(u) for u in card.team], "keys": list(card.keys),
            "rows": [timeline_row_json(r) for r in card.rows],
            "call": None if card.call is None else call_json(card.call)}


def team_json(snapshot: TeamSnapshot) -> dict[str, Any]:
    return {"users": [user_json(u) for u in snapshot.users],
            "presence": [presence_json(p) for p in snapshot.presence],
            "live_calls": [call_json(c) for c in snapshot.live_calls]}


# -- who may act on what (the server's part; the service API has one user) --------------------


def may_see(identity: AgentIdentity, call: CallRecord) -> bool:
    """A call the feed sends this agent: theirs, or any for a supervisor."""
    return identity.is_mine(call)


def is_own_leg(identity: AgentIdentity, call: CallRecord) -> bool:
    """The agent's own leg (their CRM user or extension), supervisors included: what hold may steer."""
    return AgentIdentity(identity.crm_user, identity.extension).is_mine(call)


def may_hear(session: Session, identity: AgentIdentity, row: CdrRow) -> bool:
    """A recording for whoever its CDR's feed message went to (:mod:`app.team.journal`): the
    agents of the calls linked to it, the extensions it names as src or dst, supervisors."""
    if identity.see_all_calls:
        return True
    if any(identity.is_mine(call) for call in session.calls.by_cdr(row.uniqueid)):
        return True
    ends = {str(row.data.get(name) or "").strip() for name in ("src", "dst")}
    return bool(identity.extension) and identity.extension in ends


# -- plumbing ----------------------------------------------------------------------------------


class AgentApis:
    """The service API of each agent, built on first use (an agent's record may change: rebuilt then)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._apis: dict[int, tuple[AgentIdentity, str, StandaloneApi]] = {}

    def of(self, agent: AgentRecord) -> StandaloneApi:
        identity = identity_of(agent)
        cached = self._apis.get(agent.id)
        if cached is not None and cached[0] == identity and cached[1] == agent.name:
            return cached[2]
        api = StandaloneApi(self.engine, identity, name=agent.name)
        self._apis[agent.id] = (identity, agent.name, api)
        return api


_APIS = web.AppKey("agent_rest_apis", AgentApis)
_HTTP = web.AppKey("agent_rest_recordings_http", httpx.AsyncClient)
_AGENT = web.RequestKey("agent", AgentRecord)


def _endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Authenticate, build the agent's service API, run ``handler``; every failure becomes JSON."""

    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            agent = await authenticate(request)
            request[_AGENT] = agent
            return await handler(request, request.app[_APIS].of(agent))
        except web.HTTPException:  # authenticate's 401/429, JSON already
            raise
        except Refused as exc:
            return _error(exc.status, exc.message)
        except PhoneError as exc:
            return _error(400, f"not a phone number: {exc.reason}")
        except NotConfigured as exc:
            return _error(503, str(exc))
        except PbxError as exc:
            log.warning("%s %s: %s", request.method, request.path, redact(str(exc)))
            return _error(502, redact(str(exc)))
        except StorageError as exc:
            log.error("%s %s: %s", request.method, request.path, redact(str(exc)))
            return _error(503, "the server's database is not available; try again shortly")
        except Exception:  # a bug: logged with its traceback here, never sent
            log.exception("%s %s failed", request.method, request.path)
            return _error(500, "internal error")

    return handle


async def _body(request: web.Request, model: type[RestBody]) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refused(413, "the request body is too large") from None
    if not raw.strip():
        raise Refused(400, "the request needs a JSON object body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise Refused(400, _problems(exc)) from None


def _problems(error: ValidationError) -> str:
    found = []
    for problem in error.errors(include_url=False, include_input=False)[:3]:
        place = ".".join(str(part) for part in problem["loc"])
        found.append(f"{place}: {problem['msg']}" if place else problem["msg"])
    more = error.error_count() - len(found)
    return "invalid request body: " + "; ".join(found) + (f" (and {more} more)" if more > 0 else "")


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    if not _DECIMAL.fullmatch(text) or not low <= int(text) <= high:
        raise Refused(400, f"{name} must be an integer from {low} to {high}")
    return int(text)


def _keys_query(request: web.Request) -> list[str]:
    keys = request.query.getall("key", [])
    if not keys:
        raise Refused(400, "give the client's number keys: ?key=<key>&key=…")
    if len(keys) > MAX_KEYS:
        raise Refused(400, f"at most {MAX_KEYS} keys")
    for key in keys:
        if not _KEY.fullmatch(key):
            raise Refused(400, "a number key is its digits (\"74951343060\", \"9022\")")
    return keys


def _id_path(request: web.Request, name: str) -> int:
    text = request.match_info[name]
    if not _DECIMAL.fullmatch(text):
        raise Refused(404, "no such contact")
    return int(text)


async def _call(api: StandaloneApi, call_id: str) -> CallRecord | None:
    return await api.engine.store.read(lambda s: s.calls.get(call_id))


async def _visible_call(api: StandaloneApi, call_id: str) -> CallRecord:
    call = await _call(api, call_id)
    if call is None or not may_see(api.identity, call):
        raise Refused(404, "no such call of yours")
    return call


# -- contacts ----------------------------------------------------------------------------------


async def find_contacts(request: web.Request, api: StandaloneApi) -> web.Response:
    key = request.query.get("key", "")
    if not _KEY.fullmatch(key):
        raise Refused(400, "give the number key: ?key=74951343060 (search takes text: /agent/api/contacts/search?q=)")
    return _json({"contacts": [contact_json(c) for c in await api.contacts.find_by_number(key)]})


async def search_contacts(request: web.Request, api: StandaloneApi) -> web.Response:
    text = request.query.get("q", "").strip()
    if not text or len(text) > 200:
        raise Refused(400, "give the search text (1 to 200 characters): ?q=<text>")
    limit = _int_query(request, "limit", DEFAULT_SEARCH_LIMIT, 1, MAX_SEARCH_LIMIT)
    return _json({"contacts": [contact_json(c) for c in await api.contacts.search(text, limit)]})


async def get_contact(request: web.Request, api: StandaloneApi) -> web.Response:
    contact = await api.contacts.get(_id_path(request, "contact_id"))
    if contact is None:
        raise Refused(404, "no such contact")
    return _json({"contact": contact_json(contact)})


def _draft(api: StandaloneApi, body: ContactBody) -> ContactDraft:
    if body.email and not _EMAIL.match(body.email):
        raise Refused(400, "email: not an e-mail address")
    phones: list[PhoneRecord] = []
    seen: dict[str, int] = {}
    for n, given in enumerate(body.phones):
        try:
            phone = api.normalizer.parse(given.raw)
        except PhoneError as exc:
            raise Refused(400, f"phones.{n}: not a phone number: {exc.reason}") from None
        if phone.key in seen:
            raise Refused(400, f"phones.{n}: the same number as phones.{seen[phone.key]}")
        seen[phone.key] = n
        phones.append(PhoneRecord(phone.key, given.raw, given.label or None, phone.extension))
    return ContactDraft(body.name, body.company, body.owner_id or None, body.email, body.note, phones)


async def _save_contact(api: StandaloneApi, body: ContactBody, contact_id: int | None) -> dict[str, Any]:
    saved = await api.contacts.save(_draft(api, body), contact_id=contact_id, call_id=body.call_id or None)
    contact = await api.contacts.get(saved)
    return {"id": saved, "contact": None if contact is None else contact_json(contact)}


async def create_contact(request: web.Request, api: StandaloneApi) -> web.Response:
    body = await _body(request, ContactBody)
    return _json(await _save_contact(api, body, None), 201)


async def update_contact(request: web.Request, api: StandaloneApi) -> web.Response:
    contact_id = _id_path(request, "contact_id")
    body = await _body(request, ContactBody)
    if await api.contacts.get(contact_id) is None:
        raise Refused(404, "no such contact")
    return _json(await _save_contact(api, body, contact_id))


async def caller(request: web.Request, api: StandaloneApi) -> web.Response:
    call = await _visible_call(api, request.match_info["call_id"])
    info = await api.contacts.caller(call)
    return _json({"caller": WireCaller.model_validate(info).model_dump(mode="json")})


async def card(request: web.Request, api: StandaloneApi) -> web.Response:
    contact_text, key, call_id = (request.query.get(n) or None for n in ("contact_id", "key", "call_id"))
    if contact_text is not None and not _DECIMAL.fullmatch(contact_text):
        raise Refused(400, "contact_id must be a contact's id")
    if key is not None and not _KEY.fullmatch(key):
        raise Refused(400, "a number key is its digits (\"74951343060\", \"9022\")")
    if contact_text is None and key is None:
        raise Refused(400, "give contact_id or key")
    data = await api.contacts.card(None if contact_text is None else int(contact_text), key, call_id)
    if data.call is not None and not may_see(api.identity, data.call):
        data.call = None  # another agent's call: the card opens without it
    return _json(card_json(data))


# -- history -----------------------------------------------------------------------------------


async def timeline(request: web.Request, api: StandaloneApi) -> web.Response:
    rows = await api.history.timeline(_keys_query(request))
    return _json({"rows": [timeline_row_json(r) for r in rows]})


async def pbx_history(request: web.Request, api: StandaloneApi) -> web.Response:
    keys = _keys_query(request)
    limit = _int_query(request, "max_records", DEFAULT_CDR_RECORDS, 1, MAX_CDR_RECORDS)
    pages, count = [], 0
    walk = api.history.pbx_pages(keys, max_records=limit)
    try:
        async for page in walk:
            pages.append(pbx_page_json(page))
            count += len(page.records)
    finally:
        close = getattr(walk, "aclose", None)
        if close is not None:
            await close()
    return _json({"pages": pages, "records": count, "complete": count < limit})


# -- calls -------------------------------------------------------------------------------------


async def set_note(request: web.Request, api: StandaloneApi) -> web.Response:
    ref = request.match_info["ref"]
    if not ref.strip() or len(ref) > 200:
        raise Refused(400, "ref is a call's uniqueid or call_id")
    body = await _body(request, NoteBody)
    await api.calls.set_note(ref, body.note, body.outcome)
    return _json({"ref": ref, "note": body.note, "outcome": body.outcome})


async def missed(request: web.Request, api: StandaloneApi) -> web.Response:
    limit = _int_query(request, "limit", MAX_MISSED, 1, MAX_MISSED)
    return _json({"missed": [missed_json(m) for m in await api.calls.missed(limit)]})


async def clear_missed(request: web.Request, api: StandaloneApi) -> web.Response:
    call = await _visible_call(api, request.match_info["call_id"])
    cleared = await api.calls.clear_missed(call.call_id)
    return _json({"call_id": call.call_id, "cleared": cleared})


async def clear_all_missed(request: web.Request, api: StandaloneApi) -> web.Response:
    """Dismiss all: every missed call of this agent's (what ``missed`` lists for them), no one else's."""
    return _json({"cleared": await api.calls.clear_all_missed()})


async def dial(request: web.Request, api: StandaloneApi) -> web.Response:
    body = await _body(request, DialBody)
    phone = api.normalizer.parse(body.number)  # PhoneError: 400
    result = await api.calls.dial(phone)  # as the token's CRM user, sent once
    return _json(asdict(result))


async def hold(request: web.Request, api: StandaloneApi) -> web.Response:
    call = await _call(api, request.match_info["call_id"])
    if call is None:
        raise Refused(404, "no such call")
    if not is_own_leg(api.identity, call):
        raise Refused(403, "hold steers your own calls only: this call is another agent's")
    await api.calls.hold(call.call_id)
    return _json({"call_id": call.call_id, "toggled": True})


# -- presence ----------------------------------------------------------------------------------


async def presence(request: web.Request, api: StandaloneApi) -> web.Response:
    hub = request.app[HUB]
    seq, epoch = hub.last_seq, hub.epoch  # before reading: what the snapshot holds is at least this new
    snapshot = await api.presence.team()
    snapshot.live_calls = [c for c in snapshot.live_calls if may_see(api.identity, c)]
    return _json({"seq": seq, "epoch": epoch, **team_json(snapshot)})


async def my_presence(request: web.Request, api: StandaloneApi) -> web.Response:
    return _json({"presence": [presence_json(p) for p in await api.presence.mine()]})


async def pbx_users(request: web.Request, api: StandaloneApi) -> web.Response:
    users = await api.presence.pbx_users()
    return _json({"users": [u.model_dump(mode="json") for u in users]})


async def me(request: web.Request, api: StandaloneApi) -> web.Response:
    from app.core.feed import agent_info

    agent = request[_AGENT]
    problem = api.calls.setup_problem(need_crm_user=True)
    return _json({"agent": agent_info(api.identity, agent.name, request.app[OUTCOMES]).model_dump(mode="json"),
                  "setup_problem": None if problem is None else problem.value})


# -- recordings --------------------------------------------------------------------------------


async def recording(request: web.Request, api: StandaloneApi) -> web.StreamResponse:
    uniqueid, identity = request.match_info["uniqueid"], api.identity

    def read(session: Session) -> str | None:
        row = session.cdrs.get(uniqueid)
        if row is None or not may_hear(session, identity, row):
            return None
        link = row.data.get("link")
        return link if isinstance(link, str) and link.strip() else None

    link = await api.engine.store.read(read)
    if link is None:  # no such CDR, not this agent's, or no recording: the same answer
        raise Refused(404, "no recording of this call")
    headers = {"Accept-Encoding": "identity"}
    wanted = request.headers.get("Range", "")
    if wanted and _RANGE.fullmatch(wanted.strip()):
        headers["Range"] = wanted.strip()
    client = request.app[_HTTP]
    try:
        upstream = await client.send(client.build_request("GET", link.strip(), headers=headers), stream=True)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        log.warning("recording %s: the PBX's file server failed: %s", uniqueid, redact(str(exc)))
        raise Refused(502, f"could not fetch the recording from the PBX ({type(exc).__name__})") from None
    try:
        return await _relay(request, uniqueid, upstream)
    finally:
        await upstream.aclose()


async def _relay(request: web.Request, uniqueid: str, upstream: httpx.Response) -> web.StreamResponse:
    status = upstream.status_code
    if status in (404, 410):
        raise Refused(404, "the PBX has not published this recording (yet)")
    if status == 416:
        raise Refused(416, "the requested range is not in the recording")
    if status not in (200, 206):
        log.warning("recording %s: the PBX's file server answered HTTP %d", uniqueid, status)
        raise Refused(502, f"the PBX answered HTTP {status} for the recording")
    response = web.StreamResponse(status=status)
    response.headers["Content-Type"] = upstream.headers.get("Content-Type", "application/octet-stream")
    response.headers["Cache-Control"] = "private, no-store"
    for name in _PASSED_HEADERS:
        if name in upstream.headers:
            response.headers[name] = upstream.headers[name]
    await response.prepare(request)
    try:
        async for chunk in upstream.aiter_raw(RECORDING_CHUNK):
            await response.write(chunk)
    except httpx.HTTPError as exc:  # too late for a status: cut the connection, the agent sees it short
        log.warning("recording %s: the PBX's file server failed mid-stream: %s", uniqueid, redact(str(exc)))
        response.force_close()
        return response
    except ConnectionError:  # the agent went away
        return response
    await response.write_eof()
    return response


async def _recordings_client(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client for every recording fetch, for the application's life."""
    async with httpx.AsyncClient(timeout=RECORDING_TIMEOUT, follow_redirects=True,
                                 headers={"User-Agent": "pbx-companion"}) as client:
        app[_HTTP] = client
        yield


# -- registration ------------------------------------------------------------------------------

ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", f"{API}/me", me),
    ("GET", f"{API}/contacts", find_contacts),
    ("POST", f"{API}/contacts", create_contact),
    ("GET", f"{API}/contacts/search", search_contacts),
    ("GET", f"{API}/contacts/{{contact_id}}", get_contact),
    ("PUT", f"{API}/contacts/{{contact_id}}", update_contact),
    ("GET", f"{API}/card", card),
    ("GET", f"{API}/timeline", timeline),
    ("GET", f"{API}/cdr", pbx_history),
    ("PUT", f"{API}/notes/{{ref}}", set_note),
    ("GET", f"{API}/missed", missed),
    ("POST", f"{API}/missed/{{call_id}}/clear", clear_missed),
    ("POST", f"{API}/missed/clear", clear_all_missed),
    ("POST", f"{API}/dial", dial),
    ("GET", f"{API}/calls/{{call_id}}/caller", caller),
    ("POST", f"{API}/calls/{{call_id}}/hold", hold),
    ("GET", f"{API}/presence", presence),
    ("GET", f"{API}/presence/mine", my_presence),
    ("GET", f"{API}/pbx-users", pbx_users),
    ("GET", RECORDING_PATH, recording),
)


def add_agent_rest(app: web.Application, engine: Engine) -> None:
    """Serve the REST endpoints from ``app`` (an ``extend`` of :func:`app.webhook.app.create_app`,
    after :func:`~app.team.agent_api.add_agent_api`, whose hub and throttle it shares)."""
    app[_APIS] = AgentApis(engine)
    app.cleanup_ctx.append(_recordings_client)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, _endpoint(handler))
