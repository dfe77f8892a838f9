"""Benchmarks of the tray app in team mode (issue 10): pop-up through a team server, idle RSS, reconnect, soak.

    .venv/bin/python -m tests.bench.team_app_bench            # full run (~3 min); rewrites the "Tray app
                                                              # in team mode" section of docs/performance.md
    .venv/bin/python -m tests.bench.team_app_bench --quick    # ~1.5 min smoke run; prints only (add --doc)
    .venv/bin/python -m tests.bench.team_app_bench --only rss --sqlite   # one part, the server on SQLite

Everything runs on loopback and a private Xvfb (``-displayfd``, Qt's xcb platform, no window
manager), as tests/bench/ui_bench.py does:

* the **team server** is the real ``python -m app serve --database postgresql://… --port P``
  (tests/support/serve_process.py) on a throw-away PostgreSQL on the local disk, fsync on
  (:func:`tests.bench.pgbench.bench_postgres`; ``--sqlite``: ``--data-dir`` instead), with a
  directory of 10,000 contacts and one agent (CRM user 3, extension 9022) added with
  :class:`app.team.agents.AgentAdmin`;
* **pop-up**: the agent's tray app is its own process (tests/ui/x11/team_popup_probe.py: the real
  :class:`app.main.CompanionApp` in team mode, on xcb). This process is the PBX: it posts
  ``call_ringing`` (then ``call_answer`` for every other call, then ``call_hangup``) to the
  server's webhook over keep-alive HTTP/1.1, one call every 0.6 s, and notes on the monotonic
  clock (one clock for every process on Linux) when the complete 200 was read. The app notes when
  the call's feed message arrived (the frame's text handed to the feed's parser), when the
  pop-up was shown, exposed and painted;
* **idle RSS**: the real ``python -m app --server URL --data-dir D`` as the agent starts it in
  team mode (the token in ``PBX_COMPANION_AGENT_TOKEN``), with a system tray
  (:class:`tests.ui.x11.trayhost.TrayHost`, the icon docks, no window), RSS 10 s after start,
  as ui_bench's start part measures standalone;
* **reconnect**: a team-mode app live; the server SIGKILLed, then started again on the same port
  (after 0, 3 or 8 s more of downtime); the time from the new server's "listening" line to the
  app's state ``live`` again, and what the app showed meanwhile;
* **soak**: 600 calls in a row (a busy agent's day and then some) into one more probe app, its
  RSS after every 100 calls, and whether every call popped up.

Other processes' CPU during each part is recorded (ui_bench's :class:`LoadMeter`: the machine
is shared). Not collected by pytest (no ``test_*`` name).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.bench.docsection import DOC, bench_parser, chosen_parts, render_saved, write_section
from tests.bench.ui_bench import (
    CRM_USER,
    EXTENSION,
    PBX_KEY,
    LoadMeter,
    Webhook,
    Xvfb,
    call_body,
    child_env,
    fmt,
    machine,
    median,
    pct,
    say,
    stop_process,
    verdict,
    wait_until_quiet,
    within,
)
from tests.ui.x11.trayhost import TrayHost

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
TARGETS = {"ack_ms": 100.0, "arrival_ms": 50.0, "rss_mib": 100.0}
AGENT_NAME = "Agent Three"


@dataclass
class Plan:
    directory: int = 10_000     # contacts in the server's directory
    calls: int = 100            # paced calls in the pop-up run
    pace_s: float = 0.6         # one call (ringing, [answer], hangup) every pace_s
    linger_s: float = 0.5       # popup_linger_s of the app
    rss_runs: int = 3
    idle_wait_s: float = 10.0
    reconnects: int = 6
    downtimes: tuple[float, ...] = (0.0, 3.0, 8.0)   # extra seconds the server stays down, in turn
    soak_calls: int = 600       # calls in a row into one app (a busy agent's day, and then some)
    soak_pace_s: float = 0.3


QUICK = Plan(directory=2_000, calls=50, rss_runs=2, reconnects=3, downtimes=(0.0, 3.0), soak_calls=200)


# -- the team server -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Team:
    """The database, the agent's token and the server process (restartable on the same port)."""

    def __init__(self, work: Path, database: str | None, env: dict[str, str]) -> None:
        self.work, self.database, self.env = work, database, env
        self.port = free_port()
        self.server: Any = None
        self.starts = 0
        self.listening_at = 0.0

    @property
    def store_url(self) -> str:
        return self.database or str(self.work / "server-data" / "pbx-companion.sqlite3")

    def args(self) -> list[str]:
        return ["--port", str(self.port), *(["--database", self.database] if self.database else [])]

    def start(self) -> str:
        from tests.support.serve_process import ServeProcess

        self.starts += 1
        self.server = ServeProcess(self.work / "server-data", self.work / f"serve-{self.starts}.log", env=self.env,
                                   extra_args=self.args())
        url = self.server.start(timeout=30)
        self.listening_at = time.monotonic()
        return str(url)

    def kill(self) -> float:
        assert self.server is not None
        self.server.send_signal(9)
        at = time.monotonic()
        self.server.wait(10)
        self.server.close()
        return at

    def cpu_s(self) -> float:
        import psutil

        with contextlib.suppress(psutil.Error, AssertionError):
            t = psutil.Process(self.server.pid).cpu_times()
            return float(t.user + t.system)
        return 0.0

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def prepare(team: Team, plan: Plan) -> tuple[str, list[tuple[str, bool]]]:
    """The directory (through the store API) and the agent; returns the token and the callers
    (~90 % from the directory, ~10 % unknown)."""
    import random

    from app.storage import CrmUser, open_store
    from app.team.agents import AgentAdmin
    from tests.bench import datagen
    from tests.bench.pgbench import load_dataset

    dataset = datagen.make_dataset(plan.directory)
    if team.database:
        load_dataset(dataset, team.database)
    else:
        (team.work / "server-data").mkdir(parents=True, exist_ok=True)
        datagen.load_into_store(dataset, Path(team.store_url))
    store = open_store(team.store_url)
    try:
        store.write_sync(lambda s: s.users.upsert(CrmUser(CRM_USER, AGENT_NAME, EXTENSION)))
        token = AgentAdmin(store).add(AGENT_NAME, CRM_USER, EXTENSION).token
    finally:
        store.close()
    rng = random.Random(2026)
    unknown = datagen.unknown_keys(dataset, 64)
    callers = []
    for _ in range(plan.calls):
        known = rng.random() >= 0.1
        callers.append(("+" + rng.choice(dataset.known_keys if known else unknown), known))
    return token, callers


# -- the agent's app (tests/ui/x11/team_popup_probe.py) -------------------------------------------

class AgentApp:
    """The probe process: its stdout lines (state changes, ready) read as they come."""

    def __init__(self, env: dict[str, str], server: str, data_dir: Path, work: Path, linger: float) -> None:
        self.out = work / f"app-{uuid.uuid4().hex[:6]}.json"
        self.err_path = self.out.with_suffix(".err")
        self.err = open(self.err_path, "wb")  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(
            [PY, "-m", "tests.ui.x11.team_popup_probe", "--server", server, "--data-dir", str(data_dir),
             "--out", str(self.out), "--linger", str(linger)],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.states: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("event") == "state":
                    self.states.append(record)
                self.lines.put(record)

    def cpu_s(self) -> float:
        import psutil

        with contextlib.suppress(psutil.Error):
            t = psutil.Process(self.proc.pid).cpu_times()
            return float(t.user + t.system)
        return 0.0

    def ready(self, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                record = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if record.get("event") == "ready":
                return record
        self.finish(5)
        raise RuntimeError(f"the team-mode app did not get live:\n{self.err_path.read_text(errors='replace')[-3000:]}")

    def wait_state(self, state: str, since: float, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((s for s in self.states if s["state"] == state and s["at"] >= since), None)
            if found is not None:
                return found
            if self.proc.poll() is not None:
                return None
            time.sleep(0.02)
        return None

    def finish(self, timeout: float = 60.0) -> dict[str, Any]:
        with contextlib.suppress(BrokenPipeError, OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        self.err.close()
        if self.proc.returncode == 0 and self.out.exists():
            return dict(json.loads(self.out.read_text(encoding="utf-8")))
        raise RuntimeError(f"the team-mode app failed ({self.proc.returncode}):\n"
                           f"{self.err_path.read_text(errors='replace')[-3000:]}")


def app_env(home: Path, display: str, token: str) -> dict[str, str]:
    env = child_env(home, display, keys=False)
    env["PBX_COMPANION_AGENT_TOKEN"] = token
    return env


# -- 1. the pop-up through the server --------------------------------------------------------------

class ServerHook(Webhook):
    """ui_bench's PBX side, with the team server's CRM key."""

    def __init__(self, url: str, crm_key: str) -> None:
        super().__init__(url)
        self.headers = {"Authorization": f"Bearer {crm_key}", "Content-Type": "application/json"}


def drive(url: str, crm_key: str, callers: list[tuple[str, bool]], plan: Plan) -> list[dict[str, Any]]:
    hook = ServerHook(url, crm_key)
    sent: list[dict[str, Any]] = []
    try:
        start = time.monotonic() + 0.2
        for i, (number, known) in enumerate(callers):
            delay = start + i * plan.pace_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            call_id = f"team-{i}-{uuid.uuid4().hex[:4]}"
            status, t_sent, t_ack = hook.post("call_ringing", call_body(call_id, number))
            sent.append({"call_id": call_id, "status": status, "sent": t_sent, "ack": t_ack, "known": known})
            time.sleep(0.15)
            if i % 2:
                hook.post("call_answer", call_body(call_id, number))
                time.sleep(0.1)
            hook.post("call_hangup", call_body(call_id, number))
        time.sleep(1.0 + plan.linger_s)
    finally:
        hook.close()
    return sent


def summary(values: list[float]) -> dict[str, float | None]:
    return {"n": len(values), "p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
            "max": max(values) if values else None}


def measure_popup(work: Path, team: Team, url: str, env: dict[str, str], crm_key: str,
                  callers: list[tuple[str, bool]], plan: Plan, xvfb: Xvfb, pg_cpu: Any, results: dict[str, Any],
                  wait_s: float) -> None:
    say(f"  pop-up: {plan.calls} calls through the team server, one every {plan.pace_s} s ...")
    wait_until_quiet(wait_s, xvfb)
    # with a system tray, as an agent has it: the app opens no window, so its first pop-up is the
    # first widget it paints (without a tray the main window would have painted first)
    with TrayHost(xvfb.display):
        agent = AgentApp(env, url.removesuffix("/webhook"), work / "app-popup", work, plan.linger_s)
        ready = agent.ready()
        with LoadMeter(xvfb, lambda: agent.cpu_s() + team.cpu_s() + pg_cpu()) as meter:
            sent = drive(url, crm_key, callers, plan)
        result = agent.finish()
    rows = []
    for s in sent:
        rec = result["popups"].get(s["call_id"], {})
        arrival = result["arrivals"].get(s["call_id"])
        row = dict(s)
        for key in ("expose", "paint", "painted", "info_painted", "shown"):
            row[f"ack_to_{key}_ms"] = (rec[key] - s["ack"]) * 1000 if key in rec else None
            row[f"arrival_to_{key}_ms"] = (rec[key] - arrival) * 1000 if key in rec and arrival else None
        row["ack_to_arrival_ms"] = (arrival - s["ack"]) * 1000 if arrival else None
        row["send_to_ack_ms"] = (s["ack"] - s["sent"]) * 1000
        row["show_ms"] = rec.get("show_ms")
        row["exposed_at_signal"] = rec.get("exposed_at_signal")
        row["name_shown"] = rec.get("name_shown")
        rows.append(row)

    def col(key: str) -> list[float]:
        return [r[key] for r in rows if r.get(key) is not None]

    keys = ("ack_to_expose_ms", "ack_to_painted_ms", "ack_to_info_painted_ms", "ack_to_arrival_ms",
            "arrival_to_shown_ms", "arrival_to_expose_ms", "arrival_to_painted_ms", "send_to_ack_ms", "show_ms")
    results["popup"] = {
        **{key: summary(col(key)) for key in keys},
        "calls": len(rows), "missing": sum(1 for r in rows if r.get("ack_to_expose_ms") is None),
        "not_200": sum(1 for r in rows if r["status"] != 200),
        "arrived_before_ack": sum(1 for v in col("ack_to_arrival_ms") if v < 0),
        "exposed_at_signal": sum(1 for r in rows if r.get("exposed_at_signal")),
        "unknown_callers": sum(1 for r in rows if not r["known"]),
        "names_shown": sum(1 for r in rows if r.get("name_shown")),
        "other_cores": meter.other_cores, "app_rss_ready_mib": ready.get("rss_mib"),
        "app_rss_end_mib": result.get("rss_mib"), "not_needed_loaded": ready.get("not_needed", []),
        "slowest": sorted(rows, key=lambda r: -(r.get("ack_to_expose_ms") or 0))[:3],
        "first": rows[0] if rows else {},
    }


def measure_soak(work: Path, team: Team, url: str, env: dict[str, str], crm_key: str,
                 callers: list[tuple[str, bool]], plan: Plan, xvfb: Xvfb, results: dict[str, Any],
                 wait_s: float) -> None:
    """A day's calls in a row into one team-mode app: it stays up, each call pops up, and its RSS
    after every 100 calls shows whether it settles or keeps growing (callers repeat, as they do)."""
    import dataclasses
    import itertools

    import psutil

    say(f"  soak: {plan.soak_calls} calls in a row into one app, one every {plan.soak_pace_s} s ...")
    wait_until_quiet(wait_s, xvfb)
    agent = AgentApp(env, url.removesuffix("/webhook"), work / "app-soak", work, plan.linger_s)
    ready = agent.ready()
    proc = psutil.Process(agent.proc.pid)
    paced = dataclasses.replace(plan, pace_s=plan.soak_pace_s)
    cycle = itertools.cycle(callers)
    samples = [(0, ready.get("rss_mib"))]
    sent: list[dict[str, Any]] = []
    for done in range(0, plan.soak_calls, 100):
        sent += drive(url, crm_key, list(itertools.islice(cycle, min(100, plan.soak_calls - done))), paced)
        samples.append((len(sent), proc.memory_info().rss / 2**20 if agent.proc.poll() is None else None))
    result = agent.finish()
    results["soak"] = {"calls": len(sent), "not_200": sum(1 for s in sent if s["status"] != 200),
                       "popups": sum(1 for s in sent if s["call_id"] in result["popups"]), "samples": samples,
                       "distinct_callers": len({c for c, _ in callers[:plan.soak_calls]})}


# -- 2. idle RSS of `python -m app --server URL` with a system tray --------------------------------

#: what idle RSS is measured of: the app as the agent starts it, and the floor under it
APP_LIVE = b"team server connection: live"
FLOOR_LIVE = b"floor: feed live"


def app_command(server: str, data_dir: Path) -> list[str]:
    return [PY, "-m", "app", "--server", server, "--data-dir", str(data_dir)]


def floor_command(server: str) -> list[str]:
    return [PY, "-m", "tests.bench.rss_floor", "--server", server]


def rss_once(env: dict[str, str], command: list[str], live: bytes, tray: TrayHost, idle_s: float,
             log: Path) -> dict[str, Any]:
    """Start ``command`` (it docks a tray icon and logs ``live`` once its feed is live) and read
    its RSS, USS and PSS ``idle_s`` after the start."""
    import psutil

    out: dict[str, Any] = {}
    with open(log, "ab") as sink:
        t0 = time.monotonic()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err_fd = proc.stderr.fileno()
        text = b""
        drainer: threading.Thread | None = None
        try:
            deadline = t0 + 30
            while ("live_s" not in out or "dock_s" not in out) and time.monotonic() < deadline:
                ready, _, _ = select.select([err_fd], [], [], 0.05)
                if "dock_s" not in out and (docked := tray.wait_docked(0, since=t0)):
                    out["dock_s"] = docked.at - t0
                if err_fd in ready:
                    chunk = os.read(err_fd, 65536)
                    if not chunk:
                        break
                    text += chunk
                    if "live_s" not in out and live in text:
                        out["live_s"] = time.monotonic() - t0
            sink.write(text)

            def drain() -> None:
                with contextlib.suppress(OSError, ValueError):
                    while chunk := os.read(err_fd, 65536):
                        sink.write(chunk)

            drainer = threading.Thread(target=drain, daemon=True)
            drainer.start()
            delay = t0 + idle_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if proc.poll() is None:
                ps = psutil.Process(proc.pid)
                full = ps.memory_full_info()
                out.update(rss_mib=full.rss / 2**20, uss_mib=full.uss / 2**20, pss_mib=full.pss / 2**20,
                           threads=ps.num_threads())
        finally:
            stop_process(proc)
        out["exit"] = proc.returncode
        if drainer is not None:
            drainer.join(5)
    return out


_STAGES = r"""
import asyncio, collections, json, os, sys, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
def threads():
    names = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/comm") as f:
            names.append(f.read().strip())
    return dict(collections.Counter(names))
stages = [["interpreter", rss()]]
import app.main
stages.append(["import app.main", rss()])
engine_loaded = "app.core.engine" in sys.modules
import qasync
from PySide6.QtWidgets import QApplication
from app.core.secrets import start_key_read
from app.core.settings import Settings
qapp = QApplication(sys.argv[:1])
qapp.setQuitOnLastWindowClosed(False)
stages.append(["QApplication (xcb)", rss()])
out = {}
async def main():
    settings = Settings(data_dir=sys.argv[2], mode="team", team_server=sys.argv[1]).validate()
    companion = app.main.CompanionApp(qapp, settings, start_key_read().result())
    stages.append(["CompanionApp built (TeamApi, windows, spare pop-up's widgets)", rss()])
    await companion.start()
    stages.append(["start() returned (tray icon, first show)", rss()])
    for _ in range(600):
        if companion.team.state == "live":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(app.main.GC_FREEZE_DELAY)
    companion.after_start()
    await asyncio.sleep(1.0)
    stages.append(["feed live, idle, GC frozen", rss()])
    from tests.support.footprint import unexpected
    out.update(threads=threads(), state=companion.team.state, loaded=unexpected(sys.modules))
    await companion.shutdown()
qasync.run(main())
out.update(stages=stages, engine_at_import=engine_loaded)
print(json.dumps(out))
"""


def stages_probe(env: dict[str, str], server: str, data_dir: Path) -> dict[str, Any]:
    """Where the team-mode app's memory goes: RSS after each step of a start in one process (as
    ``run_tray`` starts it, on the same Xvfb and tray)."""
    done = subprocess.run([PY, "-c", _STAGES, server, str(data_dir)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        return {"error": done.stderr[-1500:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure_rss(work: Path, server: str, env: dict[str, str], plan: Plan, xvfb: Xvfb, results: dict[str, Any],
                wait_s: float) -> None:
    import compileall

    # as installed (pip and the packages compile the bytecode): no run compiles the app's sources
    compileall.compile_dir(ROOT / "app", quiet=1)
    data_dir = work / "app-rss"
    log = work / "rss.log"
    kinds = {"app": (app_command(server, data_dir), APP_LIVE), "floor": (floor_command(server), FLOOR_LIVE)}
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    with TrayHost(xvfb.display) as tray:
        say("  idle RSS: one run of each not counted (log dir, page cache) ...")
        for command, live in kinds.values():
            rss_once(env, command, live, tray, 3.0, log)
        for n in range(plan.rss_runs):
            for kind, (command, live) in kinds.items():  # in turn: a drift of the machine hits both alike
                say(f"  idle RSS: {kind} with a system tray, run {n + 1}/{plan.rss_runs} "
                    f"({plan.idle_wait_s:.0f} s) ...")
                wait_until_quiet(wait_s / 2, xvfb)
                with LoadMeter(xvfb) as meter:
                    run = rss_once(env, command, live, tray, plan.idle_wait_s, log)
                run["other_cores"] = meter.other_cores
                runs[kind].append(run)
        say("  idle RSS: where it goes (RSS after each step of a start) ...")
        stages = stages_probe(env, server, work / "app-stages")

    def summed(kind: str) -> dict[str, Any]:
        done = runs[kind]
        return {"runs": done, "rss_median_mib": median([r["rss_mib"] for r in done if "rss_mib" in r]),
                "uss_median_mib": median([r["uss_mib"] for r in done if "uss_mib" in r]),
                "pss_median_mib": median([r["pss_mib"] for r in done if "pss_mib" in r]),
                "exits": sorted({r["exit"] for r in done})}

    results["rss"] = {**summed("app"), "floor": summed("floor"), "stages": stages}


# -- 3. reconnect after the server comes back -------------------------------------------------------

def measure_reconnect(work: Path, team: Team, env: dict[str, str], plan: Plan, xvfb: Xvfb,
                      results: dict[str, Any], wait_s: float) -> None:
    wait_until_quiet(wait_s / 2, xvfb)
    agent = AgentApp(env, f"http://127.0.0.1:{team.port}", work / "app-reconnect", work, plan.linger_s)
    agent.ready()
    runs = []
    try:
        for n in range(plan.reconnects):
            down = plan.downtimes[n % len(plan.downtimes)]
            say(f"  reconnect {n + 1}/{plan.reconnects}: SIGKILL the server, {down:.0f} s more down, start it "
                "again on the same port ...")
            time.sleep(1.0)
            with LoadMeter(xvfb, lambda: agent.cpu_s() + team.cpu_s()) as meter:
                killed = team.kill()
                time.sleep(down)
                started = time.monotonic()
                team.start()
                listening = team.listening_at
                live = agent.wait_state("live", killed, 60)
            between = [s for s in agent.states if killed <= s["at"] <= (live["at"] if live else time.monotonic())
                       and s["state"] != "live"]
            unreachable = next((s for s in between if s["state"] == "unreachable"), None)
            runs.append({
                "down_extra_s": down, "restart_s": listening - started, "server_down_s": listening - killed,
                "live_after_listening_s": (live["at"] - listening) if live else None,
                "live_after_kill_s": (live["at"] - killed) if live else None,
                "unreachable_after_kill_s": (unreachable["at"] - killed) if unreachable else None,
                "shown_meanwhile": sorted({" / ".join(s["text"].splitlines()) for s in between}),
                "states_meanwhile": [s["state"] for s in between],
                "attempts": (live["attempts"] - between[0]["attempts"]) if live and between else None,
                "other_cores": meter.other_cores,
            })
    finally:
        with contextlib.suppress(RuntimeError):
            agent.finish()
    values = [r["live_after_listening_s"] for r in runs if r["live_after_listening_s"] is not None]
    results["reconnect"] = {"runs": runs, "median_s": median(values), "max_s": max(values) if values else None,
                            "failed": sum(1 for r in runs if r["live_after_listening_s"] is None)}


# -- the report ------------------------------------------------------------------------------------

def report(results: dict[str, Any], quick: bool) -> str:
    m, plan = results["machine"], results["plan"]
    db = results.get("database", "?")
    took = f"; it took {results['took_s'] / 60:.1f} min" if "took_s" in results else ""
    lines = [
        f"Run of {m['date']}{' (quick run: fewer calls and runs)' if quick else ''}{took}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.1f} GiB RAM, {m['os']}; Python {m['python']}, "
        f"PySide6 {m['pyside6']} (Qt {m['qt']}), qasync {m['qasync']}, aiohttp {m['aiohttp']}. Display: Xvfb, "
        f"Qt's xcb platform, no window manager. Team server: `python -m app serve` on {db}, loopback; "
        f"{plan['directory']:,} contacts in its directory, one agent (CRM user {CRM_USER}, extension {EXTENSION}). "
        "The server, PostgreSQL, the app, Xvfb and this harness share the machine's cores with other developers' "
        "work (\"other load\": CPU used by processes not of this bench, in cores).",
        "",
        "Reproduce: `.venv/bin/python -m tests.bench.team_app_bench` (part of `make bench`; rewrites this section) "
        "or `--quick` (prints only; add `--doc` to write); `--only popup,rss,reconnect,soak`, `--sqlite`.",
        "",
        "### Summary",
        "",
        "| measurement | goal | result | verdict |",
        "|---|---|---:|---|",
    ]
    p, r, c, k = results.get("popup"), results.get("rss"), results.get("reconnect"), results.get("soak")
    if p:
        a, b = p["ack_to_expose_ms"], p["arrival_to_shown_ms"]
        lines += [
            f"| pop-up exposed after the team server's 200 to `call_ringing`: p50 / p99 / max ({a['n']} calls) "
            f"| p99 ≤ 100 ms | {fmt(a['p50'])} / {fmt(a['p99'])} / {fmt(a['max'])} ms "
            f"| {verdict(within(a['p99'], TARGETS['ack_ms']))} |",
            f"| pop-up shown after the feed message arrived in the app: p50 / p99 / max "
            f"| ≤ 50 ms | {fmt(b['p50'])} / {fmt(b['p99'])} / {fmt(b['max'])} ms "
            f"| {verdict(within(b['max'], TARGETS['arrival_ms']))} |",
        ]
        first = p.get("first") or {}
        if first:
            after_ack, after_arrival = first.get("ack_to_expose_ms"), first.get("arrival_to_shown_ms")
            met = within(after_ack, TARGETS["ack_ms"]), within(after_arrival, TARGETS["arrival_ms"])
            lines.append(
                f"| the app's first pop-up (no window painted before it): exposed after the server's 200 / shown "
                f"after the feed message | ≤ 100 / ≤ 50 ms | {fmt(after_ack)} / {fmt(after_arrival)} ms "
                f"| {verdict(None if None in met else all(met))} |")
    if r:
        floor = r["floor"]["rss_median_mib"]
        lines += [
            f"| tray app idle RSS in team mode, 10 s after start (median of {len(r['runs'])}; icon in the "
            f"system tray, no window) | ≤ 100 MiB | {fmt(r['rss_median_mib'])} MiB "
            f"| {verdict(within(r['rss_median_mib'], TARGETS['rss_mib']))} |",
            f"| the floor: its libraries, a tray icon and the feed's WebSocket, none of the app's code (median of "
            f"{len(r['floor']['runs'])}) | — | {fmt(floor)} MiB | — |",
            f"| the app's own share: idle RSS above the floor | — | "
            f"{fmt(r['rss_median_mib'] - floor if r['rss_median_mib'] and floor else None)} MiB | — |",
        ]
    if c:
        lines.append(f"| reconnect: server's \"listening\" → app live again, median / max of {len(c['runs'])} "
                     f"| — (bounded by the backoff) | {fmt(c['median_s'], 2)} / {fmt(c['max_s'], 2)} s | — |")
    if k:
        first, last = k["samples"][0][1], k["samples"][-1][1]
        lines.append(f"| soak: {k['calls']} calls in a row into one app: pop-ups shown; RSS live → after the calls "
                     f"| every call, no crash | {k['popups']} of {k['calls']}; {fmt(first)} → {fmt(last)} MiB "
                     f"| {verdict(k['popups'] == k['calls'] and k['not_200'] == 0 and last is not None)} |")
    if p:
        lines += [
            "", "### Pop-up through the team server", "",
            f"The PBX (this process) posts to the server's webhook over one keep-alive HTTP/1.1 connection, one "
            f"call every {plan['pace_s']} s: `call_ringing`, `call_answer` for every other call, `call_hangup` "
            f"({p['unknown_callers']} of the {p['calls']} callers not in the directory). The server journals each "
            "event, answers 200 and hands the call to the agent's WebSocket feed; the app (its own process, "
            f"`popup_linger_s` = {plan['linger_s']}) turns the feed message into the service API's `CallChanged` "
            "and the pop-up. Times in ms on one monotonic clock (CLOCK_MONOTONIC, the same in every process). "
            "**Arrival**: the feed message's text handed to the app's feed parser (aiohttp has read the frame). "
            "**Shown**: `PopupManager.popup_shown` (right after `show()`). **Exposed**: the X server exposed the "
            "pop-up's window (Qt's `Expose` event). **Painted**: the first turn of the event loop after its first "
            "`Paint`. Negative: before the PBX side had read the 200 (the server wakes the feed at the commit and "
            "writes the reply after it).",
            "",
            "| interval | n | p50 | p90 | p99 | max |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key, label in (("ack_to_expose_ms", "**server's 200 → pop-up exposed**"),
                           ("ack_to_painted_ms", "server's 200 → pop-up painted"),
                           ("ack_to_info_painted_ms", "server's 200 → caller's name and history painted"),
                           ("ack_to_arrival_ms", "server's 200 → feed message arrived in the app"),
                           ("arrival_to_shown_ms", "**feed message arrived → pop-up shown**"),
                           ("arrival_to_expose_ms", "feed message arrived → pop-up exposed"),
                           ("arrival_to_painted_ms", "feed message arrived → pop-up painted"),
                           ("send_to_ack_ms", "PBX's request sent → 200 read (the server's ack)"),
                           ("show_ms", "the app's `call_changed` → `show()` returned")):
            s = p[key]
            lines.append(f"| {label} | {s['n']} | {fmt(s['p50'])} | {fmt(s['p90'])} | {fmt(s['p99'])} "
                         f"| {fmt(s['max'])} |")
        lines += [
            "",
            f"Pop-ups missing: {p['missing']}; replies other than 200: {p['not_200']}; feed messages that arrived "
            f"before the PBX had read the 200: {p['arrived_before_ack']} of {p['calls']}; pop-ups with the caller's "
            f"name painted: {p['names_shown']}; windows already exposed when `popup_shown` fired: "
            f"{p['exposed_at_signal']}. Other load during the calls: {p['other_cores']:.2f} cores. The app's RSS "
            f"(this probe process) {fmt(p['app_rss_ready_mib'])} MiB when live, {fmt(p['app_rss_end_mib'])} MiB "
            f"after the calls. Modules team mode need not load that it had loaded: "
            f"{', '.join(f'`{x}`' for x in p['not_needed_loaded']) or 'none'}.",
        ]
    if r:
        lines += [
            "", "### Idle RSS in team mode", "",
            "`python -m app --server URL --data-dir D` (`PBX_COMPANION_AGENT_TOKEN` in the environment, no PBX or "
            "CRM key, an empty data dir but for the resume point the app writes) with a system tray: the XEmbed "
            "tray host of ui_bench's start part runs on the same Xvfb, the app docks its icon and opens no window. "
            "RSS, USS and PSS 10 s after the process started (psutil `memory_full_info`), as ui_bench measures the "
            "standalone app; the app's bytecode compiled first, as an installed app has it. **The floor** "
            "(tests/bench/rss_floor.py), measured the same way in turn with the app: a program that imports the "
            "third-party libraries the idle app has loaded (PySide6's QtCore, QtGui and QtWidgets, qasync, aiohttp, "
            "pydantic with one model, phonenumbers, platformdirs), shows a tray icon with a menu and keeps the "
            "agent's feed WebSocket open, and has none of the app's code. No change to the app can take its RSS "
            "below the floor; the difference is what the app's own modules, windows and state cost. One run of "
            "each first, not counted (log dir, page cache).",
            "",
            "| run | → icon docked (s) | → feed live (log line, s) | RSS (MiB) | USS | PSS | threads | other load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for kind, done in (("app", r["runs"]), ("floor", r["floor"]["runs"])):
            for n, run in enumerate(done, 1):
                lines.append(f"| {kind} {n} | {fmt(run.get('dock_s'), 3)} | {fmt(run.get('live_s'), 3)} | "
                             f"{fmt(run.get('rss_mib'))} | {fmt(run.get('uss_mib'))} | {fmt(run.get('pss_mib'))} | "
                             f"{run.get('threads', '—')} | {run['other_cores']:.2f} cores |")
        lines += rss_breakdown(r.get("stages") or {})
    if c:
        lines += [
            "", "### Reconnect after the server comes back", "",
            "A team-mode app (the pop-up part's probe) live; the server SIGKILLed, kept down a few seconds more or "
            "not, then started again (a new `python -m app serve`, same port and database). **Reconnect** is from "
            "the moment the new server printed \"webhook listening on\" (read by this process) to the app's "
            "connection state `live` again (the replay over). The app retries with "
            "`app/core/feed_client.py`'s `backoff_delays`: 0.5 s doubling up to 30 s, each wait ±50 %; the wait "
            "restarts from 0.5 s after a connection that worked. So once the server listens, the app's next "
            "attempt is at most the current wait away: after d s of downtime the waits so far sum to about d, "
            "the current one is about d too (±50 %), and the reconnect takes up to ~1.5·d (30 s at most, plus "
            "the hello and replay). The OS's network-information backend (`QNetworkInformation`) cuts a wait "
            "short only when the network itself comes back; a server restarted behind an unchanged network (this "
            "case, on loopback) waits for the backoff.",
            "",
            "| run | extra downtime (s) | kill → listening (s) | → unreachable shown (s after kill) | "
            "**listening → live (s)** | attempts | other load |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for n, run in enumerate(c["runs"], 1):
            attempts = run["attempts"] if run["attempts"] is not None else "—"
            lines.append(f"| {n} | {run['down_extra_s']:.0f} | {fmt(run['server_down_s'], 2)} | "
                         f"{fmt(run['unreachable_after_kill_s'], 2)} | **{fmt(run['live_after_listening_s'], 2)}** | "
                         f"{attempts} | {run['other_cores']:.2f} cores |")
        shown = sorted({t for run in c["runs"] for t in run["shown_meanwhile"]})
        lines += [
            "",
            f"Median {fmt(c['median_s'], 2)} s, max {fmt(c['max_s'], 2)} s; runs that never got live: "
            f"{c['failed']}. Meanwhile the agent saw (the tray's status line): "
            + "; ".join(f"\"{t}\"" for t in shown) + ".",
        ]
    if k:
        lines += [
            "", "### A day's calls into one app", "",
            f"One more team-mode app (the pop-up part's probe) takes {k['calls']} calls in a row, one every "
            f"{plan.get('soak_pace_s', '?')} s, from {k['distinct_callers']} callers of the directory in turn (callers "
            "repeat, as they do): ringing, an answer for every other call, hangup. Its RSS after every 100 calls "
            "(psutil, the probe process; the first row: live, idle, before the first call):",
            "",
            "| calls | RSS (MiB) |",
            "|---:|---:|",
            *(f"| {n} | {fmt(mib)} |" for n, mib in k["samples"]),
            "",
            f"Pop-ups shown: {k['popups']} of {k['calls']}; replies other than 200: {k['not_200']}.",
        ]
    return "\n".join(lines) + "\n"


def rss_breakdown(stages: dict[str, Any]) -> list[str]:
    """The table of the stages probe: RSS after each step of one more start."""
    if "stages" not in stages:
        return ["", f"The stages probe failed: {stages.get('error', 'not run')}"]
    lines = [
        "", "Where it goes: one more team-mode app started in a probe process (tests/bench/team_app_bench.py "
        "`_STAGES`, the same steps as `run_tray`, on the same Xvfb and tray), RSS after each step.",
        "",
        "| step | RSS (MiB) | + |",
        "|---|---:|---:|",
    ]
    previous = 0.0
    for name, mib in stages["stages"]:
        lines.append(f"| {name} | {mib:.1f} | {'' if not previous else f'+{mib - previous:.1f}'} |")
        previous = mib
    threads = ", ".join(f"{name} ×{n}" for name, n in sorted(stages.get("threads", {}).items()))
    lines += [
        "",
        f"Threads when idle: {threads}. Engine loaded by `import app.main`: "
        f"{'yes' if stages.get('engine_at_import') else 'no'}; modules team mode need not load that were loaded "
        f"when idle (tests/support/footprint.py): {', '.join(f'`{m}`' for m in stages.get('loaded', [])) or 'none'}.",
    ]
    return lines


def write_doc(section: str) -> None:
    write_section("bench-team-app", section, "Tray app in team mode",
                  "The tray app as a team server's client (issue 10): `tests/bench/team_app_bench.py`; the method "
                  "is in its docstring. Rewritten by `make bench`.")


# -- main ------------------------------------------------------------------------------------------

PARTS = ("rss", "popup", "reconnect", "soak")


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("python -m tests.bench.team_app_bench", __doc__.splitlines()[0], PARTS, wait_quiet=10.0)
    parser.add_argument("--sqlite", action="store_true", help="the team server on SQLite instead of PostgreSQL")
    args = parser.parse_args(argv)
    if args.render:
        render_saved(args, report, write_doc)
        return 0
    plan = QUICK if args.quick else Plan()
    parts, write = chosen_parts(parser, args, PARTS)
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="pbx-team-app-bench-"))
    say(f"scratch directory: {work}")
    xvfb = Xvfb()
    crm_key = "bench-team-crm-" + uuid.uuid4().hex[:12]
    from tests.fakes.fake_pbx import FakePbx

    fake = FakePbx(api_key=PBX_KEY)
    pbx_url = fake.start_in_thread()
    results: dict[str, Any] = {"machine": machine(xvfb), "plan": asdict(plan), "quick": args.quick}
    team: Team | None = None
    try:
        with contextlib.ExitStack() as stack:
            server_env = child_env(work / "server-home", xvfb.display, keys=False)
            server_env.update(PBX_COMPANION_CRM_API_KEY=crm_key, PBX_COMPANION_PBX_API_KEY=PBX_KEY,
                              PBX_COMPANION_PBX_URL=pbx_url)
            pg_cpu: Any = lambda: 0.0  # noqa: E731
            if args.sqlite:
                database = None
                results["database"] = "SQLite (`--data-dir`)"
            else:
                from tests.bench.pgbench import bench_postgres, cpu_s, settings_of

                say("starting a throw-away PostgreSQL ...")
                pg = stack.enter_context(bench_postgres())
                database = pg.create_database("team_app_bench")
                pg_settings = settings_of(pg)
                results["database"] = (f"PostgreSQL {pg_settings['server_version'].split()[0]} (local disk, "
                                       f"fsync={pg_settings['fsync']}, synchronous_commit="
                                       f"{pg_settings['synchronous_commit']}, its Unix socket)")
                seen: dict[int, float] = {}
                pg_cpu = lambda: cpu_s(pg, seen)  # noqa: E731
            team = Team(work, database, server_env)
            say(f"writing {plan.directory:,} contacts and the agent ...")
            token, callers = prepare(team, plan)
            url = team.start()
            base = url.removesuffix("/webhook")
            env = app_env(work / "home", xvfb.display, token)
            if "rss" in parts:
                measure_rss(work, base, env, plan, xvfb, results, args.wait_quiet)
            if "popup" in parts:
                measure_popup(work, team, url, env, crm_key, callers, plan, xvfb, pg_cpu, results, args.wait_quiet)
            if "reconnect" in parts:
                measure_reconnect(work, team, env, plan, xvfb, results, args.wait_quiet)
            if "soak" in parts:
                measure_soak(work, team, url, env, crm_key, callers, plan, xvfb, results, args.wait_quiet)
            team.close()
    finally:
        if team is not None:
            team.close()
        fake.stop_thread()
        xvfb.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["took_s"] = time.monotonic() - began
    section = report(results, args.quick)
    print()
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    if write:
        write_doc(section)
        say(f"wrote the team-mode tray app section of {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
