"""The team server's REST API (``/agent/api/…``), end to end: a real TeamServer on loopback (on
SQLite and on a real PostgreSQL), a real fake PBX on another port, the PBX's events posted to the
webhook over HTTP, agents as real HTTP clients with their personal tokens.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.core.secrets import Keys
from app.protocol.agent_api import recording_path
from app.team.agents import AgentAdmin
from app.team.server import TeamServer
from tests.fakes.fake_pbx import FakePbx, make_cdr
from tests.support import canary
from tests.support.webhook import call_body, cdr_body, envelope, post

RITA = ("Rita", "3", "9022")     # agent A
BORIS = ("Boris", "4", "9023")   # agent B
SVETA = ("Sveta", "9", None)     # a supervisor
CLIENT = "+74952523060"
CLIENT_KEY = "74952523060"
AUDIO = b"ID3\x04fake-mp3-bytes" + bytes(range(256)) * 300  # ~77 kB: more than one streamed chunk


class RecordingPbx(FakePbx):
    """The fake PBX, also serving its recordings at ``GET /get_file?file=<name>&token=<token>``
    (the link's token is the canary: it must never reach an agent)."""

    def __init__(self) -> None:
        super().__init__(api_key=canary.PBX_KEY)
        self.files: dict[str, bytes] = {}
        self.file_hits: list[str] = []
        self.file_status = 200

    def link(self, name: str) -> str:
        return f"{self.url}/get_file?file={name}&token={canary.LINK_TOKEN}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET" or request.path != "/get_file":
            return await super()._handle(request)
        name = request.query.get("file", "")
        self.file_hits.append(name)
        if request.query.get("token") != canary.LINK_TOKEN:
            return web.Response(status=403, text="bad token")
        if self.file_status != 200:
            return web.Response(status=self.file_status, text="file server trouble")
        body = self.files.get(name)
        if body is None:
            return web.Response(status=404, text="not published yet")
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range", ""))
        if wanted:
            start, end = int(wanted[1]), int(wanted[2] or len(body) - 1)
            return web.Response(body=body[start:end + 1], status=206, content_type="audio/mpeg",
                                headers={"Content-Range": f"bytes {start}-{end}/{len(body)}",
                                         "Accept-Ranges": "bytes"})
        return web.Response(body=body, content_type="audio/mpeg", headers={"Accept-Ranges": "bytes"})


@dataclass
class Team:
    server: TeamServer
    pbx: RecordingPbx
    webhook: str
    base: str
    tokens: dict[str, str]
    http: aiohttp.ClientSession
    #: the text of every answer an agent got (checked for secrets)
    answers: list[str] = field(default_factory=list)

    async def call(self, name: str | None, method: str, path: str, *, json: Any = None, data: Any = None,
                   params: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One request as agent ``name`` (None: no token); returns (status, JSON answer)."""
        all_headers = {} if name is None else {"Authorization": f"Bearer {self.tokens.get(name, name)}"}
        all_headers.update(headers or {})
        async with self.http.request(method, f"{self.base}{path}", json=json, data=data, params=params,
                                     headers=all_headers) as response:
            text = await response.text()
            self.answers.append(text)
            assert response.content_type == "application/json", (response.status, text)
            return response.status, await response.json()

    async def send(self, action: str, body: dict[str, Any]) -> None:
        status, reply = await post(self.http, self.webhook, envelope(action, body))
        assert status == 200, reply


@pytest.fixture
async def team(settings, http, new_database: Callable[[str], str | None]) -> AsyncIterator[Team]:
    pbx = RecordingPbx()
    await pbx.start()
    # the server's own settings name a CRM user nobody is: every PBX action must be the agent's
    settings.pbx_url, settings.crm_user, settings.extension = pbx.url, "99", "9099"
    settings.auth_failures_before_block = 1000  # the 401 test fails many times; the throttle has its own test
    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=new_database("rest"))
    url = await server.start()
    admin = AgentAdmin(server.engine.store)
    loop = asyncio.get_running_loop()
    tokens = {}
    for name, crm_user, extension in (RITA, BORIS, SVETA):
        issued = await loop.run_in_executor(None, admin.add, name, crm_user, extension, extension is None)
        tokens[name] = issued.token
    try:
        yield Team(server, pbx, url, url.removesuffix("/webhook"), tokens, http)
    finally:
        await server.stop()
        await pbx.stop()


def assert_no_secrets(team: Team) -> None:
    everything = "\n".join(team.answers)
    for secret in (canary.PBX_KEY, canary.CRM_KEY, canary.LINK_TOKEN, *team.tokens.values()):
        assert secret not in everything
    assert "get_file" not in everything and "Traceback" not in everything


async def ring(team: Team, call_id: str, crm_user: str, extension: str, *, answer: bool = False,
               hangup: bool = False) -> None:
    body = call_body(call_id, crm_user=crm_user, domain_user=extension, other_leg=CLIENT)
    await team.send("call_ringing", body)
    if answer:
        await team.send("call_answer", body)
    if hangup:
        await team.send("call_hangup", {**body, "hangup_cause": "NORMAL_CLEARING" if answer else "ORIGINATOR_CANCEL"})


# -- the token -----------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/agent/api/me"), ("GET", f"/agent/api/contacts?key={CLIENT_KEY}"),
    ("GET", "/agent/api/contacts/search?q=x"), ("GET", "/agent/api/contacts/1"), ("POST", "/agent/api/contacts"),
    ("PUT", "/agent/api/contacts/1"), ("GET", f"/agent/api/timeline?key={CLIENT_KEY}"),
    ("GET", f"/agent/api/cdr?key={CLIENT_KEY}"), ("PUT", "/agent/api/notes/x"), ("GET", "/agent/api/missed"),
    ("POST", "/agent/api/missed/x/clear"), ("POST", "/agent/api/dial"), ("POST", "/agent/api/calls/x/hold"),
    ("GET", "/agent/api/calls/x/caller"), ("GET", "/agent/api/presence"), ("GET", "/agent/api/presence/mine"),
    ("GET", "/agent/api/pbx-users"), ("GET", f"/agent/api/card?key={CLIENT_KEY}"), ("GET", recording_path("u-1")),
]


async def test_every_endpoint_refuses_no_token_and_a_wrong_token(team: Team):
    for method, path in ENDPOINTS:
        for name in (None, "pbxa_not-a-token"):
            status, answer = await team.call(name, method, path, json={"number": "89066800404"})
            assert status == 401, (method, path)
            assert answer["status"] == 401 and "agent token" in answer["error"]
    status, answer = await team.call("Rita", "GET", "/agent/api/me")
    assert status == 200
    assert answer["agent"] == {"name": "Rita", "crm_user": "3", "extension": "9022", "supervisor": False,
                               "outcomes": []}  # the fixture's server sets none
    assert answer["setup_problem"] is None
    assert team.pbx.requests == []  # nothing reached the PBX
    assert_no_secrets(team)


# -- dial and hold --------------------------------------------------------------------------------

async def test_dial_goes_out_once_as_the_agents_own_crm_user_whatever_the_body_claims(team: Team):
    status, rita = await team.call("Rita", "POST", "/agent/api/dial",
                                   json={"number": "8 906 680-04-04", "crm_user_id": "4", "crm_user": "4",
                                         "as": "Boris"})
    assert status == 200, rita
    assert rita["phone"]["key"] == "79066800404"
    status, boris = await team.call("Boris", "POST", "/agent/api/dial", json={"number": "tel:+74951343060"})
    assert status == 200
    assert team.pbx.calls == [{"crm_user_id": "3", "dst": rita["dialed"]}, {"crm_user_id": "4", "dst": boris["dialed"]}]
    assert team.pbx.actions() == ["make_call", "make_call"]  # each sent once
    assert_no_secrets(team)


async def test_dialing_back_clears_the_missed_calls_from_the_number_and_logs_the_dial(team: Team):
    await ring(team, "missed-1", "3", "9022", hangup=True)
    assert [m["call"]["call_id"] for m in (await team.call("Rita", "GET", "/agent/api/missed"))[1]["missed"]] == [
        "missed-1"]
    status, _ = await team.call("Rita", "POST", "/agent/api/dial", json={"number": CLIENT})
    assert status == 200
    assert (await team.call("Rita", "GET", "/agent/api/missed"))[1]["missed"] == []
    dials = await team.server.engine.store.read(lambda s: s.dials.recent(5))
    assert [key for key, _, _ in dials] == [CLIENT_KEY]


@pytest.mark.parametrize("body", [
    {"number": "hello"}, {"number": "134-30-60x"}, {"number": ""}, {"number": 89066800404}, {"number": None},
    {}, [], "89066800404", {"number": ["8906"]},
])
async def test_dial_of_junk_is_a_400_and_nothing_is_sent(team: Team, body: Any):
    status, answer = await team.call("Rita", "POST", "/agent/api/dial", json=body)
    assert status == 400, answer
    assert answer["status"] == 400 and answer["error"]
    assert team.pbx.requests == []


@pytest.mark.parametrize("raw", [b"", b"not json", b'{"number": "8906', b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
async def test_a_body_that_is_not_json_is_a_400(team: Team, raw: bytes):
    status, answer = await team.call("Rita", "POST", "/agent/api/dial", data=raw,
                                     headers={"Content-Type": "application/json"})
    assert status == 400 and answer["status"] == 400
    assert team.pbx.requests == []


async def test_hold_steers_only_the_agents_own_call(team: Team):
    await ring(team, "rita-call", "3", "9022", answer=True)
    await ring(team, "boris-call", "4", "9023", answer=True)
    status, answer = await team.call("Rita", "POST", "/agent/api/calls/boris-call/hold", json={"crm_user_id": "4"})
    assert status == 403 and "another agent" in answer["error"]
    status, _ = await team.call("Sveta", "POST", "/agent/api/calls/rita-call/hold")  # a supervisor too
    assert status == 403
    status, _ = await team.call("Rita", "POST", "/agent/api/calls/no-such-call/hold")
    assert status == 404
    assert team.pbx.holds == []
    status, answer = await team.call("Rita", "POST", "/agent/api/calls/rita-call/hold", json={"crm_user_id": "4"})
    assert status == 200 and answer == {"call_id": "rita-call", "toggled": True}
    assert team.pbx.holds == [{"crm_user_id": "3", "call_id": "rita-call"}]
    assert team.pbx.actions() == ["switch_call_hold"]


async def test_pbx_failures_are_502_with_a_readable_message_and_a_missing_setting_is_503(team: Team):
    team.pbx.mode = "reject"
    status, answer = await team.call("Rita", "POST", "/agent/api/dial", json={"number": "89066800404"})
    assert status == 502
    assert "place the call" in answer["error"] and team.pbx.reject_message in answer["error"]
    team.pbx.mode = "http500"
    status, answer = await team.call("Rita", "GET", "/agent/api/pbx-users")
    assert status == 502 and "PBX users" in answer["error"]
    team.pbx.mode = "ok"
    status, answer = await team.call("Rita", "GET", "/agent/api/pbx-users")
    assert status == 200 and [u["uid"] for u in answer["users"]] == ["777", "1111"]
    assert_no_secrets(team)


async def test_without_a_pbx_url_the_pbx_endpoints_answer_503(team: Team):
    team.server.engine.settings.pbx_url = None  # before the engine built its PBX client
    status, answer = await team.call("Rita", "POST", "/agent/api/dial", json={"number": "89066800404"})
    assert status == 503 and "PBX URL" in answer["error"]
    assert (await team.call("Rita", "GET", "/agent/api/me"))[1]["setup_problem"] == "pbx_url"


# -- missed calls ----------------------------------------------------------------------------------

async def test_the_missed_list_holds_only_the_agents_missed_calls_and_only_they_clear_them(team: Team):
    await ring(team, "rita-missed", "3", "9022", hangup=True)
    await ring(team, "boris-missed", "4", "9023", hangup=True)
    await ring(team, "rita-answered", "3", "9022", answer=True, hangup=True)

    async def missed(name: str) -> list[str]:
        status, answer = await team.call(name, "GET", "/agent/api/missed")
        assert status == 200
        return [m["call"]["call_id"] for m in answer["missed"]]

    assert await missed("Rita") == ["rita-missed"]
    assert await missed("Boris") == ["boris-missed"]
    assert set(await missed("Sveta")) == {"rita-missed", "boris-missed"}

    status, answer = await team.call("Rita", "POST", "/agent/api/missed/boris-missed/clear")
    assert status == 404 and answer["error"] == "no such call of yours"
    status, answer = await team.call("Rita", "POST", "/agent/api/missed/no-such-call/clear")
    assert status == 404 and answer["error"] == "no such call of yours"  # the same answer: nothing revealed
    assert await missed("Boris") == ["boris-missed"]

    status, answer = await team.call("Rita", "POST", "/agent/api/missed/rita-missed/clear")
    assert (status, answer) == (200, {"call_id": "rita-missed", "cleared": True})
    assert (await team.call("Rita", "POST", "/agent/api/missed/rita-missed/clear"))[1]["cleared"] is False
    assert await missed("Rita") == []
    status, answer = await team.call("Rita", "GET", "/agent/api/missed?limit=0")
    assert status == 400 and "limit" in answer["error"]


# -- contacts ----------------------------------------------------------------------------------------

async def test_a_contact_saved_over_rest_is_found_and_linked_to_the_call(team: Team):
    await ring(team, "rita-call", "3", "9022")
    status, answer = await team.call("Rita", "POST", "/agent/api/contacts", json={
        "name": "Иван Петров", "company": "ООО «Ромашка»", "owner_id": "3", "email": "ivan@example.ru",
        "note": "VIP", "phones": [{"raw": "8 (495) 252-30-60", "label": "work"}], "call_id": "rita-call"})
    assert status == 201, answer
    contact_id = answer["id"]
    assert answer["contact"]["phones"] == [{"key": CLIENT_KEY, "raw": "8 (495) 252-30-60", "label": "work",
                                            "extension": None}]
    status, found = await team.call("Boris", "GET", f"/agent/api/contacts?key={CLIENT_KEY}")
    assert status == 200 and [c["id"] for c in found["contacts"]] == [contact_id]
    assert found["contacts"][0]["company_name"] == "ООО «Ромашка»"
    for query in ("Петров", "252-30", "8 495 252-30-60"):
        status, found = await team.call("Rita", "GET", "/agent/api/contacts/search", params={"q": query})
        assert status == 200 and [c["id"] for c in found["contacts"]] == [contact_id], query
    status, got = await team.call("Rita", "GET", f"/agent/api/contacts/{contact_id}")
    assert got["contact"]["name"] == "Иван Петров" and got["contact"]["email"] == "ivan@example.ru"
    call = await team.server.engine.store.read(lambda s: s.calls.get("rita-call"))
    assert call is not None and call.contact_id == contact_id

    status, caller = await team.call("Rita", "GET", "/agent/api/calls/rita-call/caller")
    assert status == 200
    assert caller["caller"]["contact_id"] == contact_id and caller["caller"]["owner_is_me"] is True
    assert caller["caller"]["owner_name"] == "Rita"  # the agent's own name, not the server's settings
    assert (await team.call("Boris", "GET", "/agent/api/calls/rita-call/caller"))[0] == 404

    status, answer = await team.call("Rita", "PUT", f"/agent/api/contacts/{contact_id}",
                                     json={"name": "Иван Петрович", "phones": [{"raw": CLIENT}]})
    assert status == 200 and answer["id"] == contact_id and answer["contact"]["name"] == "Иван Петрович"
    status, card = await team.call("Rita", "GET", f"/agent/api/card?contact_id={contact_id}&call_id=rita-call")
    assert status == 200 and card["contact"]["id"] == contact_id and card["keys"] == [CLIENT_KEY]
    assert card["call"]["call_id"] == "rita-call" and [r["call_id"] for r in card["rows"]] == ["rita-call"]
    status, card = await team.call("Boris", "GET", f"/agent/api/card?contact_id={contact_id}&call_id=rita-call")
    assert status == 200 and card["call"] is None  # not Boris's call


@pytest.mark.parametrize(("body", "problem"), [
    ({"phones": []}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "X", "phones": [{"raw": "hello"}]}, "phones.0: not a phone number"),
    ({"name": "X", "phones": [{"raw": CLIENT}, {"raw": "8 495 252 30 60"}]}, "the same number"),
    ({"name": "X", "email": "not-an-address"}, "email"),
    ({"name": 5}, "name"),
    ({"name": "X", "phones": "89066800404"}, "phones"),
    ({"name": "X" * 201}, "name"),
])
async def test_a_contact_that_is_not_one_is_a_400(team: Team, body: dict[str, Any], problem: str):
    status, answer = await team.call("Rita", "POST", "/agent/api/contacts", json=body)
    assert status == 400 and problem in answer["error"], answer
    assert await team.server.engine.store.read(lambda s: s.contacts.search("X", 5)) == []


async def test_unknown_contacts_are_404_and_bad_queries_400(team: Team):
    assert (await team.call("Rita", "GET", "/agent/api/contacts/999"))[0] == 404
    assert (await team.call("Rita", "GET", "/agent/api/contacts/abc"))[0] == 404
    assert (await team.call("Rita", "PUT", "/agent/api/contacts/999", json={"name": "X"}))[0] == 404
    for path in ("/agent/api/contacts", "/agent/api/contacts?key=+7 495", "/agent/api/contacts/search",
                 "/agent/api/contacts/search?q=x&limit=-1", "/agent/api/contacts/search?q=x&limit=1e3",
                 "/agent/api/timeline", "/agent/api/timeline?key=abc", "/agent/api/cdr?key=1&max_records=0",
                 "/agent/api/card", "/agent/api/card?contact_id=x"):
        status, answer = await team.call("Rita", "GET", path)
        assert status == 400 and answer["status"] == 400, path


# -- history, notes, recordings -------------------------------------------------------------------------

async def test_the_pbx_history_and_the_timeline_carry_no_recording_link(team: Team):
    team.pbx.cdrs = [make_cdr(f"old-{n}", 1_700_000_000 + n, src="9022", dst=CLIENT, link=team.pbx.link(f"old-{n}"))
                     for n in range(3)]
    status, answer = await team.call("Rita", "GET", f"/agent/api/cdr?key={CLIENT_KEY}&max_records=2")
    assert status == 200
    records = [r for page in answer["pages"] for r in page["records"]]
    assert [r["uniqueid"] for r in records] == ["old-2", "old-1"] and answer["records"] == 2
    assert answer["complete"] is False
    assert all(r["recording"] is True and "link" not in r["cdr"] for r in records)
    status, answer = await team.call("Rita", "GET", f"/agent/api/cdr?key={CLIENT_KEY}")
    assert answer["complete"] is True and answer["records"] == 3

    status, answer = await team.call("Rita", "PUT", "/agent/api/notes/old-1",
                                     json={"note": "перезвонить", "outcome": "callback"})
    assert status == 200 and answer == {"ref": "old-1", "note": "перезвонить", "outcome": "callback"}
    status, answer = await team.call("Boris", "GET", f"/agent/api/timeline?key={CLIENT_KEY}")
    assert status == 200
    rows = {row["ref"]: row for row in answer["rows"]}
    assert set(rows) == {"old-0", "old-1", "old-2"}
    assert rows["old-1"]["note"] == "перезвонить" and rows["old-1"]["outcome"] == "callback"
    assert all(row["recording"] is True and "link" not in row for row in rows.values())
    status, answer = await team.call("Rita", "GET", f"/agent/api/cdr?key={CLIENT_KEY}")
    assert answer["pages"][0]["notes"]["old-1"] == {"note": "перезвонить", "outcome": "callback"}
    status, answer = await team.call("Rita", "PUT", "/agent/api/notes/old-1", json={"note": 5})
    assert status == 400
    assert_no_secrets(team)


async def test_a_recording_streams_through_the_server_to_whoever_may_hear_it(team: Team):
    team.pbx.files["rec-1"] = AUDIO
    await ring(team, "rec-1", "3", "9022", answer=True, hangup=True)
    await team.send("cdr_append", cdr_body("rec-1", src=CLIENT, dst="9022", link=team.pbx.link("rec-1")))
    url = f"{team.base}{recording_path('rec-1')}"

    async def fetch(name: str, **headers: str) -> tuple[int, bytes, aiohttp.ClientResponse]:
        async with team.http.get(url, headers={"Authorization": f"Bearer {team.tokens[name]}", **headers}) as r:
            body = await r.read()
            team.answers.append(body.decode("latin-1"))
            return r.status, body, r

    status, body, response = await fetch("Rita")
    assert status == 200 and body == AUDIO
    assert response.content_type == "audio/mpeg" and response.headers["Cache-Control"] == "private, no-store"
    status, body, response = await fetch("Rita", Range="bytes=0-3")
    assert status == 206 and body == AUDIO[:4] and response.headers["Content-Range"] == f"bytes 0-3/{len(AUDIO)}"
    assert (await fetch("Sveta"))[:2] == (200, AUDIO)  # a supervisor hears every call
    assert team.pbx.file_hits == ["rec-1"] * 3

    status, not_yours = await team.call("Boris", "GET", recording_path("rec-1"))
    status_unknown, unknown = await team.call("Rita", "GET", recording_path("no-such-cdr"))
    assert (status, status_unknown) == (404, 404) and not_yours == unknown  # existence is not revealed
    assert team.pbx.file_hits == ["rec-1"] * 3  # Boris's request never reached the PBX

    # a CDR of Boris's extension that no call of his is linked to is still his
    team.pbx.files["rec-2"] = b"boris"
    await team.send("cdr_append", cdr_body("rec-2", src="9023", dst=CLIENT, link=team.pbx.link("rec-2")))
    async with team.http.get(f"{team.base}{recording_path('rec-2')}",
                             headers={"Authorization": f"Bearer {team.tokens['Boris']}"}) as r:
        assert r.status == 200 and await r.read() == b"boris"
    assert (await team.call("Rita", "GET", recording_path("rec-2")))[0] == 404
    assert_no_secrets(team)


async def test_a_recording_without_a_link_not_published_yet_or_failing_upstream(team: Team):
    await ring(team, "rec-3", "3", "9022", answer=True, hangup=True)
    no_link = cdr_body("rec-3", dst="9022")
    del no_link["link"]
    await team.send("cdr_append", no_link)
    status, answer = await team.call("Rita", "GET", recording_path("rec-3"))
    assert status == 404 and answer["error"] == "no recording of this call"
    assert team.pbx.file_hits == []

    await ring(team, "rec-4", "3", "9022", answer=True, hangup=True)
    await team.send("cdr_append", cdr_body("rec-4", dst="9022", link=team.pbx.link("rec-4")))  # no file there yet
    status, answer = await team.call("Rita", "GET", recording_path("rec-4"))
    assert status == 404 and "not published" in answer["error"]
    assert team.pbx.file_hits == ["rec-4"]
    team.pbx.file_status = 500
    status, answer = await team.call("Rita", "GET", recording_path("rec-4"))
    assert status == 502 and "HTTP 500" in answer["error"]
    await team.pbx.stop()  # the file server is gone
    status, answer = await team.call("Rita", "GET", recording_path("rec-4"))
    assert status == 502 and "could not fetch the recording" in answer["error"]
    assert_no_secrets(team)


# -- presence ------------------------------------------------------------------------------------------

async def test_the_presence_snapshot_has_the_team_and_only_the_agents_live_calls(team: Team):
    await team.send("agent_change", {"user_uid": "9023", "crm_user": "4", "base_status": -3})
    await team.send("agent_change", {"user_uid": "9022", "crm_user": "3", "base_status": -1})
    await ring(team, "rita-live", "3", "9022", answer=True)
    await ring(team, "boris-live", "4", "9023")
    status, snapshot = await team.call("Rita", "GET", "/agent/api/presence")
    assert status == 200
    assert {p["user_uid"] for p in snapshot["presence"]} == {"9022", "9023"}  # the whole team's
    assert [c["call_id"] for c in snapshot["live_calls"]] == ["rita-live"]
    assert snapshot["epoch"] == team.server.hub.epoch and isinstance(snapshot["seq"], int)
    assert {u["id"] for u in snapshot["users"]} >= {"3"}  # the agent's own user, even if get_users lacks it
    assert "99" not in {u["id"] for u in snapshot["users"]}  # never the server's settings' user
    status, snapshot = await team.call("Sveta", "GET", "/agent/api/presence")
    assert {c["call_id"] for c in snapshot["live_calls"]} == {"rita-live", "boris-live"}
    status, mine = await team.call("Boris", "GET", "/agent/api/presence/mine")
    assert status == 200 and [(p["user_uid"], p["base_status"]) for p in mine["presence"]] == [("9023", -3)]


async def test_a_body_over_the_size_limit_is_a_413_not_a_crash(team: Team):
    huge = b'{"name": "X", "note": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, answer = await team.call("Rita", "POST", "/agent/api/contacts", data=io.BytesIO(huge),
                                     headers={"Content-Type": "application/json"})
    assert status == 413 and answer["status"] == 413
    assert await team.server.engine.store.read(lambda s: s.contacts.search("X", 5)) == []
