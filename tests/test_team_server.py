"""The team server's agent feed, end to end: a real TeamServer on loopback (on SQLite and on a real
PostgreSQL), the PBX's events posted to its webhook over HTTP, agents as real WebSocket clients.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from app.core.secrets import Keys
from app.protocol.agent_api import CloseCode
from app.team.agent_api import FeedLimits
from app.team.agents import AgentAdmin
from app.team.server import TeamServer
from tests.support import canary
from tests.support.webhook import call_body, cdr_body, envelope, post

RITA = ("Rita", "3", "9022")     # agent A
BORIS = ("Boris", "4", "9023")   # agent B


@dataclass
class Team:
    server: TeamServer
    webhook: str
    base: str
    tokens: dict[str, str]

    @property
    def admin(self) -> AgentAdmin:
        return AgentAdmin(self.server.engine.store)


@pytest.fixture
async def team(settings, new_database: Callable[[str], str | None]) -> AsyncIterator[Team]:
    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=new_database("team"),
                        limits=FeedLimits(send_timeout=1.0, allowed_origins=frozenset({"https://crm.example"})))
    url = await server.start()
    admin = AgentAdmin(server.engine.store)
    loop = asyncio.get_running_loop()
    tokens = {}
    for name, crm_user, extension in (RITA, BORIS):
        issued = await loop.run_in_executor(None, admin.add, name, crm_user, extension)
        tokens[name] = issued.token
    issued = await loop.run_in_executor(None, lambda: admin.add("Sveta", "9", None, True))
    tokens["Sveta"] = issued.token
    try:
        yield Team(server, url, url.removesuffix("/webhook"), tokens)
    finally:
        await server.stop()


async def connect(http: aiohttp.ClientSession, team: Team, name: str, **params: Any) -> Any:
    return await http.ws_connect(f"{team.base}/agent/ws", headers={"Authorization": f"Bearer {team.tokens[name]}"},
                                 params={k: str(v) for k, v in params.items()})


async def receive(ws: Any, until: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> list[dict[str, Any]]:
    """Messages up to and including the first one ``until`` accepts."""
    got = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await ws.receive()
            assert frame.type == aiohttp.WSMsgType.TEXT, frame
            message = json.loads(frame.data)
            got.append(message)
            if until(message):
                return got


async def quiet(ws: Any, seconds: float = 0.5) -> list[str]:
    """Whatever arrives within ``seconds`` (raw texts)."""
    texts = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frame = await ws.receive()
                texts.append(frame.data)
    return texts


def is_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == kind


def call_of(call_id: str, event: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "call" and m["call"]["call_id"] == call_id and m["event"] == event


async def send(http: aiohttp.ClientSession, team: Team, action: str, body: dict[str, Any]) -> None:
    status, reply = await post(http, team.webhook, envelope(action, body))
    assert status == 200, reply


# -- who may connect ---------------------------------------------------------------------------

async def test_no_token_a_wrong_token_and_a_foreign_web_page_are_refused(team: Team, http):
    url = f"{team.base}/agent/ws"
    for headers, status in (({}, 401), ({"Authorization": "Bearer pbxa_not-a-token"}, 401),
                            ({"Authorization": f"Basic {team.tokens['Rita']}"}, 401),
                            ({"Authorization": f"Bearer {team.tokens['Rita']}", "Origin": "https://evil.example"},
                             403)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, headers=headers)
        assert refused.value.status == status
    async with http.get(url, headers={"Authorization": "Bearer nope"}) as response:
        assert response.status == 401
        assert "agent token" in (await response.json())["error"]
    allowed = await http.ws_connect(url, headers={"Authorization": f"Bearer {team.tokens['Rita']}",
                                                  "Origin": "https://crm.example"})
    hello = json.loads((await allowed.receive()).data)
    assert hello["type"] == "hello" and hello["agent"]["name"] == "Rita"
    await allowed.close()


async def test_a_token_guesser_is_throttled_like_on_the_webhook(team: Team, http):
    url = f"{team.base}/agent/ws"
    statuses = []
    for attempt in range(team.server.engine.settings.auth_failures_before_block + 1):
        async with http.get(url, headers={"Authorization": f"Bearer guess{attempt}"}) as response:
            statuses.append(response.status)
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}
    await asyncio.sleep(0.6)  # the hub has re-read the agents added after it started
    rita = await connect(http, team, "Rita")  # a valid token is never throttled (agents may share a NAT)
    assert (await receive(rita, is_type("hello")))[0]["agent"]["name"] == "Rita"


# -- who sees what -----------------------------------------------------------------------------

async def test_each_agent_receives_only_their_calls_and_the_whole_teams_presence(team: Team, http):
    rita, boris, sveta = [await connect(http, team, name) for name in ("Rita", "Boris", "Sveta")]
    for ws in (rita, boris, sveta):
        assert [m["type"] for m in await receive(ws, is_type("live"))] == ["hello", "live"]
    await send(http, team, "call_ringing", call_body("rita-call-1", crm_user="3", domain_user="9022"))
    await send(http, team, "call_ringing", call_body("boris-call-1", crm_user="4", domain_user="9023"))
    await send(http, team, "cdr_append", cdr_body("rita-call-1", dst="9022"))
    await send(http, team, "agent_change", {"user_uid": "9023", "crm_user": "4", "base_status": -3})

    got_rita = await receive(rita, is_type("presence"))
    assert [(m["type"], m.get("event")) for m in got_rita] == [("call", "ringing"), ("cdr", None),
                                                                ("call", "updated"), ("presence", "agent_status")]
    assert got_rita[0]["call"]["call_id"] == "rita-call-1" and got_rita[0]["caller"] is not None
    got_boris = await receive(boris, is_type("presence"))
    assert [m["type"] for m in got_boris] == ["call", "presence"]
    assert got_boris[0]["call"]["call_id"] == "boris-call-1"
    got_sveta = await receive(sveta, is_type("presence"))
    assert {m["call"]["call_id"] for m in got_sveta if m["type"] == "call"} == {"rita-call-1", "boris-call-1"}
    # agent B never receives a byte of agent A's call (not its id, not its CDR)
    later = await quiet(boris)
    assert not any("rita-call-1" in text for text in later + [json.dumps(m) for m in got_boris])
    # and nobody receives the PBX's tokened recording link
    everything = json.dumps(got_rita + got_boris + got_sveta)
    assert canary.LINK_TOKEN not in everything
    cdr = next(m for m in got_rita if m["type"] == "cdr")
    assert cdr["recording"] is True and "link" not in cdr["cdr"]
    seqs = [m["seq"] for m in got_sveta]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_a_call_with_no_agent_of_its_own_reaches_supervisors_only(team: Team, http):
    rita, sveta = await connect(http, team, "Rita"), await connect(http, team, "Sveta")
    for ws in (rita, sveta):
        await receive(ws, is_type("live"))
    body = call_body("queue-call")
    del body["crm_user"], body["domain_user"]  # a queue call nobody's leg has reached yet
    await send(http, team, "call_ringing", body)
    assert (await receive(sveta, is_type("call")))[-1]["call"]["call_id"] == "queue-call"
    assert await quiet(rita) == []


# -- resume --------------------------------------------------------------------------------------

async def test_a_dropped_agent_resumes_with_every_missed_message_once_and_in_order(team: Team, http):
    rita = await connect(http, team, "Rita")
    hello = (await receive(rita, is_type("live")))[0]
    await send(http, team, "call_ringing", call_body("c1"))
    first = (await receive(rita, call_of("c1", "ringing")))[-1]
    await rita.close()  # Wi-Fi switch

    await send(http, team, "call_answer", call_body("c1"))
    await send(http, team, "call_ringing", call_body("boris-only", crm_user="4", domain_user="9023"))
    await send(http, team, "call_hangup", {**call_body("c1"), "hangup_cause": "NORMAL_CLEARING", "answersec": "9"})

    again = await connect(http, team, "Rita", after=first["seq"], epoch=hello["epoch"])
    replay = await receive(again, is_type("live"))
    assert replay[0]["type"] == "hello" and replay[0]["resume"] == "replay"
    assert [m.get("event") for m in replay[1:]] == ["answered", "ended", None]
    assert all(m["call"]["call_id"] == "c1" for m in replay[1:-1])
    await send(http, team, "call_ringing", call_body("c2"))
    live = await receive(again, call_of("c2", "ringing"))
    seqs = [m["seq"] for m in replay[1:-1] + live]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] > first["seq"]


async def test_a_seq_the_journal_no_longer_holds_or_from_another_journal_is_answered_with_reset(team: Team, http):
    for n in range(3):
        await send(http, team, "call_ringing", call_body(f"old{n}"))
    store = team.server.engine.store
    removed = await store.write(lambda s: s.feed.prune(older_than=time.time() + 1, keep_at_most=1))
    assert removed == 2
    rita = await connect(http, team, "Rita", after=1, epoch=team.server.hub.epoch)
    hello = (await receive(rita, is_type("hello")))[0]
    assert hello["resume"] == "reset" and hello["server_seq"] >= 3
    other = await connect(http, team, "Rita", after=hello["server_seq"], epoch="another-database")
    assert (await receive(other, is_type("hello")))[0]["resume"] == "reset"
    fresh = await connect(http, team, "Rita")
    assert (await receive(fresh, is_type("hello")))[0]["resume"] == "fresh"


async def test_an_agent_far_behind_the_memory_is_replayed_from_the_journal(team: Team, http):
    team.server.hub._buffer_rows = 2  # the hub keeps only the newest rows in memory
    rita = await connect(http, team, "Rita")
    hello = (await receive(rita, is_type("live")))[0]
    await rita.close()
    for n in range(6):
        await send(http, team, "call_ringing", call_body(f"r{n}"))
        await send(http, team, "call_ringing", call_body(f"b{n}", crm_user="4", domain_user="9023"))
    again = await connect(http, team, "Rita", after=hello["server_seq"], epoch=hello["epoch"])
    replay = await receive(again, is_type("live"))
    assert [m["call"]["call_id"] for m in replay[1:-1]] == [f"r{n}" for n in range(6)]


# -- revocation and slow agents -----------------------------------------------------------------------

async def test_revoking_an_agent_closes_their_live_connection_within_a_second(team: Team, http):
    rita = await connect(http, team, "Rita")
    await receive(rita, is_type("live"))
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    await loop.run_in_executor(None, team.admin.revoke, "Rita")
    async with asyncio.timeout(2):
        frame = await rita.receive()
    assert frame.type == aiohttp.WSMsgType.CLOSE and rita.close_code == CloseCode.TOKEN_REJECTED
    assert time.monotonic() - started < 1.0 + 0.3
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await connect(http, team, "Rita")
    assert refused.value.status == 401


async def test_a_rotated_token_replaces_the_old_one(team: Team, http):
    rita = await connect(http, team, "Rita")
    await receive(rita, is_type("live"))
    issued = await asyncio.get_running_loop().run_in_executor(None, team.admin.rotate, "Rita")
    async with asyncio.timeout(2):
        assert (await rita.receive()).type == aiohttp.WSMsgType.CLOSE
    old = team.tokens["Rita"]
    team.tokens["Rita"] = issued.token
    renewed = await connect(http, team, "Rita")
    assert (await receive(renewed, is_type("hello")))[0]["agent"]["name"] == "Rita"
    team.tokens["Rita"] = old
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await connect(http, team, "Rita")


def _stuck_client(host: str, port: int, token: str) -> socket.socket:
    """A WebSocket client that upgrades and then never reads (a frozen laptop), with a tiny buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall((f"GET /agent/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    return sock


async def test_an_agent_who_stops_reading_is_dropped_and_never_delays_the_others(team: Team, http):
    host, port = team.server.engine.server.host, team.server.engine.server.port
    stuck = await asyncio.get_running_loop().run_in_executor(None, _stuck_client, host, port, team.tokens["Sveta"])
    try:
        rita = await connect(http, team, "Rita")
        await receive(rita, is_type("live"))
        padding = "x" * 60_000
        store = team.server.engine.store
        for _ in range(200):  # 12 MB of team-wide messages: far more than any socket buffer holds
            payload = json.dumps({"type": "presence", "event": "agent_status", "padding": padding})
            await store.write(lambda s, p=payload: s.feed.append(time.time(), "presence", p, everyone=True,
                                                                 recipients=()))
        team.server.hub.wake()
        started = time.monotonic()
        await send(http, team, "call_ringing", call_body("while-stuck"))
        received = await receive(rita, call_of("while-stuck", "ringing"), timeout=10)
        assert len([m for m in received if m["type"] == "presence"]) == 200
        async with asyncio.timeout(5):
            while any(c.agent.name == "Sveta" for c in team.server.hub.connections):
                await asyncio.sleep(0.05)
        assert time.monotonic() - started < 5
    finally:
        stuck.close()


async def test_the_server_shutting_down_tells_agents_to_resume_elsewhere(settings, http,
                                                                          new_database: Callable[[str], str | None]):
    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=new_database("down"))
    url = await server.start()
    issued = await asyncio.get_running_loop().run_in_executor(None, AgentAdmin(server.engine.store).add, "Rita", "3")
    ws = await http.ws_connect(url.removesuffix("/webhook") + "/agent/ws",
                               headers={"Authorization": f"Bearer {issued.token}"})
    await receive(ws, is_type("live"))
    await server.stop()
    async with asyncio.timeout(5):
        frame = await ws.receive()
    assert frame.type == aiohttp.WSMsgType.CLOSE and frame.data == CloseCode.GOING_AWAY


@pytest.mark.slow
async def test_a_dead_peer_is_dropped_within_30_seconds(team: Team):
    """A laptop that vanished (no close, no TCP reset): the server's pings go unanswered."""
    host, port = team.server.engine.server.host, team.server.engine.server.port
    silent = await asyncio.get_running_loop().run_in_executor(None, _stuck_client, host, port, team.tokens["Rita"])
    try:
        async with asyncio.timeout(5):
            while not any(c.agent.name == "Rita" for c in team.server.hub.connections):
                await asyncio.sleep(0.05)
        started = time.monotonic()
        async with asyncio.timeout(30):
            while any(c.agent.name == "Rita" for c in team.server.hub.connections):
                await asyncio.sleep(0.2)
        assert time.monotonic() - started < 30
    finally:
        silent.close()


async def test_an_agent_leaving_before_live_does_not_hold_up_the_shutdown(settings, http,
                                                                        new_database: Callable[[str], str | None]):
    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=new_database("leave"))
    url = await server.start()
    issued = await asyncio.get_running_loop().run_in_executor(None, AgentAdmin(server.engine.store).add, "Rita", "3")
    ws = await http.ws_connect(url.removesuffix("/webhook") + "/agent/ws",
                               headers={"Authorization": f"Bearer {issued.token}"})
    await ws.receive()  # hello, then gone (a "Test connection" does this)
    await ws.close()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await server.stop()
    assert time.monotonic() - started < 1.0
