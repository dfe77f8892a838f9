"""Benchmarks of the tray app (issue 3): pop-up latency, client card with 10,000 calls, start and memory.

    .venv/bin/python -m tests.bench.ui_bench            # full run (~6 min); rewrites the "Tray app" section
                                                        # of docs/performance.md
    .venv/bin/python -m tests.bench.ui_bench --quick    # ~2 min smoke run; prints only (add --doc to write)
    .venv/bin/python -m tests.bench.ui_bench --only card --profile   # one part, with cProfile of the app

Everything runs on a private Xvfb (``-displayfd``) with Qt's xcb platform: there is no window
manager and, but for the start part's tray runs, no system tray, so the app shows its fallback
main window, as on a bare X session. Every app under test is its own subprocess:

* **pop-up**: a child process builds the real :class:`app.main.CompanionApp` on a qasync loop
  (settings file, keys from the environment, logging and translators as ``run_tray`` sets them
  up, a reachable fake PBX) over a data dir with a 10,000-contact directory. This process is the
  PBX: it posts ``call_ringing`` (then ``call_answer`` for every other call, then
  ``call_hangup``) over real HTTP/1.1 keep-alive and notes, with ``time.monotonic()`` (one clock
  for every process on Linux), when the complete 200 reply has been read. The child notes when
  the pop-up's window is exposed and painted (event filters installed when
  ``PopupManager.popup_shown`` fires, i.e. right after ``show()``, before Qt has processed any
  event of the new window).
* **client card**: the same app in a child process opens a client with 10,000 journal calls
  and their 10,000 CDRs (written through the store API) the way "Open card" does
  (``CompanionApp.open_card``) and notes when the timeline has been painted with rows.
* **start and memory**: the real ``python -m app --data-dir D --port 0`` as the agent starts it,
  without a system tray (the fallback main window) and with one: :class:`tests.ui.x11.trayhost.TrayHost`
  runs a minimal XEmbed tray on the same Xvfb, the app docks its icon and opens no window.

Not collected by pytest (no ``test_*`` name).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import importlib.metadata
import json
import os
import platform
import select
import shutil
import signal
import sqlite3
import statistics
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
from tests.bench.run import top_functions
from tests.ui.x11.trayhost import TrayHost
from tests.ui.x11.xlib import MapWatcher
from tests.ui.x11.xvfb import Xvfb as SharedXvfb

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
SCREEN = "1280x800x24"
CRM_KEY = "bench-ui-crm-" + uuid.uuid4().hex[:12]
PBX_KEY = "bench-ui-pbx-" + uuid.uuid4().hex[:12]
CLIENT_NUMBERS = ("+74952523060", "+79161234567")   # the 10,000-call client's two numbers
CRM_USER, EXTENSION, AGENT_NAME = "3", "9022", "Agent Three"

TARGETS = {"popup_ms": 50.0, "card_ms": 150.0, "rss_mib": 110.0, "start_s": 1.0}


@dataclass
class Plan:
    directory: int = 10_000          # contacts in the local directory (pop-up lookups)
    card_calls: int = 10_000
    calls: int = 200                 # paced calls in the main pop-up run
    pace_s: float = 0.6              # one call (ringing, [answer], hangup) every pace_s
    fresh_apps: int = 5              # first calls of fresh apps (the main run is one of them)
    bursts: int = 10                 # rounds of 3 calls rung back to back
    linger_s: float = 0.5            # popup_linger_s in the pop-up runs
    card_processes: int = 3
    card_warm_runs: int = 5
    start_runs: int = 5
    idle_wait_s: float = 10.0
    breakdown_runs: int = 3
    soak_calls: int = 500            # calls in a row to the real `python -m app` (stability)


QUICK = Plan(calls=40, fresh_apps=2, bursts=3, card_processes=1, card_warm_runs=3, start_runs=2, breakdown_runs=2,
             soak_calls=200)


# -- small helpers -------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def within(value: float | None, limit: float) -> bool | None:
    """Whether a measured value meets an upper goal; None when nothing was measured."""
    return None if value is None else value <= limit


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def say(text: str) -> None:
    print(text, flush=True)


# -- X server ------------------------------------------------------------------------------------

class Xvfb(SharedXvfb):
    """The shared private X server, plus the CPU it used (part of the measured cost)."""

    def __init__(self, screen: str = SCREEN) -> None:
        try:
            super().__init__("-screen", "0", screen)
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None

    def cpu_s(self) -> float:
        import psutil

        with contextlib.suppress(psutil.Error):
            t = psutil.Process(self.process.pid).cpu_times()
            return t.user + t.system
        return 0.0


# -- the machine and its other load ---------------------------------------------------------------

def machine(xvfb: Xvfb | None) -> dict[str, Any]:
    import psutil
    import PySide6
    from PySide6 import QtCore

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": psutil.virtual_memory().total / 2**30,
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "pyside6": PySide6.__version__, "qt": QtCore.qVersion(), "qasync": version("qasync"),
        "aiohttp": version("aiohttp"), "sqlite": sqlite3.sqlite_version,
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }


def _own_cpu_s() -> float:
    """CPU of this process and of its children that have been waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


class LoadMeter:
    """CPU that processes other than ours (this one, its children, Xvfb) used meanwhile, in cores."""

    def __init__(self, xvfb: Xvfb | None, extra: Any = None) -> None:
        self.xvfb = xvfb
        self.extra = extra  # a callable returning the CPU seconds of a still-running child

    def _ours(self) -> float:
        return _own_cpu_s() + (self.xvfb.cpu_s() if self.xvfb else 0.0) + (self.extra() if self.extra else 0.0)

    def __enter__(self) -> LoadMeter:
        self.t0, self.busy0, self.ours0 = time.monotonic(), _busy_s(), self._ours()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(1e-6, time.monotonic() - self.t0)
        self.other_cores = max(0.0, (_busy_s() - self.busy0) - (self._ours() - self.ours0)) / wall


def wait_until_quiet(limit_s: float, xvfb: Xvfb | None, threshold: float = 0.25) -> float:
    """Wait (up to ``limit_s``) for a second in which other processes use < ``threshold`` cores."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        with LoadMeter(xvfb) as meter:
            time.sleep(1.0)
        if meter.other_cores < threshold:
            break
    return time.monotonic() - started


# -- data, written through the store API ----------------------------------------------------------

def prepare_data(data_dir: Path, plan: Plan) -> dict[str, Any]:
    """A directory of ``plan.directory`` contacts, the team, and one client with ``plan.card_calls``
    journal calls and as many CDRs (every call has its CDR), 5 % of them with a note."""
    from app.protocol.cdr import CdrRecord
    from app.protocol.phones import PhoneNormalizer
    from app.storage import CallRecord, ContactRecord, CrmUser, PhoneRecord, SqliteStore
    from tests.bench import datagen
    from tests.fakes.fake_pbx import make_cdr

    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "pbx-companion.sqlite3"
    dataset = datagen.make_dataset(plan.directory)
    datagen.load_into_store(dataset, database)
    normalizer = PhoneNormalizer("RU", "auto")
    keys = [normalizer.key(n) for n in CLIENT_NUMBERS]
    store = SqliteStore(database)
    try:
        def team(session: Any) -> int:
            for user_id, extension in datagen.TEAM:
                session.users.upsert(CrmUser(user_id, f"Сотрудник {user_id}", extension))
            session.users.upsert(CrmUser(CRM_USER, AGENT_NAME, EXTENSION))
            phones = [PhoneRecord(k, n, label)
                      for k, n, label in zip(keys, CLIENT_NUMBERS, ("work", "mobile"), strict=True)]
            return session.contacts.save(ContactRecord(
                None, "Иванов Иван Петрович", company_id=session.contacts.company_id("ООО «Ромашка»", CRM_USER),
                owner_id=CRM_USER, email="ivanov@example.ru", note="Постоянный клиент", phones=phones))

        contact_id = store.write_sync(team)
        now = time.time()
        step = 3 * 365 * 86400 / plan.card_calls   # ten thousand calls over three years
        batch = 2000
        for first in range(0, plan.card_calls, batch):
            def history(session: Any, first: int = first) -> None:
                for i in range(first, min(plan.card_calls, first + batch)):
                    at = now - (i + 1) * step
                    number, key = CLIENT_NUMBERS[i % 7 == 0], keys[i % 7 == 0]
                    incoming = i % 5 < 3
                    answered = i % 6 != 0
                    talk = 30 + (i * 37) % 600 if answered else 0
                    uniqueid = f"{1600000000 + i}.{i % 1000}"
                    cdr = make_cdr(uniqueid, at, src=number if incoming else EXTENSION,
                                   dst=EXTENSION if incoming else number, direction=0 if incoming else 1,
                                   duration=talk + 12, billsec=talk)
                    if not answered:
                        cdr["link"] = ""
                        cdr["bridge_hangup_cause"] = "NO_ANSWER"
                    session.cdrs.insert(CdrRecord.model_validate(cdr), other_key=key, contact_id=contact_id,
                                        source="event", received_at=at + talk + 15)
                    session.calls.save(CallRecord(
                        call_id=uniqueid, state="ended", first_seen=at, updated_at=at + talk + 12,
                        session_id=f"s-{uniqueid}", direction=0 if incoming else 1, other_leg=number,
                        other_key=key, crm_user=CRM_USER, domain_user=EXTENSION, gateway_number="74951343060",
                        ringing_at=at, answered_at=at + 12 if answered else None, hangup_at=at + talk + 12,
                        hangup_cause="NORMAL_CLEARING" if answered else "NO_ANSWER",
                        answer_seconds=talk if answered else None, missed=incoming and not answered,
                        contact_id=contact_id, cdr_uniqueid=uniqueid))
                    if i % 20 == 0:
                        session.notes.set(uniqueid, f"Заметка к звонку {i}", "Resolved", at + talk + 60)

            store.write_sync(history)
    finally:
        store.close()
    unknown = datagen.unknown_keys(dataset, 64)
    return {"contact_id": contact_id, "known": dataset.known_keys, "unknown": unknown,
            "load_s": time.perf_counter() - started, "contacts": len(dataset.contacts) + 1}


def write_settings(home: Path, pbx_url: str) -> None:
    """The agent's settings file, where ``Settings.load()`` finds it (``$XDG_CONFIG_HOME``)."""
    import tomli_w

    path = home / "config" / "pbx-companion" / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps({"pbx_url": pbx_url, "crm_user": CRM_USER, "crm_user_name": AGENT_NAME,
                                   "extension": EXTENSION}), encoding="utf-8")


def child_env(home: Path, display: str, *, keys: bool = True) -> dict[str, str]:
    # No D-Bus session: with a StatusNotifier watcher on it Qt would put the icon there, not on our Xvfb.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PBX_COMPANION_", "QT_", "WAYLAND_", "PYTHONTRACEMALLOC", "PYTHONPROFILE",
                                "DBUS_SESSION_BUS_ADDRESS"))}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_STATE_HOME=str(home / "state"), XDG_CACHE_HOME=str(home / "cache"), PYTHONPATH=str(ROOT))
    if keys:
        env.update(PBX_COMPANION_CRM_API_KEY=CRM_KEY, PBX_COMPANION_PBX_API_KEY=PBX_KEY)
    return env


# -- the child: the real CompanionApp under test --------------------------------------------------

def _child(args: argparse.Namespace) -> int:
    """Runs inside the app process (``--child popup|card``)."""
    import asyncio
    import logging

    import qasync
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    import app.main  # the core, then PySide6, then qasync: the order the app itself uses
    from app.core.logs import setup_logging
    from app.core.secrets import load_keys
    from app.core.settings import Settings, default_log_dir
    from app.ui.i18n import install_translators
    from tests.bench.popup_timing import Watch, follow_popups

    qapp = QApplication(sys.argv[:1])
    qapp.setApplicationName("pbx-companion")
    qapp.setQuitOnLastWindowClosed(False)
    settings = Settings.load()
    settings.data_dir, settings.port = args.data_dir, 0
    settings.popup_linger_s = args.linger
    settings.validate()
    setup_logging(logging.INFO, log_file=default_log_dir() / "pbx-companion.log")
    install_translators(qapp, settings.language)
    results: dict[str, Any] = {}
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()

    def refcounts() -> list[int]:
        """References to None, False and True: a C extension that drops references it does not own
        (PySide6 6.12 on CPython 3.11) makes them fall until the interpreter aborts."""
        return [sys.getrefcount(None), sys.getrefcount(False), sys.getrefcount(True)]

    async def popup_session(companion: Any, done: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        manager = companion.popups
        records = follow_popups(manager, loop)
        import psutil

        me = psutil.Process()
        rss_series: list[list[Any]] = []
        flushed: set[str] = set()
        partial = open(args.out + ".partial", "a", encoding="utf-8")  # noqa: SIM115 - closed below

        def sample() -> None:
            rss_series.append([len(records), me.memory_info().rss / 2**20, *refcounts()])
            cutoff = time.monotonic() - 1.0
            lines = [json.dumps({"call_id": call_id, **rec}) for call_id, rec in records.items()
                     if call_id not in flushed and rec["shown"] < cutoff]
            flushed.update(json.loads(line)["call_id"] for line in lines)
            lines.append(json.dumps({"rss_series": rss_series[-1]}))
            partial.write("\n".join(lines) + "\n")
            partial.flush()

        sampler = QTimer()
        sampler.setInterval(2000)
        sampler.timeout.connect(sample)
        rss_series.append([0, me.memory_info().rss / 2**20, *refcounts()])
        sampler.start()
        print("READY " + json.dumps({"url": companion.engine.server.url}), flush=True)
        if profiler is not None:
            profiler.enable()
        await done.wait()
        if profiler is not None:
            profiler.disable()
        sampler.stop()
        partial.close()
        rss_series.append([len(records), me.memory_info().rss / 2**20, *refcounts()])
        results["popups"] = records
        results["rss_series"] = rss_series
        results["qt_windows_open"] = len(manager.popups())
        # leak check: what is left of the pop-ups once all calls ended (after a full collection)
        import gc

        from app.ui.popup import CallPopup

        await asyncio.sleep(0.5)
        gc.collect()
        results["top_level_widgets"] = len(QApplication.topLevelWidgets())
        results["popup_wrappers"] = sum(1 for o in gc.get_objects() if isinstance(o, CallPopup))
        results["rss_after_gc_mib"] = me.memory_info().rss / 2**20

    async def card_session(companion: Any, done: asyncio.Event) -> None:
        from app.core.timeline import load_timeline
        from app.ui.timeline import TimelineModel

        runs: list[dict[str, Any]] = []
        for run in range(args.runs):
            rec: dict[str, Any] = {}
            finished = asyncio.Event()
            if profiler is not None and run == args.runs - 1:
                profiler.enable()
            rec["t0"] = time.monotonic()
            card = companion.shell.open_card(args.contact_id, "")
            rec["built"] = time.monotonic()
            viewport = card.timeline_view.viewport()

            def finish(rec: dict[str, Any] = rec, finished: asyncio.Event = finished) -> None:
                rec.setdefault("rows_painted", time.monotonic())
                finished.set()

            def report(watched: QObject, kind: QEvent.Type, at: float, card: Any = card, rec: dict[str, Any] = rec,
                       viewport: Any = viewport, finish: Any = finish) -> None:
                if kind != QEvent.Type.Paint:
                    return
                if watched is card:
                    rec.setdefault("window_paint", at)
                elif (watched is viewport and "loaded" in rec and "rows_paint" not in rec
                      and card.timeline_proxy.rowCount() > 0):
                    rec["rows_paint"] = at
                    asyncio.get_running_loop().call_soon(finish)

            card.loaded.connect(lambda rec=rec: rec.setdefault("loaded", time.monotonic()))
            watch = Watch(report)
            card.installEventFilter(watch)
            viewport.installEventFilter(watch)
            await asyncio.wait_for(finished.wait(), 60)
            if profiler is not None and run == args.runs - 1:
                profiler.disable()
            rec["rows"] = card.timeline_proxy.rowCount()
            rec["title"] = card.windowTitle()
            card.removeEventFilter(watch)
            viewport.removeEventFilter(watch)
            card.close()
            card.deleteLater()
            runs.append(rec)
            await asyncio.sleep(0.4)
        # where the time goes: the store read (SQL + merge + notes, on a storage thread) and set_rows
        contact = await companion.ctx.api.engine.store.read(lambda s: s.contacts.get(args.contact_id))
        keys = [p.key for p in contact.phones]
        read_ms, sql_ms, set_rows_ms = [], [], []
        rows: list[Any] = []
        for _ in range(5):
            t = time.perf_counter()
            rows = await companion.ctx.api.engine.store.read(lambda s: load_timeline(s, keys))
            read_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await companion.ctx.api.engine.store.read(
                lambda s: (s.calls.timeline_rows(keys), s.cdrs.timeline_rows(keys))
            )
            sql_ms.append((time.perf_counter() - t) * 1000)
            model = TimelineModel(companion.ctx.normalizer)
            t = time.perf_counter()
            model.set_rows(list(rows))
            set_rows_ms.append((time.perf_counter() - t) * 1000)
        results.update(runs=runs, read_ms=read_ms, sql_ms=sql_ms, set_rows_ms=set_rows_ms, rows=len(rows))
        done.set()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def on_stdin() -> None:
            if not os.read(0, 4096):
                loop.remove_reader(0)
                done.set()

        companion = app.main.CompanionApp(qapp, settings, load_keys())
        # what CompanionApp.run() does (it also waits for Quit, which this harness replaces)
        await companion.start()
        if not args.no_gc_freeze:
            loop.call_later(app.main.GC_FREEZE_DELAY, companion.after_start)
        # start-up work (PBX check, missed list, spare pop-up, the GC freeze) settles
        await asyncio.sleep(app.main.GC_FREEZE_DELAY + 0.5)
        loop.add_reader(0, on_stdin)
        try:
            if args.child == "popup":
                await popup_session(companion, done)
            else:
                await card_session(companion, done)
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(0)
            import psutil

            results["rss_mib"] = psutil.Process().memory_info().rss / 2**20
            await companion.shutdown()

    qasync.run(main())
    if profiler is not None:
        profiler.dump_stats(args.profile)
    Path(args.out).write_text(json.dumps(results), encoding="utf-8")
    return 0


class Child:
    """One app process under test: started, told when to stop (stdin closed), results read back."""

    def __init__(self, mode: str, env: dict[str, str], data_dir: Path, work: Path, *extra: str,
                 profile: Path | None = None) -> None:
        self.out = work / f"child-{mode}-{uuid.uuid4().hex[:6]}.json"
        self.err_path = self.out.with_suffix(".err")
        argv = [PY, "-m", "tests.bench.ui_bench", "--child", mode, "--data-dir", str(data_dir), "--out", str(self.out),
                *extra]
        if profile is not None:
            argv += ["--profile-out", str(profile)]
        self.err = open(self.err_path, "wb")  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)

    def cpu_s(self) -> float:
        import psutil

        with contextlib.suppress(psutil.Error):
            t = psutil.Process(self.proc.pid).cpu_times()
            return t.user + t.system
        return 0.0

    def ready(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buffer += chunk
                for line in buffer.splitlines():
                    if line.startswith(b"READY "):
                        return json.loads(line[6:])
            if self.proc.poll() is not None:
                break
        self.finish(timeout=5)
        raise RuntimeError(f"the app did not start:\n{self.err_path.read_text(errors='replace')[-3000:]}")

    def finish(self, timeout: float = 120.0, *, may_crash: bool = False) -> dict[str, Any]:
        """The child's results. With ``may_crash``, an aborted app gives what it had written so far
        (finished pop-up records, flushed every 2 s) and ``crash``: its exit status and fatal error."""
        with contextlib.suppress(BrokenPipeError, OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
        if self.proc.returncode == 0 and self.out.exists():
            return json.loads(self.out.read_text(encoding="utf-8"))
        errors = self.err_path.read_text(errors="replace")
        if not may_crash:
            raise RuntimeError(f"the app failed ({self.proc.returncode}):\n{errors[-3000:]}")
        fatal = next((line for line in errors.splitlines() if line.startswith("Fatal Python error")),
                     errors.strip().splitlines()[-1] if errors.strip() else "")
        result: dict[str, Any] = {"popups": {}, "rss_series": [],
                                  "crash": {"returncode": self.proc.returncode, "fatal": fatal}}
        partial = Path(str(self.out) + ".partial")
        if partial.exists():
            for line in partial.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError):
                    item = json.loads(line)
                    if "rss_series" in item:
                        result["rss_series"].append(item["rss_series"])
                    else:
                        result["popups"][item.pop("call_id")] = item
        return result


# -- 1. the pop-up --------------------------------------------------------------------------------

class Webhook:
    """The PBX's side: keep-alive HTTP/1.1 posts to the app's webhook, timed on the monotonic clock."""

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.path = parts.path or "/"
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        self.headers = {"Authorization": f"Bearer {CRM_KEY}", "Content-Type": "application/json"}

    def post(self, action: str, body: dict[str, Any]) -> tuple[int, float, float]:
        """(status, sent, acknowledged): times of the request's start and of the reply read to its end."""
        message = json.dumps({"action": action, "obj": "UserCRM", "action_id": str(uuid.uuid4()), "code": 200,
                              "notifies": [], "body": body}).encode()
        sent = time.monotonic()
        self.conn.request("POST", self.path, message, self.headers)
        response = self.conn.getresponse()
        response.read()
        return response.status, sent, time.monotonic()

    def close(self) -> None:
        self.conn.close()


def call_body(call_id: str, number: str) -> dict[str, Any]:
    return {"call_id": call_id, "session_id": f"s-{call_id}", "crm_user": CRM_USER, "domain_user": EXTENSION,
            "other_leg": number, "direction": 0, "rt_vars": {"gateway_number": "74951343060"}}


def _sleep_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def drive_calls(url: str, callers: list[tuple[str, bool]], plan: Plan, prefix: str,
                bursts: int) -> list[dict[str, Any]]:
    """Post the calls; stops early (a "gone" entry) when the app stops answering."""
    hook = Webhook(url)
    sent: list[dict[str, Any]] = []
    try:
        _drive(hook, sent, callers, plan, prefix, bursts)
    except (ConnectionError, http.client.HTTPException, OSError) as exc:  # the app went away
        sent.append({"kind": "gone", "error": f"{type(exc).__name__}: {exc}"})
    finally:
        hook.close()
    return sent


def _drive(hook: Webhook, sent: list[dict[str, Any]], callers: list[tuple[str, bool]], plan: Plan, prefix: str,
           bursts: int) -> None:
    """Paced calls (ringing, answer for every other one, hangup), then bursts of three rung back to back."""
    start = time.monotonic() + 0.2
    for i, (number, known) in enumerate(callers):
        _sleep_until(start + i * plan.pace_s)
        call_id = f"{prefix}-{i}"
        status, t_sent, t_ack = hook.post("call_ringing", call_body(call_id, number))
        sent.append({"call_id": call_id, "status": status, "sent": t_sent, "ack": t_ack, "kind": "paced",
                     "index": i, "known": known})
        time.sleep(0.15)
        if i % 2:
            hook.post("call_answer", call_body(call_id, number))
            time.sleep(0.1)
        hook.post("call_hangup", call_body(call_id, number))
    for r in range(bursts):
        time.sleep(1.0 + plan.linger_s)
        burst = [(f"{prefix}-b{r}-{k}", callers[(r * 3 + k) % len(callers)]) for k in range(3)]
        for k, (call_id, (number, known)) in enumerate(burst):
            status, t_sent, t_ack = hook.post("call_ringing", call_body(call_id, number))
            sent.append({"call_id": call_id, "status": status, "sent": t_sent, "ack": t_ack, "kind": f"burst{k}",
                         "index": k, "known": known})
        time.sleep(0.4)
        for call_id, (number, _known) in burst:
            hook.post("call_hangup", call_body(call_id, number))
    time.sleep(1.0 + plan.linger_s)


def caller_numbers(data: dict[str, Any], count: int, seed: int) -> list[tuple[str, bool]]:
    """(number, in the directory): ~90 % callers from the directory, ~10 % unknown, as +E.164."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(count):
        known = rng.random() >= 0.1
        out.append(("+" + rng.choice(data["known"] if known else data["unknown"]), known))
    return out


def popup_run(work: Path, env: dict[str, str], base: Path, data: dict[str, Any], plan: Plan,
              callers: list[tuple[str, bool]], bursts: int, name: str, xvfb: Xvfb,
              profile: Path | None = None) -> dict[str, Any]:
    data_dir = work / f"data-{name}"
    shutil.copytree(base, data_dir)
    child = Child("popup", env, data_dir, work, "--linger", str(plan.linger_s), profile=profile)
    with LoadMeter(xvfb, child.cpu_s) as meter:
        info = child.ready()
        sent = drive_calls(info["url"], callers, plan, name, bursts)
        result = child.finish(may_crash=True)
    shutil.rmtree(data_dir, ignore_errors=True)
    crash = result.get("crash")
    rows = []
    for s in sent:
        if s["kind"] == "gone":
            continue
        rec = result["popups"].get(s["call_id"])
        if rec is None and crash is not None:
            continue  # rang shortly before the abort: its record was not written
        rec = rec or {}
        row = dict(s)
        for key in ("expose", "paint", "painted", "info_paint", "info_painted", "shown"):
            row[f"ack_to_{key}_ms"] = (rec[key] - s["ack"]) * 1000 if key in rec else None
        row["send_to_painted_ms"] = (rec["painted"] - s["sent"]) * 1000 if "painted" in rec else None
        row["send_to_ack_ms"] = (s["ack"] - s["sent"]) * 1000
        row["show_ms"] = rec.get("show_ms")
        row["exposed_at_signal"] = rec.get("exposed_at_signal")
        row["name_shown"] = rec.get("name_shown")
        rows.append(row)
    rang = sum(1 for s in sent if s["kind"] != "gone")
    if crash is not None:
        crash.update(calls_rang=rang, measured=len(rows),
                     client_error=next((s["error"] for s in sent if s["kind"] == "gone"), None))
    return {"rows": rows, "other_cores": meter.other_cores, "rss_mib": result.get("rss_mib"),
            "rss_series": result.get("rss_series", []), "crash": crash, "rang": rang,
            "leak": {k: result.get(k) for k in ("top_level_widgets", "popup_wrappers", "rss_after_gc_mib")}}


def summarize_popups(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def col(key: str) -> list[float]:
        return [r[key] for r in rows if r.get(key) is not None]

    out = {"n": len(rows), "missing": sum(1 for r in rows if r.get("ack_to_painted_ms") is None),
           "not_200": sum(1 for r in rows if r["status"] != 200),
           "exposed_at_signal": sum(1 for r in rows if r.get("exposed_at_signal"))}
    for key in ("ack_to_expose_ms", "ack_to_paint_ms", "ack_to_painted_ms", "ack_to_info_painted_ms",
                "send_to_painted_ms", "send_to_ack_ms", "show_ms"):
        values = col(key)
        out[key] = {"p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
                    "max": max(values) if values else None, "min": min(values) if values else None}
    return out


def measure_popups(work: Path, env: dict[str, str], base: Path, data: dict[str, Any], plan: Plan, xvfb: Xvfb,
                   results: dict[str, Any], profile: bool, wait_s: float) -> None:
    say(f"  pop-up: {plan.calls} paced calls + {plan.bursts} bursts of 3 in a fresh app ...")
    wait_until_quiet(wait_s, xvfb)
    callers = caller_numbers(data, plan.calls, seed=20_26)
    runs: list[dict[str, Any]] = []
    done = 0
    while done < plan.calls and len(runs) < 10:
        part = f"main{len(runs)}"
        run = popup_run(work, env, base, data, plan, callers[done:], plan.bursts, part, xvfb,
                        profile=work / "popup.prof" if profile and not runs else None)
        runs.append(run)
        done += sum(1 for r in run["rows"] if r["kind"] == "paced")
        if run["crash"] is None:
            break
        c = run["crash"]
        say(f"  pop-up: the app ABORTED after {c['calls_rang']} calls ({c['fatal'] or c['returncode']}); "
            "going on in a fresh app ...")
        if run["rang"] == 0:
            break
    rows = [r for run in runs for r in run["rows"]]
    paced = [r for r in rows if r["kind"] == "paced"]
    firsts = [next(r for r in runs[0]["rows"] if r["kind"] == "paced")] if runs and runs[0]["rows"] else []
    other = []
    for n in range(1, plan.fresh_apps):
        say(f"  pop-up: first call of fresh app {n + 1}/{plan.fresh_apps} ...")
        wait_until_quiet(wait_s / 4, xvfb)
        run = popup_run(work, env, base, data, plan, caller_numbers(data, 3, seed=n), 0, f"fresh{n}", xvfb)
        firsts += [r for r in run["rows"] if r["kind"] == "paced"][:1]
        other.append(run["other_cores"])
    last = runs[-1] if runs else {}
    results["popup"] = {
        "paced": summarize_popups(paced), "first": summarize_popups(firsts),
        "first_values": [r["ack_to_painted_ms"] for r in firsts if r.get("ack_to_painted_ms") is not None],
        "burst_first": summarize_popups([r for r in rows if r["kind"] == "burst0"]),
        "burst_next": summarize_popups([r for r in rows if r["kind"] in ("burst1", "burst2")]),
        "other_cores": max((run["other_cores"] for run in runs), default=0.0), "other_cores_fresh": other,
        "rss_mib": last.get("rss_mib"), "rss_series": runs[0]["rss_series"] if runs else [],
        "leak": last.get("leak") or {},
        "crashes": [run["crash"] for run in runs if run["crash"] is not None], "app_processes": len(runs),
        "unknown_callers": sum(1 for r in paced if not r["known"]),
        "slowest": sorted(paced, key=lambda r: -(r.get("ack_to_painted_ms") or 0))[:5],
    }
    if profile:
        results["profiles"]["popup"] = top_functions(work / "popup.prof")


# -- 2. the client card ---------------------------------------------------------------------------

def measure_card(work: Path, env: dict[str, str], base: Path, data: dict[str, Any], plan: Plan, xvfb: Xvfb,
                 results: dict[str, Any], profile: bool, wait_s: float) -> None:
    cold, warm, built, window, loaded, runs_all = [], [], [], [], [], []
    read_ms, sql_ms, set_rows_ms, other = [], [], [], []
    rows = 0
    for p in range(plan.card_processes):
        say(f"  client card: app process {p + 1}/{plan.card_processes}, {1 + plan.card_warm_runs} opens ...")
        wait_until_quiet(wait_s if p == 0 else wait_s / 4, xvfb)
        data_dir = work / f"data-card{p}"
        shutil.copytree(base, data_dir)
        prof = work / "card.prof" if profile and p == 0 else None
        child = Child("card", env, data_dir, work, "--contact-id", str(data["contact_id"]),
                      "--runs", str(1 + plan.card_warm_runs), profile=prof)
        with LoadMeter(xvfb, child.cpu_s) as meter:
            result = child.finish()
        shutil.rmtree(data_dir, ignore_errors=True)
        other.append(meter.other_cores)
        for n, run in enumerate(result["runs"]):
            total = (run["rows_painted"] - run["t0"]) * 1000
            (cold if n == 0 else warm).append(total)
            built.append((run["built"] - run["t0"]) * 1000)
            if "window_paint" in run:
                window.append((run["window_paint"] - run["t0"]) * 1000)
            loaded.append((run["loaded"] - run["t0"]) * 1000)
            runs_all.append({"process": p, "open": n, "total_ms": total, "rows": run["rows"], "title": run["title"]})
        rows = result["rows"]
        read_ms += result["read_ms"]
        sql_ms += result["sql_ms"]
        set_rows_ms += result["set_rows_ms"]
        if prof is not None:
            results["profiles"]["card"] = top_functions(prof)
    results["card"] = {
        "cold": cold, "warm": warm, "cold_median": median(cold), "warm_median": median(warm),
        "warm_max": max(warm) if warm else None, "built_median": median(built), "window_median": median(window),
        "loaded_median": median(loaded), "read_median": median(read_ms), "sql_median": median(sql_ms),
        "set_rows_median": median(set_rows_ms), "rows": rows, "runs": runs_all, "other_cores": other,
        "rows_shown": sorted({r["rows"] for r in runs_all}),
    }


# -- 3. start and memory --------------------------------------------------------------------------

def start_once(env: dict[str, str], data_dir: Path, display: str, idle_s: float, log: Path,
               tray: TrayHost | None = None) -> dict[str, Any]:
    """``python -m app`` from Popen to the log line and to tray-ready; RSS after ``idle_s``.

    Tray-ready: without a ``tray`` the fallback main window mapped on the X server (``map_s``);
    with one, the app's icon docked in it (``dock_s``, when the tray host's line was read).
    ``mapped`` lists every top-level window the app mapped meanwhile.
    """
    import psutil

    ready_key = "dock_s" if tray else "map_s"
    watcher = MapWatcher(display)
    out: dict[str, Any] = {}
    with open(log, "ab") as sink:
        t0 = time.monotonic()
        proc = subprocess.Popen([PY, "-m", "app", "--data-dir", str(data_dir), "--port", "0"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err_fd = proc.stderr.fileno()
        text = b""
        try:
            deadline = t0 + 30
            while ("log_s" not in out or ready_key not in out) and time.monotonic() < deadline:
                ready, _, _ = select.select([err_fd, watcher.fd], [], [], 0.05 if tray else 0.5)
                if watcher.fd in ready or "map_s" not in out:
                    mapped = watcher.poll()
                    if mapped is not None and "map_s" not in out:
                        out["map_s"], out["window"] = mapped[0] - t0, mapped[1]
                if tray and "dock_s" not in out and (docked := tray.wait_docked(0, since=t0)):
                    out["dock_s"] = docked.at - t0
                if err_fd in ready:
                    chunk = os.read(err_fd, 65536)
                    if not chunk:
                        break
                    now = time.monotonic()
                    text += chunk
                    if "log_s" not in out and b"webhook listening on" in text:
                        out["log_s"] = now - t0
            sink.write(text)

            def drain() -> None:
                with contextlib.suppress(OSError, ValueError):
                    while chunk := os.read(err_fd, 65536):
                        sink.write(chunk)

            drainer = threading.Thread(target=drain, daemon=True)
            drainer.start()
            _sleep_until(t0 + idle_s)
            if proc.poll() is None:
                ps = psutil.Process(proc.pid)
                full = ps.memory_full_info()
                out.update(rss_mib=full.rss / 2**20, uss_mib=full.uss / 2**20, pss_mib=full.pss / 2**20,
                           threads=ps.num_threads())
            out["mapped"] = ([out["window"]] if "window" in out else []) + watcher.mapped_titles()
        finally:
            stop_process(proc)
            watcher.close()
        out["exit"] = proc.returncode
        with contextlib.suppress(Exception):
            drainer.join(5)
    return out


_PROBE = r"""
import json, os, sys, time
t = time.perf_counter()
if sys.argv[1] == "qt-first":
    import PySide6.QtWidgets  # what app/main.py avoids: PySide6 before the core
import app.main
from app.ui import dialer, i18n, instance, mainwindow, missed, popup, presence, tray, wizard
imports = time.perf_counter() - t
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
out = {"imports_s": imports, "rss_imports_mib": rss()}
if sys.argv[2] == "qapp":
    from PySide6.QtWidgets import QApplication
    t = time.perf_counter()
    qapp = QApplication(sys.argv[:1])
    qapp.processEvents()
    out.update(qapp_s=time.perf_counter() - t, rss_qapp_mib=rss())
print(json.dumps(out))
"""

_KEYRING_PROBE = r"""
import json, os, time
import app.core.secrets as secrets
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
import sys
before, modules, t = rss(), set(sys.modules), time.perf_counter()
keys = secrets.load_keys()
import keyring
loaded = sorted({m.split(".")[0] for m in set(sys.modules) - modules})
print(json.dumps({"ms": (time.perf_counter() - t) * 1000, "mib": rss() - before,
                  "backend": type(keyring.get_keyring()).__module__, "packages": loaded}))
"""


def probe(env: dict[str, str], *args: str, code: str = _PROBE) -> dict[str, Any]:
    done = subprocess.run([PY, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_runs(env: dict[str, str], data_dir: Path, plan: Plan, xvfb: Xvfb, log: Path, wait_s: float,
               tray: TrayHost | None = None) -> list[dict[str, Any]]:
    """``plan.start_runs`` counted runs of :func:`start_once`, each after the machine went quiet."""
    runs = []
    for n in range(plan.start_runs):
        say(f"  start: `python -m app` {'with' if tray else 'without'} a system tray, run {n + 1}/{plan.start_runs} "
            f"({plan.idle_wait_s:.0f} s each) ...")
        wait_until_quiet(wait_s / 2, xvfb)
        with LoadMeter(xvfb) as meter:
            run = start_once(env, data_dir, xvfb.display, plan.idle_wait_s, log, tray)
        run["other_cores"] = meter.other_cores
        runs.append(run)
    return runs


def _med(key: str, items: list[dict[str, Any]]) -> float | None:
    return median([r[key] for r in items if r.get(key) is not None])


def start_stats(runs: list[dict[str, Any]], ready_key: str) -> dict[str, Any]:
    """Medians of the runs; ``ready_key`` (``map_s`` or ``dock_s``) gives ``map_median_s``/``dock_median_s``."""
    name = ready_key.removesuffix("_s")
    return {
        "runs": runs, "log_median_s": _med("log_s", runs), f"{name}_median_s": _med(ready_key, runs),
        f"{name}_max_s": max((r[ready_key] for r in runs if ready_key in r), default=None),
        "rss_median_mib": _med("rss_mib", runs), "uss_median_mib": _med("uss_mib", runs),
        "pss_median_mib": _med("pss_mib", runs), "exits": sorted({r["exit"] for r in runs}),
    }


def measure_start(work: Path, env: dict[str, str], base: Path, plan: Plan, xvfb: Xvfb, results: dict[str, Any],
                  wait_s: float) -> None:
    """Without a system tray (bare Xvfb: the fallback main window) and with one (the normal desktop:
    an XEmbed tray host on the same Xvfb, the icon docked, no window)."""
    data_dir = work / "data-start"
    shutil.copytree(base, data_dir)
    log = work / "start.log"
    say("  start: one run to create the log dir and warm the page cache (not counted) ...")
    start_once(env, data_dir, xvfb.display, 2.0, log)
    runs = start_runs(env, data_dir, plan, xvfb, log, wait_s)
    say("  start: idle RSS with an empty data dir ...")
    empty = start_once(env, work / "data-empty", xvfb.display, plan.idle_wait_s, log)
    with TrayHost(xvfb.display) as tray:
        say("  start: a system tray runs now (tests/ui/x11/trayhost.py); one run not counted ...")
        start_once(env, data_dir, xvfb.display, 2.0, log, tray)
        tray_runs = start_runs(env, data_dir, plan, xvfb, log, wait_s, tray)
    say("  start: where the time and memory go (interpreter, imports, QApplication) ...")
    bare_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    interp = []
    for _ in range(plan.breakdown_runs):
        t = time.monotonic()
        subprocess.run([PY, "-c", "pass"], env=bare_env, check=True)
        interp.append(time.monotonic() - t)
    core_first = [probe(env, "core-first", "qapp") for _ in range(plan.breakdown_runs)]
    qt_first = [probe(env, "qt-first", "no") for _ in range(plan.breakdown_runs)]
    keyring_env = {k: v for k, v in env.items() if not k.startswith("PBX_COMPANION_") and k != "PYTHON_KEYRING_BACKEND"}
    try:
        keyring = probe(keyring_env, code=_KEYRING_PROBE)
    except RuntimeError as exc:
        keyring = {"error": str(exc)[-300:]}
    shutil.rmtree(data_dir, ignore_errors=True)

    results["start"] = {
        **start_stats(runs, "map_s"), "empty": empty, "windows": sorted({r.get("window", "?") for r in runs}),
        "tray": {**start_stats(tray_runs, "dock_s"),
                 "windows": sorted({title for r in tray_runs for title in r.get("mapped", [])})},
        "interpreter_s": median(interp),
        "imports_s": _med("imports_s", core_first), "qapp_s": _med("qapp_s", core_first),
        "rss_imports_mib": _med("rss_imports_mib", core_first), "rss_qapp_mib": _med("rss_qapp_mib", core_first),
        "qt_first_imports_s": _med("imports_s", qt_first),
        "qt_first_rss_imports_mib": _med("rss_imports_mib", qt_first),
        "keyring": keyring,
    }


# -- 4. stability of the real app ------------------------------------------------------------------

def measure_soak(work: Path, env: dict[str, str], base: Path, plan: Plan, xvfb: Xvfb, results: dict[str, Any]) -> None:
    """The real ``python -m app`` taking ``plan.soak_calls`` calls in a row (ringing, answer for every
    other one, hangup; ~0.1 s per call): does it stay up, and what is its RSS afterwards?"""
    import psutil

    say(f"  soak: {plan.soak_calls} calls in a row to `python -m app` ...")
    data_dir = work / "data-soak"
    shutil.copytree(base, data_dir)
    err_path = work / "soak.err"
    out: dict[str, Any] = {"planned": plan.soak_calls, "calls": 0}
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([PY, "-m", "app", "--data-dir", str(data_dir), "--port", "0"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    started = time.monotonic()
    try:
        url = ""
        while not url and time.monotonic() - started < 30 and proc.poll() is None:
            time.sleep(0.05)
            for line in err_path.read_text(errors="replace").splitlines():
                if "webhook listening on " in line:
                    url = line.split("webhook listening on ", 1)[1].strip()
        if not url:
            raise RuntimeError(f"the app did not start:\n{err_path.read_text(errors='replace')[-2000:]}")
        out["rss_start_mib"] = psutil.Process(proc.pid).memory_info().rss / 2**20
        callers = [("+7" + f"9{n:09d}"[-10:], False) for n in range(plan.soak_calls)]
        hook = Webhook(url)
        t0 = time.monotonic()
        try:
            for i, (number, _known) in enumerate(callers):
                body = call_body(f"soak-{i}", number)
                hook.post("call_ringing", body)
                time.sleep(0.05)
                if i % 2:
                    hook.post("call_answer", body)
                hook.post("call_hangup", body)
                time.sleep(0.05)
                out["calls"] = i + 1
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            out["client_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            hook.close()
        out["seconds"] = time.monotonic() - t0
        time.sleep(1.0)
        if proc.poll() is None:
            out["rss_end_mib"] = psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        alive = proc.poll() is None
        stop_process(proc)
        errors = err_path.read_text(errors="replace")
        out.update(alive=alive, returncode=proc.returncode,
                   fatal=next((line for line in errors.splitlines() if line.startswith("Fatal Python error")), ""))
        shutil.rmtree(data_dir, ignore_errors=True)
    results["soak"] = out


# -- profiles and the report ----------------------------------------------------------------------

def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM (the app's clean shutdown), SIGKILL after 20 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def report(results: dict[str, Any], quick: bool) -> str:
    m, plan = results["machine"], results["plan"]
    lines = [
        f"Run of {m['date']}{' (quick run: fewer calls and runs)' if quick else ''}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.1f} GiB RAM, {m['os']}; Python {m['python']}, "
        f"PySide6 {m['pyside6']} (Qt {m['qt']}), qasync {m['qasync']}, aiohttp {m['aiohttp']}, SQLite {m['sqlite']}. "
        f"Display: Xvfb {SCREEN}, Qt's xcb platform, no window manager; no system tray unless a section says so.",
        "",
        "Reproduce: `.venv/bin/python -m tests.bench.ui_bench` (rewrites this section; ~6 min) or "
        "`.venv/bin/python -m tests.bench.ui_bench --quick` (prints only; add `--doc` to write). "
        "`--only popup,card,start,soak` runs parts, `--profile` adds cProfile output of the app.",
        "",
    ]
    checks: list[tuple[str, str, str, bool | None]] = []
    popup, card, start = results.get("popup"), results.get("card"), results.get("start")
    goal = TARGETS
    if popup:
        first = popup["first"]["ack_to_painted_ms"]
        paced = popup["paced"]["ack_to_painted_ms"]
        checks.append((f"pop-up painted after the `call_ringing` ack, first call of a fresh app "
                       f"(median of {popup['first']['n']} apps; worst)", f"≤ {goal['popup_ms']:.0f} ms",
                       f"{fmt(median(popup['first_values']))} ms (worst {fmt(first['max'])})",
                       None if first["max"] is None else first["max"] <= goal["popup_ms"]))
        checks.append((f"pop-up painted after the ack, {popup['paced']['n']} calls: p50 / p99 / max",
                       f"≤ {goal['popup_ms']:.0f} ms",
                       f"{fmt(paced['p50'])} / {fmt(paced['p99'])} / {fmt(paced['max'])} ms",
                       None if paced["p99"] is None else paced["p99"] <= goal["popup_ms"]))
    if popup:
        crashes = popup.get("crashes") or []
        measured = popup["paced"]["n"] + popup["burst_first"]["n"] + popup["burst_next"]["n"]
        checks.append(("the app survives the pop-up run (no abort)", "no crash",
                       f"{len(crashes)} abort(s) in {popup['app_processes']} app process(es)"
                       + (f", after {', '.join(str(c['calls_rang']) for c in crashes)} calls: "
                          f"`{crashes[0]['fatal'][:90]}`" if crashes else f" over {measured} calls"),
                       not crashes))
    if card:
        checks.append((f"client card with {plan['card_calls']:,} calls: open → timeline painted (median of "
                       f"{len(card['warm'])} opens; first open in a process)", f"≤ {goal['card_ms']:.0f} ms",
                       f"{fmt(card['warm_median'])} ms (first: {fmt(card['cold_median'])} ms)",
                       None if card["warm_median"] is None else
                       max(card["warm_median"], card["cold_median"] or 0) <= goal["card_ms"]))
    if start:
        # The goals are the tray app's on a desktop with a system tray; the fallback without one is
        # reported next to them (results saved before the tray runs existed have only the fallback).
        tray = start.get("tray")
        start_goal = f"≤ {goal['start_s']:.0f} s"
        if tray:
            checks.append(("tray app idle RSS, 10 s after start (median; icon in the system tray, no window)",
                           f"≤ {goal['rss_mib']:.0f} MB", f"{fmt(tray['rss_median_mib'])} MiB",
                           within(tray["rss_median_mib"], goal["rss_mib"])))
        checks.append(("idle RSS without a system tray (fallback main window shown; median)",
                       "— (the goal is the tray app's)", f"{fmt(start['rss_median_mib'])} MiB", None))
        if tray:
            checks.append((f"cold start to tray-ready: process start → icon docked in the system tray (median of "
                           f"{len(tray['runs'])})", start_goal, f"{fmt(tray['dock_median_s'], 2)} s",
                           within(tray["dock_median_s"], goal["start_s"])))
        checks.append((f"cold start without a system tray: process start → fallback main window mapped (median of "
                       f"{len(start['runs'])})", start_goal, f"{fmt(start['map_median_s'], 2)} s",
                       within(start["map_median_s"], goal["start_s"])))
    soak = results.get("soak")
    if soak:
        checks.append((f"the real `python -m app` takes {soak['planned']} calls in a row (~0.1 s each)", "no crash",
                       f"{soak['calls']} calls, "
                       + ("still running" if soak["alive"]
                          else f"**aborted** (exit {soak['returncode']}): `{soak['fatal'][:90]}`"),
                       soak["alive"] and soak["calls"] == soak["planned"]))
    lines += ["### Summary", "", "| measurement | goal | result | verdict |", "|---|---|---:|---|"]
    lines += [f"| {a} | {b} | {r} | {verdict(v)} |" for a, b, r, v in checks]
    lines += ["", "MB in the goal is read as MiB (2^20 bytes), as in the rest of this file."]

    if popup:
        p = popup
        lines += [
            "", "### Incoming-call pop-up", "",
            "The app: the real `CompanionApp` (`app/main.py`) in its own process on a qasync loop, started as "
            "`run_tray` starts it (settings file, keys from the environment, logging to stderr and the log file, "
            f"translators), a data dir with {results['data']['contacts']:,} contacts, `popup_linger_s` = "
            f"{plan['linger_s']} so that one or two pop-ups are on screen at a time. The PBX: another process "
            f"posting over one keep-alive HTTP/1.1 connection; one call every {plan['pace_s']} s: `call_ringing`, "
            "then `call_answer` for every other call, then `call_hangup` (~10 % of the callers are not in "
            f"the directory: {p['unknown_callers']} here).",
            "",
            "**Visible** = the pop-up's first paint has finished: from the moment the PBX side has read the "
            "complete 200 reply to `call_ringing` to the first turn of the Qt event loop after the pop-up "
            "window's first `Paint` event (Qt paints a window when the X server exposes it; the painted frame "
            "goes to the X server in the same step). Both processes read `time.monotonic()` (CLOCK_MONOTONIC, "
            "one clock for the machine). The app shows the pop-up while it handles the request, before "
            "the reply is written, so the ack→visible time is what the X round trip and the first paint add.",
            "",
            "| calls | n | p50 | p90 | p99 | max | request sent → visible, p50 / p99 | other load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]

        def row(label: str, s: dict[str, Any], load: str) -> str:
            a, e = s["ack_to_painted_ms"], s["send_to_painted_ms"]
            return (f"| {label} | {s['n']} | {fmt(a['p50'])} | {fmt(a['p90'])} | {fmt(a['p99'])} | {fmt(a['max'])} | "
                    f"{fmt(e['p50'])} / {fmt(e['p99'])} | {load} |")

        fresh_load = (f"{max(p['other_cores_fresh']):.2f} cores" if p["other_cores_fresh"] else
                      f"{p['other_cores']:.2f} cores")
        lines += [
            row("first call of a fresh app (one per process)", p["first"], f"≤ {fresh_load}"),
            row(f"paced, one every {plan['pace_s']} s (the first included)", p["paced"],
                f"{p['other_cores']:.2f} cores"),
            row("bursts: first of 3 calls rung back to back", p["burst_first"], "same run"),
            row("bursts: 2nd and 3rd (no spare pop-up ready yet)", p["burst_next"], "same run"),
        ]
        s = p["paced"]
        lines += [
            "",
            f"Inside the paced run (ms; p50 / p99): webhook request → 200 read by the PBX side "
            f"{fmt(s['send_to_ack_ms']['p50'])} / {fmt(s['send_to_ack_ms']['p99'])}; the app's `call_changed` → "
            f"`show()` returned {fmt(s['show_ms']['p50'], 2)} / {fmt(s['show_ms']['p99'], 2)}; ack → window exposed "
            f"{fmt(s['ack_to_expose_ms']['p50'])} / {fmt(s['ack_to_expose_ms']['p99'])}; ack → first paint began "
            f"{fmt(s['ack_to_paint_ms']['p50'])} / {fmt(s['ack_to_paint_ms']['p99'])}; ack → caller's name and "
            f"history painted {fmt(s['ack_to_info_painted_ms']['p50'])} / {fmt(s['ack_to_info_painted_ms']['p99'])}. "
            f"Negative values mean the pop-up was on screen before the PBX side had read the reply. "
            f"Pop-ups missing: {s['missing']}; replies other than 200: {s['not_200']}; windows already exposed "
            f"when `popup_shown` fired: {s['exposed_at_signal']} (0 means the timestamps start before any expose).",
        ]
        series, leak = p.get("rss_series") or [], p.get("leak") or {}
        if series:
            steps = series[::max(1, len(series) // 8)]
            lines += ["", f"Memory of the first app process (it also runs the harness): RSS {fmt(series[0][1])} MiB "
                      f"when the calls began, {fmt(series[-1][1])} MiB after {series[-1][0]} pop-ups (pop-ups: MiB "
                      f"{', '.join(f'{x[0]}: {x[1]:.0f}' for x in steps)})."]
            if leak.get("popup_wrappers") is not None:
                lines[-1] += (f" After the last run and a full collection {leak.get('popup_wrappers')} `CallPopup` "
                              f"object(s) and {leak.get('top_level_widgets')} top-level widgets were left (the spare "
                              "pop-up, the main window and its parts).")
            if len(series) > 1 and series[-1][0] > series[0][0]:
                calls = series[-1][0] - series[0][0]
                drift = [(series[-1][k] - series[0][k]) / calls for k in (2, 3, 4)]
                lines += ["", f"References held to `None` / `False` / `True` in that process: {series[0][2]} / "
                          f"{series[0][3]} / {series[0][4]} when the calls began, {series[-1][2]} / {series[-1][3]} / "
                          f"{series[-1][4]} after {calls} pop-ups: **{drift[0]:+.0f} / {drift[1]:+.0f} / "
                          f"{drift[2]:+.0f} per call**. A count that keeps falling means a C extension releases "
                          "references it does not own; at zero CPython aborts (`Fatal Python error: none_dealloc` / "
                          "`bool_dealloc`). See the notes."]
        for c in p.get("crashes") or []:
            lines += ["", f"**The app aborted** after {c['calls_rang']} calls (exit status {c['returncode']}): "
                      f"`{c['fatal']}`; the bench went on in a fresh app process ({c['measured']} calls of that "
                      "process had been recorded)."]
    if card:
        c = card
        lines += [
            "", "### Client card", "",
            f"One client with two numbers, {plan['card_calls']:,} journal calls over three years and a CDR for each "
            f"(5 % with a note), written through the store API; the timeline shows {c['rows']:,} rows. The app "
            "opens the card as the pop-up's \"Open card\" does (`CompanionApp.open_card`); the time runs from "
            "that call to the first turn of the event loop after the timeline's viewport was painted with rows. "
            f"{plan['card_processes']} app processes, each opening the card {1 + plan['card_warm_runs']} times "
            "(closing it in between).",
            "",
            "| step (median, ms from the open) | ms |", "|---|---:|",
            f"| card built and `show()` returned | {fmt(c['built_median'])} |",
            f"| window first painted (still empty) | {fmt(c['window_median'])} |",
            f"| data loaded into the model (`loaded` signal) | {fmt(c['loaded_median'])} |",
            f"| **timeline painted with rows**, later opens | **{fmt(c['warm_median'])}** (max {fmt(c['warm_max'])}) |",
            f"| **timeline painted with rows**, first open in a process | **{fmt(c['cold_median'])}** "
            f"({', '.join(fmt(v) for v in c['cold'])}) |",
            "",
            f"Separately, in the same processes: `store.read(load_timeline)` (two indexed queries, merge, notes, "
            f"thread hop) {fmt(c['read_median'])} ms, of which the two queries {fmt(c['sql_median'])} ms; "
            f"`TimelineModel.set_rows` {fmt(c['set_rows_median'])} ms. Other load: "
            f"{', '.join(f'{v:.2f}' for v in c['other_cores'])} cores.",
        ]
    if start:
        s = start
        kr = s["keyring"]
        tray = s.get("tray")
        with_tray = (
            "**With a system tray** (the normal desktop): a minimal XEmbed tray host (`tests/ui/x11/trayhost.py`, "
            "the freedesktop System Tray Protocol) runs on the same Xvfb, and **tray-ready** is when it has docked "
            "the app's icon (when its `docked` line is read); the app builds no main window then (top-level windows "
            f"mapped in those runs: {', '.join(tray['windows']) or 'none'}). " if tray else "")
        lines += [
            "", "### Start and memory", "",
            ("`python -m app --data-dir D --port 0` (the tray app as the agent starts it; keys from the environment, "
             "the settings file configured, a reachable fake PBX), on a data dir with the contacts and the "
             f"10,000-call client. {with_tray}**Without a system tray** (bare Xvfb; a GNOME session without the "
             "AppIndicator extension is the same) the app shows its fallback main window, and tray-ready is when "
             "that window is mapped on the X server (seen by our own X connection, `MapNotify`). The log line "
             "\"webhook listening on\" comes just before either. The page cache is warm (one uncounted run first in "
             "each setting): \"cold\" is a new process, not a cold disk."),
            "",
            "| run | system tray | → log line (s) | → tray-ready (s) | RSS at 10 s (MiB) | USS | PSS | threads "
            "| other load |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]

        def start_row(label: str, setting: str, ready_key: str, r: dict[str, Any], load: str) -> str:
            return (f"| {label} | {setting} | {fmt(r.get('log_s'), 3)} | {fmt(r.get(ready_key), 3)} | "
                    f"{fmt(r.get('rss_mib'))} | {fmt(r.get('uss_mib'))} | {fmt(r.get('pss_mib'))} | "
                    f"{r.get('threads', '—')} | {load} |")

        docked, fallback = "yes: icon docked", "none: main window mapped"
        lines += [start_row(str(n), docked, "dock_s", r, f"{r['other_cores']:.2f} cores")
                  for n, r in enumerate(tray["runs"] if tray else [], 1)]
        lines += [start_row(str(n), fallback, "map_s", r, f"{r['other_cores']:.2f} cores")
                  for n, r in enumerate(s["runs"], 1)]
        lines += [
            start_row("empty data dir", fallback, "map_s", s["empty"], "—"),
            "",
            f"Where it goes (medians): interpreter start {fmt(s['interpreter_s'] * 1000, 0)} ms; importing "
            f"`app.main` and the UI modules the tray builds {fmt(s['imports_s'] * 1000, 0)} ms → RSS "
            f"{fmt(s['rss_imports_mib'])} MiB; `QApplication` on xcb {fmt((s['qapp_s'] or 0) * 1000, 0)} ms → RSS "
            f"{fmt(s['rss_qapp_mib'])} MiB; the rest (engine and store, windows, spare pop-up, listener, first "
            "show) is the difference to the table above. "
            f"Importing PySide6 before the core instead (what `app/main.py` avoids, see below) took "
            f"{fmt((s['qt_first_imports_s'] or 0) * 1000, 0)} ms and {fmt(s['qt_first_rss_imports_mib'])} MiB.",
        ]
        if "error" in kr:
            lines.append(f"\nThe keyring probe failed: {kr['error']}")
        else:
            lines.append(
                f"\nKeys from the OS keyring instead of the environment (the usual case on a desktop): keyring's "
                f"backend discovery here took {fmt(kr['ms'], 0)} ms and {fmt(kr['mib'])} MiB (it imported "
                f"{', '.join(p for p in kr['packages'] if p not in ('keyring',))[:200] or 'nothing new'}; "
                f"backend chosen: `{kr['backend']}`, no D-Bus session here). The tray app does this in a short-lived "
                f"child process (`pbx-companion keys read-for-app`) while it loads its own modules, so none of it "
                f"stays in the tray process (tests/ui/test_single_instance.py checks that it never imports keyring).")
    if soak:
        lines += [
            "", "### Stability", "",
            f"The real `python -m app` (as in the previous section) took {soak['calls']} of {soak['planned']} calls "
            f"in a row (`call_ringing`, `call_answer` for every other one, `call_hangup`, ~0.1 s per call, each a "
            f"pop-up) in {fmt(soak.get('seconds'))} s; "
            + ("it was still running afterwards" if soak["alive"] else
               f"**it aborted** with exit status {soak['returncode']}: `{soak['fatal']}`")
            + f". RSS {fmt(soak.get('rss_start_mib'))} MiB when the calls began"
            + (f", {fmt(soak.get('rss_end_mib'))} MiB after them." if soak.get("rss_end_mib") else "."),
        ]
    lines += [
        "", "### Notes", "",
        "* PySide6 6.12.0 on CPython 3.11 drops a reference to `None` each time Qt calls a Python override "
        "that returns None (`timerEvent`, `customEvent`, ...) or runs a `QTimer.singleShot` callable, and one to "
        "`True`/`False` on every `Signal.emit()` (measured with `sys.getrefcount`; PySide6 6.11.2 on the same "
        "Python does not; CPython 3.12+ makes these objects immortal, so the same bug is harmless there). qasync "
        "runs every asyncio callback through `timerEvent`, so the counts fall with all the app does, and the "
        "interpreter aborts once one reaches zero (the stability row). Pinning `PySide6-Essentials`/`-Addons` "
        "below 6.12 (6.11.2 kept `python -m app` up through 400 calls in a row here) or moving to CPython ≥ 3.12 "
        "avoids it.",
        "* PySide6 installs an import hook (`shibokensupport.feature`, PYSIDE-2029) that calls "
        "`inspect.getsource()` on every module imported after PySide6, to look for the word \"PySide6\"; "
        "the source lines stay in `linecache` (2.7 million characters for the ~190 modules the tray app "
        "imported after Qt). `app/ui/pyside.py` switches that scan off at the first PySide6 import (the app "
        "never uses `__feature__`): −4.5 MiB of idle RSS. `app/main.py` also imports the Qt-free core (aiohttp, "
        "pydantic, httpx, phonenumbers, the store) before PySide6; the second import row above shows "
        "what the scan costs when it runs over the core.",
        "* Where the idle RSS of the tray app goes (tray case): about half is file-backed pages of shared "
        "libraries (Qt, ICU, libpython, OpenSSL; counted in RSS, shared with any other Qt program, USS "
        "excludes them), the rest is Python objects (~31 MiB of pymalloc arenas: modules, classes, pydantic's "
        "schemas) and the C heap (~20 MiB: Qt, fontconfig/FreeType, pydantic-core, SQLite). Measured in the "
        "app: imports of the core and PySide6 ~66 MiB over the bare interpreter (aiohttp ~13, asyncio+ssl ~9, "
        "pydantic and the wire models ~17, QtCore/Gui/Widgets ~24 with QtNetwork, which no longer loads: the "
        "single-instance socket is a Unix socket); the pre-painted spare pop-up "
        "~9 MiB (most of it the first widget's fonts and style, paid by whichever window comes first); the "
        "tray icon and its menu ~2.6 MiB (~6 MiB when the icons were rendered from SVG at run time: they are "
        "PNGs made by `make icons` now); the first PBX request ~3.4 MiB (httpx loads httpcore, anyio, h11 and "
        "certifi's CA store on first use); the client card's modules ~3.6 MiB once a card is opened (C-level: "
        "PySide6's types for the card's widgets; the Python objects are 0.6 MiB). Returning freed "
        "heap with `malloc_trim` at idle saved only ~2 MiB in the tray case and made the card's first open "
        "slower, so it is not done.",
        "* `CompanionApp.run()` calls `after_start()` 2 s after start: `freeze_startup_objects()` (`gc.collect()` "
        "+ `gc.freeze()`): the ~85,000 objects start-up leaves for the app's whole life are no longer walked by "
        "every full collection, which took 30-40 ms each time (on the card's storage thread it hit about every "
        "other open). The harness does the same after `start()`. It used to import the client card's modules "
        "too (~20 ms ahead of the first \"Open card\"); without PySide6's source scan the first open stays far "
        "under its goal without that, and the idle app keeps ~3.6 MiB less.",
        "* The client card's times vary between runs on this 2-vCPU VM far more than within one: over the "
        "full runs of 2026-11-26 the median open took 111-142 ms and the first open 127-172 ms, with and "
        "without the card's modules imported ahead (quick runs of 3 opens: 112-191 ms). The reader thread "
        "merging 10,000 rows and the GUI thread building the window share the GIL and two cores; the "
        "`loaded` step moves, `store.read` itself stays at ~73 ms. One run is not a verdict here; compare "
        "several.",
        "* The pop-up is built ahead: `PopupManager` keeps a spare, pre-painted pop-up and builds the next one "
        "300 ms after a pop-up is shown. Calls that ring back to back within those 300 ms get a pop-up built "
        "on demand (the burst rows).",
    ]
    return "\n".join(lines) + "\n"


def write_doc(section: str) -> None:
    write_section("bench-ui", section, "Tray app")


# -- main -----------------------------------------------------------------------------------------

PARTS = ("popup", "card", "start", "soak")


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("python -m tests.bench.ui_bench", __doc__.splitlines()[0], PARTS, wait_quiet=60.0)
    parser.add_argument("--profile", action="store_true", help="cProfile the app during the pop-up run and a card open")
    # the app side (internal)
    parser.add_argument("--child", choices=("popup", "card"), help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--linger", type=float, default=0.5, help=argparse.SUPPRESS)
    parser.add_argument("--contact-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", dest="profile_path", help=argparse.SUPPRESS)
    parser.add_argument("--no-gc-freeze", action="store_true", help=argparse.SUPPRESS)  # A/B: skip after_start()
    args = parser.parse_args(argv)
    if args.child:
        args.profile = args.profile_path
        return _child(args)

    if args.render:
        render_saved(args, report, write_doc)
        return 0
    plan = QUICK if args.quick else Plan()
    parts, write = chosen_parts(parser, args, PARTS)
    work = Path(tempfile.mkdtemp(prefix="pbx-ui-bench-"))
    home = work / "home"
    say(f"scratch directory: {work}")
    xvfb = Xvfb()
    from tests.fakes.fake_pbx import FakePbx

    fake = FakePbx(api_key=PBX_KEY)
    pbx_url = fake.start_in_thread()
    results: dict[str, Any] = {"machine": machine(xvfb), "plan": asdict(plan), "profiles": {}, "quick": args.quick}
    try:
        write_settings(home, pbx_url)
        env = child_env(home, xvfb.display)
        say(f"writing {plan.directory:,} contacts and a client with {plan.card_calls:,} calls "
            "through the store API ...")
        base = work / "base"
        data = prepare_data(base, plan)
        results["data"] = {k: v for k, v in data.items() if k in ("contact_id", "load_s", "contacts")}
        if "popup" in parts:
            measure_popups(work, env, base, data, plan, xvfb, results, args.profile, args.wait_quiet)
        if "card" in parts:
            measure_card(work, env, base, data, plan, xvfb, results, args.profile, args.wait_quiet)
        if "start" in parts:
            measure_start(work, env, base, plan, xvfb, results, args.wait_quiet)
        if "soak" in parts:
            measure_soak(work, env, base, plan, xvfb, results)
    finally:
        fake.stop_thread()
        xvfb.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    section = report(results, args.quick)
    print()
    print(section)
    for name, text in results["profiles"].items():
        print(f"--- cProfile: {name} ---\n{text}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    if write:
        write_doc(section)
        say(f"wrote the tray app section of {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
