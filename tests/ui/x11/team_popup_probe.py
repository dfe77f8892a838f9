"""Probe: the tray app in team mode under a real X server, timing its pop-ups and its connection.

Run by tests/bench/team_app_bench.py as ``python -m tests.ui.x11.team_popup_probe --server URL
--data-dir DIR --out FILE`` with ``QT_QPA_PLATFORM=xcb``, ``DISPLAY`` set to a private Xvfb and
``PBX_COMPANION_AGENT_TOKEN`` set. It builds the real :class:`app.main.CompanionApp` on a qasync
loop, as ``run_tray`` does (settings in team mode, logging to stderr and the log file, translators),
and notes on the monotonic clock (one clock for every process of the machine):

* **arrival**: when a feed message of a call first reaches the app: the moment
  :mod:`app.core.feed_client` starts parsing the WebSocket frame's text (``parse_message``,
  wrapped here), i.e. as soon as aiohttp hands the frame over;
* **shown**: ``PopupManager.popup_shown`` (right after the pop-up's ``show()``);
* **expose / paint / painted / info_painted**: event filters installed on the pop-up and its
  window when it is shown, as tests/bench/ui_bench.py does (painted: the first turn of the event
  loop after the first ``Paint``; info_painted: the same once the caller's facts were in it);
* **state**: every change of the team connection (``TeamApi.on_state``), with the status line
  the tray shows and how many times the feed tried to connect.

stdout: one JSON line per state change (``{"event": "state", ...}``) and ``{"event": "ready", ...}``
once the app is live and idle (after the GC freeze of ``CompanionApp.run``). Closing stdin ends
the run; the records go to ``--out`` as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import app.main  # the core, then PySide6, then qasync: the order the app itself uses  # isort: skip
import qasync
from PySide6.QtWidgets import QApplication

from tests.bench.popup_timing import follow_popups
from tests.support.footprint import unexpected


def emit(**record: Any) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def session(args: argparse.Namespace, qapp: QApplication) -> dict[str, Any]:
    from app.core import feed_client
    from app.core.secrets import start_key_read
    from app.core.settings import Settings
    from app.protocol.agent_api import CallMessage
    from app.ui.tray import StatusText

    loop = asyncio.get_running_loop()
    arrivals: dict[str, float] = {}
    parse = feed_client.parse_message

    def timed_parse(text: str) -> Any:
        at = time.monotonic()
        message = parse(text)
        if isinstance(message, CallMessage):
            arrivals.setdefault(message.call.call_id, at)
        return message

    feed_client.parse_message = timed_parse  # type: ignore[assignment]

    settings = Settings(data_dir=args.data_dir, popup_linger_s=args.linger, mode="team",
                        team_server=args.server).validate()
    companion = app.main.CompanionApp(qapp, settings, start_key_read().result())
    manager = companion.popups
    records = follow_popups(manager, loop)

    states: list[dict[str, Any]] = []
    live = asyncio.Event()
    team = companion.team
    assert team is not None, "not in team mode"

    def on_state(state: str, reason: str) -> None:
        # after this turn the app's own callback has updated the status the tray shows
        at = time.monotonic()

        def note() -> None:
            feed = team.feed
            record = {"state": state, "at": at, "reason": reason, "text": StatusText().describe(companion.status),
                      "attempts": feed.attempts if feed is not None else 0}
            states.append(record)
            emit(event="state", **record)
            if state == "live":
                live.set()

        loop.call_soon(note)

    team.on_state(on_state)
    await companion.start()
    loop.call_later(app.main.GC_FREEZE_DELAY, companion.after_start)
    await asyncio.wait_for(live.wait(), 60)
    await asyncio.sleep(app.main.GC_FREEZE_DELAY + 0.5)  # start-up work and the GC freeze settle
    emit(event="ready", rss_mib=rss_mib(), not_needed=unexpected(sys.modules),
         modules=len(sys.modules))
    done = asyncio.Event()

    def on_stdin() -> None:
        if not os.read(0, 4096):
            loop.remove_reader(0)
            done.set()

    loop.add_reader(0, on_stdin)
    try:
        await done.wait()
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(0)
    result = {"popups": records, "arrivals": arrivals, "states": states, "rss_mib": rss_mib(),
              "popups_open": len(manager.popups())}
    await companion.shutdown()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--linger", type=float, default=0.5)
    args = parser.parse_args(argv)
    from app.core.logs import setup_logging
    from app.core.settings import default_log_dir
    from app.ui.i18n import install_translators

    qapp = QApplication(sys.argv[:1])
    qapp.setApplicationName("pbx-companion")
    qapp.setQuitOnLastWindowClosed(False)
    setup_logging(logging.INFO, log_file=default_log_dir() / "pbx-companion.log")
    install_translators(qapp, "en")
    results: dict[str, Any] = {}

    async def run() -> None:
        results.update(await session(args, qapp))

    qasync.run(run())
    Path(args.out).write_text(json.dumps(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
