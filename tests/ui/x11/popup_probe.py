"""Probe: does the incoming-call pop-up leave the agent's keyboard focus alone on a real X server?

Run by tests/ui/test_popup_x11.py as ``python -m tests.ui.x11.popup_probe`` with
``QT_QPA_PLATFORM=xcb`` and ``DISPLAY`` set to a private Xvfb. It plays the agent's day:

1. a normal window with a line edit is active and has the keyboard focus (the X server
   agrees: its input focus is that window);
2. for each ``--cursor`` position: the mouse is moved there, ``call_ringing`` is posted over
   HTTP to a real engine's webhook, and the pop-up appears;
3. with the first pop-up on screen the agent types (real key events through XTEST, so the
   X server routes them by its own focus), clicks the pop-up's "Copy number" and types again;
4. it prints one JSON object: where focus is by Qt and by the X server, what the line edit
   received, the clipboard, and each pop-up's geometry against its screen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import PySide6.QtWidgets  # noqa: F401  - PySide6 before qasync
import qasync
from PySide6.QtCore import QPoint, Qt, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QCursor, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QVBoxLayout, QWidget

from tests.ui.x11.xlib import MonitorSpec, XServer

messages: list[str] = []


def record_message(kind: QtMsgType, context: Any, text: str) -> None:
    if kind != QtMsgType.QtDebugMsg:
        messages.append(text)


async def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def rect(r: Any) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


async def probe(args: argparse.Namespace, xserver: XServer) -> dict[str, Any]:
    import aiohttp

    from app.core.engine import Engine
    from app.core.secrets import Keys
    from app.core.settings import Settings
    from app.core.standalone import StandaloneApi
    from app.ui.context import TaskRunner, UiContext
    from app.ui.popup import PopupManager
    from app.ui.qt_bridge import QtBridge
    from tests.support.webhook import call_body, envelope, post

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    settings = Settings(data_dir=args.data_dir, port=0, crm_user="3", crm_user_name="Agent Three",
                        extension="9022", popup_linger_s=0.0).validate()
    engine = Engine(settings, Keys(os.environ["PBX_COMPANION_CRM_API_KEY"], os.environ["PBX_COMPANION_PBX_API_KEY"]))
    url = await engine.start()
    api = StandaloneApi(engine)
    bridge = QtBridge(api.events)
    tasks = TaskRunner(asyncio.get_running_loop())
    ctx = UiContext(api, bridge, tasks, settings)
    manager = PopupManager(ctx)
    session = aiohttp.ClientSession()
    result: dict[str, Any] = {"xtest": xserver.has_xtest, "calls": []}
    editor = QWidget()
    try:
        # -- the agent's own window, active, with the keyboard focus ------------------------------
        editor.setObjectName("editor")
        editor.setWindowTitle("Agent's CRM")
        line_edit = QLineEdit()
        line_edit.setObjectName("line_edit")
        layout = QVBoxLayout(editor)
        layout.addWidget(QLabel("Notes"))
        layout.addWidget(line_edit)
        primary = QGuiApplication.primaryScreen().availableGeometry()
        editor.setGeometry(primary.x() + 60, primary.y() + 60, 420, 120)
        editor.show()
        editor.activateWindow()
        editor.raise_()
        line_edit.setFocus()
        result["editor_focused_before"] = await wait_for(
            lambda: app.focusWidget() is line_edit and xserver.focus_window() == int(editor.winId()))

        def where_is_focus(popup: Any) -> dict[str, Any]:
            focus = xserver.focus_window()
            names = {int(editor.winId()): "editor"}
            if popup is not None:
                names[int(popup.winId())] = "popup"
            active = app.activeWindow()
            widget = app.focusWidget()
            return {
                "x_focus": names.get(focus, f"other:{focus}"),
                "active_window": active.objectName() if active is not None else None,
                "focus_widget": widget.objectName() if widget is not None else None,
                "focus_window": (QGuiApplication.focusWindow().objectName()
                                 if QGuiApplication.focusWindow() is not None else None),
            }

        for index, (x, y) in enumerate(args.cursor or [(None, None)]):
            call_id = f"x11-{index}"
            if x is not None:
                QCursor.setPos(x, y)
                await wait_for(lambda x=x, y=y: QCursor.pos() == QPoint(x, y), 2.0)
            posted = time.perf_counter()
            status, _ = await post(session, url, envelope("call_ringing", call_body(call_id)))
            acked = time.perf_counter()
            ok = await wait_for(lambda call_id=call_id: manager.popup(call_id) is not None
                                and manager.popup(call_id).windowHandle() is not None
                                and manager.popup(call_id).windowHandle().isExposed())
            exposed = time.perf_counter()
            popup = manager.popup(call_id)
            record: dict[str, Any] = {"call_id": call_id, "status": status, "exposed": ok,
                                      "cursor": [QCursor.pos().x(), QCursor.pos().y()]}
            if popup is None:
                result["calls"].append(record)
                continue
            await wait_for(lambda popup=popup: popup.info is not None, 2.0)
            await asyncio.sleep(0.2)  # time for any focus change the window system might make
            screen = popup.screen()
            cursor_screen = QGuiApplication.screenAt(QCursor.pos())
            record.update(
                visible=popup.isVisible(),
                popup_active=popup.isActiveWindow(),
                geometry=rect(popup.frameGeometry()),
                screen=screen.name(),
                screen_geometry=rect(screen.geometry()),
                screen_available=rect(screen.availableGeometry()),
                cursor_screen=cursor_screen.name() if cursor_screen is not None else None,
                number=popup.number_label.text(),
                name=popup.name_label.text(),
                show_latency_ms=round((manager.last_shown_latency or 0) * 1000, 2),
                post_to_ack_ms=round((acked - posted) * 1000, 2),
                ack_to_exposed_ms=round((exposed - acked) * 1000, 2),
                **where_is_focus(popup),
            )
            if index == 0:
                # The agent keeps typing, clicks "Copy number" on the pop-up, types on.
                QGuiApplication.clipboard().setText("")
                if xserver.has_xtest:
                    xserver.type_text("hello")
                else:  # without libXtst: to wherever Qt believes the focus is
                    QTest.keyClicks(app.focusWidget() or editor, "hello")
                await wait_for(lambda: line_edit.text() == "hello", 2.0)
                result["typed_before_click"] = line_edit.text()
                centre = popup.copy_button.mapToGlobal(popup.copy_button.rect().center())
                if xserver.has_xtest:
                    xserver.click(centre.x(), centre.y())
                else:
                    QTest.mouseClick(popup.copy_button, Qt.MouseButton.LeftButton)
                await wait_for(lambda: QGuiApplication.clipboard().text() != "", 2.0)
                result["clipboard"] = QGuiApplication.clipboard().text()
                await asyncio.sleep(0.2)
                result["after_click"] = where_is_focus(popup)
                if xserver.has_xtest:
                    xserver.type_text("world")
                else:
                    QTest.keyClicks(app.focusWidget() or editor, "world")
                await wait_for(lambda: line_edit.text() == "helloworld", 2.0)
                result["line_text"] = line_edit.text()
            result["calls"].append(record)
            await post(session, url, envelope("call_hangup", call_body(call_id)))
            await wait_for(lambda call_id=call_id: manager.popup(call_id) is None, 2.0)
        result["screens"] = [{"name": s.name(), "geometry": rect(s.geometry())} for s in QGuiApplication.screens()]
        result["final"] = where_is_focus(None)
    finally:
        await session.close()
        manager.shutdown()
        editor.close()
        await tasks.cancel_all()
        bridge.close()
        await engine.stop()
    result["qt_messages"] = list(messages)
    return result


def parse_point(text: str) -> tuple[int, int]:
    x, y = text.split(",")
    return int(x), int(y)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--cursor", type=parse_point, action="append",
                        help="x,y: move the mouse there before a call (repeat for several calls)")
    parser.add_argument("--monitor", action="append", default=[],
                        help="WxH+X+Y: split the X screen into RandR monitors (repeat; the first is primary)")
    args = parser.parse_args(argv)
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    if os.environ.get("QT_QPA_PLATFORM") != "xcb" or not os.environ.get("DISPLAY"):
        print(json.dumps({"error": "run with QT_QPA_PLATFORM=xcb and DISPLAY set"}))
        return 2
    xserver = XServer()
    if args.monitor:
        xserver.set_monitors([MonitorSpec.parse(f"M{i}", spec) for i, spec in enumerate(args.monitor)])
    qInstallMessageHandler(record_message)
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    try:
        result = loop.run_until_complete(probe(args, xserver))
    finally:
        loop.close()
        xserver.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
