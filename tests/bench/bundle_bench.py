"""Benchmarks of the PyInstaller bundle (issue 4): its size, its build time, and how fast it starts.

    .venv/bin/python -m tests.bench.bundle_bench                # size and start (~1 min); prints only
    .venv/bin/python -m tests.bench.bundle_bench --build        # also a cold and a warm packaging/bundle.sh
    .venv/bin/python -m tests.bench.bundle_bench --doc          # all of it (~3 min); rewrites the "Bundle"
                                                                # section of docs/performance.md

* **size**: disk usage (as ``du``) and apparent size of ``dist/pbx-companion``, its file count, and
  where the bytes go.
* **build** (``--build``, rebuilds ``dist/pbx-companion``): ``BUNDLE_CLEAN=1 packaging/bundle.sh``
  (a new build venv: pip installs everything, from its download cache where it can) then
  ``packaging/bundle.sh`` again (the venv reused, the app reinstalled, PyInstaller's analysis redone:
  what CI and ``make bundle`` do after a code change).
* **start**: the tray app as the agent starts it, offscreen, keys in the environment, a reachable
  fake PBX: from ``exec`` until the webhook answers the ``test`` action (polled every 5 ms);
  then a second launch with a ``tel:`` link, timed until it exits and until the fake PBX has the
  ``make_call``; then SIGTERM until exit. The bundle (``dist/pbx-companion/pbx-companion``) and the
  dev tree (``.venv/bin/pbx-companion``) take turns; one uncounted run of each first.

Not collected by pytest (no ``test_*`` name).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

import app
from app.webhook.app import WEBHOOK_PATHS
from tests.bench.docsection import DOC, write_section
from tests.bench.run import machine, wait_until_quiet
from tests.fakes.fake_pbx import FakePbx

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_DIR = ROOT / "dist" / app.APP_NAME
CANDIDATES = {"bundle": BUNDLE_DIR / app.APP_NAME, "dev tree": ROOT / ".venv" / "bin" / app.APP_NAME}
CRM_KEY, PBX_KEY = "bench-bundle-crm-key", "bench-bundle-pbx-key"
LINK = "tel:+7%20495%20134-30-60"
RUNS = 5

# Where the bytes go: the first matching group names a file (paths relative to _internal/).
SIZE_GROUPS: list[tuple[str, Callable[[str], bool]]] = [
    ("ICU (Unicode data QtCore links)", lambda p: re.search(r"/libicu", p) is not None),
    ("FFmpeg (QtMultimedia's backend: recordings, ring sound)",
     lambda p: re.search(r"/lib(av|sw)\w+\.so|FFmpegStub|plugins/multimedia/", p) is not None),
    ("QtQml + QtQuick (the FFmpeg plugin links them)", lambda p: re.search(r"/libQt6(Qml|Quick)", p) is not None),
    ("other Qt libraries", lambda p: p.startswith("PySide6/Qt/lib/")),
    ("Qt plugins (platforms, image formats, TLS, ...)", lambda p: p.startswith("PySide6/Qt/plugins/")),
    ("PySide6 bindings", lambda p: p.startswith(("PySide6/", "shiboken6/"))),
    ("Python (libpython, extension modules, the app's and libraries' bytecode)",
     lambda p: p == app.APP_NAME or p.startswith(("libpython", "python3", "base_library.zip"))),
    ("cryptography (the Secret Service keyring)", lambda p: p.startswith("cryptography")),
    ("system libraries copied from the build machine", lambda p: "/" not in p and ".so" in p),
    ("other Python packages (aiohttp, pydantic, ...) and data", lambda p: True),
]


def say(text: str) -> None:
    print(text, flush=True)


# -- size ---------------------------------------------------------------------------------------

def measure_size(bundle: Path) -> dict[str, Any]:
    internal = bundle / "_internal"
    used = apparent = files = 0
    groups = dict.fromkeys((label for label, _ in SIZE_GROUPS), 0)
    for path in bundle.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        st = path.stat()
        used += st.st_blocks * 512
        apparent += st.st_size
        files += 1
        relative = path.relative_to(internal).as_posix() if internal in path.parents else path.name
        label = next(label for label, matches in SIZE_GROUPS if matches(relative))
        groups[label] += st.st_size
    return {"disk_bytes": used, "apparent_bytes": apparent, "files": files, "groups": groups}


# -- build --------------------------------------------------------------------------------------

def timed_build(clean: bool) -> dict[str, Any]:
    env = dict(os.environ, BUNDLE_CLEAN="1" if clean else "0")
    started = time.monotonic()
    done = subprocess.run(["bash", str(ROOT / "packaging" / "bundle.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"packaging/bundle.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return {"seconds": took, "summary": done.stdout.strip().splitlines()[-1]}


# -- start --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_test(port: int) -> bool:
    """True once the webhook on ``port`` answers the ``test`` action correctly."""
    body = json.dumps({"action": "test", "obj": "UserCRM", "action_id": "bench", "params": {}})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("POST", WEBHOOK_PATHS[0], body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status == 200 and json.loads(response.read())["body"] == {"success": True}
    except OSError:
        return False
    finally:
        connection.close()


def _busy_s() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def start_once(executable: Path, work: Path, pbx: FakePbx) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBX_COMPANION_", "QT_", "XDG_", "PYTHON"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_STATE_HOME=str(home / "state"), XDG_CACHE_HOME=str(home / "cache"), QT_QPA_PLATFORM="offscreen",
               PBX_COMPANION_CRM_API_KEY=CRM_KEY, PBX_COMPANION_PBX_API_KEY=PBX_KEY,
               PBX_COMPANION_PBX_URL=pbx.url, PBX_COMPANION_CRM_USER="3",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    port, data = free_port(), home / "pbx-data"
    calls_before = len(pbx.calls)
    busy, own = _busy_s(), time.process_time()
    started = time.monotonic()
    proc = subprocess.Popen([str(executable), "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not answers_test(port):
            if proc.poll() is not None or time.monotonic() - started > 60:
                raise RuntimeError(f"{executable} did not answer on port {port} (exit status {proc.poll()})")
            time.sleep(0.005)
        ready = time.monotonic() - started
        app_cpu = sum(psutil.Process(proc.pid).cpu_times()[:2])
        others = max(0.0, (_busy_s() - busy - app_cpu - (time.process_time() - own)) / ready)

        clicked = time.monotonic()
        second = subprocess.Popen([str(executable), "--data-dir", str(data), LINK], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        forwarded = dialled = None
        while forwarded is None or dialled is None:
            now = time.monotonic() - clicked
            if forwarded is None and second.poll() is not None:
                forwarded = now
                if second.returncode != 0:
                    raise RuntimeError(f"the second launch exited with {second.returncode}")
            if dialled is None and len(pbx.calls) > calls_before:
                dialled = now
            if now > 30:
                second.kill()
                raise RuntimeError("the link was not forwarded and dialled within 30 s")
            time.sleep(0.002)
        second.wait()

        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        stopped = time.monotonic() - stopping
        if code != 0:
            raise RuntimeError(f"exit status {code} after SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"ready_s": ready, "forward_s": forwarded, "dial_s": dialled, "stop_s": stopped, "others_cores": others}


def measure_start(work: Path, runs: int) -> dict[str, list[dict[str, float]]]:
    pbx = FakePbx(api_key=PBX_KEY)
    pbx.start_in_thread()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CANDIDATES}
    try:
        for executable in CANDIDATES.values():
            start_once(executable, work, pbx)  # uncounted: the page cache, the dev tree's .pyc files
        for run in range(runs):
            for name, executable in CANDIDATES.items():
                wait_until_quiet(60)
                results[name].append(start_once(executable, work, pbx))
                r = results[name][-1]
                say(f"  {name} run {run + 1}: ready {r['ready_s']:.3f} s, link forwarded {r['forward_s']:.3f} s,"
                    f" make_call after {r['dial_s']:.3f} s, stop {r['stop_s']:.3f} s")
    finally:
        pbx.stop_thread()
    return results


# -- report -------------------------------------------------------------------------------------

def mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def report(results: dict[str, Any]) -> str:
    m, size = results["machine"], results["size"]
    lines = [
        (f"Run of {m['date']}. Machine: {m['cpu']}, {m['cores']} vCPUs, {m['ram_gib']:.1f} GiB RAM, {m['os']};"
         f" Python {m['python']}; PySide6 {results['pyside6']}, PyInstaller {results['pyinstaller']}."),
        "",
        "### Size",
        "",
        (f"`dist/{app.APP_NAME}/`: **{mib(size['disk_bytes'])} on disk** (`du -sh`; {mib(size['apparent_bytes'])}"
         f" of file contents) in **{size['files']} files**."),
        "",
        "| part | size |",
        "|---|---:|",
        *(f"| {label} | {mib(value)} |" for label, value in size["groups"].items() if value),
        "",
    ]
    build = results.get("build")
    lines += ["### Build time", ""]
    if build:
        lines += [
            "| build | wall time |",
            "|---|---:|",
            (f"| cold: `BUNDLE_CLEAN=1 packaging/bundle.sh` (new build venv; pip's download cache warm) |"
             f" {build['cold']['seconds']:.0f} s |"),
            (f"| warm: `packaging/bundle.sh` again (venv reused; app reinstalled; analysis redone) |"
             f" {build['warm']['seconds']:.0f} s |"),
            "",
        ]
    else:
        lines += ["Not measured in this run (`--build`).", ""]

    starts = results["start"]

    def cell(name: str, key: str) -> str:
        values = [r[key] for r in starts[name]]
        return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"

    lines += [
        "### Start (offscreen)",
        "",
        f"Median (min–max) of {len(starts['bundle'])} runs each, seconds, after one uncounted run of each.",
        "",
        ("| | exec → webhook answers `test` | second launch with a `tel:` link → it exits |"
         " → `make_call` at the PBX | SIGTERM → exit | other load (cores) |"),
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {name} | {cell(name, 'ready_s')} | {cell(name, 'forward_s')} | {cell(name, 'dial_s')} |"
          f" {cell(name, 'stop_s')} | {max(r['others_cores'] for r in starts[name]):.2f} |" for name in starts),
        "",
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    write_section("bench-bundle", section, "Bundle",
                  "The PyInstaller bundle `dist/pbx-companion/` (`make bundle`), measured by"
                  " `.venv/bin/python -m tests.bench.bundle_bench --doc` (~3 min: rebuilds the bundle twice, then"
                  " rewrites the part between the markers below).")


def versions_in_bundle_venv(*packages: str) -> list[str]:
    """Versions of ``packages`` in the build venv, i.e. in the bundle."""
    python = ROOT / "build" / "bundle-venv" / "bin" / "python"
    code = "import sys, importlib.metadata as m; print(*(m.version(p) for p in sys.argv[1:]))"
    done = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True, check=False)
    return done.stdout.split() if done.returncode == 0 else ["?"] * len(packages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bundle_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="also time a cold and a warm packaging/bundle.sh")
    parser.add_argument("--doc", action="store_true", help="everything (implies --build); rewrite docs/performance.md")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"counted starts of each (default {RUNS})")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": machine()}
    if args.build or args.doc:
        say("cold build (BUNDLE_CLEAN=1 packaging/bundle.sh) ...")
        cold = timed_build(clean=True)
        say(f"  {cold['seconds']:.0f} s: {cold['summary']}")
        say("warm build (packaging/bundle.sh) ...")
        warm = timed_build(clean=False)
        say(f"  {warm['seconds']:.0f} s: {warm['summary']}")
        results["build"] = {"cold": cold, "warm": warm}
    for executable in CANDIDATES.values():
        if not os.access(executable, os.X_OK):
            parser.error(f"{executable} is missing: run `make bundle` (and `make test` bootstraps .venv)")
    results["pyside6"], results["pyinstaller"] = versions_in_bundle_venv("PySide6-Essentials", "pyinstaller")
    results["size"] = measure_size(BUNDLE_DIR)
    work = Path(tempfile.mkdtemp(prefix="pbx-bundle-bench-"))
    try:
        say("starts (bundle and dev tree in turn) ...")
        results["start"] = measure_start(work, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    section = report(results)
    say("")
    say(section)
    if args.doc:
        write_doc(section)
        say(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
