"""``make bench``: measure the webhook, event ingestion, CSV import and memory; update the docs.

    .venv/bin/python -m tests.bench.run              # full run (~4 min), rewrites docs/performance.md
    .venv/bin/python -m tests.bench.run --quick      # ~1.5 min smoke run, prints only (add --doc to write)
    .venv/bin/python -m tests.bench.run --profile    # also: cProfile of serve under each load
    .venv/bin/python -m tests.bench.run --only contacts --compare-root ../other   # A/B a change

Every server under test is its own subprocess on 127.0.0.1 and the load comes from another
process (:mod:`tests.bench.loadgen`), so client and server never share an event loop or a GIL.
The machine may be shared: each phase waits (``--wait-quiet``) for other processes to go
quiet and the report says how much CPU they took anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import pstats
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from . import datagen, pgbench
from .docsection import DOC, write_section

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
#: Where ``python -m app`` runs from: this tree, or another checkout to compare (``--app-root``).
APP: dict[str, Any] = {"root": ROOT, "compare": []}
CRM_KEY = "bench-crm-key-" + uuid.uuid4().hex[:12]

CONTACTS = 100_000
CONTACT_RATE = 300
EVENT_RATE = 1000
CLOSED_CONCURRENCY = 16
ROUNDS = 4  # get_contact: measured time cut into this many slices per server, taken in turn

#: Which phases run (``--only``) and which get_contact servers.
PHASES = ("idle", "contacts", "breakdown", "events", "import")
WHICH: dict[str, Any] = {"phases": PHASES, "contact_servers": ("bare", "sqlite_ref", "serve", "serve_pg")}

#: Seconds to wait, before each measured phase, for other processes to leave the CPU alone.
QUIET_WAIT = {"limit_s": 0.0}

TARGETS = {
    "contact_ratio": 1.4,     # serve p50 / bare p50
    "contact_p99_ms": 5.0,
    "contact_deadline_ms": 400.0,  # the webhook answers an empty list after this (contact_deadline)
    "event_rate": 1000.0,
    "event_p99_ms": 20.0,
    "import_rows_s": 20_000.0,
    "idle_rss_mib": 80.0,
}


@dataclass
class Plan:
    contact_s: float = 20.0
    contact_warmup_s: float = 3.0
    event_s: float = 15.0
    event_warmup_s: float = 3.0
    closed_s: float = 10.0
    csv_rows: int = 100_000
    idle_wait_s: float = 5.0


QUICK = Plan(contact_s=5.0, contact_warmup_s=1.0, event_s=5.0, event_warmup_s=1.0, closed_s=4.0,
             csv_rows=20_000, idle_wait_s=5.0)


# -- processes ---------------------------------------------------------------------------------

def bench_env(home: Path) -> dict[str, str]:
    """The environment of every subprocess: the bench key, no keyring, per-run user dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_COMPANION_")}
    env.update(
        PBX_COMPANION_CRM_API_KEY=CRM_KEY,
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"), XDG_CACHE_HOME=str(home / "cache"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env["PYTHONPATH"] = str(ROOT)  # tests.bench.* even when the app comes from --app-root
    return env


@dataclass
class Server:
    name: str
    argv: list[str]
    workdir: Path
    env: dict[str, str]
    cwd: Path = ROOT
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""
    port: int = 0
    stdout: Path = field(init=False)
    stderr: Path = field(init=False)

    def __post_init__(self) -> None:
        self.stdout = self.workdir / f"{self.name}.out"
        self.stderr = self.workdir / f"{self.name}.err"

    def start(self, timeout: float = 60.0) -> Server:
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"listening on (http://[^\s]+)", self.stdout.read_text(errors="replace"))
            if match:
                self.url = match.group(1)
                self.port = int(re.search(r":(\d+)/", self.url).group(1))  # type: ignore[union-attr]
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n{self.stderr.read_text(errors='replace')[-3000:]}")

    @property
    def ps(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def rss_mib(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_argv(data_dir: Path, profile_to: Path | None = None) -> list[str]:
    app = ["-m", "app", "serve", "--data-dir", str(data_dir), "--port", "0"]
    if profile_to is not None:
        return [PY, "-m", "cProfile", "-o", str(profile_to), *app]
    return [PY, *app]


def loadgen(workdir: Path, server: Server, requests_file: Path, **spec: Any) -> dict[str, Any]:
    spec.update(host="127.0.0.1", port=server.port, path="/webhook", requests_file=str(requests_file),
                authorization=f"Bearer {CRM_KEY}")
    spec_file = workdir / f"loadgen-{uuid.uuid4().hex[:8]}.json"
    spec_file.write_text(json.dumps(spec))
    done = subprocess.run([PY, "-m", "tests.bench.loadgen", str(spec_file)], cwd=ROOT, env=server.env,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    result["loadgen_cpu_s"] = result.pop("client_cpu_s", 0.0)
    return result


def _busy_s() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


@contextlib.contextmanager
def cpu_of(server: Server, into: dict[str, Any]) -> Iterator[None]:
    """Server CPU seconds during the block, and how busy the machine was with *other* work
    (everything but the server and the load generator, in cores)."""
    before, busy, wall = server.cpu_s(), _busy_s(), time.monotonic()
    yield
    into["server_cpu_s"] = server.cpu_s() - before
    elapsed = time.monotonic() - wall
    others = _busy_s() - busy - into["server_cpu_s"] - float(into.get("loadgen_cpu_s", 0.0))
    into["others_cores"] = max(0.0, others / elapsed)


def _children_cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fsync_probe(directory: Path, count: int = 200) -> dict[str, float]:
    """Latency of appending 4 KiB and fdatasync()ing it where the databases live (what a
    synchronous=FULL commit waits for), in ms."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            start = time.perf_counter()
            os.fdatasync(fd)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return {"p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99) - 1], "max": times[-1]}


def quiet() -> None:
    if QUIET_WAIT["limit_s"] > 0:
        wait_until_quiet(QUIET_WAIT["limit_s"])


def wait_until_quiet(limit_s: float, threshold: float = 0.25) -> float:
    """Wait (up to ``limit_s``) for a 1.5-second window in which other processes use less than
    ``threshold`` of a core; returns the load seen last (in cores)."""
    deadline = time.monotonic() + limit_s
    while True:
        busy, wall = _busy_s(), time.monotonic()
        time.sleep(1.5)
        load = (_busy_s() - busy) / (time.monotonic() - wall)
        if load < threshold or time.monotonic() >= deadline:
            return load
        print(f"  machine busy with other work ({load:.2f} cores), waiting ...", flush=True)


# -- the measurements ---------------------------------------------------------------------------

def contact_requests(path: Path, dataset: datagen.Dataset, count: int, seed: int = 11) -> None:
    """get_contact requests as the PBX sends them: ~90 % numbers in the directory, ~10 % unknown."""
    import random

    rng = random.Random(seed)
    unknown = datagen.unknown_keys(dataset, max(1, count // 10 + 10))
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            if rng.random() < 0.10:
                key, expect = unknown[i % len(unknown)], "unknown"
            else:
                key, expect = rng.choice(dataset.known_keys), "known"
            message = {"action": "get_contact", "obj": "UserCRM", "action_id": f"gc-{i}",
                       "params": {"phone": key[1:], "e164_phone": key}}
            out.write(json.dumps({"message": message, "expect": expect}) + "\n")


def event_requests(path: Path, dataset: datagen.Dataset, count: int, seed: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        messages = datagen.event_stream(count, dataset.known_keys, seed, prefix=f"b{seed}-{uuid.uuid4().hex[:6]}")
        out.writelines(
            json.dumps({"message": message}, ensure_ascii=False, separators=(",", ":")) + "\n" for message in messages
        )


def measure_contacts(work: Path, env: dict[str, str], data_dir: Path, dataset: datagen.Dataset, plan: Plan,
                     results: dict[str, Any], profile: bool) -> None:
    """The three servers run side by side; the measured time is cut into ROUNDS slices taken in
    turn (rotating the order), so a burst of unrelated load on the machine hits all of them
    alike instead of whichever happened to run at that moment."""
    warm = int(CONTACT_RATE * plan.contact_warmup_s)
    per_slice = int(CONTACT_RATE * plan.contact_s / ROUNDS)
    requests_file = work / "get_contact.jsonl"
    contact_requests(requests_file, dataset, warm + ROUNDS * per_slice + 10)
    db = str(data_dir / "pbx-companion.sqlite3")
    candidates = [
        ("bare", [PY, "-m", "tests.bench.refserver", "bare"], False, ROOT),
        ("sqlite_ref", [PY, "-m", "tests.bench.refserver", "sqlite", "--db", db], True, ROOT),
        ("serve", serve_argv(data_dir), True, APP["root"]),
        ("serve_pg", serve_argv(work / "data-pg"), True, APP["root"]),
    ]
    chosen = [c for c in candidates if c[0] in WHICH["contact_servers"]]
    for index, other in enumerate(APP["compare"]):
        chosen.append((f"serve_{index + 2}", serve_argv(data_dir), True, other))
    with contextlib.ExitStack() as stack:
        pg = None
        if any(name == "serve_pg" for name, *_ in chosen):
            pg = stack.enter_context(pgbench.bench_postgres())
            url = pg.create_database("contacts_100k")
            print(f"  loading the {len(dataset.contacts):,} contacts into PostgreSQL ...", flush=True)
            started = time.perf_counter()
            pgbench.load_dataset(dataset, url)
            results["data"]["pg_load_s"] = time.perf_counter() - started
            results["data"]["postgres"] = pgbench.settings_of(pg)
            chosen = [(name, [*argv, "--database", url] if name == "serve_pg" else argv, check, cwd)
                      for name, argv, check, cwd in chosen]
        servers = {name: (stack.enter_context(Server(name, argv, work, env, cwd)), check)
                   for name, argv, check, cwd in chosen}
        if "serve" in servers:
            time.sleep(plan.idle_wait_s)
            results["rss"]["serve_100k_idle_mib"] = servers["serve"][0].rss_mib()
        for name, (server, check) in servers.items():
            quiet()
            print(f"  get_contact warm-up -> {name} ...", flush=True)
            loadgen(work, server, requests_file, mode="open", rate=CONTACT_RATE, duration_s=plan.contact_warmup_s,
                    check=check)
        slices: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        names = list(servers)
        for round_no in range(ROUNDS):
            for name in names[round_no % len(names):] + names[:round_no % len(names)]:
                server, check = servers[name]
                quiet()
                print(f"  get_contact round {round_no + 1}/{ROUNDS} -> {name} ...", flush=True)
                out: dict[str, Any] = {}
                pg_before = pgbench.cpu_s(pg) if pg is not None and name == "serve_pg" else 0.0
                with cpu_of(server, out):
                    out.update(loadgen(work, server, requests_file, mode="open", rate=CONTACT_RATE,
                                       duration_s=per_slice / CONTACT_RATE, offset=warm + round_no * per_slice,
                                       check=check, samples=True))
                if pg is not None and name == "serve_pg":
                    out["pg_cpu_s"] = pgbench.cpu_s(pg) - pg_before
                slices[name].append(out)
        if "serve" in servers:
            results["rss"]["serve_100k_after_lookups_mib"] = servers["serve"][0].rss_mib()
        if "serve_pg" in servers:
            results["rss"]["serve_pg_100k_after_lookups_mib"] = servers["serve_pg"][0].rss_mib()
        over = {name: _over_deadline(server) for name, (server, _) in servers.items() if name.startswith("serve")}
    for name, parts in slices.items():
        results["contacts"][name] = merge_slices(parts)
        if name in over:
            results["contacts"][name]["over_deadline"] = over[name]
        if any("pg_cpu_s" in p for p in parts):
            results["contacts"][name]["pg_cpu_s"] = sum(p.get("pg_cpu_s", 0.0) for p in parts)
    if profile and "serve" in servers:
        print("  get_contact -> serve under cProfile ...", flush=True)
        prof = work / "serve-get_contact.prof"
        with Server("serve-prof", serve_argv(data_dir, prof), work, env, APP["root"]) as server:
            loadgen(work, server, requests_file, check=True, mode="open", rate=CONTACT_RATE,
                    duration_s=plan.contact_s, warmup_s=plan.contact_warmup_s)
        results["profiles"]["get_contact"] = top_functions(prof)


def _over_deadline(server: Server) -> int:
    """How many get_contact requests the server answered empty because the lookup took longer than
    its deadline (it logs each one), warm-up included."""
    return server.stderr.read_text(errors="replace").count("get_contact for ")


def merge_slices(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the slices of a server: percentiles over all their samples, sums of counts."""
    from .loadgen import percentiles

    runs = [p["run"] for p in parts]
    run: dict[str, Any] = {
        key: sum(r[key] for r in runs) for key in ("requests", "ok", "wrong", "errors", "unanswered")
    }
    for kind in ("latency", "service", "lag"):
        samples = [x for r in runs for x in r.pop(f"{kind}_samples")]
        run["send_lag_ms" if kind == "lag" else f"{kind}_ms"] = percentiles(samples)
    run["slices_p50_ms"] = [r["latency_ms"]["p50"] for r in runs]
    run["slices_p99_ms"] = [r["latency_ms"]["p99"] for r in runs]
    elapsed = sum(r["elapsed_s"] for r in runs)
    run["achieved_rate"] = run["ok"] / max(1e-9, elapsed)
    others = sum(p["others_cores"] * r["elapsed_s"] for p, r in zip(parts, runs, strict=True)) / max(1e-9, elapsed)
    return {"run": run, "server_cpu_s": sum(p["server_cpu_s"] for p in parts), "others_cores": others,
            "loadgen_cpu_s": sum(p["loadgen_cpu_s"] for p in parts)}


def measure_events(work: Path, env: dict[str, str], data_dir: Path, dataset: datagen.Dataset, plan: Plan,
                   results: dict[str, Any], profile: bool) -> None:
    open_file = work / "events-open.jsonl"
    closed_file = work / "events-closed.jsonl"
    event_requests(open_file, dataset, int(EVENT_RATE * (plan.event_s + plan.event_warmup_s)) + 10, seed=1)
    event_requests(closed_file, dataset, int(plan.closed_s * 6000) + 1000, seed=2)
    db = data_dir / "pbx-companion.sqlite3"
    before = _count_events(db)
    results["fsync_before_events"] = fsync_probe(data_dir / "probe")
    quiet()
    print("  events open loop -> serve ...", flush=True)
    with Server("serve-events", serve_argv(data_dir), work, env, APP["root"]) as server:
        out: dict[str, Any] = {}
        with cpu_of(server, out):
            out.update(loadgen(work, server, open_file, mode="open", rate=EVENT_RATE, duration_s=plan.event_s,
                               warmup_s=plan.event_warmup_s))
        results["events"]["open"] = out
        quiet()
        print(f"  events closed loop ({CLOSED_CONCURRENCY} senders) -> serve ...", flush=True)
        out = {}
        with cpu_of(server, out):
            out.update(loadgen(work, server, closed_file, mode="closed", concurrency=CLOSED_CONCURRENCY,
                               duration_s=plan.closed_s))
        results["events"]["closed"] = out
        results["rss"]["serve_100k_after_events_mib"] = server.rss_mib()
    acked = sum(r["ok"] for r in (results["events"]["open"].get("warmup", {}), results["events"]["open"]["run"],
                                  results["events"]["closed"]["run"]) if r)
    results["events"]["acked_total"] = acked
    results["events"]["stored_total"] = _count_events(db) - before
    if profile:
        print("  events -> serve under cProfile ...", flush=True)
        prof = work / "serve-events.prof"
        again = work / "events-prof.jsonl"
        event_requests(again, dataset, int(EVENT_RATE * plan.event_s) + 10, seed=3)
        with Server("serve-events-prof", serve_argv(data_dir, prof), work, env, APP["root"]) as server:
            loadgen(work, server, again, mode="open", rate=EVENT_RATE, duration_s=plan.event_s)
        results["profiles"]["events"] = top_functions(prof)


def _count_events(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        conn.close()


def measure_idle(work: Path, env: dict[str, str], plan: Plan, results: dict[str, Any]) -> None:
    quiet()
    print("  serve idle, empty data dir ...", flush=True)
    empty = work / "empty-data"
    with Server("serve-empty", serve_argv(empty), work, env, APP["root"]) as server:
        results["rss"]["serve_empty_start_mib"] = server.rss_mib()
        time.sleep(plan.idle_wait_s)
        results["rss"]["serve_empty_idle_mib"] = server.rss_mib()
        results["rss"]["serve_empty_idle_uss_mib"] = server.ps.memory_full_info().uss / 2**20


def measure_breakdown(env: dict[str, str], data_dir: Path, results: dict[str, Any]) -> None:
    quiet()
    print("  breakdown of the request path (in-process) ...", flush=True)
    done = subprocess.run([PY, "-m", "tests.bench.breakdown", str(data_dir / "pbx-companion.sqlite3")], cwd=APP["root"],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"breakdown failed:\n{done.stderr[-3000:]}")
    results["breakdown"] = json.loads(done.stdout)


def measure_import(work: Path, env: dict[str, str], plan: Plan, results: dict[str, Any]) -> None:
    if not (APP["root"] / "app" / "core" / "contacts_io.py").exists():
        results["import"] = {"skipped": "app/core/contacts_io.py does not exist yet"}
        return
    csv_path = work / "contacts.csv"
    dataset = datagen.make_dataset(plan.csv_rows, seed=777)
    datagen.write_csv(dataset, csv_path)
    data_dir = work / "import-data"
    quiet()
    print(f"  contacts import of {plan.csv_rows} rows ...", flush=True)
    children, busy = _children_cpu_s(), _busy_s()
    started = time.perf_counter()
    done = subprocess.run([PY, "-m", "app", "contacts", "import", str(csv_path), "--data-dir", str(data_dir)],
                          cwd=APP["root"], env=env, capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu_s() - children
    out = {"rows": plan.csv_rows, "phones": dataset.phone_count, "csv_mib": csv_path.stat().st_size / 2**20,
           "elapsed_s": elapsed, "rows_per_s": plan.csv_rows / elapsed, "exit": done.returncode,
           "summary": done.stdout.strip().splitlines()[-1:] or [""],
           "stderr_tail": done.stderr.strip().splitlines()[-3:], "cpu_s": cpu,
           "others_cores": max(0.0, (_busy_s() - busy - cpu) / elapsed)}
    if done.returncode == 0:
        conn = sqlite3.connect(data_dir / "pbx-companion.sqlite3")
        try:
            out["contacts_in_db"] = conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]
            out["phones_in_db"] = conn.execute("SELECT COUNT(*) FROM phones").fetchone()[0]
        finally:
            conn.close()
    results["import"] = out


def top_functions(prof: Path, limit: int = 25) -> str:
    if not prof.exists():
        return "(no profile written)"
    text = io.StringIO()
    stats = pstats.Stats(str(prof), stream=text)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return text.getvalue()


# -- machine and report -------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    import aiohttp
    import pydantic

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": psutil.virtual_memory().total / 2**30,
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "aiohttp": aiohttp.__version__, "pydantic": pydantic.VERSION, "sqlite": sqlite3.sqlite_version,
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def _per_request_us(phase: dict[str, Any]) -> float:
    sent = phase["run"]["requests"] + phase.get("warmup", {}).get("requests", 0)
    return phase["server_cpu_s"] / max(1, sent) * 1e6


def report(results: dict[str, Any], quick: bool) -> str:
    m, plan = results["machine"], results["plan"]
    head = [
        f"Run of {m['date']}{' (quick run: shorter phases)' if quick else ''}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.1f} GiB RAM, {m['os']}; "
        f"Python {m['python']}, aiohttp {m['aiohttp']}, pydantic {m['pydantic']}, SQLite {m['sqlite']}.",
        f"Disk: append 4 KiB + fdatasync (what a synchronous=FULL commit waits for) "
        f"p50 {results['fsync']['p50']:.2f} ms, p99 {results['fsync']['p99']:.2f} ms at the start"
        + (f"; p50 {results['fsync_before_events']['p50']:.2f} ms, p99 {results['fsync_before_events']['p99']:.2f} ms"
           " before the event runs" if "fsync_before_events" in results else "") + ".",
        f"Directory: {results['data']['contacts']:,} contacts, {results['data']['phones']:,} phones "
        f"(loaded through the store API in {results['data']['load_s']:.1f} s).",
        "\"Other load\" is the CPU that processes other than the server under test and the load "
        "generator used meanwhile (this machine may be shared); 2 cores is all of it.",
    ]
    body: list[str] = []
    checks: list[tuple[str, str, str, bool | None]] = []

    c = results["contacts"]
    if c:
        body += [
            "", f"### get_contact, open loop at {CONTACT_RATE} requests/s", "",
            f"{plan['contact_s']:g} s measured per server (in {ROUNDS} slices taken in turn, the servers running "
            f"side by side) after {plan['contact_warmup_s']:g} s of warm-up; latency in ms from each "
            "request's *scheduled* send time (no coordinated omission); ~10 % of the numbers are unknown.",
            "",
            "| server | requests | ok | wrong | p50 | p90 | p99 | max | over the 400 ms deadline | send lag p99 "
            "| server CPU/request | other load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        titles = {"bare": "bare aiohttp, constant reply", "sqlite_ref": "reference: sync SQLite lookup in handler",
                  "serve": "`pbx-companion serve`", "serve_pg": "`serve --database postgresql://…`"}
        titles.update({f"serve_{i + 2}": f"`serve` from {p}" for i, p in enumerate(APP["compare"])})
        order = ["bare", "sqlite_ref", "serve", "serve_pg", *(f"serve_{i + 2}" for i in range(len(APP["compare"])))]
        for name in order:
            if name not in c:
                continue
            run = c[name]["run"]
            lat = run["latency_ms"]
            body.append(
                f"| {titles[name]} | {run['requests']} | {run['ok']} | {run.get('wrong', 0)} | {_ms(lat['p50'])} | "
                f"{_ms(lat['p90'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} | {c[name].get('over_deadline', '—')} | "
                f"{_ms(run['send_lag_ms']['p99'])} | {_per_request_us(c[name]):.0f} µs | "
                f"{c[name]['others_cores']:.2f} cores |")
        if "serve_pg" in c:
            pg_info = results["data"].get("postgres", {})
            sent = c["serve_pg"]["run"]["requests"]
            body += ["", f"`serve --database`: the same 100k directory loaded into a PostgreSQL "
                         f"{pg_info.get('server_version', '?').split()[0]} on this machine through the store API "
                         f"({results['data'].get('pg_load_s', 0):.0f} s), reached over its Unix socket (on the disk, "
                         f"fsync={pg_info.get('fsync')}, shared_buffers={pg_info.get('shared_buffers')}); its lookups "
                         "run on the reader threads (no inline read), so each one is a thread hop and a round trip. "
                         "PostgreSQL's own CPU (postmaster and backends) meanwhile: "
                         f"{c['serve_pg'].get('pg_cpu_s', 0.0) / max(1, sent) * 1e6:.0f} µs/request. \"over the "
                         "deadline\": requests the server answered with an empty list because the lookup took longer "
                         "than 400 ms (`contact_deadline`; it logs each), warm-up included."]
        if "bare" in c:
            bare = c["bare"]["run"]
            notes = []
            for name in [*order[2:], "sqlite_ref"]:
                if name in c:
                    run = c[name]["run"]
                    notes.append(f"{titles[name]}: **{run['latency_ms']['p50'] / bare['latency_ms']['p50']:.2f}×** "
                                 "(from the actual send time: "
                                 f"{run['service_ms']['p50'] / bare['service_ms']['p50']:.2f}×)")
            if notes:
                body += ["", "p50 relative to the bare handler: " + "; ".join(notes) + "."]
        spread = [f"{titles[n]} " + " / ".join(f"{v:.2f}" for v in c[n]["run"]["slices_p50_ms"])
                  for n in order if n in c and "slices_p50_ms" in c[n]["run"]]
        if spread:
            body += ["", f"p50 of each of the {ROUNDS} slices (ms), taken in turn: " + "; ".join(spread) + "."]
        if "serve" in c:
            run = c["serve"]["run"]
            if "bare" in c:
                ratio = run["latency_ms"]["p50"] / c["bare"]["run"]["latency_ms"]["p50"]
                checks.append(("get_contact p50 vs bare handler", f"≤ {TARGETS['contact_ratio']}×", f"{ratio:.2f}×",
                               ratio <= TARGETS["contact_ratio"]))
            checks.append(("get_contact p99", f"≤ {TARGETS['contact_p99_ms']:g} ms",
                           f"{run['latency_ms']['p99']:.2f} ms",
                           run["latency_ms"]["p99"] <= TARGETS["contact_p99_ms"] and run["ok"] == run["requests"]
                           and not run.get("wrong")))
        if "serve_pg" in c:
            run = c["serve_pg"]["run"]
            checks.append(("get_contact p99 on PostgreSQL", f"≤ {TARGETS['contact_p99_ms']:g} ms",
                           f"{run['latency_ms']['p99']:.2f} ms",
                           run["latency_ms"]["p99"] <= TARGETS["contact_p99_ms"] and run["ok"] == run["requests"]
                           and not run.get("wrong")))
        over = {n: c[n]["over_deadline"] for n in ("serve", "serve_pg") if n in c and "over_deadline" in c[n]}
        if over:
            worst = max((c[n]["run"]["latency_ms"]["max"] for n in over), default=0.0)
            checks.append((f"get_contact over {TARGETS['contact_deadline_ms']:g} ms (SQLite / PostgreSQL)", "never",
                           " / ".join(str(v) for v in over.values()) + f" (max {worst:.1f} ms)",
                           not any(over.values()) and worst <= TARGETS["contact_deadline_ms"]))

    e = results["events"]
    if e:
        o, cl = e["open"]["run"], e["closed"]["run"]
        lost = o["errors"] + o["unanswered"]
        body += [
            "", "### Events, each acknowledged after its synchronous=FULL commit", "",
            "A realistic mix (interleaved calls: ringing, answer, hangup, cdr_append; ~5 % agent_change), every event "
            "unique, against `serve` with the 100k directory; latency in ms.",
            "",
            "| load | sent | acked 200 | not acked | ack rate | p50 | p99 | max | server CPU/event | other load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| open loop at {EVENT_RATE}/s, {plan['event_s']:g} s after {plan['event_warmup_s']:g} s warm-up | "
            f"{o['requests']} | {o['ok']} | {lost} | {o['achieved_rate']:.0f}/s | {_ms(o['latency_ms']['p50'])} | "
            f"{_ms(o['latency_ms']['p99'])} | {_ms(o['latency_ms']['max'])} | {_per_request_us(e['open']):.0f} µs | "
            f"{e['open']['others_cores']:.2f} cores |",
            f"| closed loop, {CLOSED_CONCURRENCY} senders, {plan['closed_s']:g} s | {cl['requests']} | {cl['ok']} | "
            f"{cl['errors']} | **{cl['achieved_rate']:.0f}/s** | {_ms(cl['latency_ms']['p50'])} | "
            f"{_ms(cl['latency_ms']['p99'])} | {_ms(cl['latency_ms']['max'])} | "
            f"{_per_request_us(e['closed']):.0f} µs | "
            f"{e['closed']['others_cores']:.2f} cores |",
            "",
            f"Acknowledged in all event runs: {e['acked_total']}; rows the event log gained: {e['stored_total']}"
            + (" (equal: nothing acknowledged is missing)." if e["acked_total"] == e["stored_total"]
               else " (**differ**)."),
        ]
        checks += [
            (f"event ack rate at {EVENT_RATE}/s offered", f"≥ {TARGETS['event_rate']:g}/s",
             f"{o['achieved_rate']:.0f}/s",
             lost == 0 and o["achieved_rate"] >= TARGETS["event_rate"] * 0.98),
            ("event ack p99", f"≤ {TARGETS['event_p99_ms']:g} ms", f"{_ms(o['latency_ms']['p99'])} ms",
             o["latency_ms"]["p99"] is not None and o["latency_ms"]["p99"] <= TARGETS["event_p99_ms"]),
            (f"event max sustained rate ({CLOSED_CONCURRENCY} senders)", "—", f"{cl['achieved_rate']:.0f}/s", None),
        ]

    if results.get("breakdown"):
        body += ["", "### Where a request's time goes inside serve (in-process, µs per call, median of 5 rounds)", "",
                 "| step | µs |", "|---|---:|"]
        body += [f"| {step} | {us:.1f} |" for step, us in results["breakdown"].items()]

    imp = results.get("import")
    if imp:
        body += ["", "### contacts import", ""]
        if "skipped" in imp:
            body.append(f"Not measured: {imp['skipped']}.")
            checks.append(("contacts import", f"≥ {TARGETS['import_rows_s']:,.0f} rows/s", "not measured", None))
        else:
            body.append(
                f"`pbx-companion contacts import` of a {imp['rows']:,}-row CSV ({imp['phones']:,} numbers, "
                f"{imp['csv_mib']:.1f} MiB, `;`-separated with a BOM, Russian headers, mixed number spellings) into an "
                "empty data dir, end to end as a subprocess: "
                f"**{imp['elapsed_s']:.1f} s = {imp['rows_per_s']:,.0f} rows/s** "
                f"(CPU {imp['cpu_s']:.1f} s in the importer and its workers; "
                f"other load {imp['others_cores']:.2f} cores; "
                f"exit {imp['exit']}; {imp.get('contacts_in_db', '?')} contacts and "
                f"{imp.get('phones_in_db', '?')} phones "
                f"stored; it printed `{imp['summary'][0]}`).")
            checks.append(("contacts import", f"≥ {TARGETS['import_rows_s']:,.0f} rows/s",
                           f"{imp['rows_per_s']:,.0f} rows/s",
                           imp["exit"] == 0 and imp["rows_per_s"] >= TARGETS["import_rows_s"]))

    rss = results["rss"]
    if rss:
        rows = [("empty data dir, just started", "serve_empty_start_mib"),
                (f"empty data dir, idle {plan['idle_wait_s']:g} s after start", "serve_empty_idle_mib"),
                (f"100k contacts, idle {plan['idle_wait_s']:g} s after start", "serve_100k_idle_mib"),
                ("100k contacts, after the get_contact run", "serve_100k_after_lookups_mib"),
                ("PostgreSQL (`--database`), 100k contacts, after the get_contact run",
                 "serve_pg_100k_after_lookups_mib"),
                ("100k contacts, after the event runs", "serve_100k_after_events_mib")]
        body += ["", "### Memory of `serve` (RSS)", "", "| state | RSS |", "|---|---:|"]
        for title, key in rows:
            if key in rss:
                uss = f" (USS {rss['serve_empty_idle_uss_mib']:.1f} MiB)" if key == "serve_empty_idle_mib" else ""
                body.append(f"| {title} | {rss[key]:.1f} MiB{uss} |")
        if "serve_empty_idle_mib" in rss:
            checks.append(("serve idle RSS, empty data dir", f"≤ {TARGETS['idle_rss_mib']:g} MiB",
                           f"{rss['serve_empty_idle_mib']:.1f} MiB",
                           rss["serve_empty_idle_mib"] <= TARGETS["idle_rss_mib"]))

    summary = ["", "### Summary", "", "| measurement | target | result | verdict |", "|---|---|---:|---|"]
    summary += [f"| {a} | {b} | {r} | {_verdict(v)} |" for a, b, r, v in checks]
    return "\n".join(head + summary + body) + "\n"


def write_doc(section: str) -> None:
    write_section("bench", section, "Latest results")


# -- main ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short phases and a 20k-row CSV; prints only")
    doc = parser.add_mutually_exclusive_group()
    doc.add_argument("--doc", dest="doc", action="store_true", default=None, help="rewrite docs/performance.md")
    doc.add_argument("--no-doc", dest="doc", action="store_false", help="do not touch docs/performance.md")
    parser.add_argument("--profile", action="store_true",
                        help="also run serve under cProfile and print the top functions")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (data, logs, profiles)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--only", help=f"comma-separated phases to run ({','.join(PHASES)}); implies --no-doc")
    parser.add_argument("--servers", help="comma-separated get_contact servers (bare,sqlite_ref,serve,serve_pg)")
    parser.add_argument("--app-root", help="run `python -m app` from this checkout instead (to compare a change)")
    parser.add_argument("--compare-root", help="get_contact: also run `serve` from these checkouts (comma-separated), "
                                               "side by side; implies --no-doc")
    parser.add_argument("--wait-quiet", type=float, default=60.0, metavar="SECONDS",
                        help="before each phase wait up to this long for other processes to go quiet "
                             "(default 60; 0: never)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    QUIET_WAIT["limit_s"] = args.wait_quiet
    write = (not args.quick and not args.only) if args.doc is None else args.doc
    if args.only:
        WHICH["phases"] = tuple(p for p in args.only.split(",") if p)
        unknown = set(WHICH["phases"]) - set(PHASES)
        if unknown:
            parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if args.servers:
        WHICH["contact_servers"] = tuple(args.servers.split(","))
    if args.app_root:
        APP["root"] = Path(args.app_root).resolve()
    if args.compare_root:
        APP["compare"] = [Path(p).resolve() for p in args.compare_root.split(",") if p]
        write = False

    work = Path(tempfile.mkdtemp(prefix="pbx-bench-"))
    env = bench_env(work / "home")
    results: dict[str, Any] = {"machine": machine(), "plan": plan.__dict__, "contacts": {}, "events": {},
                               "rss": {}, "profiles": {}}
    print(f"scratch directory: {work}", flush=True)
    try:
        print(f"generating and loading {CONTACTS:,} contacts ...", flush=True)
        dataset = datagen.make_dataset(CONTACTS)
        data_dir = work / "data-100k"
        started = time.perf_counter()
        datagen.load_into_store(dataset, data_dir / "pbx-companion.sqlite3")
        results["data"] = {"contacts": len(dataset.contacts), "phones": dataset.phone_count,
                           "load_s": time.perf_counter() - started}
        results["fsync"] = fsync_probe(data_dir / "probe")
        phases = WHICH["phases"]
        if "idle" in phases:
            measure_idle(work, env, plan, results)
        if "contacts" in phases:
            measure_contacts(work, env, data_dir, dataset, plan, results, args.profile)
        if "breakdown" in phases:
            measure_breakdown(env, data_dir, results)
        if "events" in phases:
            measure_events(work, env, data_dir, dataset, plan, results, args.profile)
        if "import" in phases:
            measure_import(work, env, plan, results)
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    section = report(results, args.quick)
    print()
    print(section)
    for name, text in results["profiles"].items():
        print(f"--- cProfile of serve under the {name} load ---\n{text}")
    if write:
        write_doc(section)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
