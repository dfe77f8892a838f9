"""The team bench's PBX: posts calls and presence changes to the servers' webhooks, open loop.

    python -m tests.bench.team_pbx SPEC.json

SPEC: ``webhooks`` (the servers' webhook URLs), ``agents`` (``[{"index", "crm_user", "ext"}]``),
``clients`` (client numbers), ``call_rate`` (calls/s), ``duration_s``, ``presence_rate``
(changes/s), ``start_at`` (unix time of the first call), ``seed``, ``out``. The CRM key comes
from ``PBX_COMPANION_CRM_API_KEY``, as the servers' does.

Call *i* starts at ``start_at + i / call_rate`` whatever happened to the others; its six events
(ringing, answer, hold, resume, hangup, cdr_append) follow each other with a second or two in
between, each posted once the previous one was acknowledged (a PBX sends one call's events in
order). Presence changes (``agent_change``, ``user_change``, alternating) are due at a fixed rate
too. Events alternate between the webhooks; a post that fails (connection refused or reset, no
answer, a 5xx) is posted again, same ``action_id``, to the other server — what the PBX does behind
a load balancer — and the retry is counted.

For each event the output has the keys of the feed messages it makes (see team_agents.py), who
must receive them (an agent's index, or -1: everyone), when it was due and sent, and
``acked_at``: ``time.time()`` when the 200 arrived (0: never).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from typing import Any

import aiohttp

#: a post not answered within this is given up on that server and retried on the other
POST_TIMEOUT = 10.0
#: how long one event is retried in all before it counts as not acknowledged
GIVE_UP_S = 30.0


class Pbx:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.webhooks: list[str] = spec["webhooks"]
        self.agents: list[dict[str, Any]] = spec["agents"]
        self.rng = random.Random(spec.get("seed", 1))
        self.run_id = uuid.uuid4().hex[:8]
        self.headers = {"Authorization": f"Bearer {os.environ['PBX_COMPANION_CRM_API_KEY']}",
                        "Content-Type": "application/json"}
        self.records: list[dict[str, Any]] = []
        self.posted = 0
        self.http: aiohttp.ClientSession | None = None

    # -- posting ----------------------------------------------------------------------------

    async def post(self, action: str, body: dict[str, Any], keys: list[str], owner: int, due: float) -> None:
        number = self.posted
        self.posted += 1
        message = {"action": action, "obj": "UserCRM", "action_id": f"{self.run_id}-{number}", "code": 200,
                   "notifies": [], "body": body}
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        record: dict[str, Any] = {"n": number, "action": action, "keys": keys, "owner": owner, "due": due,
                                  "sent": time.time(), "acked_at": 0.0, "server": -1, "attempts": 0,
                                  "failures": []}
        self.records.append(record)
        target = number % len(self.webhooks)
        assert self.http is not None
        give_up = time.monotonic() + GIVE_UP_S
        while time.monotonic() < give_up:
            record["attempts"] += 1
            try:
                async with self.http.post(self.webhooks[target], data=data, headers=self.headers) as response:
                    await response.read()
                    if response.status == 200:
                        record["acked_at"] = time.time()
                        record["server"] = target
                        return
                    failure = f"status {response.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failure = type(exc).__name__
            record["failures"].append([target, time.time(), failure])
            target = (target + 1) % len(self.webhooks)
            if len(record["failures"]) >= len(self.webhooks):  # both failed: wait a little before the next round
                await asyncio.sleep(0.1)

    # -- the calls ----------------------------------------------------------------------------

    async def call(self, number: int, due: float) -> None:
        rng = self.rng
        agent = self.agents[self.order[number % len(self.order)]]
        owner, crm_user, ext = agent["index"], agent["crm_user"], agent["ext"]
        call_id = f"tb-{self.run_id}-{number}"
        client = rng.choice(self.spec["clients"])
        gateway = "74951343060"
        base = {"call_id": call_id, "session_id": f"s-{call_id}", "crm_user": crm_user, "domain_user": ext,
                "other_leg": client, "rt_vars": {"gateway_number": gateway}, "direction": 0}
        hold = {"call_id": call_id, "session_id": f"s-{call_id}", "user_uid": ext, "crm_user": crm_user,
                "other_leg": client, "direction": 0}
        talk = rng.randrange(5, 300)
        steps: list[tuple[float, str, dict[str, Any], list[str]]] = [
            (0.0, "call_ringing", base, [f"c|{call_id}|ringing"]),
            (rng.uniform(1.0, 3.0), "call_answer", base, [f"c|{call_id}|answered"]),
            (rng.uniform(1.0, 3.0), "call_held", hold, [f"c|{call_id}|held"]),
            (rng.uniform(0.5, 2.0), "call_active", hold, [f"c|{call_id}|active"]),
            (rng.uniform(1.0, 3.0), "call_hangup",
             {**base, "rt_vars": {"gateway_number": gateway, "hangup_cause": "NORMAL_CLEARING"},
              "variable_answersec": str(talk)}, [f"c|{call_id}|ended"]),
            (rng.uniform(0.2, 1.0), "cdr_append", {
                "id": number + 1, "uniqueid": call_id, "dt": due, "src": client, "dst": ext, "duration": talk + 9,
                "billsec": talk, "cc_queue_waiting_time": 0, "lastapp": "bridge", "lastdata": "",
                "rec_path": "office/2026-01-01/", "gateway": "Trunk1", "gateway_number": "+" + gateway,
                "dial_status": 0, "direction": 0, "project_id": 0, "project_name": "",
                "bridge_hangup_cause": "NORMAL_CLEARING", "hold_accum_seconds": 2, "geo_ids": "...",
                "geo_names": "...", "link": f"https://pbx.example.com/get_file?file=tok{uuid.uuid4().hex}",
            }, [f"d|{call_id}", f"c|{call_id}|updated"]),
        ]
        at = due
        for delay, action, body, keys in steps:
            at += delay
            await asyncio.sleep(max(0.0, at - time.time()))
            await self.post(action, body, keys, owner, at)

    async def presence(self, number: int, due: float) -> None:
        agent = self.agents[self.rng.randrange(len(self.agents))]
        if number % 2 == 0:
            marker = f"Перерыв #{number}"
            body = {"user_uid": agent["ext"], "crm_user": agent["crm_user"], "base_status": self.rng.choice((-1, -3)),
                    "extra_status": 0, "status_name": marker}
            await self.post("agent_change", body, [f"p|agent_status|{marker}"], -1, due)
        else:
            protocol = 1000 + number  # unique: the marker the agents match the message by
            body = {"user_uid": agent["ext"], "crm_user": agent["crm_user"], "status": number // 2 % 2,
                    "protocol": protocol}
            await self.post("user_change", body, [f"p|registration|{protocol}"], -1, due)

    async def run(self) -> None:
        spec = self.spec
        self.order = list(range(len(self.agents)))
        self.rng.shuffle(self.order)
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
        tasks: list[asyncio.Task[None]] = []
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as self.http:
            start, duration = float(spec["start_at"]), float(spec["duration_s"])
            due: list[tuple[float, int, str]] = [(start + i / spec["call_rate"], i, "call")
                                                 for i in range(int(spec["call_rate"] * duration))]
            due += [(start + 0.17 + i / spec["presence_rate"], i, "presence")
                    for i in range(int(spec["presence_rate"] * duration))]
            due.sort()
            for at, number, kind in due:
                await asyncio.sleep(max(0.0, at - time.time()))
                work = self.call(number, at) if kind == "call" else self.presence(number, at)
                tasks.append(asyncio.create_task(work))
            await asyncio.gather(*tasks)


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    pbx = Pbx(spec)
    asyncio.run(pbx.run())
    with open(spec["out"], "w", encoding="utf-8") as out:
        json.dump({"events": pbx.records, "cpu_s": time.process_time()}, out, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
