"""The tray app with a real system tray: the icon docks, no window opens, a click opens the main window.

Agents' desktops have a system tray; bare Xvfb has none (the app then shows its fallback main
window). These tests start a private Xvfb with a minimal XEmbed tray
(:mod:`tests.ui.x11.trayhost`, its own process) and then the real ``python -m app`` as the
agent starts it (the benchmark's environment: settings file, keys from the environment, a
reachable fake PBX, no D-Bus session so Qt uses the XEmbed tray). What the agent would notice
is read from the X server, not from Qt: the tray host reports the docked icon window, our own
connection sees top-level windows being mapped and reads the icon's pixels, and clicks are
real button events (XTEST).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import APP_NAME
from tests.bench.ui_bench import child_env, write_settings
from tests.fakes.fake_pbx import FakePbx
from tests.support import canary
from tests.ui.x11.trayhost import DockedIcon, TrayHost
from tests.ui.x11.xlib import MapWatcher, XServer
from tests.ui.x11.xvfb import XVFB, Xvfb

ROOT = Path(__file__).resolve().parents[2]
MAIN_WINDOW_TITLE = APP_NAME  # app/ui/mainwindow.py
DOCK_TIMEOUT_S = 15.0  # a cold start takes ~0.7 s here; other test processes may share the CPUs


@dataclass
class Desktop:
    """Xvfb with a system tray, a fake PBX, and the environment the app is started with."""

    display: str
    tray: TrayHost
    x: XServer
    pbx: FakePbx
    env: dict[str, str]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    if XVFB is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb; `make test` installs it)")
    xvfb = Xvfb("-screen", "0", "1280x800x24")
    fake = FakePbx(api_key=canary.PBX_KEY)
    tray = TrayHost(xvfb.display)
    x = None
    try:
        pbx_url = fake.start_in_thread()
        tray.start()
        x = XServer(xvfb.display)
        home = tmp_path_factory.mktemp("tray-desktop")
        write_settings(home, pbx_url)
        env = child_env(home, xvfb.display, keys=False)
        env.update(PBX_COMPANION_CRM_API_KEY=canary.CRM_KEY, PBX_COMPANION_PBX_API_KEY=canary.PBX_KEY)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # a StatusNotifier watcher there would take the icon
        yield Desktop(xvfb.display, tray, x, fake, env)
    finally:
        if x is not None:
            x.close()
        tray.stop()
        fake.stop_thread()
        xvfb.stop()


class TrayApp:
    """``python -m app --data-dir D --port 0`` on the desktop; its log (stderr) goes to a file."""

    def __init__(self, desktop: Desktop, work: Path) -> None:
        self.desktop = desktop
        self.log_path = work / "app.stderr"
        self.maps = MapWatcher(desktop.display)  # before the launch: every window the app maps is seen
        self._pbx_checks_before = self._pbx_checks()
        self.started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "--data-dir", str(work / "data"), "--port", "0"], cwd=ROOT,
                env=desktop.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def explain(self, what: str) -> str:
        status = self.process.poll()
        return (f"{what}\n-- app {'running' if status is None else f'exited with {status}'}; its stderr:\n"
                f"{self.log()[-4000:]}\n-- tray host stderr:\n{self.desktop.tray.errors()}")

    def wait_for_icon(self, timeout: float = DOCK_TIMEOUT_S) -> DockedIcon:
        event = self.desktop.tray.wait_docked(timeout, since=self.started)
        assert event is not None, self.explain(f"no tray icon docked within {timeout:.0f} s")
        return event.icon

    def _pbx_checks(self) -> int:
        return self.desktop.pbx.actions().count("get_domain_user_list")

    def wait_until_pbx_checked(self, timeout: float = 10.0) -> None:
        """The app asks the PBX once at start; its answer may turn the icon to "offline"."""
        checked = wait_for(lambda: self._pbx_checks() > self._pbx_checks_before, timeout)
        assert checked, self.explain("the app never asked the PBX (get_domain_user_list)")

    def webhook_url(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            for line in self.log().splitlines():
                if "webhook listening on " in line:
                    return line.split("webhook listening on ", 1)[1].strip()
            time.sleep(0.05)
        raise AssertionError(self.explain("the log never said the webhook listens"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.maps.close()


@pytest.fixture
def tray_app(desktop: Desktop, tmp_path: Path) -> Iterator[TrayApp]:
    app = TrayApp(desktop, tmp_path)
    yield app
    app.stop()


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """The first truthy value of ``predicate()`` within ``timeout`` s (else its last value)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


def icon_pixels(desktop: Desktop, icon: DockedIcon) -> tuple[int, ...] | None:
    return desktop.x.window_pixels(icon.window, icon.width, icon.height)


def settled_pixels(desktop: Desktop, icon: DockedIcon, unlike: list[tuple[int, ...]], timeout: float = 8.0
                   ) -> tuple[int, ...] | None:
    """The icon's pixels once they differ from every picture in ``unlike`` and hold still for 0.3 s."""
    def read() -> tuple[int, ...] | None:
        first = icon_pixels(desktop, icon)
        if first is None or first in unlike or len(set(first)) < 2:  # gone, unchanged, or not painted yet
            return None
        time.sleep(0.3)
        return first if icon_pixels(desktop, icon) == first else None

    return wait_for(read, timeout)


def post_call_event(url: str, action: str, call_id: str) -> int:
    """One PBX event over real HTTP, as the PBX posts it; the reply's status."""
    import aiohttp

    from tests.support.webhook import call_body, envelope, post

    async def send() -> int:
        async with aiohttp.ClientSession() as session:
            status, _ = await post(session, url, envelope(action, call_body(call_id)))
            return status

    return asyncio.run(send())


def test_the_icon_docks_in_the_tray_and_no_window_opens(desktop, tray_app):
    icon = tray_app.wait_for_icon()

    assert (icon.width, icon.height) == (desktop.tray.icon_size, desktop.tray.icon_size)
    assert tray_app.webhook_url().startswith("http://127.0.0.1:")
    # The app's after-start work runs 2 s in; nothing may pop up then either.
    time.sleep(max(0.0, tray_app.started + 3.0 - time.monotonic()))
    assert tray_app.process.poll() is None, tray_app.explain("the app exited")
    mapped = tray_app.maps.mapped_titles()
    assert mapped == [], tray_app.explain(f"windows were mapped at start although a tray exists: {mapped}")


def test_a_click_on_the_icon_opens_the_main_window(desktop, tray_app):
    if not desktop.x.has_xtest:
        pytest.skip("libXtst is not installed: no real clicks")
    icon = tray_app.wait_for_icon()
    tray_app.webhook_url()
    assert tray_app.maps.mapped_titles() == []

    desktop.x.click(*icon.center)

    seen: list[str] = []

    def main_window_mapped() -> bool:
        seen.extend(tray_app.maps.mapped_titles())
        return MAIN_WINDOW_TITLE in seen

    assert wait_for(main_window_mapped, 5.0), tray_app.explain(
        f"no main window after a left click on the icon (windows mapped: {seen})"
    )


def test_a_missed_call_changes_the_icon(desktop, tray_app):
    icon = tray_app.wait_for_icon()
    url = tray_app.webhook_url()
    tray_app.wait_until_pbx_checked()  # from here on only calls change the icon
    idle = settled_pixels(desktop, icon, [])
    assert idle is not None, tray_app.explain("the docked icon was never painted")

    assert post_call_event(url, "call_ringing", "tray-x11-1") == 200
    ringing = settled_pixels(desktop, icon, [idle])
    assert ringing is not None, tray_app.explain("the icon did not change while a call rang")

    assert post_call_event(url, "call_hangup", "tray-x11-1") == 200
    missed = settled_pixels(desktop, icon, [idle, ringing])
    assert missed is not None, tray_app.explain("the icon did not change to a third picture (missed call) "
                                                "after the unanswered call ended")


def test_sigterm_quits_cleanly_and_the_icon_leaves_the_tray(desktop, tray_app):
    icon = tray_app.wait_for_icon()
    tray_app.webhook_url()

    tray_app.process.send_signal(signal.SIGTERM)
    try:
        status = tray_app.process.wait(20)
    except subprocess.TimeoutExpired:
        pytest.fail(tray_app.explain("the app did not exit within 20 s of SIGTERM"))

    assert status == 0, tray_app.explain(f"exit status {status} after SIGTERM")
    assert desktop.tray.wait_undocked(icon.window, 5.0) is not None, "the icon stayed in the tray"
    assert "stopped in" in tray_app.log()
    assert not [i for i in desktop.tray.docked if i.window == icon.window]

