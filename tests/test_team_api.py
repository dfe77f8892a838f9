"""TeamApi (app/core/team_api.py), the service API in team mode, end to end: a real TeamServer on
loopback (on SQLite and on a real PostgreSQL), a fake PBX on another port, the PBX's events posted
to the webhook over HTTP, and each agent's app a TeamApi with its personal token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import ssl
import stat
import time
import types
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from app.core import feed_client, team_api
from app.core.api import ContactDraft, NotConfigured, RecordingUnavailable, SetupProblem
from app.core.bus import BusMessage, CallChanged, CdrAdded, ContactChanged, PresenceChanged
from app.core.outcomes import offered_outcomes
from app.core.secrets import Keys
from app.core.team_api import (
    CONNECTING,
    LIVE,
    REJECTED,
    STOPPED,
    UNREACHABLE,
    TeamApi,
    TeamAuthError,
    TeamPbxError,
    TeamRefused,
    TeamUnavailable,
    check_connection,
    pbx_error_from_server,
    server_base,
)
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
from app.protocol.phones import Phone, PhoneNormalizer
from app.protocol.redact import redact
from app.storage import CrmUser, PhoneRecord
from app.team.agents import AgentAdmin
from app.team.server import TeamServer
from tests.fakes.fake_pbx import FakePbx, make_cdr, refused_url
from tests.support import canary
from tests.support.webhook import call_body, cdr_body, envelope, post

RITA = ("Rita", "3", "9022")     # agent A
BORIS = ("Boris", "4", "9023")   # agent B
CLIENT = "+74952523060"
CLIENT_KEY = "74952523060"
AUDIO = b"ID3\x04team-api-audio" + bytes(range(256)) * 100


class RecordingPbx(FakePbx):
    """The fake PBX, also serving recordings at ``GET /get_file?file=<name>&token=<token>``."""

    def __init__(self) -> None:
        super().__init__(api_key=canary.PBX_KEY)
        self.files: dict[str, bytes] = {}

    def link(self, name: str) -> str:
        return f"{self.url}/get_file?file={name}&token={canary.LINK_TOKEN}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET" or request.path != "/get_file":
            return await super()._handle(request)
        body = self.files.get(request.query.get("file", ""))
        if body is None or request.query.get("token") != canary.LINK_TOKEN:
            return web.Response(status=404, text="not published yet")
        return web.Response(body=body, content_type="audio/mpeg")


class Recorder:
    """Every bus message one TeamApi published, and its connection states."""

    def __init__(self, api: TeamApi) -> None:
        self.messages: list[BusMessage] = []
        self.states: list[str] = []
        self.resets: list[str] = []
        api.events.connect(self.messages.append)
        api.on_state(lambda state, reason: self.states.append(state))
        api.on_reset(self.resets.append)

    def calls(self, call_id: str | None = None) -> list[CallChanged]:
        return [m for m in self.messages if isinstance(m, CallChanged) and call_id in (None, m.call.call_id)]

    def presence(self) -> list[PresenceChanged]:
        return [m for m in self.messages if isinstance(m, PresenceChanged)]

    def cdrs(self) -> list[CdrAdded]:
        return [m for m in self.messages if isinstance(m, CdrAdded)]


@dataclass
class Team:
    settings: Any
    database: str | None
    server: TeamServer
    pbx: RecordingPbx
    base: str
    tokens: dict[str, str]
    http: aiohttp.ClientSession
    tmp: Path
    apis: list[TeamApi] = field(default_factory=list)

    @property
    def webhook(self) -> str:
        return self.base + "/webhook"

    @property
    def admin(self) -> AgentAdmin:
        return AgentAdmin(self.server.engine.store)

    def state_path(self, name: str) -> Path:
        return self.tmp / "state" / f"{name}.json"

    async def api(self, name: str, *, live: bool = True, state: bool = True) -> tuple[TeamApi, Recorder]:
        """Agent ``name``'s app: a started TeamApi (live unless told not to wait) and what it publishes."""
        api = TeamApi(self.base, self.tokens[name], state_path=self.state_path(name) if state else None,
                      normalizer=PhoneNormalizer("RU"))
        recorder = Recorder(api)
        self.apis.append(api)
        await api.start()
        if live:
            await api.connection.wait_for(LIVE, timeout=10)
        return api, recorder

    async def send(self, action: str, body: dict[str, Any]) -> None:
        status, reply = await post(self.http, self.webhook, envelope(action, body))
        assert status == 200, reply

    async def ring(self, call_id: str, crm_user: str, extension: str, *, answer: bool = False,
                   hangup: bool = False) -> None:
        body = call_body(call_id, crm_user=crm_user, domain_user=extension, other_leg=CLIENT)
        await self.send("call_ringing", body)
        if answer:
            await self.send("call_answer", body)
        if hangup:
            cause = "NORMAL_CLEARING" if answer else "ORIGINATOR_CANCEL"
            await self.send("call_hangup", {**body, "hangup_cause": cause})

    async def restart(self, *, before_start: Callable[[], Any] | None = None) -> None:
        """Stop the server; start a new one on the same database and the same port."""
        port = self.server.engine.server.port
        await self.server.stop()
        if before_start is not None:
            await before_start()
        self.settings.port = port
        self.server = TeamServer(self.settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=self.database)
        url = await self.server.start()
        assert url == self.webhook


@pytest.fixture
async def team(settings, http, tmp_path: Path, new_database: Callable[[str], str | None]) -> AsyncIterator[Team]:
    pbx = RecordingPbx()
    await pbx.start()
    settings.pbx_url, settings.crm_user, settings.extension = pbx.url, "99", "9099"
    database = new_database("teamapi")
    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=database)
    url = await server.start()
    admin = AgentAdmin(server.engine.store)
    loop = asyncio.get_running_loop()
    tokens = {}
    for name, crm_user, extension in (RITA, BORIS):
        tokens[name] = (await loop.run_in_executor(None, admin.add, name, crm_user, extension)).token
    tokens["Sveta"] = (await loop.run_in_executor(None, lambda: admin.add("Sveta", "9", None, True))).token
    team = Team(settings, database, server, pbx, url.removesuffix("/webhook"), tokens, http, tmp_path)
    try:
        yield team
    finally:
        for api in team.apis:
            await api.stop()
        await team.server.stop()
        await pbx.stop()


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


# -- the feed as bus messages --------------------------------------------------------------------

async def test_a_call_reaches_only_its_agent_with_the_caller_and_presence_reaches_everyone(team: Team):
    await team.server.engine.store.write(lambda s: (s.users.upsert(CrmUser("3", "Маргарита Р.", "9022")),
                                                    s.users.upsert(CrmUser("4", "Борис Б.", "9023"))))
    rita, rita_got = await team.api("Rita")
    boris, boris_got = await team.api("Boris")
    assert rita.identity.crm_user == "3" and rita.identity.extension == "9022" and rita.name == "Rita"
    assert rita.calls.setup_problem(need_crm_user=True) is None
    contact_id = await rita.contacts.save(ContactDraft("Иван Петров", "ООО «Ромашка»", "3", "", "",
                                                       [PhoneRecord(CLIENT_KEY, CLIENT)]), contact_id=None)

    await team.ring("rita-call", "3", "9022")
    await until(lambda: len(rita_got.calls("rita-call")) == 1)
    ringing = rita_got.calls("rita-call")[0]
    assert ringing.event == ev.CALL_RINGING and ringing.call.state == "ringing"
    assert ringing.call.crm_user == "3" and ringing.call.other_key == CLIENT_KEY
    requests_before = len(team.pbx.requests)
    info = await rita.contacts.caller(ringing.call)  # from the feed's caller facts, this agent's view
    assert (info.contact_id, info.name, info.company) == (contact_id, "Иван Петров", "ООО «Ромашка»")
    assert info.owner_name == "Маргарита Р." and info.owner_is_me is True
    assert len(team.pbx.requests) == requests_before

    await team.ring("boris-call", "4", "9023")
    await until(lambda: len(boris_got.calls("boris-call")) == 1)
    boris_info = await boris.contacts.caller(boris_got.calls("boris-call")[0].call)
    assert boris_info.contact_id == contact_id and boris_info.owner_is_me is False
    assert (await boris.contacts.caller(ringing.call)).contact_id is None  # not his call: the number only

    await team.send("agent_change", {"user_uid": "9023", "crm_user": "4", "base_status": -3})
    for got in (rita_got, boris_got):
        await until(lambda got=got: len(got.presence()) == 1)
        change = got.presence()[0]
        assert change.event == ev.AGENT_CHANGE and change.presence.user_uid == "9023"
        assert change.presence.base_status == -3

    await team.send("call_hangup", {**call_body("rita-call", other_leg=CLIENT), "hangup_cause": "ORIGINATOR_CANCEL"})
    await team.send("cdr_append", cdr_body("rita-call", src=CLIENT, dst="9022", link=team.pbx.link("rita-call")))
    await until(lambda: len(rita_got.cdrs()) == 1)
    events = [m.event for m in rita_got.calls("rita-call")]
    assert events == [ev.CALL_RINGING, ev.CALL_HANGUP, ev.CDR_APPEND]
    hangup = rita_got.calls("rita-call")[1].call
    assert hangup.state == "ended" and hangup.missed is True
    cdr = rita_got.cdrs()[0].cdr
    assert cdr.uniqueid == "rita-call" and cdr.source == "team" and cdr.other_key == CLIENT_KEY
    assert cdr.data["link"] == rita.recording_url("rita-call") == f"{team.base}/agent/api/recordings/rita-call"
    assert canary.LINK_TOKEN not in json.dumps(cdr.data)

    await asyncio.sleep(0.3)  # anything else for Boris would have arrived by now
    assert [m.call.call_id for m in boris_got.calls()] == ["boris-call"]
    assert boris_got.cdrs() == []
    assert [m.call.call_id for m in rita_got.calls()] == ["rita-call"] * 3


async def test_dial_hold_missed_and_clear_through_the_team_api(team: Team):
    rita, _ = await team.api("Rita")
    boris, _ = await team.api("Boris")
    result = await rita.calls.dial(rita.normalizer.parse("8 906 680-04-04"))
    assert result.phone.key == "79066800404" and result.dialed == "89066800404"
    assert team.pbx.calls == [{"crm_user_id": "3", "dst": "89066800404"}]
    assert team.pbx.actions() == ["make_call"]  # exactly one

    await team.ring("rita-live", "3", "9022", answer=True)
    await team.ring("boris-live", "4", "9023", answer=True)
    with pytest.raises(TeamRefused) as refused:
        await rita.calls.hold("boris-live")
    assert refused.value.status == 403 and "another agent" in str(refused.value)
    with pytest.raises(TeamRefused) as refused:
        await rita.calls.hold("no/such call")
    assert refused.value.status == 404
    await rita.calls.hold("rita-live")
    assert team.pbx.holds == [{"crm_user_id": "3", "call_id": "rita-live"}]

    team.pbx.mode = "reject"
    with pytest.raises(PbxRejected) as rejected:
        await rita.calls.dial(Phone.from_key("74951343060"))
    assert rejected.value.action == "make_call" and rejected.value.message == team.pbx.reject_message
    team.pbx.mode = "http500"
    with pytest.raises(PbxServerError) as failed:
        await rita.presence.pbx_users()
    assert failed.value.status == 500 and failed.value.action == "get_domain_user_list"
    team.pbx.mode = "ok"
    assert [u.uid for u in await rita.presence.pbx_users()] == ["777", "1111"]

    await team.ring("rita-missed", "3", "9022", hangup=True)
    await team.ring("boris-missed", "4", "9023", hangup=True)
    missed = await rita.calls.missed()
    assert [m.call.call_id for m in missed] == ["rita-missed"] and missed[0].call.missed
    assert await boris.calls.clear_missed("rita-missed") is False  # not his: nothing cleared
    assert await rita.calls.clear_missed("rita-missed") is True
    assert await rita.calls.clear_missed("rita-missed") is False
    assert await rita.calls.missed() == []
    assert [m.call.call_id for m in await boris.calls.missed()] == ["boris-missed"]
    # Dismiss all: the agent's own missed calls in one request, never a colleague's
    await team.ring("rita-missed-2", "3", "9022", hangup=True)
    await team.ring("rita-missed-3", "3", "9022", hangup=True)
    assert await rita.calls.clear_all_missed() == 2
    assert await rita.calls.missed() == [] and await rita.calls.clear_all_missed() == 0
    assert [m.call.call_id for m in await boris.calls.missed()] == ["boris-missed"]
    # the dialer's "recent" list: this app's own dials (the refused one too is not there), each once
    recent = await rita.calls.recent_dials(10)
    assert [(d.key, d.dialed, d.contact) for d in recent] == [("79066800404", "89066800404", None)]
    assert await boris.calls.recent_dials(10) == []
    await rita.calls.dial(Phone.from_key("74952523060"))
    await rita.calls.dial(rita.normalizer.parse("8 906 680-04-04"))
    assert [d.key for d in await rita.calls.recent_dials(10)] == ["79066800404", "74952523060"]
    assert [d.key for d in await rita.calls.recent_dials(1)] == ["79066800404"]
    await rita.stop()  # kept with the resume point: the next start of the app has them
    again = TeamApi(team.base, team.tokens["Rita"], state_path=team.state_path("Rita"))
    team.apis.append(again)
    await again.start()
    assert [d.key for d in await again.calls.recent_dials(10)] == ["79066800404", "74952523060"]
    rita = again

    snapshot = await rita.presence.team()
    assert [c.call_id for c in snapshot.live_calls] == ["rita-live"]
    assert {u.id for u in snapshot.users} >= {"3"}


async def test_contacts_history_notes_and_recordings_through_the_team_api(team: Team):
    rita, _ = await team.api("Rita")
    boris, _ = await team.api("Boris")
    await team.ring("rita-call", "3", "9022")
    draft = ContactDraft("Иван Петров", "ООО «Ромашка»", "3", "ivan@example.ru", "VIP",
                         [PhoneRecord(CLIENT_KEY, "8 (495) 252-30-60", "work")])
    contact_id = await rita.contacts.save(draft, contact_id=None, call_id="rita-call")
    found = await boris.contacts.find_by_number(CLIENT_KEY)
    assert [c.id for c in found] == [contact_id]
    assert found[0].company_name == "ООО «Ромашка»" and found[0].phones[0].label == "work"
    assert [c.id for c in await boris.contacts.search("Петров", 10)] == [contact_id]
    assert [c.id for c in await boris.contacts.search("252-30", 10)] == [contact_id]
    assert await boris.contacts.search("  ", 10) == [] and await boris.contacts.find_by_number("+7 495") == []
    got = await boris.contacts.get(contact_id)
    assert got is not None and got.email == "ivan@example.ru" and got.note == "VIP"
    assert await boris.contacts.get(99999) is None
    assert await boris.contacts.save(ContactDraft("Иван Петрович", "", None, "", "", [PhoneRecord(CLIENT_KEY, CLIENT)]),
                                     contact_id=contact_id) == contact_id
    assert (await rita.contacts.get(contact_id)).name == "Иван Петрович"  # type: ignore[union-attr]

    card = await rita.contacts.card(contact_id, None, "rita-call")
    assert card.contact is not None and card.contact.id == contact_id and card.keys == [CLIENT_KEY]
    assert card.call is not None and card.call.call_id == "rita-call" and card.call.contact_id == contact_id
    assert (await boris.contacts.card(contact_id, None, "rita-call")).call is None  # not his call

    team.pbx.files["old-1"] = AUDIO
    team.pbx.cdrs = [make_cdr(f"old-{n}", 1_700_000_000 + n, src="9022", dst=CLIENT, link=team.pbx.link(f"old-{n}"))
                     for n in range(3)]
    pages = [page async for page in rita.history.pbx_pages([CLIENT_KEY, "not-a-key"], max_records=2)]
    records = [r for page in pages for r in page.records]
    assert [r["uniqueid"] for r in records] == ["old-2", "old-1"]
    assert all(r["link"] == rita.recording_url(r["uniqueid"]) for r in records)
    await rita.calls.set_note("old-1", "перезвонить", "callback")
    rows = {row.ref: row for row in await boris.history.timeline([CLIENT_KEY])}
    assert {"old-1", "old-2", "rita-call"} <= set(rows)
    assert (rows["old-1"].note, rows["old-1"].outcome) == ("перезвонить", "callback")
    assert rows["old-1"].link == rita.recording_url("old-1") and rows["rita-call"].link is None
    entries = await rita.history.entries("8 495 252-30-60", 10)
    assert {e.cdr["uniqueid"] for e in entries if e.cdr} >= {"old-1", "old-2"}

    link = await rita.history.recording_link("old-1")
    assert link == rows["old-1"].link
    async with rita.open_recording(link) as audio:  # type: ignore[arg-type]
        assert audio.status == 200 and audio.headers["Content-Type"] == "audio/mpeg"
        assert b"".join([chunk async for chunk in audio.chunks]) == AUDIO
    with pytest.raises(TeamRefused) as refused:
        async with rita.open_recording(rita.recording_url("old-0")):
            pass
    assert refused.value.status == 404
    with pytest.raises(ValueError):
        async with rita.open_recording(team.pbx.link("old-1")):  # the token goes to this server only
            pass
    # what the card's player is given: the audio itself, in memory (the player cannot send the token)
    media = await rita.history.recording(link)  # type: ignore[arg-type]
    assert (media.url, media.data, media.content_type) == (None, AUDIO, "audio/mpeg")
    with pytest.raises(RecordingUnavailable, match="not published yet"):
        await rita.history.recording(rita.recording_url("old-0"))

    with pytest.raises(NotConfigured, match="administrator"):
        await rita.contacts.import_file(Path("contacts.csv"))
    with pytest.raises(NotConfigured):
        await rita.contacts.export_file(Path("contacts.csv"), "csv")
    assert rita.webhook_url is None and await rita.recent_events(10) == []


async def test_a_contact_saved_by_one_agent_reaches_every_other_agents_app(team: Team):
    rita, rita_saw = await team.api("Rita")
    boris, _ = await team.api("Boris")
    draft = ContactDraft("Иван Петров", "", None, "", "", [PhoneRecord(CLIENT_KEY, CLIENT)])
    contact_id = await boris.contacts.save(draft, contact_id=None)
    await until(lambda: any(isinstance(m, ContactChanged) for m in rita_saw.messages))
    changed = [m for m in rita_saw.messages if isinstance(m, ContactChanged)]
    assert changed == [ContactChanged(contact_id, (CLIENT_KEY,))]
    # journaled like a call: Rita's app, away while Boris renames the client, learns it on its way back
    await rita.stop()
    await boris.contacts.save(dataclasses.replace(draft, name="Иван Петрович"), contact_id=contact_id)
    back = TeamApi(team.base, team.tokens["Rita"], state_path=team.state_path("Rita"))
    team.apis.append(back)
    saw_back = Recorder(back)
    await back.start()
    await back.connection.wait_for(LIVE, timeout=10)
    renamed = [m for m in saw_back.messages if isinstance(m, ContactChanged)]
    assert renamed == [ContactChanged(contact_id, (CLIENT_KEY,))]
    assert (await back.contacts.get(contact_id)).name == "Иван Петрович"  # type: ignore[union-attr]


# -- reconnecting and resuming ---------------------------------------------------------------------

async def test_reconnect_now_cuts_the_backoff_wait_short(team: Team, monkeypatch: pytest.MonkeyPatch):
    """The network came back (the app hears it from the OS): the app tries at once instead of at
    the end of a long backoff wait."""
    monkeypatch.setattr(feed_client, "BACKOFF_FIRST", 60.0)
    rita, _ = await team.api("Rita")

    async def down() -> None:
        await rita.connection.wait_for(CONNECTING, timeout=5)  # closed on purpose: "restarting"
        rita.reconnect_now()  # nobody there yet: the attempt fails, the next wait is long again
        await rita.connection.wait_for(UNREACHABLE, timeout=5)

    await team.restart(before_start=down)
    await asyncio.sleep(0.5)
    assert rita.state == UNREACHABLE  # the 60 s wait is not over
    started = time.monotonic()
    rita.reconnect_now()
    await rita.connection.wait_for(LIVE, timeout=5)
    assert time.monotonic() - started < 2.0

async def test_a_restarted_server_is_followed_again_and_what_happened_meanwhile_comes_once(
        team: Team, monkeypatch: pytest.MonkeyPatch):
    # no jitter, 1 s then 2 s: the new server and the call are there before the second attempt
    monkeypatch.setattr(feed_client, "random", types.SimpleNamespace(uniform=lambda low, high: 1.0))
    monkeypatch.setattr(feed_client, "BACKOFF_FIRST", 1.0)
    rita, got = await team.api("Rita")
    await team.ring("before", "3", "9022")
    await until(lambda: len(got.calls("before")) == 1)

    async def down() -> None:
        await rita.connection.wait_for(UNREACHABLE, timeout=5)
        assert got.states[-2:] == ["connecting", UNREACHABLE]
        with pytest.raises(TeamUnavailable) as unavailable:
            await rita.calls.missed()
        assert unavailable.value.step == "url" and "could not connect" in str(unavailable.value)

    await team.restart(before_start=down)
    await team.ring("meanwhile", "3", "9022", hangup=True)  # before the app is back: replayed
    await rita.connection.wait_for(LIVE, timeout=10)
    await until(lambda: len(got.calls("meanwhile")) >= 1)
    await asyncio.sleep(0.3)
    meanwhile = got.calls("meanwhile")
    assert [m.event for m in meanwhile] == [ev.CALL_HANGUP]  # the replay: the call's newest state, once
    assert meanwhile[0].call.state == "ended" and meanwhile[0].call.missed
    assert got.resets == ["fresh"] and rita.duplicates == 0  # the first start only: a replay, no reload
    assert len(got.calls("before")) == 1
    assert [m.call.call_id for m in await rita.calls.missed()] == ["meanwhile"]
    assert got.states[-1] == LIVE
    await team.ring("after", "3", "9022")
    await until(lambda: len(got.calls("after")) == 1)


async def test_the_servers_outcomes_are_every_agents_list_and_come_with_the_next_hello(
        team: Team, monkeypatch: pytest.MonkeyPatch):
    """One list of call outcomes for the whole call center (its reports count the same ones): the
    server's ``outcomes`` setting reaches each app with the agent's identity, from ``me`` at the start
    and from each hello, and stays known while the server is away. A server without one leaves each
    app its own setting."""
    monkeypatch.setattr(feed_client, "random", types.SimpleNamespace(uniform=lambda low, high: 1.0))
    monkeypatch.setattr(feed_client, "BACKOFF_FIRST", 1.0)
    rita, _ = await team.api("Rita")
    assert rita.history.shared_outcomes() == ()  # the fixture's server sets none
    assert offered_outcomes(rita.history.shared_outcomes(), "sale, Demo booked") == ["sale", "Demo booked"]

    team.settings.outcomes = "Demo booked; Перезвонить, resolved"  # the administrator's list, then a restart

    async def down() -> None:  # the new server starts once the app has seen the old one go
        await rita.connection.wait_for(UNREACHABLE, timeout=5)

    await team.restart(before_start=down)
    team_list = ("Demo booked", "call_back", "resolved")  # the built-in ones as codes, in the order given
    await until(lambda: rita.history.shared_outcomes() == team_list, timeout=10)  # the reconnect's hello
    assert offered_outcomes(rita.history.shared_outcomes(), "sale") == list(team_list)
    boris, _ = await team.api("Boris", live=False)
    assert boris.history.shared_outcomes() == team_list  # from ``me``, before the feed is live
    me = f"{team.base}/agent/api/me"
    async with team.http.get(me, headers={"Authorization": f"Bearer {team.tokens['Sveta']}"}) as reply:
        assert (await reply.json())["agent"]["outcomes"] == list(team_list)  # the wire: docs/agent-api.md

    await boris.stop()
    await rita.stop()  # its state file keeps the agent as the server last described them

    async def start_offline() -> None:  # while the server is away
        offline = TeamApi(team.base, team.tokens["Rita"], state_path=team.state_path("Rita"))
        team.apis.append(offline)
        await offline.start()
        assert offline.state == UNREACHABLE and offline.history.shared_outcomes() == team_list

    await team.restart(before_start=start_offline)


async def test_the_resume_point_survives_an_app_restart(team: Team, monkeypatch: pytest.MonkeyPatch):
    writes: list[dict[str, Any]] = []
    write = team_api.write_state
    monkeypatch.setattr(team_api, "write_state", lambda path, data: (writes.append(data), write(path, data)))
    rita, got = await team.api("Rita")
    started = time.monotonic()
    for n in range(12):
        await team.ring(f"c{n}", "3", "9022")
    await until(lambda: len(got.calls()) == 12)
    await asyncio.sleep(team_api.STATE_WRITE_INTERVAL * 2)
    elapsed = time.monotonic() - started
    assert 1 <= len(writes) <= elapsed / team_api.STATE_WRITE_INTERVAL + 2  # coalesced, not one per message
    assert got.resets == ["fresh"]
    await rita.stop()
    assert rita.state == STOPPED
    path = team.state_path("Rita")
    saved = json.loads(path.read_text())
    assert saved["epoch"] == team.server.hub.epoch and saved["after"] >= 2 and saved["server"] == team.base
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert team.tokens["Rita"] not in path.read_text()

    await team.ring("later", "3", "9022", answer=True)  # while the app is closed
    again, got_again = await team.api("Rita")
    await until(lambda: len(got_again.calls()) >= 1)
    await asyncio.sleep(0.3)
    assert [(m.call.call_id, m.event) for m in got_again.calls()] == [("later", ev.CALL_ANSWER)]
    assert got_again.resets == [] and again.duplicates == 0


async def test_a_resume_point_from_another_journal_is_a_reset(team: Team):
    path = team.state_path("Rita")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "server": team.base, "after": 10**6, "epoch": "another-database",
                                "agent": None}))
    _, got = await team.api("Rita")
    assert got.resets == ["reset"]
    await team.ring("c1", "3", "9022")
    await until(lambda: len(got.calls("c1")) == 1)  # not taken for a duplicate of the old journal's seqs


async def test_a_revoked_agent_is_rejected_and_stops_reconnecting(team: Team):
    rita, _ = await team.api("Rita")
    feed = rita.feed
    assert feed is not None and feed.attempts == 1
    await asyncio.get_running_loop().run_in_executor(None, team.admin.revoke, "Rita")
    await rita.connection.wait_for(REJECTED, timeout=3)
    assert "token" in rita.connection.reason
    await asyncio.sleep(1.5)
    assert feed.attempts == 1 and feed.connections == 1 and rita.state == REJECTED
    with pytest.raises(TeamAuthError):
        await rita.calls.missed()
    later = TeamApi(team.base, team.tokens["Rita"], state_path=None)
    with pytest.raises(TeamAuthError):
        await later.start()
    assert later.state == REJECTED


async def test_the_app_starts_while_the_server_is_away_with_the_agent_it_knew(team: Team):
    rita, _ = await team.api("Rita")
    await rita.stop()
    port = team.server.engine.server.port
    await team.server.stop()
    offline = TeamApi(team.base, team.tokens["Rita"], state_path=team.state_path("Rita"))
    team.apis.append(offline)
    await offline.start()
    assert offline.state == UNREACHABLE and offline.identity.crm_user == "3" and offline.name == "Rita"
    stranger = TeamApi(team.base, team.tokens["Boris"], state_path=team.state_path("Boris"))
    with pytest.raises(TeamUnavailable) as unavailable:
        await stranger.start()
    assert unavailable.value.step == "url"
    team.settings.port = port
    team.server = TeamServer(team.settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=team.database)
    await team.server.start()
    await offline.connection.wait_for(LIVE, timeout=10)


class SilentProxy:
    """A TCP proxy in front of the server that can go silent: a server host that vanished (no FIN,
    no RST), a NAT that forgot the connection. New connections wait while it is silent."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._speaking = asyncio.Event()
        self._speaking.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def silence(self) -> None:
        self._speaking.clear()

    def speak(self) -> None:
        self._speaking.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._speaking.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        except OSError:
            pass
        finally:
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._speaking.wait()  # silent: what arrives is held, nothing goes through
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in tuple(self._writers):
            writer.close()
        self.speak()
        await asyncio.sleep(0.05)
        await self._server.wait_closed()


async def test_a_server_gone_silent_is_unreachable_within_the_heartbeat(settings, monkeypatch: pytest.MonkeyPatch):
    """The heartbeat (ping every 10 s, a pong missing for 5 s) notices a silent server; here its
    interval is 0.5 s so that the test takes a second, not 15."""
    monkeypatch.setattr(feed_client, "PING_INTERVAL_SECONDS", 0.5)
    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
    await server.start()
    token = (await asyncio.get_running_loop().run_in_executor(None, AgentAdmin(server.engine.store).add, "Rita",
                                                                "3", "9022")).token
    proxy = SilentProxy(server.engine.server.port)
    api = TeamApi(await proxy.start(), token, state_path=None)
    try:
        await api.start()
        await api.connection.wait_for(LIVE, timeout=5)
        proxy.silence()
        started = time.monotonic()
        await api.connection.wait_for(UNREACHABLE, timeout=5)
        assert time.monotonic() - started < 3 * 0.5 + 0.5
        assert "lost" in api.connection.reason
        proxy.speak()
        await api.connection.wait_for(LIVE, timeout=10)
    finally:
        await api.stop()
        await proxy.stop()
        await server.stop()


# -- secrets and "Test connection" -----------------------------------------------------------------

async def test_the_token_is_in_no_repr_error_state_file_or_log(team: Team, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    token = team.tokens["Rita"]
    rita, _ = await team.api("Rita")
    texts = [repr(rita), repr(rita.feed), repr(rita.connection)]
    nowhere = TeamApi(refused_url(), token, state_path=None)
    for failing in (nowhere.start(), rita.calls.hold("boris"), rita.contacts.card(None, "abc", None)):
        with pytest.raises(Exception) as raised:  # whichever it is, it names no token
            await failing
        texts += [str(raised.value), repr(raised.value)]
    wrong = TeamApi(team.base, token[:-4] + "xxxx", state_path=None)
    with pytest.raises(TeamAuthError) as refused:
        await wrong.start()
    texts += [str(refused.value), repr(wrong)]
    await rita.stop()
    texts.append(team.state_path("Rita").read_text())
    texts += [record.getMessage() for record in caplog.records]
    assert all(token not in text for text in texts)
    assert redact(f"Bearer {token}") == "Bearer ***" and redact(token) == "***"


async def test_check_connection_names_the_step_that_failed(team: Team, tmp_path: Path):
    good = await check_connection(team.base + "/webhook", team.tokens["Rita"])
    assert good.ok and good.step is None and good.agent is not None and good.agent.name == "Rita"
    assert good.setup_problem is None and "Rita" in good.message
    assert (await check_connection(team.base, "pbxa_not-a-token")).step == "token"
    assert (await check_connection(team.base, "")).step == "token"
    refused = await check_connection(refused_url(), team.tokens["Rita"])
    assert refused.step == "url" and "could not connect" in refused.message
    assert (await check_connection("ftp://team.example", team.tokens["Rita"])).step == "url"
    assert (await check_connection("https://user:pw@team.example", team.tokens["Rita"])).step == "url"
    not_team = await check_connection(team.pbx.url, team.tokens["Rita"])
    assert not_team.step == "url" and "not as a pbx-companion team server" in not_team.message
    plain_to_tls = await check_connection(team.base.replace("http://", "https://"), team.tokens["Rita"])
    assert plain_to_tls.step == "tls"

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        untrusted = await check_connection(f"https://127.0.0.1:{port}", team.tokens["Rita"])
        assert untrusted.step == "tls" and "certificate" in untrusted.message
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        trusted = await check_connection(f"https://127.0.0.1:{port}", team.tokens["Rita"], ssl_context=client_context)
        assert trusted.step == "url"  # TLS works; what answers is no team server
    finally:
        await runner.cleanup()
    for check in (good, refused, not_team, plain_to_tls):
        assert team.tokens["Rita"] not in check.message


# -- without a server ------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [
    PbxUnreachable("make_call", "connection refused", host="pbx.example.com"),
    PbxUnreachable("get_cdr"),
    PbxKeyRefused("get_domain_user_list", 403, host="pbx.example.com"),
    PbxRejected("make_call", 400, "User crm_user_id is not added to the integration", host="pbx.example.com"),
    PbxRejected("switch_call_hold", None, "call (x) is gone"),
    PbxRejected("get_cdr", 404),
    PbxProtocolError("get_cdr", "not JSON", host="pbx.example.com"),
    PbxServerError("get_domain_user_list", 503, host="pbx.example.com"),
    PbxServerError("get_cdr", 429),
    PbxOutcomeUnknown("make_call", "timed out after 10 s", host="pbx.example.com"),
    PbxOutcomeUnknown("switch_call_hold", "the connection was closed before the reply"),
    PbxOutcomeUnknown("get_cdr", "timed out after 10 s"),
])
def test_a_pbx_error_the_server_words_is_read_back_into_its_class(error: PbxError):
    back = pbx_error_from_server("make_call", redact(str(error)))
    assert type(back) is type(error) and str(back) == str(error)
    expected = dict(vars(error))
    if error.host and error.host not in str(error):  # a sentence without the host cannot give it back
        expected["host"] = None
    assert vars(back) == expected


def test_an_unknown_pbx_sentence_is_kept_as_the_server_said_it():
    back = pbx_error_from_server("make_call", "Something new went wrong.")
    assert isinstance(back, TeamPbxError) and str(back) == "Something new went wrong." and back.action == "make_call"


def test_the_server_address_is_normalised_and_checked():
    assert server_base("https://team.example:8765/") == "https://team.example:8765"
    assert server_base(" http://127.0.0.1:8080/webhook ") == "http://127.0.0.1:8080"
    assert server_base("https://proxy.example/pbx/") == "https://proxy.example/pbx"
    for bad in ("", "team.example", "ftp://team.example", "https://team.example/?token=x", "http://u:p@team.example"):
        with pytest.raises(NotConfigured):
            server_base(bad)
    tokenless = TeamApi("https://team.example", " ", state_path=None)
    with pytest.raises(TeamAuthError):
        asyncio.run(tokenless.start())
    assert tokenless.state == "rejected"
    api = TeamApi("https://team.example", "pbxa_secret-token-value", state_path=None)
    assert api.calls.setup_problem(need_crm_user=True) is SetupProblem.CRM_USER  # nobody yet: not started
    assert "pbxa_secret" not in repr(api)
