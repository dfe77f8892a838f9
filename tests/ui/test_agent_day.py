"""An agent's day through the whole application (issue 14): the card from anywhere, outbound calls,
missed calls, one window per thing. A real CompanionApp on the Qt loop, real webhook posts, the fake PBX."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.secrets import Keys
from app.storage import ContactRecord, PhoneRecord
from tests.support import canary
from tests.support.companion import start_companion
from tests.support.qtloop import run, settle, wait_until
from tests.support.webhook import call_body, envelope

pytestmark = pytest.mark.usefixtures("english")

CALLER = "+74952523060"
CALLER_SHOWN = "+7 495 252-30-60"


@pytest.fixture
def companion(qapp, qloop, settings, fake_pbx):
    """A CompanionApp started on the Qt loop, against the fake PBX; shut down afterwards."""

    settings.pbx_url = fake_pbx.url
    settings.popup_linger_s = 0.0

    app = start_companion(qloop, qapp, settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
    run(qloop, app.engine.store.write(lambda s: None))
    settle(qloop)
    yield app
    if not app.engine.store._closed:
        run(qloop, app.shutdown())


@pytest.fixture
def send(companion, qloop):
    from tests.support.webhook import post

    session = run(qloop, _session())

    def sender(action: str, body: dict[str, Any]) -> None:
        status, reply = run(qloop, post(session, companion.engine.server.url, envelope(action, body)))
        assert status == 200, reply

    yield sender
    run(qloop, session.close())


async def _session() -> Any:
    import aiohttp

    return aiohttp.ClientSession()


def save_contact(app, qloop, name: str, *, company: str | None = None, number: str = CALLER) -> int:
    key = app.api.normalizer.key(number)

    def write(session: Any) -> int:
        company_id = session.contacts.company_id(company) if company else None
        return session.contacts.save(ContactRecord(None, name, company_id=company_id,
                                                   phones=[PhoneRecord(key, number)]))

    return run(qloop, app.engine.store.write(write))


def popup_of(app, qloop, call_id: str) -> Any:
    wait_until(qloop, lambda: app.popups.popup(call_id) is not None)
    popup = app.popups.popup(call_id)
    wait_until(qloop, lambda: popup.info is not None)
    return popup


def loaded(qloop, card: Any) -> Any:
    wait_until(qloop, lambda: not card.is_loading)
    return card


# -- 1. "Open card" from a known caller's pop-up opens the card on the live call ---------------------


def test_open_card_from_a_known_callers_popup_attaches_the_live_call(companion, send, qloop):
    contact_id = save_contact(companion, qloop, "Ivan Petrov", company="ACME Ltd")
    send("call_ringing", call_body("live-1"))
    send("call_answer", call_body("live-1"))
    popup = popup_of(companion, qloop, "live-1")
    assert popup.name_label.text() == "Ivan Petrov"

    popup.open_card_button.click()
    card = loaded(qloop, companion.shell.cards[-1])
    assert card.contact_id == contact_id
    assert card.call_id == "live-1"
    assert card.call_state_label.isVisible() and card.call_state_label.text().startswith("Current call")
    assert card.hold_button.isVisible()
    assert card.note_edit.isEnabled() and card.outcome_combo.isEnabled() and card.save_note_button.isEnabled()


# -- 2. one card per contact; pop-ups follow directory changes --------------------------------------


def test_one_card_per_contact_the_open_one_is_raised(companion, send, qloop):
    contact_id = save_contact(companion, qloop, "Ivan Petrov")
    shell = companion.shell
    first = loaded(qloop, shell.open_card(contact_id, ""))
    assert shell.open_card(contact_id, "") is first
    assert shell.open_card(0, CALLER_SHOWN) is first  # by one of its numbers
    send("call_ringing", call_body("dup-1"))
    send("call_answer", call_body("dup-1"))
    popup = popup_of(companion, qloop, "dup-1")
    popup.open_card_button.click()
    popup.open_card_button.click()
    assert shell.cards == [first]
    loaded(qloop, first)
    assert first.call_id == "dup-1" and first.hold_button.isVisible()  # the open card follows the live call
    first.close()
    assert shell.open_card(contact_id, "") is first and first.isVisible()
    other = shell.open_card(0, "+74957770011")
    assert other is not first and len(shell.cards) == 2


def test_after_create_contact_the_open_popup_names_the_caller(companion, send, qloop):
    send("call_ringing", call_body("new-1", other_leg="+74957770011"))
    popup = popup_of(companion, qloop, "new-1")
    assert popup.name_label.text() == "Unknown caller"
    popup.create_contact_button.click()
    card = loaded(qloop, companion.shell.cards[-1])
    card.form.name_edit.setText("Olga New")
    card.form.company_edit.setText("Lilac Ltd")
    card.save()
    wait_until(qloop, lambda: popup.name_label.text() == "Olga New")
    assert popup.company_label.text() == "Lilac Ltd"
    assert not popup.create_contact_button.isVisible()
    # a second click on the pop-up raises the same card
    popup.open_card_button.click()
    assert companion.shell.cards == [card]


# -- 3. a double-click opens the card; calling is a button -------------------------------------------


def test_missed_list_and_dialer_open_the_card_in_the_app(companion, send, qloop, fake_pbx):
    contact_id = save_contact(companion, qloop, "Ivan Petrov")
    send("call_ringing", call_body("m-1"))
    send("call_hangup", call_body("m-1"))
    panel = companion.shell.missed_panel
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    panel.view.selectRow(0)
    panel.open_card_button.click()
    card = loaded(qloop, companion.shell.cards[-1])
    assert card.contact_id == contact_id
    dialer = companion.shell.open_dialer()
    dialer.number_edit.setText("Petrov")
    wait_until(qloop, lambda: dialer.model.rowCount() == 1)
    dialer.results_view.selectRow(0)
    dialer.open_card_button.click()
    assert companion.shell.cards == [card]  # the same client: the open card is raised
    assert fake_pbx.calls == []


# -- 4. the directory: from the tray menu and the main window ---------------------------------------


def test_the_directory_is_in_the_tray_menu_and_the_main_window_and_opens_cards(companion, qloop):
    from app.ui.tray import TrayController

    contact_id = save_contact(companion, qloop, "Ivan Petrov", company="Romashka LLC")
    actions = companion.actions
    tray = TrayController(actions)
    tray.menu.aboutToShow.emit()
    assert actions.directory in tray.menu.actions()
    tray.menu.deleteLater()
    assert actions.directory.text() in [b.defaultAction().text() for b in companion.shell.main_window.buttons]

    actions.directory.trigger()
    directory = companion.shell.windows["directory"]
    assert directory.isVisible()
    directory.search_edit.setText("romashka")
    wait_until(qloop, lambda: [c.id for c in directory.model.contacts()] == [contact_id])
    directory.view.selectRow(0)
    directory.open_card_button.click()
    card = loaded(qloop, companion.shell.cards[-1])
    assert card.contact_id == contact_id
    directory.new_contact_button.click()
    new = loaded(qloop, companion.shell.cards[-1])
    assert new is not card and new.contact_id is None and new.title_label.text() == "New contact"


# -- 5. outgoing calls get the in-call surface -------------------------------------------------------


def test_wants_popup_takes_outgoing_calls_when_the_setting_is_on():
    import time

    from app.core.agent import ON_BREAK, wants_popup
    from app.storage import CallRecord, CallState, PresenceRecord

    now = time.time()

    def call(state: CallState, direction: int) -> CallRecord:
        return CallRecord(call_id="c", state=state, first_seen=now, updated_at=now, direction=direction)

    on_break = PresenceRecord(user_uid="9022", crm_user="3", reg_status=None, protocol=None, base_status=ON_BREAK,
                              extra_status=None, status_name="", updated_at=now)
    for state in (CallState.RINGING, CallState.ACTIVE, CallState.HELD):
        assert wants_popup(call(state, 1), None, False, outgoing=True)
        assert wants_popup(call(state, 1), on_break, True, outgoing=True)  # the agent's own call: no interruption
        assert not wants_popup(call(state, 1), None, False, outgoing=False)
    assert not wants_popup(call(CallState.ENDED, 1), None, False, outgoing=True)
    assert wants_popup(call(CallState.RINGING, 0), None, False, outgoing=False)
    assert not wants_popup(call(CallState.ACTIVE, 0), None, False, outgoing=True)  # incoming: only ringing
    assert not wants_popup(call(CallState.RINGING, 0), None, True, outgoing=True)


def test_an_outgoing_call_gets_the_popup_with_open_card_hold_and_notes(companion, send, qloop, fake_pbx):
    assert companion.ctx.settings.popup_outgoing  # on by default
    contact_id = save_contact(companion, qloop, "Ivan Petrov")
    assert companion.dial_service.dial(CALLER_SHOWN)
    wait_until(qloop, lambda: fake_pbx.calls)
    send("call_ringing", call_body("out-1", direction=1))
    popup = popup_of(companion, qloop, "out-1")
    assert popup.windowTitle() == "Outgoing call"
    assert popup.state_label.text() == "Outgoing call · ringing"
    assert popup.name_label.text() == "Ivan Petrov" and popup.open_card_button.isVisible()
    assert companion.popups.ringing_count() == 0  # not an incoming ring: no ringing badge, no ring sound
    send("call_answer", call_body("out-1", direction=1))
    wait_until(qloop, lambda: popup.hold_button.isVisible())
    popup.open_card_button.click()
    card = loaded(qloop, companion.shell.cards[-1])
    assert card.contact_id == contact_id and card.call_id == "out-1"
    assert card.hold_button.isVisible() and card.note_edit.isEnabled()
    send("call_hangup", call_body("out-1", direction=1))
    wait_until(qloop, lambda: companion.popups.popup("out-1") is None)


def test_with_popup_outgoing_off_an_outgoing_call_shows_nothing(companion, send, qloop):
    companion.ctx.settings.popup_outgoing = False
    send("call_ringing", call_body("out-2", direction=1))
    send("call_answer", call_body("out-2", direction=1))
    settle(qloop, 0.2)
    assert companion.popups.popup("out-2") is None


# -- 6. a double launch dials once --------------------------------------------------------------------


def test_two_launches_with_the_same_link_290_ms_apart_dial_once_and_say_so(companion, qloop, fake_pbx):
    companion.handle_arguments(["tel:+7%20495%20134-30-60"])
    wait_until(qloop, lambda: fake_pbx.calls)
    settle(qloop, 0.29)
    companion.handle_arguments(["tel:+7%20495%20134-30-60"])
    settle(qloop, 0.2)
    assert fake_pbx.calls == [{"crm_user_id": "3", "dst": "84951343060"}]
    assert companion.shell.main_window.statusBar().currentMessage() == (
        "+7 495 134-30-60 was dialed a moment ago: not dialed again. Wait for your phone to ring.")


# -- 7. the missed list: grouped, Dismiss all, and Call back on the missed-call notice ------------------


def test_the_missed_call_popup_offers_call_back(companion, send, qloop, fake_pbx):
    companion.ctx.settings.popup_linger_s = 30.0
    send("call_ringing", call_body("miss-1"))
    popup = popup_of(companion, qloop, "miss-1")
    assert not popup.call_back_button.isVisible()  # ringing: nothing to call back yet
    send("call_hangup", call_body("miss-1", variable_answersec="0"))
    wait_until(qloop, lambda: popup.closing)
    assert popup.state_label.text() == "Missed call"
    assert popup.call_back_button.isVisible()
    popup.call_back_button.click()
    wait_until(qloop, lambda: fake_pbx.calls)
    assert fake_pbx.calls == [{"crm_user_id": "3", "dst": "84952523060"}]
    wait_until(qloop, lambda: companion.missed_model.count == 0)  # calling back settled it
    popup.dismiss_button.click()


def test_a_repeat_caller_is_one_row_in_the_apps_missed_list(companion, send, qloop):
    for n in range(6):
        send("call_ringing", call_body(f"rep-{n}"))
        send("call_hangup", call_body(f"rep-{n}"))
    wait_until(qloop, lambda: companion.status.missed == 6)
    panel = companion.shell.missed_panel
    assert panel.model.rowCount() == 1 and panel.model.rows()[0].count == 6
    panel.dismiss_all_button.click()
    wait_until(qloop, lambda: companion.status.missed == 0)


# -- 8. smaller things ---------------------------------------------------------------------------------


def test_do_not_disturb_shows_a_call_it_holds_back(companion, send, qloop):
    dnd = companion.actions.do_not_disturb
    dnd.setChecked(True)
    send("call_ringing", call_body("dnd-1"))
    settle(qloop, 0.1)
    assert companion.popups.popup("dnd-1") is None
    assert companion.popups.held_back_count() == 1
    assert dnd.text() == "Do not disturb: 1 call held back"
    assert companion.shell.main_window.statusBar().currentMessage() == (
        "+7 495 252-30-60 is calling: no pop-up while do not disturb is on or you are on a break.")
    send("call_hangup", call_body("dnd-1"))
    wait_until(qloop, lambda: dnd.text() == "Do not disturb")
    dnd.setChecked(False)


def test_a_phone_field_shows_the_start_of_a_long_number(companion, qloop):
    contact_id = save_contact(companion, qloop, "Ivan Petrov")

    def add_phone(session: Any) -> None:
        contact = session.contacts.get(contact_id)
        long = "+7 (495) 134-30-60 доб. 12"
        session.contacts.set_phones(contact_id, [*contact.phones, PhoneRecord(companion.api.normalizer.key(long),
                                                                              long)])

    run(qloop, companion.engine.store.write(add_phone))
    card = loaded(qloop, companion.shell.open_card(contact_id, ""))
    rows = card.form.phone_rows()
    assert len(rows) == 2
    assert [row.number_edit.cursorPosition() for row in rows] == [0, 0]


def test_the_time_columns_sort_arrow_points_down_for_newest_first(companion, qloop):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QStyleOptionHeader

    from app.ui.timeline import TimelineModel

    card = loaded(qloop, companion.shell.open_card(save_contact(companion, qloop, "Ivan Petrov"), ""))
    header = card.timeline_view.horizontalHeader()
    assert header.sortIndicatorSection() == TimelineModel.COL_TIME
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder  # newest first
    option = QStyleOptionHeader()
    header.initStyleOptionForIndex(option, TimelineModel.COL_TIME)
    assert option.sortIndicator == QStyleOptionHeader.SortIndicator.SortDown  # drawn as an arrow down


def test_the_tray_app_logs_into_the_data_dir_given_with_data_dir(qapp, tmp_path, monkeypatch):
    import app.core.logs
    from app.main import run_tray

    class Stop(Exception):
        pass

    seen: list[Any] = []

    def setup_logging(level: int, log_file: Any = None) -> None:
        seen.append(log_file)
        raise Stop  # the rest of the start is not this test's business

    monkeypatch.setattr(app.core.logs, "setup_logging", setup_logging)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    config = tmp_path / "settings.toml"
    with pytest.raises(Stop):
        run_tray(["--config", str(config), "--data-dir", str(tmp_path / "profile")])
    assert seen == [tmp_path / "profile" / "logs" / "pbx-companion.log"]
    # a start that failed after taking the lock left neither the lock nor the socket: the next launch starts
    assert not (tmp_path / "profile" / "instance.lock").exists()
    assert not (tmp_path / "profile" / "instance.sock").exists()


@pytest.mark.parametrize("device", [False, True])
@pytest.mark.qt_log_ignore("Couldn't (load|resolve) va", "PulseAudioService", "No audio device detected")
def test_without_an_audio_device_the_player_says_so(qtbot, qloop, monkeypatch, device):
    from PySide6.QtMultimedia import QMediaPlayer

    import app.ui.player
    from app.core.api import RecordingMedia
    from app.ui.context import TaskRunner
    from app.ui.player import RecordingPlayer
    from tests.ui.test_card import wav_bytes

    if not QMediaPlayer().isAvailable():
        pytest.skip("QtMultimedia has no usable media backend on this machine")
    monkeypatch.setattr(app.ui.player, "audio_output_available", lambda: device)

    async def load(link: str) -> RecordingMedia:  # the audio in memory: no server the player's thread waits on
        return RecordingMedia(data=wav_bytes(), content_type="audio/wav")

    tasks = TaskRunner(qloop)
    player = RecordingPlayer()
    qtbot.addWidget(player)
    player.set_loader(load, tasks)
    player.set_recording("https://pbx.example.com/rec.wav")
    player.play()
    wait_until(qloop, lambda: player.state == RecordingPlayer.PLAYING, timeout=10)
    if device:
        assert player.status_label.text() == ""
    else:
        assert player.status_label.text() == (
            "No audio device: the recording plays without sound. Connect speakers or a headset.")
    # to the end, not stopped midway: QtMultimedia's Stop can wait forever on its own threads while a
    # backend without a sound server is still starting up on a busy machine
    wait_until(qloop, lambda: player.state == RecordingPlayer.FINISHED, timeout=15)
    player.stop()
    run(qloop, tasks.cancel_all())


def test_outcome_codes_and_the_admins_list():
    from app.core.outcomes import DEFAULT_OUTCOMES, outcome_code, outcome_list

    assert outcome_code("Call back") == outcome_code("Перезвонить") == outcome_code("call_back") == "call_back"
    assert outcome_code(" Demo booked ") == "Demo booked"
    assert outcome_list("") == list(DEFAULT_OUTCOMES)
    assert outcome_list("call_back; Demo booked,\nSale, call back") == ["call_back", "Demo booked", "sale"]


def test_outcomes_are_stored_as_codes_and_shown_in_the_agents_language(companion, send, qloop, qapp):
    from app.ui.card import ClientCard
    from app.ui.i18n import install_translators, remove_translators
    from app.ui.timeline import TimelineModel

    contact_id = save_contact(companion, qloop, "Ivan Petrov")
    for call_id in ("oc-1", "oc-legacy"):
        send("call_ringing", call_body(call_id))
        send("call_answer", call_body(call_id))
        send("call_hangup", call_body(call_id, variable_answersec="20"))
    run(qloop, companion.api.calls.set_note("oc-legacy", "old", "Call back"))  # stored as text, before codes
    card = loaded(qloop, companion.shell.open_card(contact_id, "", "oc-1"))
    assert [card.outcome_combo.itemText(n) for n in range(card.outcome_combo.count())] == [
        "", "Resolved", "Call back", "Sale", "Not interested", "Wrong number"]
    card.outcome_combo.setCurrentIndex(2)
    card.note_edit.setText("tomorrow 10:00")
    card.save_note()
    wait_until(qloop, lambda: companion.ctx.tasks.pending == 0)
    stored = run(qloop, companion.engine.store.read(lambda s: s.notes.many(["oc-1", "oc-legacy"])))
    assert stored["oc-1"][1] == "call_back"  # the code, not the words
    card.close()

    remove_translators(qapp)
    install_translators(qapp, "ru")
    try:
        russian = ClientCard(companion.ctx, contact_id, None, "oc-1")
        russian.show()
        loaded(qloop, russian)
        notes = {row.ref: russian.timeline_model.data(russian.timeline_model.index(n, TimelineModel.COL_NOTE))
                 for n, row in enumerate(russian.timeline_model.rows())}
        assert notes["oc-1"] == "Перезвонить · tomorrow 10:00"
        assert notes["oc-legacy"] == "Перезвонить · old"  # the English text stored before codes too
        assert russian.outcome_combo.currentText() == "Перезвонить"  # the selected call's outcome
        russian.close()
        russian.deleteLater()
    finally:
        remove_translators(qapp)
        install_translators(qapp, "en")

    companion.ctx.settings.outcomes = "call_back, Demo booked"
    own = ClientCard(companion.ctx, contact_id, None)
    assert [own.outcome_combo.itemText(n) for n in range(own.outcome_combo.count())] == [
        "", "Call back", "Demo booked"]
    own.deleteLater()
