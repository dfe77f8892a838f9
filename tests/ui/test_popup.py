"""The incoming-call pop-up, offscreen: real engine, real HTTP posts to its webhook, FakePbx for hold.

Each test asserts what the agent sees (label texts, visible buttons, where the windows are)
or what the other windows are told (signals). Focus behaviour needs a real X server: see
test_popup_x11.py.
"""

from __future__ import annotations

import time
import wave
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from app.storage import ContactRecord, CrmUser, PhoneRecord
from tests.support import canary
from tests.support.qtloop import run, settle, wait_until
from tests.support.webhook import call_body, cdr_body, envelope

#: Offscreen has no window stacking: Qt asks it to raise() every Qt.Tool window it shows.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support raise")

CALLER = "+74952523060"
CALLER_SHOWN = "+7 495 252-30-60"
LINE_SHOWN = "+7 495 134-30-60"


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def engine_settled(request: pytest.FixtureRequest, qloop) -> None:
    """Let the engine's start-up store write land while the loop runs.

    pytest-qt processes Qt events after setup, outside the qasync loop; a task that wakes up
    there (the engine's maintenance task, once its first write is done) finds no running loop
    and dies. A write barrier plus a short settle lets it reach its long sleep inside the loop.
    """
    if "ui_engine" in request.fixturenames:
        engine = request.getfixturevalue("ui_engine")
        request.getfixturevalue("send")  # set it up now: no fixture runs the loop briefly after the barrier
        run(qloop, engine.store.write(lambda s: None))
        settle(qloop)


@pytest.fixture
def make_manager(ctx, qloop) -> Iterator[Callable[[], Any]]:
    """Build PopupManagers on the running engine; each is shut down after the test."""
    from app.ui.popup import PopupManager

    ctx.settings.popup_linger_s = 0.0
    built: list[Any] = []

    def make() -> Any:
        manager = PopupManager(ctx)
        built.append(manager)
        wait_until(qloop, lambda: manager.presence_loaded)
        return manager

    yield make
    for manager in built:
        manager.shutdown()
    settle(qloop)


@pytest.fixture
def manager(make_manager) -> Any:
    return make_manager()


class Recorder:
    """Collects a signal's emissions."""

    def __init__(self, signal: Any) -> None:
        self.calls: list[tuple[Any, ...]] = []
        signal.connect(lambda *args: self.calls.append(args))


def post(send: Callable[[dict[str, Any]], tuple[int, Any]], action: str, body: dict[str, Any]) -> None:
    status, reply = send(envelope(action, body))
    assert status == 200, reply


def hangup(call_id: str, answered_seconds: int | None = None, **kw: Any) -> dict[str, Any]:
    body = call_body(call_id, **kw)
    if answered_seconds is not None:
        body["variable_answersec"] = answered_seconds  # a top-level field, not an rt_var
    return body


def ring(send, call_id: str, **kw: Any) -> None:
    post(send, "call_ringing", call_body(call_id, **kw))


def hold_body(call_id: str, *, user_uid: str = "9022", crm_user: str = "3") -> dict[str, Any]:
    return {"call_id": call_id, "session_id": f"s-{call_id}", "user_uid": user_uid, "crm_user": crm_user,
            "other_leg": CALLER, "direction": 0}


def agent_status(send, base_status: int) -> None:
    post(send, "agent_change", {"user_uid": "9022", "crm_user": "3", "base_status": base_status,
                                "extra_status": 0, "status_name": "status"})


def shown(manager: Any, qloop, call_id: str) -> Any:
    wait_until(qloop, lambda: manager.popup(call_id) is not None)
    popup = manager.popup(call_id)
    wait_until(qloop, lambda: popup.info is not None)  # the directory read has landed
    assert popup.isVisible()
    return popup


def save_contact(ctx, qloop, name: str, *, company: str | None = None, owner: str | None = None,
                 number: str = CALLER) -> int:
    key = ctx.normalizer.key(number)

    def write(session: Any) -> int:
        company_id = session.contacts.company_id(company) if company else None
        return session.contacts.save(ContactRecord(None, name, company_id=company_id, owner_id=owner,
                                                   phones=[PhoneRecord(key, number)]))

    return run(qloop, ctx.api.engine.store.write(write))


# -- what the pop-up shows -------------------------------------------------------------------


def test_a_known_caller_shows_name_company_owner_line_and_earlier_calls(ctx, manager, send, qloop):
    contact_id = save_contact(ctx, qloop, "Ivan Petrov", company="ACME Ltd", owner="3")
    # Earlier calls: one seen live with its CDR (counted once), one missed, one only in a CDR.
    ring(send, "e1")
    post(send, "call_answer", call_body("e1"))
    post(send, "call_hangup", hangup("e1", 30))
    post(send, "cdr_append", cdr_body("e1", dt=time.time() - 3600))
    yesterday = (datetime.now() - timedelta(days=1)).replace(hour=12, minute=0).timestamp()
    post(send, "cdr_append", cdr_body("old-1", dt=yesterday))
    ring(send, "e3")
    post(send, "call_hangup", call_body("e3"))
    assert manager.popups() == []  # those pop-ups closed with their calls (linger 0)

    opened = Recorder(manager.open_card_requested)
    ring(send, "now-1")
    popup = shown(manager, qloop, "now-1")

    assert popup.number_label.text() == CALLER_SHOWN
    assert popup.state_label.text() == "Ringing"
    assert popup.name_label.text() == "Ivan Petrov"
    assert popup.company_label.text() == "ACME Ltd"
    assert popup.owner_label.text() == "Responsible: Agent Three (you)"
    assert popup.line_label.text() == f"Line: {LINE_SHOWN}"
    last = run(qloop, ctx.api.engine.store.read(lambda s: s.calls.get("e3"))).ringing_at
    assert popup.history_label.text().startswith("3 earlier call")  # "(s)" until the English .qm exists
    assert popup.history_label.text().endswith(", last today " + datetime.fromtimestamp(last).strftime("%H:%M"))
    assert not popup.create_contact_button.isVisible()
    assert popup.open_card_button.isVisible() and popup.copy_button.isVisible()
    assert not popup.hold_button.isVisible()  # not answered yet
    assert manager.last_shown_latency is not None

    popup.open_card_button.click()
    assert opened.calls == [(contact_id, CALLER_SHOWN, "now-1")]


def test_several_contacts_with_the_number_show_the_first_and_a_count(ctx, manager, send, qloop):
    run(qloop, ctx.api.engine.store.write(lambda s: s.users.upsert(CrmUser("5", "Boris Colleague", "9030"))))
    save_contact(ctx, qloop, "Ivan Petrov", company="ACME Ltd", owner="5")
    save_contact(ctx, qloop, "Maria Petrova")
    save_contact(ctx, qloop, "Reception")

    ring(send, "many-1")
    popup = shown(manager, qloop, "many-1")

    assert popup.name_label.text() == "Ivan Petrov and 2 more"
    assert popup.owner_label.text() == "Responsible: Boris Colleague"  # a colleague: no "(you)"
    assert popup.history_label.text() == "No earlier calls"


def test_an_unknown_caller_shows_the_number_and_create_contact(manager, send, qloop):
    created = Recorder(manager.create_contact_requested)
    opened = Recorder(manager.open_card_requested)
    ring(send, "unknown-1", other_leg="+74957770011")
    popup = shown(manager, qloop, "unknown-1")

    assert popup.number_label.text() == "+7 495 777-00-11"
    assert popup.name_label.text() == "Unknown caller"
    assert not popup.company_label.isVisible() and not popup.owner_label.isVisible()
    assert popup.create_contact_button.isVisible()
    popup.create_contact_button.click()
    assert created.calls == [("+7 495 777-00-11", "unknown-1")]
    popup.open_card_button.click()
    assert opened.calls == [(0, "+7 495 777-00-11", "unknown-1")]


def test_an_anonymous_caller_offers_nothing_to_copy_or_open(manager, send, qloop):
    ring(send, "anon-1", other_leg="")
    popup = shown(manager, qloop, "anon-1")
    assert popup.number_label.text() == "Hidden number"
    assert not popup.copy_button.isVisible() and not popup.open_card_button.isVisible()
    assert not popup.create_contact_button.isVisible()
    assert popup.name_label.text() == "Unknown caller"


# -- whose calls, and when not ---------------------------------------------------------------


def test_a_colleagues_call_pops_up_only_with_see_all_calls(ctx, manager, send, qloop):
    ring(send, "theirs-1", crm_user="4", domain_user="9023")
    settle(qloop)
    assert manager.popup("theirs-1") is None

    ctx.settings.see_all_calls = True
    ring(send, "theirs-2", crm_user="4", domain_user="9023")
    popup = shown(manager, qloop, "theirs-2")
    assert popup.number_label.text() == CALLER_SHOWN


@pytest.mark.parametrize("state", ["break", "logged out", "do not disturb"])
def test_no_pop_up_while_the_agent_is_away_but_the_missed_call_is_reported(ctx, manager, send, qloop, state):
    if state == "break":
        agent_status(send, -3)
    elif state == "logged out":
        agent_status(send, -4)
    else:
        ctx.settings.do_not_disturb = True
    missed = Recorder(manager.missed_changed)

    ring(send, "away-1")
    settle(qloop)
    assert manager.popup("away-1") is None and manager.popups() == []
    post(send, "call_hangup", call_body("away-1"))
    wait_until(qloop, lambda: missed.calls)
    assert missed.calls == [()]


def test_the_agents_status_stored_before_start_is_respected(ctx, make_manager, send, qloop):
    agent_status(send, -3)          # arrives while no pop-up manager exists yet
    manager = make_manager()        # reads it from the store
    assert manager.my_presence is not None and manager.my_presence.base_status == -3
    ring(send, "before-1")
    settle(qloop)
    assert manager.popups() == []

    agent_status(send, -1)          # back to available: pop-ups again
    ring(send, "after-1")
    shown(manager, qloop, "after-1")


# -- placement -------------------------------------------------------------------------------


def test_three_calls_stack_without_overlapping_inside_the_screen(manager, send, qloop):
    for n in range(3):
        ring(send, f"stack-{n}", other_leg=f"+7495777000{n}")
    popups = [shown(manager, qloop, f"stack-{n}") for n in range(3)]
    settle(qloop)

    screen = QGuiApplication.primaryScreen().availableGeometry()
    rects = [p.frameGeometry() for p in popups]
    assert len({(r.x(), r.y()) for r in rects}) == 3
    for i, rect in enumerate(rects):
        assert screen.contains(rect), (rect, screen)
        for other in rects[i + 1:]:
            assert not rect.intersects(other), (rect, other)
    # the first call sits in the bottom-right corner and does not move when others arrive
    assert rects[0].right() > screen.right() - 40 and rects[0].bottom() > screen.bottom() - 40

    manager.popup("stack-0").dismiss_button.click()
    settle(qloop)
    moved = [p.frameGeometry() for p in popups[1:]]
    assert not moved[0].intersects(moved[1]) and all(screen.contains(r) for r in moved)
    assert moved[0].bottom() > screen.bottom() - 40  # the next one slid into the corner


# -- following the call, hold ------------------------------------------------------------------


def test_hold_follows_the_pbx_events_not_the_click(manager, send, qloop, pbx):
    ring(send, "h1")
    popup = shown(manager, qloop, "h1")
    assert not popup.hold_button.isVisible()

    post(send, "call_answer", call_body("h1"))
    assert popup.state_label.text().startswith("Answered")
    assert popup.hold_button.isVisible() and popup.hold_button.text() == "Hold"

    popup.hold_button.click()
    assert not popup.hold_button.isEnabled()  # in flight
    wait_until(qloop, lambda: popup.hold_button.isEnabled())
    assert pbx.actions() == ["switch_call_hold"]
    assert pbx.holds == [{"crm_user_id": "3", "call_id": "h1"}]
    assert popup.hold_button.text() == "Hold"  # the PBX has not said "held" yet
    assert popup.state_label.text().startswith("Answered")

    post(send, "call_held", hold_body("h1"))
    assert popup.hold_button.text() == "Resume"
    assert popup.state_label.text() == "On hold"

    post(send, "call_active", hold_body("h1"))
    assert popup.hold_button.text() == "Hold"
    assert popup.state_label.text().startswith("Answered")
    assert pbx.actions() == ["switch_call_hold"]  # the events sent nothing


def test_a_pbx_error_on_hold_is_shown_on_the_pop_up(manager, send, qloop, pbx):
    pbx.mode = "reject"
    ring(send, "h2")
    post(send, "call_answer", call_body("h2"))
    popup = shown(manager, qloop, "h2")

    popup.hold_button.click()
    wait_until(qloop, lambda: popup.error_label.isVisible())
    assert pbx.reject_message in popup.error_label.text()
    assert "refused" in popup.error_label.text()
    assert popup.hold_button.isEnabled() and popup.hold_button.text() == "Hold"
    assert canary.PBX_KEY not in popup.error_label.text()
    # the message made the pop-up taller: it was moved up to stay entirely on the screen
    settle(qloop)
    assert QGuiApplication.primaryScreen().availableGeometry().contains(popup.frameGeometry())


def test_a_hung_up_call_closes_its_pop_up_at_once_with_linger_0(ctx, manager, send, qloop):
    missed = Recorder(manager.missed_changed)
    closed = Recorder(manager.popup_closed)
    ring(send, "end-1")
    shown(manager, qloop, "end-1")
    post(send, "call_hangup", call_body("end-1"))
    assert manager.popup("end-1") is None
    assert closed.calls == [("end-1",)]
    assert missed.calls == [()]  # unanswered: the core marked it missed


def test_a_hung_up_call_lingers_for_the_configured_time(ctx, manager, send, qloop):
    ctx.settings.popup_linger_s = 0.3
    ring(send, "end-2")
    post(send, "call_answer", call_body("end-2"))
    popup = shown(manager, qloop, "end-2")
    post(send, "call_hangup", hangup("end-2", 65))

    assert manager.popup("end-2") is popup and popup.isVisible()
    assert popup.state_label.text() == "Call ended · 1:05"
    assert not popup.hold_button.isVisible()
    wait_until(qloop, lambda: manager.popup("end-2") is None, timeout=3)


def test_a_call_answered_by_a_colleague_in_the_queue_closes_the_pop_up(ctx, manager, send, qloop):
    ctx.settings.popup_linger_s = 0.3
    missed = Recorder(manager.missed_changed)
    ring(send, "q-mine", session_id="q-1")
    ring(send, "q-theirs", session_id="q-1", crm_user="4", domain_user="9023")
    popup = shown(manager, qloop, "q-mine")
    assert manager.popup("q-theirs") is None

    post(send, "call_answer", call_body("q-theirs", session_id="q-1", crm_user="4", domain_user="9023"))
    assert popup.state_label.text() == "Answered by 9023"  # the extension that took it
    wait_until(qloop, lambda: manager.popup("q-mine") is None, timeout=3)
    post(send, "call_hangup", call_body("q-mine", session_id="q-1"))
    assert missed.calls == []  # somebody took it: not a missed call


def test_copy_number_puts_the_formatted_number_on_the_clipboard(manager, send, qloop):
    QGuiApplication.clipboard().setText("something else")
    ring(send, "copy-1")
    popup = shown(manager, qloop, "copy-1")
    popup.copy_button.click()
    assert QGuiApplication.clipboard().text() == CALLER_SHOWN


def test_dismiss_closes_the_pop_up_and_a_repeated_ring_does_not_bring_it_back(qtbot, manager, send, qloop):
    ring(send, "dismiss-1")
    popup = shown(manager, qloop, "dismiss-1")
    qtbot.mouseClick(popup.dismiss_button, Qt.MouseButton.LeftButton)
    assert manager.popup("dismiss-1") is None
    assert not popup.isVisible()
    settle(qloop)

    ring(send, "dismiss-1")  # the PBX re-sends call_ringing (a new action_id)
    settle(qloop)
    assert manager.popup("dismiss-1") is None


# -- sound -----------------------------------------------------------------------------------


def test_no_ring_sound_when_the_setting_is_off(ctx, manager, send, qloop):
    ring(send, "quiet-1")
    shown(manager, qloop, "quiet-1")
    assert manager.sound.requested == 0 and manager.sound.effect is None


@pytest.mark.qt_log_ignore(".*")  # no audio device on a build machine: the backend complains
def test_the_ring_sound_plays_when_on_and_a_missing_audio_device_breaks_nothing(ctx, make_manager, send, qloop):
    from app.ui.ringsound import ring_wav_path

    ctx.settings.ring_sound = True
    manager = make_manager()
    ring(send, "loud-1")
    popup = shown(manager, qloop, "loud-1")
    assert manager.sound.requested == 1 and manager.sound.effect is not None
    assert ring_wav_path().is_file()  # generated into this user's cache dir
    assert popup.isVisible()
    post(send, "call_hangup", call_body("loud-1"))
    assert manager.popup("loud-1") is None


def test_the_generated_ring_is_a_short_small_wav(tmp_path):
    from app.ui.ringsound import write_ring_wav

    path = write_ring_wav(tmp_path / "ring.wav")
    with wave.open(str(path)) as sound:
        seconds = sound.getnframes() / sound.getframerate()
        assert sound.getnchannels() == 1 and sound.getsampwidth() == 2
    assert 0.2 < seconds <= 1.0
    assert path.stat().st_size < 40_000


# -- the shared formatting helpers ------------------------------------------------------------


def test_times_durations_and_numbers_read_like_an_agent_expects(ctx):
    from app.ui.format import call_count_text, duration_text, phone_text, when_text

    now = datetime(2024, 3, 12, 18, 30).timestamp()
    assert when_text(datetime(2024, 3, 12, 14, 5).timestamp(), now) == "today 14:05"
    assert when_text(datetime(2024, 3, 11, 9, 7).timestamp(), now) == "yesterday 09:07"
    older = when_text(datetime(2024, 3, 1, 14, 5).timestamp(), now)
    assert older.endswith(" 14:05") and "today" not in older and "yesterday" not in older
    assert [duration_text(s) for s in (0, 5, 65, 3725, None)] == ["0:00", "0:05", "1:05", "1:02:05", ""]
    assert phone_text(ctx.normalizer, "84952523060") == CALLER_SHOWN
    assert phone_text(ctx.normalizer, "9022") == "9022"
    assert phone_text(ctx.normalizer, "Anonymous") == "Anonymous"
    assert phone_text(ctx.normalizer, None) == "Hidden number"
    assert call_count_text(3).startswith("3 call")
