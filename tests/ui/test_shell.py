"""The application object: builds everything, shows a usable window without a tray, follows
calls in its status, hands forwarded links to the dialer, and shuts down in order."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from app.core.secrets import Keys
from tests.support import canary
from tests.support.companion import start_companion
from tests.support.qtloop import run, settle, wait_until
from tests.support.webhook import call_body, envelope

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def companion(qapp, qloop, settings, fake_pbx):
    """A CompanionApp started on the Qt loop, against the fake PBX; shut down afterwards."""

    settings.pbx_url = fake_pbx.url
    settings.popup_linger_s = 0.0

    app = start_companion(qloop, qapp, settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
    yield app
    if not app.engine.store._closed:
        run(qloop, app.shutdown())


def _post(qloop, url, message):
    import aiohttp

    from tests.support.webhook import post

    async def go():
        async with aiohttp.ClientSession() as session:
            return await post(session, url, message)

    return run(qloop, go())


def test_without_a_tray_the_main_window_is_shown_with_the_tray_actions(companion):
    assert companion.shell.tray is None  # offscreen: no system tray
    window = companion.shell.main_window
    assert window.isVisible()
    labels = [b.defaultAction().text() for b in window.buttons]
    for action in (companion.actions.dialer, companion.actions.dial_clipboard, companion.actions.settings,
                   companion.actions.diagnostics, companion.actions.quit):
        assert action.text() in labels
    assert "Ready" in window.status_label.text()


def test_status_follows_a_ringing_call_then_counts_it_missed(companion, qloop):
    url = companion.engine.server.url
    status, _ = _post(qloop, url, envelope("call_ringing", call_body("shell-1")))
    assert status == 200
    wait_until(qloop, lambda: companion.status.ringing == 1)
    assert "ringing" in companion.shell.main_window.status_label.text()
    _post(qloop, url, envelope("call_hangup", call_body("shell-1")))
    wait_until(qloop, lambda: companion.status.missed == 1 and companion.status.ringing == 0)
    assert "1 missed call" in companion.shell.main_window.status_label.text()


def test_a_forwarded_tel_link_is_dialed_once(companion, qloop, fake_pbx):
    companion.handle_arguments(["tel:+7%20495%20134-30-60"])
    wait_until(qloop, lambda: fake_pbx.calls)
    settle(qloop, 0.2)
    assert fake_pbx.calls == [{"crm_user_id": "3", "dst": "84951343060"}]


def test_quit_stops_listener_client_and_store_within_3_s(companion, qloop):
    url = companion.engine.server.url
    port = companion.engine.server.port
    task = qloop.create_task(companion.run_until_quit())
    settle(qloop, 0.05)
    started = time.monotonic()
    companion.actions.quit.trigger()
    run(qloop, asyncio.wait_for(task, 5))
    assert time.monotonic() - started < 3.0
    assert companion.engine.store._closed
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert url  # it was listening before


def test_a_taken_port_leaves_the_app_running_and_says_offline(qapp, qloop, settings, fake_pbx):
    from app.main import CompanionApp

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    settings.port = blocker.getsockname()[1]
    settings.pbx_url = fake_pbx.url

    async def build():
        app = CompanionApp(qapp, settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
        await app.start()
        return app

    app = run(qloop, build())
    try:
        assert not app.status.listener_up
        assert app.shell.main_window.isVisible()
        assert "Offline" in app.shell.main_window.status_label.text()
    finally:
        run(qloop, app.shutdown())
        blocker.close()


def test_a_link_opened_by_macos_is_dialed(companion, qapp, qloop, fake_pbx):
    from PySide6.QtCore import QCoreApplication, QUrl
    from PySide6.QtGui import QFileOpenEvent

    QCoreApplication.sendEvent(qapp, QFileOpenEvent(QUrl("tel:+79066800404")))
    wait_until(qloop, lambda: fake_pbx.calls)
    assert fake_pbx.calls == [{"crm_user_id": "3", "dst": "89066800404"}]


def test_saved_settings_apply_to_the_running_app(companion, qloop, fake_pbx):
    from dataclasses import replace

    old_port = companion.engine.server.port
    new = replace(companion.engine.settings, port=0, extension="9023", do_not_disturb=True)
    new.port = 0
    companion.engine.settings.port = old_port  # running on a concrete port; 0 asks for a new one
    companion.apply_settings(new)
    wait_until(qloop, lambda: companion.engine.server.port != old_port)
    assert companion.ctx.identity.extension == "9023"
    assert companion.actions.do_not_disturb.isChecked()
    status, data = _post(qloop, companion.engine.server.url, envelope("test"))
    assert status == 200 and data["body"] == {"success": True}
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", old_port), timeout=1).close()
