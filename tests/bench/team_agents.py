"""The team bench's agents: one asyncio process holding every agent's feed (``FeedClient``).

    python -m tests.bench.team_agents SPEC.json

SPEC: ``{"agents": [{"index", "name", "token", "servers": [base URL, ...]}], "out": path}``. Each
agent follows its feed with :class:`app.core.feed_client.FeedClient`, the desktop app's own
client: its first server is the one it connects to, the others are where it resumes after a
lost connection (jittered backoff, ``?after=<seq>&epoch=``), exactly as the app does.

What arrives is kept, not checked here: for every feed message the agent, the receive time
(``time.time()``: the same clock as the simulator's, on the same machine), ``seq``, the journal's
``at`` and a key naming the change (``c|call_id|event``, ``d|uniqueid``, ``p|event|marker``);
for every ``hello``/``live``, the time, the server and the resume mode. Prints ``ready N`` once
every agent is live, then runs until a line ``stop`` (or EOF) on stdin, writes everything to
``out`` as JSON and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from typing import Any

from app.core.feed_client import FeedClient
from app.protocol.agent_api import CallMessage, CdrMessage, HelloMessage, LiveMessage, PresenceMessage


def message_key(message: object) -> str | None:
    """The key the simulator gave the change this message reports (see team_pbx.py)."""
    if isinstance(message, CallMessage):
        return f"c|{message.call.call_id}|{message.event}"
    if isinstance(message, CdrMessage):
        return f"d|{message.uniqueid}"
    if isinstance(message, PresenceMessage):
        p = message.presence
        marker = p.status_name if message.event == "agent_status" else p.protocol
        return f"p|{message.event}|{marker}"
    return None


class Agents:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        #: (agent index, received at, seq, journaled at, key)
        self.received: list[tuple[int, float, int, float, str | None]] = []
        #: (agent index, at, "hello"/"live", server URL, resume mode)
        self.control: list[tuple[int, float, str, str, str | None]] = []
        self.errors: list[str] = []
        self.live: set[int] = set()
        self.all_live = asyncio.Event()
        self.clients: dict[int, FeedClient] = {}

    async def follow(self, agent: dict[str, Any]) -> None:
        index = agent["index"]
        client = self.clients[index] = FeedClient(agent["servers"], agent["token"])
        received, control = self.received, self.control
        try:
            async for item in client.messages():
                now = time.time()
                message = item.message
                seq = getattr(message, "seq", None)
                if seq is not None:
                    received.append((index, now, seq, message.at, message_key(message)))  # type: ignore[union-attr]
                elif isinstance(message, HelloMessage):
                    control.append((index, now, "hello", client.url, message.resume))
                elif isinstance(message, LiveMessage):
                    control.append((index, now, "live", client.url, None))
                    self.live.add(index)
                    if len(self.live) == len(self.spec["agents"]):
                        self.all_live.set()
                else:
                    self.errors.append(f"agent {index}: unexpected message {item.text[:200]}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"agent {index}: {type(exc).__name__}: {exc}")

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.follow(agent)) for agent in self.spec["agents"]]
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_stdin() -> None:
            line = sys.stdin.readline()
            if not line or line.strip() == "stop":
                stop.set()

        loop.add_reader(sys.stdin.fileno(), on_stdin)
        started = time.time()
        waiter = asyncio.create_task(self.all_live.wait())
        await asyncio.wait([waiter, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if self.all_live.is_set():
            print(f"ready {len(self.live)} {time.time() - started:.3f}", flush=True)
        await stop.wait()
        loop.remove_reader(sys.stdin.fileno())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    agents = Agents(spec)
    asyncio.run(agents.run())
    with open(spec["out"], "w", encoding="utf-8") as out:
        json.dump({"received": agents.received, "control": agents.control, "errors": agents.errors,
                   "connections": {i: c.connections for i, c in agents.clients.items()},
                   "cpu_s": time.process_time()}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
