"""Opening Settings (and Diagnostics) leaves the keyring machinery out of the tray process (issue 11).

Finding a desktop keyring's backend loads D-Bus, SecretStorage and ``cryptography`` (~18 MiB that
would stay for the whole day), so the start-up reads the keys in a short-lived child process. The
settings window must tell which keys are stored the same way. The test suite itself imports
``keyring`` (its fixtures use an in-memory backend), so the tray app runs in a process of its own
here, with a keyring backend that crosses processes (tests/support/file_keyring.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.file_keyring import FILE_VARIABLE

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import asyncio, json, os, sys
from pathlib import Path
import PySide6.QtWidgets
import qasync
from PySide6.QtWidgets import QApplication

async def main():
    from app.core.secrets import start_key_read
    from app.core.settings import Settings
    from app.main import CompanionApp

    settings = Settings(data_dir=sys.argv[1], port=0, language="en", crm_user="3").validate()
    app = CompanionApp(QApplication.instance(), settings, start_key_read().result(), settings_path=Path(sys.argv[2]))
    await app.start()
    loaded_at_start = "keyring" in sys.modules
    dialog = app.shell.open_settings()
    states = {name: getattr(dialog, name).state.text() for name in ("crm_key", "pbx_key", "agent_token")}
    diagnostics = app.shell.open_diagnostics()
    await asyncio.sleep(0.2)
    print(json.dumps({"at_start": loaded_at_start, "after": "keyring" in sys.modules, "states": states,
                      "dialog": dialog.isVisible(), "diagnostics": diagnostics is not None}), flush=True)
    await app.shutdown()

QApplication(sys.argv[:1]).setQuitOnLastWindowClosed(False)
qasync.run(main())
"""


def test_opening_settings_reads_the_stored_keys_outside_the_tray_process(tmp_path: Path) -> None:
    store = tmp_path / "keyring.json"
    store.write_text(json.dumps({"pbx-companion/pbx_api_key": "keyring-pbx-key-7f31c2a9"}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_COMPANION_")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHON_KEYRING_BACKEND="tests.support.file_keyring.FileKeyring",
               PBX_COMPANION_CRM_API_KEY="environment-crm-key-4410", PYTHONPATH=str(ROOT),
               **{FILE_VARIABLE: str(store)})
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "data"), str(tmp_path / "settings.toml")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["dialog"] and seen["diagnostics"]
    assert seen["states"] == {
        "crm_key": "•••••• (set by the environment variable PBX_COMPANION_CRM_API_KEY, which wins over the keyring)",
        "pbx_key": "•••••• (stored)",  # read from the keyring, by a child process
        "agent_token": "not set",
    }
    assert not seen["at_start"]
    assert not seen["after"], "opening Settings loaded keyring into the tray process"
