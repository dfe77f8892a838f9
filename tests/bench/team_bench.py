"""The team server under load: two ``serve`` processes on one PostgreSQL, 200 agents, a PBX, a kill.

    .venv/bin/python -m tests.bench.team_bench            # full run (~3 min); rewrites the "Team server"
                                                          # section of docs/performance.md
    .venv/bin/python -m tests.bench.team_bench --quick    # 20 agents, 10 s (~1 min); prints only (--doc writes)
    .venv/bin/python -m tests.bench.team_bench --render results.json   # the report of an earlier --json

Every part is its own process, as in production:

* a throw-away PostgreSQL 15 (:func:`tests.bench.pgbench.bench_postgres`: on the disk, fsync on);
* two ``python -m app serve --database postgresql://…`` processes (``a`` and ``b``) sharing it;
* the agents (:mod:`tests.bench.team_agents`): one asyncio process following every agent's feed with
  the app's own :class:`~app.core.feed_client.FeedClient`, half of them connected to each server,
  each resuming on the other one after a lost connection;
* the PBX (:mod:`tests.bench.team_pbx`): calls at a fixed rate (ringing, answer, hold, resume, hangup,
  cdr_append), presence changes, posted to the two webhooks in turn; a failed post is retried on
  the other server, as a PBX behind a load balancer would.

Half way through, server ``a`` gets SIGKILL. Every agent's every message is then checked
against what the PBX got a 200 for, by the routing rules (an agent: their own calls and the whole
team's presence; a supervisor: everything): nothing lost, nothing twice (by seq), nothing to
the wrong agent. Latency is from the moment the PBX had its 200 to the moment the agent process
read the message, on the one clock of the machine (``time.time()`` in both processes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from . import datagen
from .docsection import DOC, write_section
from .loadgen import percentiles
from .pgbench import bench_postgres, cpu_s, load_dataset, settings_of
from .run import (
    PY,
    ROOT,
    Server,
    _busy_s,
    bench_env,
    event_requests,
    loadgen,
    machine,
    serve_argv,
    top_functions,
    wait_until_quiet,
)

TARGETS = {"p99_ms": 100.0, "back_s": 5.0}


@dataclass
class Plan:
    agents: int = 200
    supervisors: int = 5
    duration_s: float = 60.0
    kill_at_s: float = 30.0
    call_rate: float = 20.0
    presence_rate: float = 3.0
    contacts: int = 10_000
    drain_s: float = 5.0
    capacity_s: float = 10.0
    breakdown: bool = True


QUICK = Plan(agents=20, supervisors=2, duration_s=10.0, kill_at_s=5.0, capacity_s=4.0, breakdown=False)
#: closed-loop senders of the capacity measurement (as in run.py's event phase)
CAPACITY_SENDERS = 16


# -- the processes -------------------------------------------------------------------------------

class Child:
    """A helper process (agents, PBX) whose stdout lines are read by a thread."""

    def __init__(self, name: str, module: str, spec: dict[str, Any], work: Path, env: dict[str, str],
                 stdin: bool = False) -> None:
        self.spec_path = work / f"{name}.json"
        self.spec_path.write_text(json.dumps(spec, ensure_ascii=False))
        self.err_path = work / f"{name}.err"
        self._err: IO[bytes] = open(self.err_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([PY, "-m", module, str(self.spec_path)], cwd=ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._err)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"{self.spec_path.stem}: no '{prefix}' within {timeout:g} s:\n"
                                   f"{self.err_path.read_text(errors='replace')[-3000:]}") from None
            if line is None:
                log = self.err_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.spec_path.stem} exited:\n{log}")
            if line.startswith(prefix):
                return line

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        if code != 0:
            raise RuntimeError(f"{self.spec_path.stem} failed ({code}):\n"
                               f"{self.err_path.read_text(errors='replace')[-3000:]}")
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._err.close()


def schedstat_s(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) summed over a process's threads."""
    run = wait = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            fields = (task / "schedstat").read_text().split()
            run, wait = run + int(fields[0]), wait + int(fields[1])
    return run / 1e9, wait / 1e9


class Sampler:
    """Every 0.2 s: CPU, run-queue wait and RSS of each live server, CPU of PostgreSQL (all kept
    after a process dies)."""

    def __init__(self, servers: list[Server], pg: Any) -> None:
        self.servers = servers
        self.pg = pg
        self.cpu = [0.0] * len(servers)
        self.runq = [0.0] * len(servers)
        self.rss_peak = [0.0] * len(servers)
        self.pg_seen: dict[int, float] = {}
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sample(self, index: int | None = None) -> None:
        with self.lock:
            for i, server in enumerate(self.servers):
                if index is not None and i != index:
                    continue
                with contextlib.suppress(Exception):
                    if server.proc is not None and server.proc.poll() is None:
                        self.cpu[i] = server.cpu_s()
                        self.runq[i] = schedstat_s(server.proc.pid)[1]
                        self.rss_peak[i] = max(self.rss_peak[i], server.rss_mib())
            cpu_s(self.pg, self.pg_seen)

    def _run(self) -> None:
        while not self.stopped.wait(0.2):
            self.sample()

    def __enter__(self) -> Sampler:
        self.sample()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)


# -- the run ---------------------------------------------------------------------------------------

def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def make_agents(url: str, plan: Plan) -> list[dict[str, Any]]:
    """``plan.agents`` agents, each with their own CRM user and extension; the first
    ``plan.supervisors`` of them supervisors."""
    from app.storage import open_store
    from app.team.agents import AgentAdmin

    store = open_store(url)
    try:
        admin = AgentAdmin(store)
        agents = []
        for i in range(plan.agents):
            crm_user, ext, supervisor = str(1000 + i), str(7000 + i), i < plan.supervisors
            issued = admin.add(f"agent-{i:03d}", crm_user, ext, supervisor=supervisor)
            agents.append({"index": i, "name": issued.agent.name, "crm_user": crm_user, "ext": ext,
                           "supervisor": supervisor, "token": issued.token})
        return agents
    finally:
        store.close()


def measure_capacity(work: Path, servers: list[Server], dataset: datagen.Dataset, plan: Plan) -> dict[str, Any]:
    """The most events/s the cluster acknowledges: closed loop, 16 senders in all, first against
    one server, then split over both (one load generator process per server, run at once)."""
    out: dict[str, Any] = {}
    for label, targets in (("one", servers[:1]), ("two", servers)):
        files = []
        for i, _ in enumerate(targets):
            path = work / f"capacity-{label}-{i}.jsonl"
            event_requests(path, dataset, int(plan.capacity_s * 3000) + 1000, seed=100 + len(files) + 10 * len(targets))
            files.append(path)
        print(f"  capacity: closed loop, {CAPACITY_SENDERS} senders -> {len(targets)} server(s) ...", flush=True)
        runs: list[dict[str, Any]] = [{} for _ in targets]
        senders = CAPACITY_SENDERS // len(targets)
        threads = [threading.Thread(target=_closed_loop, args=(runs, i, work, server, path, senders, plan.capacity_s))
                   for i, (server, path) in enumerate(zip(targets, files, strict=True))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        out[label] = {"rate": sum(r["achieved_rate"] for r in runs), "errors": sum(r["errors"] for r in runs),
                      "p50_ms": max(r["latency_ms"]["p50"] for r in runs),
                      "p99_ms": max(r["latency_ms"]["p99"] for r in runs)}
    return out


def _closed_loop(into: list[dict[str, Any]], index: int, work: Path, server: Server, path: Path, senders: int,
                 duration_s: float) -> None:
    into[index] = loadgen(work, server, path, mode="closed", concurrency=senders, duration_s=duration_s)["run"]


def run_breakdown(env: dict[str, str]) -> dict[str, Any]:
    print("  in-process breakdown of the write path (PostgreSQL and SQLite) ...", flush=True)
    done = subprocess.run([PY, "-m", "tests.bench.team_breakdown", "--calls", "100", "--history", "0,100",
                           "--contacts", "5000"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"team_breakdown failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout))


def run_bench(plan: Plan, work: Path, env: dict[str, str], wait_quiet: float, profile: bool = False,
              switch_interval: float | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "plan": asdict(plan)}
    with bench_postgres() as pg, contextlib.ExitStack() as stack:
        results["postgres"] = settings_of(pg)
        url = pg.create_database("team_bench")
        print(f"loading {plan.contacts:,} contacts and {plan.agents} agents into PostgreSQL ...", flush=True)
        dataset = datagen.make_dataset(plan.contacts)
        load_dataset(dataset, url)
        agents = make_agents(url, plan)
        clients = ["+" + key for key in dataset.known_keys[:5000]]
        clients += ["+7" + key[1:] for key in datagen.unknown_keys(dataset, 500)]

        prof = work / "serve-b.prof"
        serve_env = dict(env)
        if switch_interval:  # diagnosis: the servers' GIL switch interval (a sitecustomize sets it)
            site = work / "site"
            site.mkdir(exist_ok=True)
            (site / "sitecustomize.py").write_text(f"import sys\nsys.setswitchinterval({switch_interval!r})\n")
            serve_env["PYTHONPATH"] = f"{site}{os.pathsep}{env['PYTHONPATH']}"
            results["switch_interval"] = switch_interval
        servers = [stack.enter_context(Server(
            f"team-{name}", [*serve_argv(work / f"data-{name}", prof if profile and name == "b" else None),
                             "--database", url], work, serve_env)) for name in ("a", "b")]
        bases = [s.url.removesuffix("/webhook") for s in servers]
        if plan.capacity_s:
            if wait_quiet > 0:
                wait_until_quiet(wait_quiet)
            results["capacity"] = measure_capacity(work, servers, dataset, plan)
        results["servers"] = bases
        spec = {"agents": [{"index": a["index"], "name": a["name"], "token": a["token"],
                            "servers": bases if a["index"] % 2 == 0 else bases[::-1]} for a in agents],
                "out": str(work / "agents-out.json")}
        print(f"connecting {plan.agents} agents ...", flush=True)
        started = time.monotonic()
        crowd = Child("team-agents", "tests.bench.team_agents", spec, work, env, stdin=True)
        stack.callback(crowd.close)
        crowd.wait_line("ready", 120)
        results["connect_all_s"] = time.monotonic() - started
        time.sleep(1.0)
        results["rss_idle_mib"] = [s.rss_mib() for s in servers]
        crowd_ps = psutil.Process(crowd.proc.pid)
        idle = [s.cpu_s() for s in servers], _cpu(crowd_ps), time.monotonic()
        time.sleep(3.0)
        elapsed = time.monotonic() - idle[2]
        results["idle_cores"] = {"servers": (sum(s.cpu_s() for s in servers) - sum(idle[0])) / elapsed,
                                 "agents": (_cpu(crowd_ps) - idle[1]) / elapsed}
        if wait_quiet > 0:
            wait_until_quiet(wait_quiet)

        start_at = time.time() + 1.0
        pbx_spec = {"webhooks": [s.url for s in servers],
                    "agents": [{"index": a["index"], "crm_user": a["crm_user"], "ext": a["ext"]} for a in agents],
                    "clients": clients, "call_rate": plan.call_rate, "presence_rate": plan.presence_rate,
                    "duration_s": plan.duration_s, "start_at": start_at, "seed": 7, "out": str(work / "pbx-out.json")}
        with Sampler(servers, pg) as sampler:
            cpu0, runq0, crowd0 = list(sampler.cpu), list(sampler.runq), _cpu(crowd_ps)
            pg0 = sum(sampler.pg_seen.values())
            busy0, wall0 = _busy_s(), time.monotonic()
            print(f"PBX: {plan.call_rate:g} calls/s for {plan.duration_s:g} s; SIGKILL of server a at "
                  f"{plan.kill_at_s:g} s ...", flush=True)
            pbx = Child("team-pbx", "tests.bench.team_pbx", pbx_spec, work, env)
            stack.callback(pbx.close)
            time.sleep(max(0.0, start_at + plan.kill_at_s - time.time()))
            sampler.sample(0)
            results["rss_before_kill_mib"] = servers[0].rss_mib()
            assert servers[0].proc is not None
            kill_time = time.time()
            servers[0].proc.send_signal(signal.SIGKILL)
            servers[0].proc.wait(10)
            results["kill_time"] = kill_time
            print("  server a killed; waiting for the PBX to finish ...", flush=True)
            pbx.wait(plan.duration_s + 120)
            results["pbx_done_at"] = time.time()
            time.sleep(plan.drain_s)
            sampler.sample()
            wall = time.monotonic() - wall0
            results["cpu_s"] = {"a": sampler.cpu[0] - cpu0[0], "b": sampler.cpu[1] - cpu0[1],
                                "postgres": sum(sampler.pg_seen.values()) - pg0}
            results["runq_wait_s"] = {"a": sampler.runq[0] - runq0[0], "b": sampler.runq[1] - runq0[1]}
            results["agents_run_cpu_s"] = _cpu(crowd_ps) - crowd0
            results["busy_cores"] = (_busy_s() - busy0) / wall
            results["wall_s"] = wall
            results["loadavg"] = os.getloadavg()
            results["rss_peak_mib"] = list(sampler.rss_peak)
            results["rss_end_mib"] = servers[1].rss_mib()
        crowd.send("stop\n")
        crowd.wait(60)
        results["agents_out"] = json.loads((work / "agents-out.json").read_text())
        results["pbx_out"] = json.loads((work / "pbx-out.json").read_text())
        results["agents"] = [{k: v for k, v in a.items() if k != "token"} for a in agents]
        if profile:
            servers[1].stop()
            results["profile"] = top_functions(prof, 40)
        results["server_log_warnings"] = {
            s.name: [line for line in s.stderr.read_text(errors="replace").splitlines()
                     if " WARNING " in line or " ERROR " in line][:20] for s in servers}
    if plan.breakdown:
        results["breakdown"] = run_breakdown(env)
    return results


# -- the analysis ------------------------------------------------------------------------------------

def analyse(results: dict[str, Any]) -> dict[str, Any]:
    """Match every message an agent got with the event the PBX got a 200 for."""
    from app.protocol.agent_api import FEED_PATH

    agents = results["agents"]
    supervisors = {a["index"] for a in agents if a["supervisor"]}
    everyone = {a["index"] for a in agents}
    events = results["pbx_out"]["events"]
    kill = results["kill_time"]
    killed_url = results["servers"][0] + FEED_PATH

    acked: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["acked_at"]:
            for key in event["keys"]:
                acked[key] = event
    unacked = [e for e in events if not e["acked_at"]]
    retried = [e for e in events if e["failures"] and e["acked_at"]]
    in_flight = [e for e in retried if e["failures"][0][2] != "ClientConnectorError"]

    # reconnects: who was on the killed server, when they were live again elsewhere
    control: dict[int, list[tuple[float, str, str, str | None]]] = {}
    for index, at, kind, url, resume in results["agents_out"]["control"]:
        control.setdefault(index, []).append((at, kind, url, resume))
    back, connected, resumes, moved_to = [], [], Counter(), Counter()
    affected = 0
    for items in control.values():
        before = [c for c in items if c[0] < kill and c[1] == "live"]
        if not before or before[-1][2] != killed_url:
            continue
        affected += 1
        hello = next((c for c in items if c[0] > kill and c[1] == "hello"), None)
        live = next((c for c in items if c[0] > kill and c[1] == "live"), None)
        if hello is not None:
            connected.append(hello[0] - kill)
            resumes[hello[3]] += 1
        if live is not None:
            back.append(live[0] - kill)
            moved_to[live[2]] += 1
    back_max = max(back) if back else None

    # deliveries
    window = (kill - 1.0, kill + (back_max or 0.0) + 1.0)
    first: dict[tuple[int, str], float] = {}
    seqs: set[tuple[int, int]] = set()
    dup_seq = dup_key = wrong = unmatched = 0
    lat: dict[str, list[float]] = {"all": [], "steady": [], "kill": [], "agents": [], "supervisors": []}
    journal_to_agent: list[float] = []
    journal_to_ack: dict[str, float] = {}
    for index, received_at, seq, journaled_at, key in results["agents_out"]["received"]:
        if (index, seq) in seqs:
            dup_seq += 1
            continue
        seqs.add((index, seq))
        event = acked.get(key) if key is not None else None
        if event is None:
            unmatched += 1
            continue
        if event["owner"] != -1 and index != event["owner"] and index not in supervisors:
            wrong += 1
        if (index, key) in first:
            dup_key += 1
            continue
        first[(index, key)] = received_at
        ms = (received_at - event["acked_at"]) * 1000
        lat["all"].append(ms)
        steady = not (window[0] <= event["acked_at"] <= window[1])
        lat["steady" if steady else "kill"].append(ms)
        if steady:
            lat["supervisors" if index in supervisors else "agents"].append(ms)
            journal_to_agent.append((received_at - journaled_at) * 1000)
            journal_to_ack[key] = (event["acked_at"] - journaled_at) * 1000
    lost = 0
    expected = 0
    lost_examples: list[str] = []
    for key, event in acked.items():
        recipients = everyone if event["owner"] == -1 else {event["owner"], *supervisors}
        for index in recipients:
            expected += 1
            if (index, key) not in first:
                lost += 1
                if len(lost_examples) < 10:
                    lost_examples.append(f"agent {index}: {key}")
    clean = [e for e in events if e["acked_at"] and not e["failures"] and not window[0] <= e["acked_at"] <= window[1]]
    ack = [(e["acked_at"] - e["sent"]) * 1000 for e in clean]
    ack_two = [(e["acked_at"] - e["sent"]) * 1000 for e in clean if e["acked_at"] < kill]
    ack_one = [(e["acked_at"] - e["sent"]) * 1000 for e in clean if e["acked_at"] > kill]
    n_events = sum(1 for e in events if e["acked_at"])
    cpu = results["cpu_s"]
    return {
        "events": len(events), "acked": n_events, "unacked": len(unacked), "retried": len(retried),
        "retried_in_flight": len(in_flight), "expected": expected,
        "delivered": len(first), "lost": lost, "lost_examples": lost_examples, "dup_seq": dup_seq,
        "dup_key": dup_key, "wrong": wrong, "unmatched": unmatched,
        "latency_ms": {name: percentiles(values) for name, values in lat.items()},
        "negative": {name: sum(1 for v in values if v < 0) for name, values in lat.items()},
        "counts": {name: len(values) for name, values in lat.items()},
        "ack_ms": percentiles(ack), "ack_two_ms": percentiles(ack_two), "ack_one_ms": percentiles(ack_one),
        "journal_to_ack_ms": percentiles(list(journal_to_ack.values())),
        "journal_to_agent_ms": percentiles(journal_to_agent),
        "affected": affected, "back_s": percentiles(back), "back_count": len(back), "back_max_s": back_max,
        "connected_s": percentiles(connected), "resumes": dict(resumes), "moved_to": dict(moved_to),
        "window": window,
        "cpu_per_event_us": (cpu["a"] + cpu["b"]) / max(1, n_events) * 1e6,
        "pg_cpu_per_event_us": cpu["postgres"] / max(1, n_events) * 1e6,
        "agents_cpu_s": results["agents_out"]["cpu_s"], "pbx_cpu_s": results["pbx_out"]["cpu_s"],
        "others_cores": max(0.0, results["busy_cores"] - (cpu["a"] + cpu["b"] + cpu["postgres"]
                                                          + results["agents_run_cpu_s"]
                                                          + results["pbx_out"]["cpu_s"]) / results["wall_s"]),
        "errors": results["agents_out"]["errors"][:10],
    }


# -- the report ---------------------------------------------------------------------------------------

def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(results: dict[str, Any], quick: bool) -> str:
    a = analyse(results)
    m, plan, pg = results["machine"], results["plan"], results["postgres"]
    lat = a["latency_ms"]
    steady = lat["steady"]
    cpu = results["cpu_s"]
    duration = plan["duration_s"]
    calls = int(plan["call_rate"] * duration)
    mode = "`--quick`" if quick else "full"
    base_plan = QUICK if quick else Plan()
    options = [" --quick"] if quick else []
    if plan["agents"] != base_plan.agents:
        options.append(f" --agents {plan['agents']}")
    if plan["duration_s"] != base_plan.duration_s:
        options.append(f" --duration {plan['duration_s']:g}")
    if plan["call_rate"] != base_plan.call_rate:
        options.append(f" --call-rate {plan['call_rate']:g}")
    if results.get("switch_interval"):
        options.append(f" --switch-interval {results['switch_interval']:g}")
    command = ".venv/bin/python -m tests.bench.team_bench" + "".join(options) + " --doc"
    took = f"; it took {results['bench_s'] / 60:.1f} min" if "bench_s" in results else ""
    runq, idle = results["runq_wait_s"], results["idle_cores"]
    back_text = "—" if a["back_max_s"] is None else f"{a['back_max_s']:.2f} s"
    back_ok = a["back_max_s"] is not None and a["back_count"] == a["affected"] and a["back_max_s"] <= TARGETS["back_s"]
    lines = [
        f"Run of {m['date']} ({mode} run{took}). Reproduce: `{command}` (`make bench` runs the full one).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.1f} GiB RAM, {m['os']}; Python {m['python']}, "
        f"aiohttp {m['aiohttp']}. PostgreSQL {pg.get('server_version', '?').split()[0]} on the local disk "
        f"(fsync={pg.get('fsync')}, synchronous_commit={pg.get('synchronous_commit')}, "
        f"full_page_writes={pg.get('full_page_writes')}, wal_sync_method={pg.get('wal_sync_method')}, "
        f"shared_buffers={pg.get('shared_buffers')}), reached over its Unix socket. Everything — PostgreSQL, "
        "both servers, the agents' process, the PBX's process — shares these cores.",
        "",
        f"Load: {plan['agents']} agents ({plan['supervisors']} supervisors), each with their own CRM user and "
        f"extension, in one process ({plan['agents'] // 2} connected to each server; "
        f"all {plan['agents']} connected and live in {results['connect_all_s']:.1f} s). The PBX started "
        f"{plan['call_rate']:g} calls/s for {duration:g} s ({calls} calls spread over all agents; each "
        "ringing → answer → hold → resume → hangup → cdr_append, 1–3 s apart) and "
        f"{plan['presence_rate']:g} presence changes/s (agent_change / user_change), posting to the two webhooks "
        f"in turn: {a['events']} events, {a['acked']} acknowledged. Directory: {plan['contacts']:,} contacts "
        "(the callers' numbers are theirs, so ringing and answer carry caller facts). "
        f"Server a got SIGKILL at {plan['kill_at_s']:g} s.",
        "",
        "### Summary",
        "",
        "| measurement | target | result | verdict |",
        "|---|---|---:|---|",
        f"| delivery latency p99, webhook's 200 → agent (outside the kill) | ≤ {TARGETS['p99_ms']:g} ms | "
        f"{_ms(steady['p99'])} ms | {_verdict(steady['p99'] is not None and steady['p99'] <= TARGETS['p99_ms'])} |",
        f"| messages lost (of {a['expected']:,} due by the routing rules) | 0 | {a['lost']} | "
        f"{_verdict(a['lost'] == 0)} |",
        f"| messages twice to one agent (same seq) | 0 | {a['dup_seq']} | {_verdict(a['dup_seq'] == 0)} |",
        f"| messages to the wrong agent | 0 | {a['wrong']} | {_verdict(a['wrong'] == 0)} |",
        f"| all agents of the killed server live on the other one | ≤ {TARGETS['back_s']:g} s | "
        f"{back_text} ({a['back_count']}/{a['affected']}) | {_verdict(back_ok)} |",
        f"| events never acknowledged | 0 | {a['unacked']} | {_verdict(a['unacked'] == 0)} |",
        "",
        "### Delivery latency",
        "",
        "From the moment the PBX process had the 200 of an event to the moment the agents' process had read the "
        "message (`time.time()` in both; one clock on one machine), first arrival per agent and message, in ms. "
        "A message can arrive before the 200 (the feed is woken at the commit, the reply is written after it): "
        "those count negative. \"Around the kill\" is every event acknowledged from 1 s before the SIGKILL to "
        "1 s after the last agent was live again; their messages to the moved agents wait for the reconnect.",
        "",
        "| deliveries | count | p50 | p90 | p99 | max | before the 200 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"steady": "outside the kill", "agents": "— to agents", "supervisors": "— to supervisors",
             "kill": "around the kill", "all": "all"}
    for key, title in names.items():
        p = lat[key]
        lines.append(f"| {title} | {a['counts'][key]:,} | {_ms(p['p50'])} | {_ms(p['p90'])} | {_ms(p['p99'])} | "
                     f"{_ms(p['max'])} | {a['negative'][key]} |")
    j2a, j2k, ack = a["journal_to_agent_ms"], a["journal_to_ack_ms"], a["ack_ms"]
    lines += [
        "",
        "The same path cut at the server's journal time (`at` of the message, taken when the server began to "
        "ingest the event), outside the kill: "
        f"`at` → 200 at the PBX p50 {_ms(j2k['p50'])} / p99 {_ms(j2k['p99'])} / max {_ms(j2k['max'])} ms; "
        f"`at` → agent p50 {_ms(j2a['p50'])} / p99 {_ms(j2a['p99'])} / max {_ms(j2a['max'])} ms. "
        f"Acknowledgement as the PBX sees it (send → 200, posts that did not fail): p50 {_ms(ack['p50'])} / "
        f"p99 {_ms(ack['p99'])} / max {_ms(ack['max'])} ms; while both servers ran p50 {_ms(a['ack_two_ms']['p50'])} / "
        f"p99 {_ms(a['ack_two_ms']['p99'])} ms, after the kill (one server takes every event) "
        f"p50 {_ms(a['ack_one_ms']['p50'])} / p99 {_ms(a['ack_one_ms']['p99'])} ms.",
        "",
        "### SIGKILL of one server",
        "",
    ]
    back, conn = a["back_s"], a["connected_s"]
    resumes = ", ".join(f"{n} {mode}" for mode, n in sorted(a["resumes"].items(), key=lambda x: str(x[0])))
    if a["back_max_s"] is not None:
        lines.append(
            f"{a['affected']} agents were on server a. Connected to server b again (their `hello`) after p50 "
            f"{conn['p50']:.2f} s / max {conn['max']:.2f} s, live (replay done) after p50 {back['p50']:.2f} s / "
            f"**max {back['max']:.2f} s** ({a['back_count']} of {a['affected']}; hello.resume: {resumes}). "
            "FeedClient's first retry waits 0.5 s ± 50 %.")
    else:
        lines.append(f"{a['affected']} agents were on server a; none was live again.")
    lines += [
        "",
        f"The PBX: {a['retried']} events failed on a server and were acknowledged by the other one (same "
        f"`action_id`); {a['retried_in_flight']} of them were in flight at the kill (the connection was lost "
        "mid-request: maybe committed by a, then a redelivery to b), the rest were refused connections to the "
        f"dead server. {a['unacked']} events were never acknowledged. Lost after the kill: counted in the summary "
        f"(overall {a['lost']}).",
        "",
        "### Resources",
        "",
        "| process | CPU (user+sys) during the run | per acknowledged event | RSS |",
        "|---|---:|---:|---:|",
        f"| serve a (until its SIGKILL at {plan['kill_at_s']:g} s) | {cpu['a']:.1f} s | — | idle with its agents "
        f"{results['rss_idle_mib'][0]:.1f} MiB, before the kill {results['rss_before_kill_mib']:.1f} MiB |",
        f"| serve b | {cpu['b']:.1f} s | — | idle with its agents {results['rss_idle_mib'][1]:.1f} MiB, peak "
        f"{results['rss_peak_mib'][1]:.1f} MiB, at the end (all agents) {results['rss_end_mib']:.1f} MiB |",
        f"| **both servers** | {cpu['a'] + cpu['b']:.1f} s | **{a['cpu_per_event_us']:.0f} µs** | |",
        f"| PostgreSQL (postmaster and backends) | {cpu['postgres']:.1f} s | {a['pg_cpu_per_event_us']:.0f} µs | |",
        f"| the agents' process | {results['agents_run_cpu_s']:.1f} s | | |",
        f"| the PBX's process | {a['pbx_cpu_s']:.1f} s (whole life) | | |",
        "",
        f"Machine load during the {results['wall_s']:.0f} s from the PBX's start to the end of the drain: "
        f"{results['busy_cores']:.2f} of {m['cores']} cores busy, of which **{a['others_cores']:.2f} cores by "
        "processes other than this bench's** (the machine is shared); load average (1/5/15 min) at the end "
        + " / ".join(f"{x:.2f}" for x in results["loadavg"]) + ". "
        f"The servers' threads were runnable but waiting for a CPU for {runq['a']:.1f} s (a) and {runq['b']:.1f} s "
        "(b) of that time (`/proc/PID/task/*/schedstat`). "
        f"Idle, with every agent connected: the two servers used {idle['servers']:.3f} cores, the agents' process "
        f"{idle['agents']:.3f}.",
    ]
    offered = plan["call_rate"] * 6 + plan["presence_rate"]
    cap = results.get("capacity")
    if cap:
        lines += [
            "",
            "### Capacity",
            "",
            f"Before the agents connect: the most events/s the servers acknowledge, closed loop with "
            f"{CAPACITY_SENDERS} senders for {plan['capacity_s']:g} s (`tests/bench/loadgen.py`, the event mix of "
            "`make bench`'s event phase), against one server, then split over both. The run above offers "
            f"{offered:g} events/s.",
            "",
            "| servers | events/s | p50 | p99 | errors |",
            "|---|---:|---:|---:|---:|",
        ]
        for key, title in (("one", "one (a)"), ("two", "two (a and b, 8 senders each)")):
            c = cap[key]
            lines.append(f"| {title} | **{c['rate']:.0f}/s** | {_ms(c['p50_ms'])} | {_ms(c['p99_ms'])} | "
                         f"{c['errors']} |")
    bd = results.get("breakdown")
    if bd:
        pg_new, pg_old = bd["postgresql"]["history=0"], bd["postgresql"]["history=100"]
        lite_new, lite_old = bd["sqlite"]["history=0"], bd["sqlite"]["history=100"]

        def row(title: str, key: str, fmt: str) -> str:
            return (f"| {title} | {format(pg_new[key], fmt)} | {format(lite_new[key], fmt)} | "
                    f"{format(pg_old[key], fmt)} | {format(lite_old[key], fmt)} |")

        lines += [
            "",
            "### Where an event's time goes (in-process)",
            "",
            "`tests/bench/team_breakdown.py`: the server's write path (`EventIngestor` + `FeedJournal`) in one "
            "process, one event at a time (no group commit), on a PostgreSQL like the one above and on SQLite, with "
            "the connections wrapped to count statements and to time how long a transaction holds the feed's "
            "append lock (`pg_advisory_xact_lock` → `COMMIT`; the other server cannot journal meanwhile). A new "
            "caller, and a caller with 100 earlier calls (ringing and answer read the caller's history).",
            "",
            "| | PostgreSQL, new caller | SQLite, new caller | PostgreSQL, 100 earlier calls | SQLite, 100 earlier "
            "calls |",
            "|---|---:|---:|---:|---:|",
            row("statements per call (its 6 events)", "statements_per_call", ".0f"),
            row("wall ms per event", "wall_ms_per_event", ".2f"),
            row("process CPU ms per event", "process_cpu_ms_per_event", ".2f"),
            f"| feed lock held, p50 ms | {_ms(pg_new['feed_lock_held_ms_p50'])} | — | "
            f"{_ms(pg_old['feed_lock_held_ms_p50'])} | — |",
        ]
        reads_pg, reads_lite = bd["postgresql"].get("reads_us"), bd["sqlite"].get("reads_us")
        if reads_pg and reads_lite:
            lines += [
                "",
                "The read that answers `get_contact` (`contacts.lookup`, one indexed join), one at a time: "
                f"`store.read` on PostgreSQL {reads_pg['store.read(lookup)']:.0f} µs (a pooled connection is "
                "no longer checked with an empty query each time it is borrowed), on SQLite "
                f"{reads_lite['store.read(lookup)']:.0f} µs, SQLite inline (what `serve` does with SQLite: no "
                f"thread hop) {reads_lite.get('store.read_inline(lookup)', 0):.0f} µs.",
            ]
    if a["errors"] or a["unmatched"] or a["dup_key"]:
        lines += ["", f"Also: {a['unmatched']} messages matched no acknowledged event, {a['dup_key']} came twice "
                      f"under another seq; agent errors: {'; '.join(a['errors']) or 'none'}."]
    if a["lost_examples"]:
        lines += ["", "Lost, e.g.: " + "; ".join(a["lost_examples"]) + "."]
    return "\n".join(lines) + "\n"


INTRO = ("Two `pbx-companion serve` processes on one PostgreSQL, the agents' feeds in another process, a "
         "simulated PBX in a third, one server killed half way (`tests/bench/team_bench.py`; the method is in "
         "its docstring). Rewritten by `make bench`.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.team_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 agents, 10 s; prints only")
    doc = parser.add_mutually_exclusive_group()
    doc.add_argument("--doc", dest="doc", action="store_true", default=None, help="rewrite docs/performance.md")
    doc.add_argument("--no-doc", dest="doc", action="store_false", help="do not touch docs/performance.md")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, specs, outputs)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--render", metavar="JSON", help="only print (or with --doc write) the report of a --json file")
    parser.add_argument("--profile", action="store_true", help="run server b under cProfile; print its top functions")
    parser.add_argument("--switch-interval", type=float, metavar="SECONDS",
                        help="diagnosis: run the servers with this sys.setswitchinterval (default: Python's 0.005)")
    parser.add_argument("--call-rate", type=float, help="calls started per second (default 20)")
    parser.add_argument("--agents", type=int, help="number of agents (default 200; --quick 20)")
    parser.add_argument("--duration", type=float, help="seconds of calls (default 60; --quick 10); kill half way")
    parser.add_argument("--wait-quiet", type=float, default=60.0, metavar="SECONDS",
                        help="wait up to this long for other processes to go quiet first (default 60; 0: never)")
    args = parser.parse_args(argv)
    plan = Plan(**asdict(QUICK)) if args.quick else Plan()
    if args.agents:
        plan.agents = args.agents
    if args.call_rate:
        plan.call_rate = args.call_rate
    if args.duration:
        plan.duration_s, plan.kill_at_s = args.duration, args.duration / 2
    write = not (args.quick or args.render) if args.doc is None else args.doc

    if args.render:
        results = json.loads(Path(args.render).read_text())
        quick = results["plan"]["agents"] == QUICK.agents and results["plan"]["duration_s"] == QUICK.duration_s
    else:
        quick = args.quick
        work = Path(tempfile.mkdtemp(prefix="pbx-team-bench-"))
        print(f"scratch directory: {work}", flush=True)
        env = bench_env(work / "home")
        started = time.monotonic()
        try:
            results = run_bench(plan, work, env, args.wait_quiet, args.profile, args.switch_interval)
            results["bench_s"] = time.monotonic() - started
            if args.json:
                Path(args.json).write_text(json.dumps(results))
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        print(f"done in {results['bench_s']:.0f} s", flush=True)
    section = report(results, quick)
    print()
    print(section)
    if results.get("profile"):
        print(f"--- cProfile of serve b ---\n{results['profile']}")
    if write:
        write_section("bench-team", section, "Team server", INTRO)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
