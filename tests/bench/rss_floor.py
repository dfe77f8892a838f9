"""The floor under the team-mode tray app's idle RSS: its libraries and a tray icon, none of its code.

Run by tests/bench/team_app_bench.py (the idle-RSS part) as ``python -m tests.bench.rss_floor
--server URL`` with ``PBX_COMPANION_AGENT_TOKEN`` set, on the same Xvfb and tray host as the app,
and measured the same way (RSS 10 s after the process started). It does what any team-mode client
built on this project's stack must do, and nothing of the app:

* imports the third-party libraries the idle team-mode app has loaded: PySide6 (QtCore, QtGui,
  QtWidgets), qasync, aiohttp (the WebSocket and REST client), pydantic (one model defined and
  validated: its schema machinery loads on the first model), phonenumbers (one number parsed with
  the default region's metadata), platformdirs;
* starts a ``QApplication``, shows a tray icon with a menu, and runs the qasync loop;
* opens the agent's feed WebSocket on the team server with one ``aiohttp.ClientSession``, reads
  the hello, and stays connected, idle.

The app's idle RSS minus this is what the app's own code, windows and state cost; this number
itself no change to the app can lower (docs/performance.md, "Tray app in team mode").
stderr: ``floor: feed live`` once the hello was read (the bench waits for it as it waits for the
app's "team server connection: live").
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("QT_API", "pyside6")

import aiohttp
import phonenumbers
import platformdirs
import pydantic
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

import qasync  # isort: skip - PySide6 before qasync


class Hello(pydantic.BaseModel):
    type: str
    server_seq: int


async def follow(server: str, token: str) -> None:
    icon = QPixmap(22, 22)
    icon.fill(QColor("seagreen"))
    tray = QSystemTrayIcon(QIcon(icon))
    menu = QMenu()
    menu.addAction("Quit")
    tray.setContextMenu(menu)
    tray.show()
    phonenumbers.parse("8 495 252-30-60", "RU")
    platformdirs.user_data_dir("pbx-companion-floor", appauthor=False)
    url = server.replace("http", "ws", 1) + "/agent/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers={"Authorization": f"Bearer {token}"}, heartbeat=10.0) as ws:
        hello = Hello.model_validate_json((await ws.receive()).data)
        print(f"floor: feed live ({hello.type})", file=sys.stderr, flush=True)
        async for _ in ws:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.rss_floor")
    parser.add_argument("--server", required=True, help="the team server's base URL")
    args = parser.parse_args()
    qapp = QApplication(sys.argv[:1])
    qapp.setQuitOnLastWindowClosed(False)
    qasync.run(follow(args.server, os.environ["PBX_COMPANION_AGENT_TOKEN"]))


if __name__ == "__main__":
    main()
