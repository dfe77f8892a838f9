"""Missed calls: rows made by real ringing + hangup events over HTTP, cleared by Dismiss and by
calling back through a fake PBX; the badge count; the panel's buttons and context menu.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.storage import ContactRecord, PhoneRecord
from app.ui.dialer import DialService
from app.ui.format import when_text
from app.ui.missed import MissedCallsModel, MissedCallsPanel
from tests.support.qtloop import run, settle, wait_until
from tests.support.webhook import call_body, envelope

# The offscreen platform cannot resize a shown window when its size hints change (xcb can).
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

M = MissedCallsModel
CALLER = "+74952523060"
OTHER = "+79066800404"


@pytest.fixture
def service(ctx) -> DialService:
    return DialService(ctx)


class Counted:
    def __init__(self, model: MissedCallsModel) -> None:
        self.counts: list[int] = []
        model.count_changed.connect(self.counts.append)


@pytest.fixture
def model(qloop, ctx, service) -> MissedCallsModel:
    missed = MissedCallsModel(ctx, service)
    missed.counted = Counted(missed)  # type: ignore[attr-defined]
    missed.reload()
    wait_until(qloop, lambda: missed.counted.counts == [0])  # type: ignore[attr-defined]
    return missed


def missed_call(send, call_id: str, other_leg: str = CALLER, **kw: Any) -> None:
    """What the PBX posts for a call nobody picked up: ringing, then hangup with 0 s talk."""
    assert send(envelope("call_ringing", call_body(call_id, other_leg=other_leg, **kw)))[0] == 200
    assert send(envelope("call_hangup", call_body(call_id, other_leg=other_leg, variable_answersec="0",
                                                  hangup_cause="ORIGINATOR_CANCEL", **kw)))[0] == 200


def table(model: MissedCallsModel) -> list[tuple[str, str]]:
    return [(model.data(model.index(r, M.NUMBER)), model.data(model.index(r, M.CONTACT)))
            for r in range(model.rowCount())]


def add_contact(ctx, name: str, company: str | None, raw: str) -> int:
    def write(session: Any) -> int:
        company_id = session.contacts.company_id(company) if company else None
        phone = PhoneRecord(ctx.normalizer.key(raw), raw)
        return session.contacts.save(ContactRecord(id=None, name=name, company_id=company_id, phones=[phone]))

    return ctx.api.engine.store.write_sync(write)


# -- the model --------------------------------------------------------------------------------


def test_an_unanswered_call_becomes_a_row_with_time_number_and_contact(qloop, ctx, send, model):
    add_contact(ctx, "Petrov Ivan", "Romashka", "8 (495) 252-30-60")
    missed_call(send, "m-1")
    wait_until(qloop, lambda: model.rowCount() == 1)
    assert table(model) == [("+7 495 252-30-60", "Petrov Ivan (Romashka)")]
    assert model.data(model.index(0, M.TIME)).startswith("today ")
    assert model.data(model.index(0, M.NUMBER), Qt.ItemDataRole.ToolTipRole) == "Called line: +7 495 134-30-60"
    missed_call(send, "m-2", other_leg=OTHER)  # not in the directory
    wait_until(qloop, lambda: model.rowCount() == 2)
    assert table(model)[0] == ("+7 906 680-04-04", "Unknown caller")
    assert model.counted.counts == [0, 1, 2]


def test_answered_calls_and_other_agents_calls_are_not_listed(qloop, ctx, send, model):
    send(envelope("call_ringing", call_body("a-1")))
    send(envelope("call_answer", call_body("a-1")))
    send(envelope("call_hangup", call_body("a-1", variable_answersec="25")))
    missed_call(send, "other-1", crm_user="7", domain_user="9100")
    missed_call(send, "mine-1", other_leg=OTHER)
    wait_until(qloop, lambda: model.rowCount() == 1)
    settle(qloop, 0.1)
    assert [r.call_id for r in model.rows()] == ["mine-1"]
    ctx.settings.see_all_calls = True  # a supervisor sees the team's missed calls
    model.reload()
    wait_until(qloop, lambda: model.rowCount() == 2)
    assert {r.call_id for r in model.rows()} == {"mine-1", "other-1"}


def test_a_call_to_my_extension_without_a_crm_user_is_mine(qloop, send, model):
    for action, extra in (("call_ringing", {}), ("call_hangup", {"variable_answersec": "0"})):
        body = call_body("ext-1", domain_user="9022", **extra)
        del body["crm_user"]  # the PBX knows no CRM user for this extension
        assert send(envelope(action, body))[0] == 200
    wait_until(qloop, lambda: model.rowCount() == 1)
    assert model.rows()[0].call_id == "ext-1"


def test_dismiss_removes_one_row_and_it_stays_gone(qloop, ctx, send, service, model):
    missed_call(send, "d-1")
    missed_call(send, "d-2", other_leg=OTHER)
    wait_until(qloop, lambda: model.rowCount() == 2)
    newest = model.rows()[0].call_id
    assert model.dismiss(0) is True
    assert model.rowCount() == 1  # at once, before the store answered
    assert model.counted.counts[-1] == 1
    wait_until(qloop, lambda: ctx.tasks.pending == 0)
    assert newest not in {c.call_id for c in ctx.api.engine.store.read_sync(lambda s: s.calls.missed("3"))}
    fresh = MissedCallsModel(ctx, service)
    fresh.reload()
    wait_until(qloop, lambda: fresh.rowCount() == 1)
    assert [r.call_id for r in fresh.rows()] == [r.call_id for r in model.rows()]


def test_call_back_dials_the_caller_and_clears_every_missed_call_from_that_number(qloop, send, pbx, model):
    missed_call(send, "c-1")
    missed_call(send, "c-2", other_leg=OTHER)
    missed_call(send, "c-3")
    wait_until(qloop, lambda: model.count == 3)
    assert model.rowCount() == 2  # c-1 and c-3: one caller, one row
    row = model.row_of("c-1")
    assert row == model.row_of("c-3") and model.rows()[row].call_id == "c-3"  # the newest
    assert model.call_back(row) is True
    wait_until(qloop, lambda: model.rowCount() == 1)
    assert pbx.calls == [{"crm_user_id": "3", "dst": "84952523060"}]
    assert [r.call_id for r in model.rows()] == ["c-2"]
    assert model.counted.counts[-1] == 1


def test_a_repeat_caller_is_one_row_with_the_count_and_the_last_time(qloop, ctx, send, model):
    add_contact(ctx, "Petrov Ivan", None, CALLER)
    for n in range(6):
        missed_call(send, f"r-{n}")
    missed_call(send, "r-other", other_leg=OTHER)
    missed_call(send, "r-hidden-1", other_leg="")
    missed_call(send, "r-hidden-2", other_leg="")
    wait_until(qloop, lambda: model.count == 9)
    assert model.rowCount() == 3
    rows = {model.data(model.index(r, M.NUMBER)): (model.data(model.index(r, M.CONTACT)),
                                                    model.data(model.index(r, M.COUNT))) for r in range(3)}
    assert rows["+7 495 252-30-60"] == ("Petrov Ivan", "6")
    assert rows["+7 906 680-04-04"] == ("Unknown caller", "1")
    assert rows["Hidden number"] == ("Unknown caller", "2")
    petrov = model.rows()[model.row_of("r-0")]
    assert petrov.call_id == "r-5" and petrov.count == 6
    assert model.data(model.index(model.row_of("r-0"), M.TIME)) == when_text(petrov.call.ringing_at)
    assert model.headerData(M.TIME, Qt.Orientation.Horizontal) == "Last call"
    assert model.headerData(M.COUNT, Qt.Orientation.Horizontal) == "Calls"
    # dismissing the caller's row clears all six of their calls
    model.dismiss(model.row_of("r-0"))
    assert model.count == 3
    wait_until(qloop, lambda: ctx.tasks.pending == 0)
    stored = {c.call_id for c in ctx.api.engine.store.read_sync(lambda s: s.calls.missed(None, 100))}
    assert stored == {"r-other", "r-hidden-1", "r-hidden-2"}


def test_dismiss_all_clears_every_missed_call_and_they_stay_gone(qloop, ctx, send, service, model):
    for n in range(3):
        missed_call(send, f"all-{n}")
    missed_call(send, "all-other", other_leg=OTHER)
    missed_call(send, "someone-elses", crm_user="7", domain_user="9100")
    wait_until(qloop, lambda: model.count == 4)
    assert model.dismiss_all() is True
    assert model.rowCount() == 0 and model.counted.counts[-1] == 0  # at once
    wait_until(qloop, lambda: ctx.tasks.pending == 0)
    settle(qloop, 0.1)
    assert model.rowCount() == 0
    stored = {c.call_id for c in ctx.api.engine.store.read_sync(lambda s: s.calls.missed(None, 100))}
    assert stored == {"someone-elses"}  # a colleague's missed call is theirs to dismiss
    assert run(qloop, ctx.api.calls.clear_all_missed()) == 0
    assert model.dismiss_all() is False


def test_a_failed_call_back_keeps_the_row(qloop, send, pbx, service, model):
    failures: list[str] = []
    service.dial_failed.connect(failures.append)
    pbx.mode = "reject"
    missed_call(send, "f-1")
    wait_until(qloop, lambda: model.rowCount() == 1)
    model.call_back(0)
    wait_until(qloop, lambda: failures)
    settle(qloop, 0.1)
    assert model.rowCount() == 1


# -- the panel --------------------------------------------------------------------------------


@pytest.fixture
def panel(qloop, ctx, service, model) -> Iterator[MissedCallsPanel]:
    widget = MissedCallsPanel(ctx, service, model)
    widget.show()
    yield widget
    widget.menu.hide()
    widget.close()
    widget.deleteLater()


def test_panel_dismiss_all(qloop, ctx, send, panel):
    assert not panel.dismiss_all_button.isEnabled()
    missed_call(send, "pa-1")
    missed_call(send, "pa-2")
    missed_call(send, "pa-3", other_leg=OTHER)
    wait_until(qloop, lambda: panel.model.count == 3)
    assert panel.summary_label.text() == "3 missed call(s)"
    assert panel.dismiss_all_button.isEnabled()
    QTest.mouseClick(panel.dismiss_all_button, Qt.MouseButton.LeftButton)
    assert panel.model.rowCount() == 0 and panel.summary_label.text() == "No missed calls."
    assert not panel.dismiss_all_button.isEnabled()
    wait_until(qloop, lambda: ctx.tasks.pending == 0)
    assert ctx.api.engine.store.read_sync(lambda s: s.calls.missed("3")) == []


def test_panel_buttons_call_back_and_dismiss_the_selected_call(qloop, ctx, send, pbx, panel):
    assert panel.summary_label.text() == "No missed calls."
    assert not panel.call_back_button.isEnabled() and not panel.dismiss_button.isEnabled()
    missed_call(send, "p-1")
    missed_call(send, "p-2", other_leg=OTHER)
    wait_until(qloop, lambda: panel.model.rowCount() == 2)
    assert panel.summary_label.text() == "2 missed call(s)"  # English words come from the .qm
    panel.view.selectRow(0)
    assert panel.call_back_button.isEnabled() and panel.dismiss_button.isEnabled()
    QTest.mouseClick(panel.dismiss_button, Qt.MouseButton.LeftButton)
    assert panel.model.rowCount() == 1
    assert panel.summary_label.text() == "1 missed call(s)"
    assert not panel.dismiss_button.isEnabled()  # nothing selected any more
    wait_until(qloop, lambda: ctx.tasks.pending == 0)  # the dismiss is stored
    panel.view.selectRow(0)
    QTest.mouseClick(panel.call_back_button, Qt.MouseButton.LeftButton)
    assert panel.message_label.text() == "Asking the PBX to call +7 495 252-30-60\u2026"
    wait_until(qloop, lambda: panel.model.rowCount() == 0)
    assert pbx.calls == [{"crm_user_id": "3", "dst": "84952523060"}]
    assert panel.message_label.text() == "Your phone rings first: answer it and the PBX calls +7 495 252-30-60."
    assert panel.summary_label.text() == "No missed calls."


@pytest.mark.qt_log_ignore("This plugin does not support (propagateSizeHints|raise|grabbing the keyboard)")
def test_context_menu_offers_the_same_actions(qloop, send, pbx, panel):
    missed_call(send, "cm-1", other_leg=OTHER)
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    pos = panel.view.visualRect(panel.model.index(0, M.NUMBER)).center()
    panel.view.customContextMenuRequested.emit(pos)  # what a right-click on the row sends
    assert panel.menu.isVisible()
    assert panel.selected_row() == 0
    assert [a.text() for a in panel.menu.actions()] == ["Open card", "Call back", "Dismiss"]
    assert all(a.isEnabled() for a in panel.menu.actions())
    panel.call_back_action.trigger()
    panel.menu.hide()
    wait_until(qloop, lambda: panel.model.rowCount() == 0)
    assert pbx.calls == [{"crm_user_id": "3", "dst": "89066800404"}]


def test_double_click_opens_the_card_and_never_dials(qloop, ctx, send, pbx, panel):
    contact_id = add_contact(ctx, "Ivan Petrov", None, CALLER)
    missed_call(send, "dc-1")
    missed_call(send, "dc-2", other_leg=OTHER)
    wait_until(qloop, lambda: panel.model.rowCount() == 2)
    opened: list[tuple[int, str]] = []
    panel.open_card_requested.connect(lambda *args: opened.append(args))
    view = panel.view
    for row in range(2):
        center = view.visualRect(panel.model.index(row, M.NUMBER)).center()
        # a real double-click: Qt 6's QTest.mouseDClick sends only the second click's event
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
        QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
    settle(qloop, 0.2)
    assert pbx.calls == []
    assert panel.model.rowCount() == 2  # nothing was cleared either
    assert sorted(opened) == sorted([(contact_id, "+7 495 252-30-60"), (0, panel.model.row_at(
        panel.model.row_of("dc-2")).number)])
    panel.view.selectRow(0)
    assert panel.open_card_button.isEnabled()
    panel.open_card_button.click()
    assert len(opened) == 3


def test_a_hidden_number_cannot_be_called_back(qloop, send, panel):
    send(envelope("call_ringing", call_body("h-1", other_leg="anonymous")))
    send(envelope("call_hangup", call_body("h-1", other_leg="anonymous", variable_answersec="0")))
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    assert panel.model.data(panel.model.index(0, M.NUMBER)) == "anonymous"
    panel.view.selectRow(0)
    assert not panel.call_back_button.isEnabled()
    assert panel.dismiss_button.isEnabled()
