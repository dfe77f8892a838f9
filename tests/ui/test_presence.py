"""Team presence: the model fed by real webhook events and a fake PBX's user list, and the panel.

What an agent notices: each colleague's registration and call-center status in words (odd
codes included), the CRM user they map to, "on a call" following the PBX's call events, a
search that narrows the list, and a double-click that calls the colleague's extension.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.core.agent import base_status_label
from app.storage import CrmUser
from app.ui.dialer import DialService
from app.ui.presence import PresenceModel, PresencePanel
from tests.support.qtloop import settle, wait_until
from tests.support.webhook import call_body, envelope

# The offscreen platform cannot resize a shown window when its size hints change (xcb can).
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

M = PresenceModel


@pytest.fixture
def model(ctx) -> PresenceModel:
    return PresenceModel(ctx)


def agent(send, uid: str, base_status: int | None, status_name: str | None = None, crm_user: str | None = None) -> None:
    body: dict[str, Any] = {"user_uid": uid, "base_status": base_status, "extra_status": 0}
    if status_name is not None:
        body["status_name"] = status_name
    if crm_user is not None:
        body["crm_user"] = crm_user
    status, _ = send(envelope("agent_change", body))
    assert status == 200


def registration(send, uid: str, status: int, crm_user: str | None = None) -> None:
    body: dict[str, Any] = {"user_uid": uid, "status": status, "protocol": 0}
    if crm_user is not None:
        body["crm_user"] = crm_user
    code, _ = send(envelope("user_change", body))
    assert code == 200


def refreshed(qloop, model: PresenceModel) -> list[str]:
    """Refresh and return what went wrong (empty on success)."""
    done: list[str] = []
    errors: list[str] = []
    model.refreshed.connect(lambda: done.append("ok"))
    model.refresh_failed.connect(errors.append)
    assert model.refresh()
    wait_until(qloop, lambda: done or errors)
    wait_until(qloop, lambda: not model.loading)
    return errors


# -- the model --------------------------------------------------------------------------------


def test_call_center_statuses_read_as_words_and_unknown_codes_never_crash(qloop, send, model):
    expected = [
        (-1, None, "available"),
        (-2, None, "on demand"),
        (-3, "Обед", "on break \u2014 Обед"),
        (-4, None, "logged out"),
        (7, None, "unknown (7)"),
        (-99, "Странный", "unknown (-99) \u2014 Странный"),
        (None, "В работе", "В работе"),
    ]
    for code, name, text in expected:
        agent(send, "777", code, name)
        wait_until(qloop, lambda text=text: model.text("777", M.STATUS) == text)
    # same words as the core's label (which the CLI prints), for every code it names
    for code in (-1, -2, -3, -4, 7, -99):
        assert model.base_status_label(code) == base_status_label(code)
    assert model.rowCount() == 1


def test_a_status_name_with_control_and_bidi_characters_is_shown_plain(qloop, send, model):
    """The PBX's text as it came would show reversed (RLO) or cut (NUL); markup stays visible text."""
    agent(send, "778", -3, "\u202eкнарбо\x00 <b>Обед</b>")
    wait_until(qloop, lambda: model.text("778", M.STATUS).startswith("on break"))
    shown = model.text("778", M.STATUS)
    assert "\u202e" not in shown and "\x00" not in shown
    assert shown == "on break \u2014 кнарбо <b>Обед</b>"


def test_sip_registration_reads_as_words(qloop, send, model):
    for status, text in ((1, "registered"), (0, "not registered"), (5, "unknown (5)")):
        registration(send, "1111", status)
        wait_until(qloop, lambda text=text: model.text("1111", M.REGISTRATION) == text)
    assert model.text("1111", M.STATUS) == ""  # no agent status was ever reported: nothing made up


def test_pbx_list_crm_mapping_and_presence_merge_into_one_row_per_extension(qloop, ctx, send, pbx, model):
    ctx.api.engine.store.write_sync(lambda s: s.users.upsert(CrmUser("12", "Manager Rita", "1111")))
    registration(send, "555", 1, crm_user="40")  # not in the PBX list, CRM user unknown locally
    agent(send, "1111", -1, "В работе")
    registration(send, "777", 0)
    assert refreshed(qloop, model) == []
    assert model.extensions() == ["555", "777", "1111", "9022"]
    table = {uid: [model.text(uid, c) for c in range(M.COLUMN_COUNT)] for uid in model.extensions()}
    assert table == {
        "555": ["555", "", "40", "registered", "", ""],
        "777": ["777", "Иванов", "", "not registered", "", ""],
        "1111": ["1111", "Петров", "Manager Rita", "unknown", "available \u2014 В работе", ""],
        "9022": ["9022", "", "Agent Three", "unknown", "", ""],  # this workstation's own mapping
    }
    assert not model.user("555").in_pbx_list and model.user("777").in_pbx_list
    # a user first seen live after the refresh gets a row too
    agent(send, "4242", -3, crm_user="12")
    wait_until(qloop, lambda: model.row_of("4242") >= 0)
    assert model.text("4242", M.STATUS) == "on break"
    assert model.text("4242", M.CRM_USER) == "Manager Rita"


def test_a_failed_refresh_keeps_the_list_and_says_why(qloop, ui_engine, pbx, model):
    assert refreshed(qloop, model) == []
    assert model.extensions() == ["777", "1111", "9022"]
    pbx.mode = "reject"
    pbx.reject_message = "integration disabled"
    assert refreshed(qloop, model) == [
        "Could not load the PBX users: the PBX said no: \u201cintegration disabled\u201d."
    ]
    assert model.extensions() == ["777", "1111", "9022"]
    assert model.text("777", M.NAME) == "Иванов"
    ui_engine.settings.pbx_url = ""
    assert refreshed(qloop, model) == ["The PBX is not set up: enter the PBX address in Settings."]
    assert model.extensions() == ["777", "1111", "9022"]


def test_on_a_call_follows_the_pbx_call_events(qloop, send, pbx, model):
    assert refreshed(qloop, model) == []

    def on_call(uid: str) -> str:
        return model.text(uid, M.ON_CALL)

    send(envelope("call_ringing", call_body("p-1", domain_user="777", crm_user="5")))
    wait_until(qloop, lambda: on_call("777") == "on a call")
    assert on_call("1111") == ""
    send(envelope("call_answer", call_body("p-1", domain_user="777", crm_user="5")))
    send(envelope("call_ringing", call_body("p-2", domain_user="777", crm_user="5", other_leg="+74951112233")))
    send(envelope("call_hangup", call_body("p-1", domain_user="777", crm_user="5", variable_answersec="30")))
    wait_until(qloop, lambda: model.user("777").live_calls == {"p-2"})
    assert on_call("777") == "on a call"  # the second call still rings
    send(envelope("call_hangup", call_body("p-2", domain_user="777", crm_user="5", variable_answersec="0")))
    wait_until(qloop, lambda: on_call("777") == "")


def test_calls_in_progress_show_after_a_reload(qloop, ctx, send, pbx):
    send(envelope("call_ringing", call_body("r-1", domain_user="1111", crm_user="5")))
    send(envelope("call_answer", call_body("r-1", domain_user="1111", crm_user="5")))
    fresh = PresenceModel(ctx)  # e.g. the app restarted during the call
    assert refreshed(qloop, fresh) == []
    assert fresh.text("1111", M.ON_CALL) == "on a call"
    assert fresh.text("777", M.ON_CALL) == ""


# -- the panel --------------------------------------------------------------------------------


@pytest.fixture
def panel(qloop, ctx, pbx) -> Iterator[PresencePanel]:
    widget = PresencePanel(ctx, DialService(ctx))
    widget.show()  # the first show loads the list
    wait_until(qloop, lambda: widget.proxy.rowCount() == 3 and not widget.model.loading)
    yield widget
    widget.close()
    widget.deleteLater()


def type_into(edit: Any, text: str) -> None:
    """Type like a user; QTest only knows ASCII keys, so other scripts arrive as one input."""
    if text.isascii():
        QTest.keyClicks(edit, text)
    else:
        edit.insert(text)


def shown(panel: PresencePanel) -> list[str]:
    return [panel.extension_at(r) for r in range(panel.proxy.rowCount())]


def test_search_narrows_the_list_by_name_or_extension(qloop, panel):
    assert shown(panel) == ["777", "1111", "9022"]
    type_into(panel.search_edit, "петр")
    assert shown(panel) == ["1111"]
    panel.search_edit.clear()
    QTest.keyClicks(panel.search_edit, "77")
    assert shown(panel) == ["777"]
    panel.search_edit.clear()
    QTest.keyClicks(panel.search_edit, "agent three")  # the CRM user's name
    assert shown(panel) == ["9022"]
    panel.search_edit.clear()
    assert shown(panel) == ["777", "1111", "9022"]


def test_double_click_shows_the_number_and_the_call_button_dials(qloop, panel, pbx):
    type_into(panel.search_edit, "Петров")
    index = panel.proxy.index(0, M.NAME)
    assert panel.proxy.data(index) == "Петров"
    viewport = panel.view.viewport()
    center = panel.view.visualRect(index).center()
    # a real double-click: Qt 6's QTest.mouseDClick sends only the second click's event
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=center)
    QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=center)
    settle(qloop, 0.2)
    assert pbx.calls == []  # a double-click never dials: it shows whom and which number first
    assert panel.call_button.text() == "Call 1111" and panel.call_button.isEnabled()
    assert panel.message_label.text() == "Call Петров at 1111? Press \u201cCall 1111\u201d."
    QTest.mouseClick(panel.call_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: pbx.calls)
    assert pbx.calls == [{"crm_user_id": "3", "dst": "1111"}]
    wait_until(qloop, lambda: panel.message_label.text().startswith("Your phone rings first"))
    assert panel.message_label.text() == "Your phone rings first: answer it and the PBX calls 1111."


def test_refresh_errors_are_shown_in_the_panel_and_the_list_stays(qloop, panel, pbx):
    pbx.mode = "reject"
    pbx.reject_message = "integration disabled"
    QTest.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: "said no" in panel.message_label.text())
    assert panel.message_label.text() == (
        "Could not load the PBX users: the PBX said no: \u201cintegration disabled\u201d."
    )
    assert panel.refresh_button.isEnabled()
    assert shown(panel) == ["777", "1111", "9022"]
    pbx.mode = "ok"
    pbx.users.append({"user_name": "Сидорова", "user_surname": "Анна", "uid": "1200", "id": 1, "proto": 0})
    QTest.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: panel.proxy.rowCount() == 4)
    assert panel.message_label.text() == ""
    assert shown(panel) == ["777", "1111", "1200", "9022"]
