"""Two ``serve`` processes on one real PostgreSQL act as one team server.

Real processes (``python -m app serve --database postgresql://…``), the PBX's events posted to
either webhook, agents following the feed as the desktop app will (:class:`FeedClient`, in this
process) and as an admin does (``pbx-companion watch`` in its own process). Then one server is
killed with SIGKILL mid-stream: its agents resume on the other one with nothing lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.core.feed_client import FeedClient
from app.storage import open_store
from app.team.agents import AgentAdmin
from tests.support.serve_process import PROJECT_ROOT, ServeProcess
from tests.support.webhook import call_body, envelope, post

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str) -> Iterator[tuple[list[ServeProcess], dict[str, str]]]:
    store = open_store(postgres_url)
    try:
        admin = AgentAdmin(store)
        tokens = {"Rita": admin.add("Rita", "3", "9022").token, "Boris": admin.add("Boris", "4", "9023").token,
                  "Sveta": admin.add("Sveta", "9", None, supervisor=True).token}
    finally:
        store.close()
    servers = [ServeProcess(tmp_path / name, tmp_path / f"{name}.log", extra_args=["--database", postgres_url])
               for name in ("a", "b")]
    try:
        for server in servers:
            server.start()
        yield servers, tokens
    finally:
        for server in servers:
            server.close()


def base(server: ServeProcess) -> str:
    assert server.url is not None
    return server.url.removesuffix("/webhook")


class Follower:
    """An agent's app: follows the feed (across servers) and keeps every call message it got."""

    def __init__(self, servers: list[str], token: str) -> None:
        self.client = FeedClient(servers, token)
        self.calls: list[tuple[int, str, str]] = []   # (seq, call_id, event)
        self.types: list[str] = []
        self.live = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.client.messages():
            message = json.loads(item.text)
            self.types.append(message["type"])
            if message["type"] == "live":
                self.live.set()
            elif message["type"] == "call":
                self.calls.append((message["seq"], message["call"]["call_id"], message["event"]))

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def call(http: aiohttp.ClientSession, webhook: str, call_id: str, crm_user: str, ext: str) -> None:
    """One answered call: ringing, answer, hangup (events the agent sees as ringing/answered/ended)."""
    body = call_body(call_id, crm_user=crm_user, domain_user=ext)
    for action, extra in (("call_ringing", {}), ("call_answer", {}),
                          ("call_hangup", {"hangup_cause": "NORMAL_CLEARING", "answersec": "12"})):
        status, reply = await post(http, webhook, envelope(action, {**body, **extra}))
        assert status == 200, reply


class Watch:
    """``pbx-companion watch`` in its own process; its JSON lines are collected by a thread."""

    def __init__(self, server_urls: list[str], token: str, log: Path) -> None:
        env = {**os.environ, "PBX_COMPANION_AGENT_TOKEN": token, "PYTHONUNBUFFERED": "1"}
        args = [a for url in server_urls for a in ("--server", url)]
        self._log = log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "app", "watch", *args], cwd=PROJECT_ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.messages: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.messages.append(json.loads(line))

    def calls(self) -> list[tuple[str, str]]:
        return [(m["call"]["call_id"], m["event"]) for m in self.messages if m["type"] == "call"]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._log.close()


async def test_two_servers_feed_every_agent_once_and_survive_one_being_killed(cluster, tmp_path: Path):
    (a, b), tokens = cluster
    urls = [base(a), base(b)]
    rita = Follower(urls, tokens["Rita"])             # connected to a
    sveta = Follower(urls[::-1], tokens["Sveta"])     # connected to b
    boris = Watch(urls[::-1], tokens["Boris"], tmp_path / "watch.log")  # connected to b
    try:
        async with asyncio.timeout(15):
            await rita.live.wait()
            await sveta.live.wait()
            while not any(m["type"] == "live" for m in boris.messages):
                await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http:
            for n in range(10):  # the PBX posts to either server
                webhook = (a if n % 2 else b).url
                assert webhook is not None
                await call(http, webhook, f"rita-{n}", "3", "9022")
                await call(http, webhook, f"boris-{n}", "4", "9023")
            async with asyncio.timeout(10):
                while len(rita.calls) < 30 or len(sveta.calls) < 60:
                    await asyncio.sleep(0.05)

            a.kill()  # rita's server dies mid-shift; the PBX keeps posting to b
            for n in range(10, 20):
                assert b.url is not None
                await call(http, b.url, f"rita-{n}", "3", "9022")
                await call(http, b.url, f"boris-{n}", "4", "9023")
            async with asyncio.timeout(20):
                while len(rita.calls) < 60 or len(sveta.calls) < 120 or len(boris.calls()) < 60:
                    await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
    finally:
        await rita.stop()
        await sveta.stop()
        boris.close()

    expected_rita = [(f"rita-{n}", event) for n in range(20) for event in ("ringing", "answered", "ended")]
    assert [(c, e) for _, c, e in rita.calls] == expected_rita          # every one, once, in order
    assert rita.client.connections >= 2                                  # it did move to the other server
    seqs = [s for s, _, _ in rita.calls]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert sorted((c, e) for _, c, e in sveta.calls) == sorted(
        expected_rita + [(f"boris-{n}", e) for n in range(20) for e in ("ringing", "answered", "ended")])
    assert boris.calls() == [(f"boris-{n}", e) for n in range(20) for e in ("ringing", "answered", "ended")]
    assert boris.messages[0]["type"] == "hello" and boris.messages[0]["agent"]["name"] == "Boris"
