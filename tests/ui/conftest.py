"""Qt fixtures: one QApplication with a qasync event loop, and the real core running on it.

Widget tests are plain (sync) functions that drive the qasync loop themselves with
:func:`run` / :func:`wait_until`: pytest-qt's ``waitUntil`` processes Qt events but does not
run asyncio tasks, and the engine's listener lives on this loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import aiohttp
import PySide6.QtWidgets  # noqa: F401  - PySide6 before qasync
import pytest
import qasync

from tests.support import canary
from tests.support.qtloop import run
from tests.support.webhook import post

_qasync_timer_event = qasync._SimpleTimer.timerEvent


def _timer_event_in_its_loop(timer: Any, event: Any) -> None:
    """qasync runs every asyncio callback from a Qt timer event. A test's Qt events are also
    processed between two ``run()`` calls (pytest-qt closing widgets, a widget's own event
    processing), where asyncio has no running loop: a task stepped there (a store read or write
    finishing on its thread, the team server's feed hub) would die with "no running event
    loop". The loop that owns the timer counts as running while its callback runs."""
    loop = getattr(timer, "test_loop", None)
    if loop is None or asyncio.events._get_running_loop() is not None:
        _qasync_timer_event(timer, event)
        return
    asyncio.events._set_running_loop(loop)
    try:
        _qasync_timer_event(timer, event)
    finally:
        asyncio.events._set_running_loop(None)


qasync._SimpleTimer.timerEvent = _timer_event_in_its_loop  # type: ignore[method-assign]


class _TestLoop(qasync.QEventLoop):
    """qasync's ``run_until_complete`` processes Qt events once more after the loop stopped,
    with no running loop set: a task stepped there (e.g. the engine's maintenance task waking
    from its first store write) dies with "no running event loop". Keep the loop set as the
    running loop for that last pass, and clear it afterwards (and see :func:`_timer_event_in_its_loop`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer.test_loop = self

    def run_forever(self):  # type: ignore[override]
        try:
            return super().run_forever()
        finally:
            asyncio.events._set_running_loop(self)

    def run_until_complete(self, future):  # type: ignore[override]
        try:
            return super().run_until_complete(future)
        finally:
            asyncio.events._set_running_loop(None)


@pytest.fixture(scope="session")
def qloop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    qapp.setQuitOnLastWindowClosed(False)
    loop = _TestLoop(qapp, already_running=False)
    yield loop
    loop.close()


@pytest.fixture
def english(qapp) -> Iterator[None]:
    """The app always runs with a catalogue installed; English's holds the plural forms."""
    from app.ui.i18n import install_translators, installed_language, remove_translators

    before = installed_language(qapp)
    assert install_translators(qapp, "en") == "en"
    yield
    remove_translators(qapp)
    if before is not None:
        install_translators(qapp, before)


@pytest.fixture
def ui_engine(qloop, settings) -> Iterator[Any]:
    """The whole core with its webhook listening on loopback, on the Qt loop."""
    from app.core.engine import Engine
    from app.core.secrets import Keys

    engine = Engine(settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
    run(qloop, engine.start())
    # Park the maintenance task in its long sleep while the loop runs: pytest-qt processes Qt
    # events outside the loop, and a task stepped there finds no running loop and dies.
    run(qloop, engine.maintenance_idle.wait())
    yield engine
    run(qloop, engine.stop())


@pytest.fixture
def ctx(ui_engine, qloop) -> Iterator[Any]:
    """A UiContext around the running engine (what the application object builds)."""
    from app.core.standalone import StandaloneApi
    from app.ui.context import TaskRunner, UiContext
    from app.ui.qt_bridge import QtBridge

    api = StandaloneApi(ui_engine)
    bridge = QtBridge(api.events)
    tasks = TaskRunner(qloop)
    context = UiContext(api, bridge, tasks, ui_engine.settings)
    yield context
    run(qloop, tasks.cancel_all())
    bridge.close()


@pytest.fixture
def fake_pbx(qloop) -> Iterator[Any]:
    """A fake PBX (a real aiohttp server) on the Qt loop, accepting the canary PBX key."""
    from tests.fakes.fake_pbx import FakePbx

    fake = FakePbx(api_key=canary.PBX_KEY)
    run(qloop, fake.start())
    yield fake
    run(qloop, fake.stop())


@pytest.fixture
def pbx(fake_pbx: Any, ui_engine: Any) -> Any:
    """The fake PBX, with the running engine configured to call it."""
    ui_engine.settings.pbx_url = fake_pbx.url
    return fake_pbx


@pytest.fixture
def send(qloop, ui_engine) -> Iterator[Callable[[dict[str, Any]], tuple[int, Any]]]:
    """Post a message to the running webhook over real HTTP; returns (status, JSON reply)."""
    session = run(qloop, _session())

    def sender(message: dict[str, Any]) -> tuple[int, Any]:
        return run(qloop, post(session, ui_engine.server.url, message))

    yield sender
    run(qloop, session.close())


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()
