"""Single instance, end to end: real processes, a real lock, a real local socket, a fake PBX."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fakes.fake_pbx import FakePbx
from tests.support import canary

pytestmark = pytest.mark.slow

LISTENING = re.compile(r"webhook listening on (\S+)")


@pytest.fixture
def fake_pbx():
    fake = FakePbx(api_key=canary.PBX_KEY)
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


def _env(fake: FakePbx) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", PBX_COMPANION_PBX_URL=fake.url, PBX_COMPANION_CRM_USER="3")
    return env


def _start(data_dir: Path, env: dict[str, str], *python_options: str) -> tuple[subprocess.Popen[str], str]:
    """Start the tray app; returns once its log says where the webhook listens."""
    proc = subprocess.Popen([sys.executable, *python_options, "-m", "app", "--data-dir", str(data_dir), "--port", "0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen: list[str] = []
    url: list[str] = []
    started = threading.Event()

    def drain() -> None:  # keep reading so the app never blocks on a full pipe
        for line in proc.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if not url and (match := LISTENING.search(line)):
                url.append(match.group(1))
                started.set()
        started.set()

    threading.Thread(target=drain, daemon=True).start()
    if not started.wait(20) or not url:
        _close(proc)
        raise AssertionError("the tray app did not start:\n" + "".join(seen))
    proc.stderr_lines = seen  # type: ignore[attr-defined]  - what it logs, as it comes
    return proc, url[0]


def _close(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=5)
    finally:
        _close(proc)


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_a_second_launch_hands_its_link_to_the_running_instance(tmp_path, fake_pbx):
    env = _env(fake_pbx)
    first, _ = _start(tmp_path / "data", env)
    try:
        started = time.monotonic()
        second = subprocess.run([sys.executable, "-X", "importtime", "-m", "app", "--data-dir", str(tmp_path / "data"),
                                 "tel:+7%20495%20134-30-60"], env=env, capture_output=True, text=True, timeout=20)
        assert second.returncode == 0, second.stderr
        assert time.monotonic() - started < 10
        # The link went over before the app itself was loaded: the fast path of a clicked link.
        imported = {line.rsplit("|", 1)[-1].strip() for line in second.stderr.splitlines() if "|" in line}
        assert "app.ui.instance" in imported
        assert not imported & {"app.main", "aiohttp", "pydantic", "PySide6.QtWidgets", "PySide6.QtNetwork"}, \
            sorted(imported)
        _wait(lambda: fake_pbx.calls)
        time.sleep(0.3)
        assert fake_pbx.calls == [{"crm_user_id": "3", "dst": "84951343060"}]
    finally:
        assert _stop(first) == 0


def test_a_stale_lock_left_by_a_crash_is_taken_over(tmp_path, fake_pbx):
    env = _env(fake_pbx)
    crashed, _ = _start(tmp_path / "data", env)
    _close(crashed)  # SIGKILL: the lock file stays behind
    assert (tmp_path / "data" / "instance.lock").exists()
    again, url = _start(tmp_path / "data", env)
    try:
        assert url.startswith("http://127.0.0.1:")
        forwarded = subprocess.run([sys.executable, "-m", "app", "--data-dir", str(tmp_path / "data"),
                                    "callto:+79066800404"], env=env, capture_output=True, text=True, timeout=20)
        assert forwarded.returncode == 0, forwarded.stderr
        _wait(lambda: fake_pbx.calls)
        assert fake_pbx.calls[-1]["dst"] == "89066800404"
    finally:
        assert _stop(again) == 0


def test_keys_from_the_keyring_are_read_outside_the_tray_process(tmp_path, fake_pbx):
    """On a desktop the keys are in the OS keyring: the app must have them (the PBX's requests are
    accepted, the PBX takes ours), yet the keyring machinery must not stay loaded in the tray process."""
    from tests.support.file_keyring import FILE_VARIABLE

    crm_key, pbx_key = "keyring-crm-key-5d1e", "keyring-pbx-key-0b7a"
    fake_pbx.api_key = pbx_key
    store = tmp_path / "keyring.json"
    store.write_text(json.dumps({"pbx-companion/crm_api_key": crm_key, "pbx-companion/pbx_api_key": pbx_key}))
    env = {k: v for k, v in _env(fake_pbx).items()
           if not k.startswith("PBX_COMPANION_") or k.endswith(("PBX_URL", "CRM_USER"))}
    env.update(PYTHON_KEYRING_BACKEND="tests.support.file_keyring.FileKeyring", **{FILE_VARIABLE: str(store)},
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    app, url = _start(tmp_path / "data", env, "-X", "importtime")
    try:
        body = json.dumps({"action": "get_users", "obj": "UserCRM", "action_id": "1", "params": {}}).encode()
        request = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {crm_key}",
                                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and json.loads(response.read())["code"] == 200
        dialed = subprocess.run([sys.executable, "-m", "app", "--data-dir", str(tmp_path / "data"), "tel:+74951343060"],
                                env=env, capture_output=True, text=True, timeout=20)
        assert dialed.returncode == 0, dialed.stderr
        _wait(lambda: fake_pbx.calls)  # the fake PBX accepts only pbx_key
    finally:
        assert _stop(app) == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in app.stderr_lines if "|" in line}  # type: ignore[attr-defined]
    assert "app.main" in imported and "keyring" not in imported, "the tray process loaded keyring itself"
    # the link came over the single-instance socket, a Unix socket here: QtNetwork (and the Kerberos
    # libraries it links) stays out of the process that idles all day
    assert "app.ui.instance" in imported and "PySide6.QtNetwork" not in imported
