"""Tray state: the icon and tooltip say what the agent must notice first; the menu is current."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage

from app.ui import icons
from app.ui.tray import ShellActions, Status, StatusText, TrayController, icon_state

pytestmark = pytest.mark.usefixtures("english")


@pytest.mark.parametrize(("status", "state"), [
    (Status(listener_up=True), icons.IDLE),
    (Status(listener_up=True, missed=3), icons.MISSED),
    (Status(listener_up=True, missed=3, ringing=1), icons.RINGING),
    (Status(listener_up=False, ringing=1), icons.OFFLINE),
    (Status(listener_up=True, pbx_problem="the PBX refused the API key"), icons.OFFLINE),
])
def test_the_most_urgent_state_wins(status, state):
    assert icon_state(status) == state


def test_the_tooltip_says_which(qapp):
    words = StatusText()
    assert words.describe(Status(listener_up=True)) == "Ready: waiting for calls"
    text = words.describe(Status(listener_up=False, listener_error="Address already in use", missed=2))
    assert "Offline" in text and "Address already in use" in text and "2 missed calls" in text
    assert "PBX problem: wrong key" in words.describe(Status(listener_up=True, pbx_problem="wrong key"))
    assert "1 call ringing" in words.describe(Status(listener_up=True, ringing=1))


def _pixels(state: str, badge: int) -> QImage:
    return icons.state_pixmap(state, badge, 32).toImage()


def test_icons_differ_by_state_and_carry_the_missed_count(qapp):
    images = {state: _pixels(state, 0) for state in (icons.IDLE, icons.RINGING, icons.OFFLINE)}
    assert images[icons.IDLE] != images[icons.RINGING] != images[icons.OFFLINE]
    assert _pixels(icons.MISSED, 2) != _pixels(icons.MISSED, 0)
    assert _pixels(icons.MISSED, 2) != _pixels(icons.MISSED, 3)  # the number itself is drawn


def test_the_menu_is_rebuilt_with_current_counts_each_time_it_opens(qapp):
    actions = ShellActions()
    tray = TrayController(actions)
    tray.update(Status(listener_up=True, missed=2))
    tray.menu.aboutToShow.emit()
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == ["Dial a number…", "Dial clipboard", "Contacts…", "Missed calls (2)", "Team", "Do not disturb",
                     "Settings…", "Diagnostics…", "Quit"]
    assert "2 missed calls" in tray.icon.toolTip()
    tray.update(Status(listener_up=True, missed=0))
    tray.menu.aboutToShow.emit()
    assert "Missed calls" in [a.text() for a in tray.menu.actions()]
    tray.menu.deleteLater()
