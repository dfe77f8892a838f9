"""The service API when this computer is the webhook: every call runs on the local :class:`Engine`.

Each read is one ``store.read`` and each change one ``store.write`` (one transaction), run on a
storage thread; the rules that used to live in windows (which contact a caller is, whose missed
call it is, what saving a contact links) live here, below the UI, where a team server runs them too.

Standalone, the service acts for this workstation (its settings' CRM user and extension). A team
server builds one per agent, ``StandaloneApi(engine, identity, name=...)``: then "mine" is that
agent's, and ``make_call``/``switch_call_hold`` go out as the agent's CRM user
(:mod:`app.team.rest`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.protocol.cdr import CdrRecord
from app.protocol.pbx_actions import DomainUser
from app.protocol.phones import Phone, PhoneError, PhoneNormalizer, cdr_search_forms
from app.storage import CallRecord, ContactRecord, CrmUser, EventRecord, PresenceRecord, Session

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
    SetupProblem,
    TeamSnapshot,
)
from .bus import BusMessage, ContactChanged, Subscription
from .directory import NumberQuery, read_caller_info
from .history import HistoryEntry, merge_history
from .timeline import TimelineRow, load_timeline

if TYPE_CHECKING:
    from app.webhook.ratelimit import Refusal

    from .contacts_io import ImportSummary
    from .engine import Engine

log = logging.getLogger("app.core")

#: Records per ``get_cdr`` page when walking the PBX's history.
PBX_PAGE_SIZE = 100
#: Calls read to find the ones still in progress for the team panel.
RECENT_CALLS_SCANNED = 500
#: A call in progress with no event for this long is not shown as live (a lost hangup).
STALE_CALL_SECONDS = 4 * 3600.0


class _Acting:
    """Whom the services act for: this workstation (``agent`` None: its settings, read at each use)
    or one agent of a team server (``agent``: their identity, ``name``: their display name)."""

    def __init__(self, engine: Engine, agent: AgentIdentity | None, name: str) -> None:
        self._engine = engine
        self.agent = agent
        self._name = name

    @property
    def identity(self) -> AgentIdentity:
        return self.agent if self.agent is not None else self._engine.identity

    @property
    def name(self) -> str:
        """The display name of "me" (a contact's owner shown as me)."""
        return self._name if self.agent is not None else self._engine.settings.crm_user_name

    @property
    def has_crm_user(self) -> bool:
        return bool(self.agent.crm_user if self.agent is not None else self._engine.settings.crm_user)

    def crm_user(self) -> str:
        """The CRM user the PBX actions go out as; raises :class:`NotConfigured` when there is none."""
        if self.agent is None:
            return self._engine.own_crm_user()
        if not self.agent.crm_user:
            raise NotConfigured("this agent has no CRM user: add the agent again with --crm-user")
        return self.agent.crm_user

    def own_user(self) -> CrmUser | None:
        """"Me" as ``get_users`` lists it, for the team panel when the team table does not map me."""
        if self.agent is None:
            s = self._engine.settings
            crm_user, extension, name = s.crm_user, s.extension, s.crm_user_name
        else:
            crm_user, extension, name = self.agent.crm_user, self.agent.extension, self._name
        if not (crm_user and extension):
            return None
        return CrmUser(crm_user, name or crm_user, extension)


class _Contacts:
    def __init__(self, engine: Engine, acting: _Acting) -> None:
        self._engine = engine
        self._acting = acting

    async def find_by_number(self, key: str) -> list[ContactRecord]:
        return await self._engine.store.read(lambda s: s.contacts.find_by_key(key))

    async def search(self, text: str, limit: int) -> list[ContactRecord]:
        query = NumberQuery.parse(self._engine.normalizer, text)

        def find(session: Session) -> list[ContactRecord]:
            found: dict[int | None, ContactRecord] = {}
            if query.as_number:
                if query.key:
                    for contact in session.contacts.find_by_key(query.key):
                        found.setdefault(contact.id, contact)
                for digits in query.digit_forms:
                    for contact in session.contacts.search_phone(digits, limit):
                        found.setdefault(contact.id, contact)
            else:
                for contact in session.contacts.search(query.text, limit):
                    found.setdefault(contact.id, contact)
            return list(found.values())

        return await self._engine.store.read(find)

    async def get(self, contact_id: int) -> ContactRecord | None:
        return await self._engine.store.read(lambda s: s.contacts.get(contact_id))

    async def save(self, draft: ContactDraft, *, contact_id: int | None, call_id: str | None = None) -> int:
        keys = {phone.key for phone in draft.phones}

        def write(session: Session) -> tuple[ContactChanged, Any]:
            existing = session.contacts.get(contact_id) if contact_id is not None else None
            if existing is not None:
                keys.update(phone.key for phone in existing.phones)
            company_id = session.contacts.company_id(draft.company) if draft.company else None
            record = ContactRecord(
                id=existing.id if existing is not None else None, name=draft.name, company_id=company_id,
                owner_id=draft.owner_id, email=draft.email or None, note=draft.note or None,
                extra=existing.extra if existing is not None else {}, phones=draft.phones,
            )
            new_id = session.contacts.save(record)
            session.contacts.set_phones(new_id, draft.phones)
            for phone in draft.phones:
                session.calls.link_contact(phone.key, new_id)
                session.cdrs.link_contact(phone.key, new_id)
            if call_id:
                call = session.calls.get(call_id)
                if call is not None and call.contact_id is None:
                    call.contact_id = new_id
                    session.calls.save(call)
            changed = ContactChanged(new_id, tuple(sorted(k for k in keys if k)))
            journal = self._engine.ingestor.journal  # a team server's feed: in this very transaction
            return changed, journal(session, [changed], time.time()) if journal is not None else None

        changed, journaled = await self._engine.store.write(write)
        if journaled is not None and self._engine.ingestor.journaled is not None:
            self._engine.ingestor.journaled(journaled)
        # after the commit: an open pop-up or card for one of these numbers shows the contact as it is now
        self._engine.bus.publish(changed)
        return changed.contact_id

    async def caller(self, call: CallRecord) -> CallerInfo:
        me, my_name = self._acting.identity, self._acting.name
        return await self._engine.store.read(lambda s: read_caller_info(s, call, me, my_name))

    async def card(self, contact_id: int | None, key: str | None, call_id: str | None) -> CardData:
        def read(session: Session) -> CardData:
            contact = session.contacts.get(contact_id) if contact_id is not None else None
            if contact is None and contact_id is None and key:
                found = session.contacts.find_by_key(key)
                contact = found[0] if found else None
            keys = [p.key for p in contact.phones] if contact is not None else ([key] if key else [])
            if contact is None and contact_id is not None and key:
                keys = [key]
            call = session.calls.get(call_id) if call_id else None
            return CardData(contact, session.users.list(), keys, load_timeline(session, keys), call)

        return await self._engine.store.read(read)

    async def import_file(self, path: Path, progress: Callable[[int, int], Any] | None = None) -> ImportSummary:
        from .contacts_io import import_contacts

        engine = self._engine
        return await asyncio.to_thread(import_contacts, engine.store, path, engine.normalizer, progress=progress)

    async def export_file(self, path: Path, fmt: str) -> int:
        from .contacts_io import export_contacts

        def export() -> int:
            with open(path, "w", encoding="utf-8", newline="") as out:
                return export_contacts(self._engine.store, out, fmt)

        return await asyncio.to_thread(export)


class _History:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def timeline(self, keys: Sequence[str]) -> list[TimelineRow]:
        return await self._engine.store.read(lambda s: load_timeline(s, list(keys)))

    async def entries(self, number: str, limit: int) -> list[HistoryEntry]:
        key = self._engine.normalizer.key(number)

        def read(session: Session) -> list[HistoryEntry]:
            return merge_history(session.calls.for_number(key, limit), session.cdrs.for_number(key, limit), limit)

        return await self._engine.store.read(read)

    async def pbx_pages(self, keys: Sequence[str], *, max_records: int | None = None) -> AsyncIterator[PbxPage]:
        engine = self._engine
        phones = []
        for key in sorted(set(keys)):
            try:
                phones.append(Phone.from_key(key))
            except PhoneError:
                continue
        if not phones:
            return
        pbx = engine.pbx
        async for page in pbx.iter_cdr_pages(numbers=cdr_search_forms(engine.normalizer, phones), newest_first=True,
                                             page_size=PBX_PAGE_SIZE, max_records=max_records):
            at = time.time()
            records = [record.wire_dict() for record in page]

            def keep(session: Session, page: list[CdrRecord] = page, records: list[dict[str, Any]] = records,
                     at: float = at) -> dict[str, tuple[str, str]]:
                for record in page:
                    engine.ingestor.store_cdr(session, record, at, source="pbx")
                return session.notes.many([str(r["uniqueid"]) for r in records])

            notes = await engine.store.write(keep)
            yield PbxPage(records, notes)

    async def recording_link(self, uniqueid: str) -> str | None:
        def read(session: Session) -> str | None:
            stored = session.cdrs.get(uniqueid)
            return None if stored is None else stored.data.get("link")

        return await self._engine.store.read(read)

    async def recording(self, link: str) -> RecordingMedia:
        return RecordingMedia(url=link)  # the PBX's link: the player streams it, the token goes only there

    def shared_outcomes(self) -> tuple[str, ...]:
        return ()  # this computer is the whole call center: the agent's own setting is the list


class _Calls:
    def __init__(self, engine: Engine, acting: _Acting) -> None:
        self._engine = engine
        self._acting = acting

    def setup_problem(self, *, need_crm_user: bool) -> SetupProblem | None:
        engine = self._engine
        if not engine.settings.pbx_url:
            return SetupProblem.PBX_URL
        if not engine.keys.pbx_api_key:
            return SetupProblem.PBX_KEY
        if need_crm_user and not self._acting.has_crm_user:
            return SetupProblem.CRM_USER
        return None

    async def dial(self, phone: Phone) -> DialResult:
        engine = self._engine
        if self._acting.agent is None:
            dialed = await engine.dial(phone)
        else:  # an agent of a team server: as their own CRM user, never the server's settings
            crm_user = self._acting.crm_user()
            dialed = engine.normalizer.dial_string(phone)
            await engine.pbx.make_call(crm_user, dialed)
            log.info("make_call %s as crm_user %s", dialed, crm_user)
        at = time.time()

        def record(session: Session) -> None:
            session.dials.add(phone.key, dialed, at)
            session.calls.clear_missed_from(phone.key, at)

        await engine.store.write(record)
        return DialResult(phone, dialed)

    async def hold(self, call_id: str) -> None:
        if self._acting.agent is None:
            await self._engine.hold(call_id)
        else:
            await self._engine.pbx.switch_call_hold(self._acting.crm_user(), call_id)

    async def missed(self, limit: int = MAX_MISSED) -> list[MissedCall]:
        me = self._acting.identity

        def read(session: Session) -> list[MissedCall]:
            # the store narrows by CRM user; a call to my extension may carry none, so those are
            # read unnarrowed; is_mine is the rule either way
            if me.see_all_calls or me.extension:
                calls = session.calls.missed(None, limit)
            else:
                calls = []
            if not me.see_all_calls and me.crm_user:
                seen = {c.call_id for c in calls}
                calls += [c for c in session.calls.missed(me.crm_user, limit) if c.call_id not in seen]
            calls.sort(key=lambda c: c.first_seen, reverse=True)
            found = []
            for call in calls:
                if not me.is_mine(call):
                    continue
                contact = session.contacts.get(call.contact_id) if call.contact_id is not None else None
                if contact is None and call.other_key:
                    contact = next(iter(session.contacts.find_by_key(call.other_key)), None)
                found.append(MissedCall(call, contact))
                if len(found) >= limit:
                    break
            return found

        if not (me.see_all_calls or me.crm_user or me.extension):
            return []
        return await self._engine.store.read(read)

    async def clear_missed(self, call_id: str) -> bool:
        at = time.time()
        return await self._engine.store.write(lambda s: s.calls.clear_missed(call_id, at))

    async def clear_all_missed(self) -> int:
        cleared = 0
        while True:  # what missed() lists, as often as it lists a full page
            found = await self.missed(MAX_MISSED)
            if not found:
                break
            call_ids = [entry.call.call_id for entry in found]
            at = time.time()

            def clear(session: Session, call_ids: list[str] = call_ids, at: float = at) -> int:
                return sum(session.calls.clear_missed(call_id, at) for call_id in call_ids)

            done = await self._engine.store.write(clear)
            cleared += done
            if len(found) < MAX_MISSED or not done:
                break
        return cleared

    async def recent_dials(self, limit: int) -> list[RecentDial]:
        def read(session: Session) -> list[RecentDial]:
            return [RecentDial(key, dialed, at, next(iter(session.contacts.find_by_key(key)), None))
                    for key, dialed, at in session.dials.recent(limit)]

        return await self._engine.store.read(read)

    async def set_note(self, ref: str, note: str, outcome: str) -> None:
        at = time.time()
        await self._engine.store.write(lambda s: s.notes.set(ref, note, outcome, at))


class _Presence:
    def __init__(self, engine: Engine, acting: _Acting) -> None:
        self._engine = engine
        self._acting = acting

    async def team(self) -> TeamSnapshot:
        engine = self._engine
        since = time.time() - STALE_CALL_SECONDS

        def read(session: Session) -> TeamSnapshot:
            live = [c for c in session.calls.recent(RECENT_CALLS_SCANNED)
                    if c.state.live and c.updated_at >= since]
            return TeamSnapshot(session.users.list(), session.presence.all(), live)

        snapshot = await engine.store.read(read)
        users, me = snapshot.users, self._acting.own_user()
        # this workstation's (this agent's) own user, as get_users lists it, when the team table does not map it
        if me is not None and all(u.extension != me.extension and u.id != me.id for u in users):
            users.append(me)
        return snapshot

    async def mine(self) -> list[PresenceRecord]:
        me = self._acting.identity
        return await self._engine.store.read(lambda s: [p for p in s.presence.all() if me.owns_presence(p)])

    async def pbx_users(self) -> list[DomainUser]:
        return await self._engine.pbx.get_domain_user_list()


class _Events:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def connect(self, callback: Callable[[BusMessage], Any]) -> Callable[[], None]:
        return self._engine.bus.connect(callback)

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        return self._engine.bus.subscribe(maxsize)


class StandaloneApi:
    """:class:`~app.core.api.CompanionApi` over the local engine (this process is the webhook).

    ``identity`` None: the service acts for this workstation, as its settings say at each use.
    ``identity`` given (a team server, one per agent): "mine" is that agent's, ``dial`` and ``hold``
    go out as the agent's CRM user, and ``name`` is the agent's display name.
    """

    def __init__(self, engine: Engine, identity: AgentIdentity | None = None, *, name: str = "") -> None:
        self.engine = engine
        acting = _Acting(engine, identity, name)
        self._acting = acting
        self.contacts: ContactsApi = _Contacts(engine, acting)
        self.history: HistoryApi = _History(engine)
        self.calls: CallsApi = _Calls(engine, acting)
        self.presence: PresenceApi = _Presence(engine, acting)
        self.events: EventsApi = _Events(engine)

    @property
    def identity(self) -> AgentIdentity:
        return self._acting.identity

    @property
    def normalizer(self) -> PhoneNormalizer:
        return self.engine.normalizer

    @property
    def webhook_url(self) -> str | None:
        server = self.engine.server
        return server.url if server is not None else None

    async def recent_events(self, limit: int) -> list[EventRecord]:
        return await self.engine.store.read(lambda s: s.events.recent(limit))

    def recent_refusals(self) -> list[Refusal]:
        return self.engine.recent_refusals()
