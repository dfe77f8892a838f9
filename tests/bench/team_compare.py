"""Before/after for the team server: the servers from another checkout and from this one, in turn.

    git archive <commit> app | tar -x -C /tmp/base          # the other checkout's app/ is enough
    .venv/bin/python -m tests.bench.team_compare /tmp/base [--rounds 2] [--duration 30] [--capacity-rounds 3]

The machine is shared, and its speed for one process moves by a factor of up to two from one
minute to the next with the other processes' load, so only runs taken close together compare:
each measurement alternates the two checkouts (A B, B A, ...). Two of them:

* full size (:mod:`tests.bench.team_bench`'s run without its capacity and breakdown parts):
  200 agents, 20 calls/s for ``--duration`` seconds, SIGKILL of server a at 3/4 of it; delivery
  p99 outside the kill, lost messages, the servers' and PostgreSQL's CPU per event, the other
  processes' load;
* closed loop without agents: 16 senders for 8 s against one ``serve --database`` of each
  checkout (the event mix of ``make bench``); events/s and the server's CPU per event.

Only the servers come from the other checkout (``python -m app`` run in it); the agents, the PBX
and the load generator are this checkout's. Both must know the same database schema. Prints
JSON lines as it goes, then a table.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
from pathlib import Path
from typing import Any

from . import datagen
from . import team_bench as tb
from .pgbench import bench_postgres, load_dataset
from .run import ROOT, Server, bench_env, event_requests, loadgen, serve_argv


def full_size(roots: dict[str, Path], rounds: int, duration: float) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in roots}
    real_server = tb.Server
    try:
        for r in range(rounds):
            for name in (list(roots) if r % 2 == 0 else list(roots)[::-1]):
                tb.Server = functools.partial(Server, cwd=roots[name])  # type: ignore[misc]
                plan = tb.Plan(duration_s=duration, kill_at_s=duration * 0.75, capacity_s=0, breakdown=False)
                work = Path(tempfile.mkdtemp(prefix=f"pbx-team-compare-{name}-"))
                a = tb.analyse(tb.run_bench(plan, work, bench_env(work / "home"), 0.0))
                row = {"p99_ms": round(a["latency_ms"]["steady"]["p99"], 1), "lost": a["lost"],
                       "server_cpu_us": round(a["cpu_per_event_us"]), "pg_cpu_us": round(a["pg_cpu_per_event_us"]),
                       "others_cores": round(a["others_cores"], 2)}
                out[name].append(row)
                print(json.dumps({"full_size": name, **row}), flush=True)
    finally:
        tb.Server = real_server  # type: ignore[misc]
    return out


def closed_loop(roots: dict[str, Path], rounds: int, seconds: float = 8.0) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in roots}
    work = Path(tempfile.mkdtemp(prefix="pbx-team-compare-loop-"))
    env = bench_env(work / "home")
    dataset = datagen.make_dataset(5000)
    with bench_postgres() as pg:
        servers = {}
        try:
            for name, root in roots.items():
                url = pg.create_database(f"compare_{name}")
                load_dataset(dataset, url)
                servers[name] = Server(f"compare-{name}", [*serve_argv(work / f"data-{name}"), "--database", url],
                                       work, env, root).start()
            for r in range(rounds):
                for name in (list(roots) if r % 2 == 0 else list(roots)[::-1]):
                    server = servers[name]
                    path = work / f"requests-{name}-{r}.jsonl"
                    event_requests(path, dataset, int(seconds * 800) + 500, seed=200 + r)
                    before = server.ps.cpu_times()
                    run = loadgen(work, server, path, mode="closed", concurrency=16, duration_s=seconds)["run"]
                    after = server.ps.cpu_times()
                    cpu = after.user + after.system - before.user - before.system
                    row = {"events_s": round(run["achieved_rate"]),
                           "server_cpu_us": round(cpu / max(1, run["ok"]) * 1e6),
                           "p99_ms": round(run["latency_ms"]["p99"], 1), "errors": run["errors"]}
                    out[name].append(row)
                    print(json.dumps({"closed_loop": name, **row}), flush=True)
        finally:
            for server in servers.values():
                server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.team_compare", description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the other checkout (its app/ directory is what runs)")
    parser.add_argument("--rounds", type=int, default=2, help="full-size runs of each checkout (default 2)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of calls per full-size run (default 30)")
    parser.add_argument("--capacity-rounds", type=int, default=3, help="closed-loop runs of each (default 3; 0: none)")
    args = parser.parse_args(argv)
    roots = {"before": Path(args.base).resolve(), "after": ROOT}
    full = full_size(roots, args.rounds, args.duration) if args.rounds else {}
    loop = closed_loop(roots, args.capacity_rounds) if args.capacity_rounds else {}
    print("\n| | before | after |\n|---|---:|---:|")

    def line(title: str, runs: dict[str, list[dict[str, Any]]], key: str, unit: str) -> None:
        cells = (" / ".join(f"{r[key]:,}" for r in runs[name]) + unit for name in roots)
        print(f"| {title} | " + " | ".join(cells) + " |")

    if full:
        line("full size: servers' CPU per event", full, "server_cpu_us", " µs")
        line("— PostgreSQL's CPU per event", full, "pg_cpu_us", " µs")
        line("— delivery p99 (outside the kill)", full, "p99_ms", " ms")
        line("— messages lost", full, "lost", "")
        line("— other processes' load", full, "others_cores", " cores")
    if loop:
        line("one server, closed loop, 16 senders: events/s", loop, "events_s", "")
        line("— server CPU per event", loop, "server_cpu_us", " µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
