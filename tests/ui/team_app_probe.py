"""The tray app in team mode, in its own process, reporting what the agent sees.

Run by tests/ui/test_team_mode.py as ``python -m tests.ui.team_app_probe --server URL --data-dir DIR``
with ``QT_QPA_PLATFORM=offscreen`` (or ``xcb`` under Xvfb) and ``PBX_COMPANION_AGENT_TOKEN`` set.
It builds the real application object (:class:`app.main.CompanionApp`, the composition the
``pbx-companion --server URL`` command runs) and starts it, then:

* prints one JSON line per thing an agent would notice: ``{"event": "popup", "call_id", "at"}``
  when a pop-up is shown (``at``: wall-clock time), ``{"event": "status", "team", "text",
  "missed"}`` when the tray/main-window status changes, ``{"event": "notice", "text"}`` for a
  notice the shell shows;
* reads one JSON command per line on stdin: ``{"cmd": "dial", "uri": "tel:…"}`` (a clicked link,
  as a second launch would hand it over), ``{"cmd": "missed"}`` (answers ``{"event": "missed",
  "calls": [call_id, …]}`` from the service API the missed list reloads from), ``{"cmd":
  "popups"}`` (the call ids of the pop-ups on screen), ``{"cmd": "feed"}`` (how many times the
  app tried to open the feed), ``{"cmd": "modules"}`` (the names of the modules the process has
  loaded), ``{"cmd": "quit"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

os.environ.setdefault("QT_API", "pyside6")

import PySide6.QtWidgets  # noqa: F401 - PySide6 before qasync
import qasync
from PySide6.QtWidgets import QApplication


def emit(**record: Any) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


async def main(args: argparse.Namespace) -> None:
    from app.core.secrets import start_key_read
    from app.core.settings import Settings
    from app.main import CompanionApp

    qapp = QApplication.instance()
    assert isinstance(qapp, QApplication)
    settings = Settings(data_dir=args.data_dir, popup_linger_s=0.0, language="en", mode="team",
                        team_server=args.server).validate()
    app = CompanionApp(qapp, settings, start_key_read().result())
    app.popups.popup_shown.connect(lambda call_id: emit(event="popup", call_id=call_id, at=time.time()))
    app.shell.notify = lambda text: emit(event="notice", text=text)  # type: ignore[method-assign]
    last: list[Any] = []

    def publish() -> None:
        from app.ui.tray import StatusText

        seen = [app.status.team, app.status.missed, StatusText().describe(app.status)]
        if seen != last:
            last[:] = seen
            emit(event="status", team=seen[0], missed=seen[1], text=seen[2])

    original = app.shell.publish_status

    def publish_status() -> None:
        original()
        publish()

    app.shell.publish_status = publish_status  # type: ignore[method-assign]
    await app.start()
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(commands.put_nowait, json.loads(line))
        loop.call_soon_threadsafe(commands.put_nowait, {"cmd": "quit"})

    threading.Thread(target=read_stdin, daemon=True).start()
    emit(event="ready")
    while True:
        command = await commands.get()
        if command["cmd"] == "quit":
            break
        if command["cmd"] == "dial":
            app.handle_arguments([command["uri"]])
        elif command["cmd"] == "missed":
            calls = await app.api.calls.missed()
            emit(event="missed", calls=[m.call.call_id for m in calls])
        elif command["cmd"] == "popups":
            emit(event="popups", calls=[p.call.call_id for p in app.popups.popups() if p.call is not None])
        elif command["cmd"] == "feed":
            feed = app.team.feed if app.team is not None else None
            emit(event="feed", attempts=feed.attempts if feed is not None else 0)
        elif command["cmd"] == "modules":
            emit(event="modules", names=sorted(sys.modules))
    await app.shutdown()
    emit(event="stopped")


def run() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    QApplication(sys.argv[:1]).setQuitOnLastWindowClosed(False)
    qasync.run(main(args))


if __name__ == "__main__":
    run()
