"""Click-to-dial: DialService against a real fake PBX over HTTP, and the dialer window offscreen.

What the agent notices: the number that reaches the PBX (``dst`` of the one make_call), that a
second click never rings their phone twice, the plain sentences shown for each PBX failure,
the dialer's preview of what will be dialed, its contact search and its recent numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

from app.storage import ContactRecord, PhoneRecord
from app.ui.dialer import DialerListModel, DialerWindow, DialService
from tests.fakes.fake_pbx import FakePbx, refused_url
from tests.support import canary
from tests.support.qtloop import run, settle, wait_until
from tests.support.webhook import call_body, envelope

# The offscreen platform cannot resize a shown window when its size hints change (xcb can).
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


class Recorder:
    """Everything a DialService said, in order."""

    def __init__(self, service: DialService) -> None:
        self.dialing: list[tuple[str, str]] = []
        self.failed: list[str] = []
        self.dialed: list[str] = []
        service.dialing.connect(lambda display, dst: self.dialing.append((display, dst)))
        service.dial_failed.connect(self.failed.append)
        service.dialed.connect(self.dialed.append)


@pytest.fixture
def service(ctx) -> DialService:
    return DialService(ctx)


@pytest.fixture
def said(service) -> Recorder:
    return Recorder(service)


def make_calls(fake: FakePbx) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r.get("action") == "make_call"]


def add_contact(ctx, name: str, company: str | None, *raws: str) -> int:
    def write(session: Any) -> int:
        company_id = session.contacts.company_id(company) if company else None
        phones = [PhoneRecord(ctx.normalizer.key(raw), raw) for raw in raws]
        return session.contacts.save(ContactRecord(id=None, name=name, company_id=company_id, phones=phones))

    return ctx.api.engine.store.write_sync(write)


# -- DialService -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "dst", "display"),
    [
        ("8 495 134-30-60", "84951343060", "+7 495 134-30-60"),
        ("tel:+7%20495%20134-30-60", "84951343060", "+7 495 134-30-60"),
        ("sip:+74951343060@pbx.example.com;user=phone", "84951343060", "+7 495 134-30-60"),
        ("callto://+79066800404", "89066800404", "+7 906 680-04-04"),
        ("+1 415 555 0100", "+14155550100", "+1 415-555-0100"),
        ("9022", "9022", "9022"),
    ],
)
def test_each_number_form_reaches_the_pbx_once_in_the_dial_format(qloop, pbx, service, said, text, dst, display):
    assert service.dial(text) is True
    wait_until(qloop, lambda: said.dialed or said.failed)
    assert said.failed == []
    assert said.dialing == [(display, dst)]
    settle(qloop, 0.1)
    assert pbx.calls == [{"crm_user_id": "3", "dst": dst}]
    assert len(make_calls(pbx)) == 1


def test_a_second_click_while_the_first_is_in_flight_does_not_ring_twice(qloop, pbx, service, said):
    assert service.dial("8 906 680-04-04") is True
    assert service.busy and service.is_dialing("+79066800404")
    assert service.dial("tel:+79066800404") is False  # the same number, spelled differently
    assert len(said.failed) == 1 and "Already calling +7 906 680-04-04" in said.failed[0]
    wait_until(qloop, lambda: said.dialed)
    settle(qloop, 0.1)
    assert len(make_calls(pbx)) == 1
    assert not service.busy
    # once the PBX answered (and the repeat window passed), calling the number again is a new, deliberate call
    service._ctx.settings.dial_repeat_window_s = 0
    assert service.dial("8 906 680-04-04") is True
    wait_until(qloop, lambda: len(said.dialed) == 2)
    assert len(make_calls(pbx)) == 2


def test_the_same_number_within_the_repeat_window_is_dialed_once_and_the_agent_is_told(qloop, pbx, service, said):
    assert service._ctx.settings.dial_repeat_window_s == 3.0  # the default
    assert service.dial("tel:+7%20906%20680-04-04") is True
    wait_until(qloop, lambda: said.dialed)
    assert not service.busy  # the PBX answered already: only the window stops the second launch
    assert service.dial("tel:+79066800404") is False  # a double-click on a link: a second launch 290 ms later
    assert said.failed == ["+7 906 680-04-04 was dialed a moment ago: not dialed again. Wait for your phone to ring."]
    settle(qloop, 0.1)
    assert len(make_calls(pbx)) == 1
    assert service.dial("8 495 134-30-60") is True  # another number is not held back
    service._ctx.settings.dial_repeat_window_s = 0.2
    settle(qloop, 0.25)
    assert service.dial("+79066800404") is True  # after the window: a new, deliberate call
    wait_until(qloop, lambda: len(said.dialed) == 3)
    assert len(make_calls(pbx)) == 3


def test_a_refused_call_may_be_asked_for_again_at_once(qloop, pbx, service, said):
    pbx.mode = "reject"
    assert service.dial("8 906 680-04-04") is True
    wait_until(qloop, lambda: said.failed)
    pbx.mode = "ok"
    assert service.dial("8 906 680-04-04") is True
    wait_until(qloop, lambda: said.dialed)
    assert len(make_calls(pbx)) == 2


def test_another_number_may_be_dialed_while_one_is_in_flight(qloop, pbx, service, said):
    assert service.dial("8 906 680-04-04") is True
    assert service.dial("8 495 134-30-60") is True
    wait_until(qloop, lambda: len(said.dialed) == 2)
    assert sorted(c["dst"] for c in pbx.calls) == ["84951343060", "89066800404"]


def test_the_pbx_refusing_shows_its_own_message_and_records_nothing(qloop, ctx, pbx, service, said):
    pbx.mode = "reject"
    assert service.dial("8 906 680-04-04") is True
    wait_until(qloop, lambda: said.failed)
    assert said.failed == [
        "Could not place the call: the PBX said no: \u201cUser crm_user_id is not added to the integration\u201d."
    ]
    assert said.dialing == [] and said.dialed == []
    assert len(make_calls(pbx)) == 1
    assert ctx.api.engine.store.read_sync(lambda s: s.dials.recent()) == []


def test_no_answer_from_the_pbx_warns_the_phone_may_ring_and_is_never_resent(qloop, ui_engine, pbx, service, said):
    ui_engine.settings.pbx_timeout_s = 0.3
    pbx.mode = "hang"
    assert service.dial("8 906 680-04-04") is True
    wait_until(qloop, lambda: said.failed, timeout=5)
    (message,) = said.failed
    assert "your phone may ring" in message
    assert "Do not call again until you have checked" in message
    settle(qloop, 0.6)  # longer than another timeout: a re-send would have shown up by now
    assert len(make_calls(pbx)) == 1
    assert said.dialing == [] and not service.busy


def test_a_refused_api_key_says_to_check_the_key(qloop, ui_engine, service, said):
    fake = FakePbx(api_key="another-key")
    run(qloop, fake.start())
    try:
        ui_engine.settings.pbx_url = fake.url
        service.dial("8 906 680-04-04")
        wait_until(qloop, lambda: said.failed)
    finally:
        run(qloop, fake.stop())
    assert "refused the API key (HTTP 401)" in said.failed[0]
    assert "Check the PBX API key in Settings" in said.failed[0]
    assert canary.PBX_KEY not in said.failed[0]


def test_an_unreachable_pbx_says_so(qloop, ui_engine, service, said):
    ui_engine.settings.pbx_url = refused_url()
    service.dial("8 906 680-04-04")
    wait_until(qloop, lambda: said.failed, timeout=8)
    assert "could not be reached" in said.failed[0]
    assert "Check the PBX address and your network connection" in said.failed[0]


def test_missing_settings_are_named_before_anything_is_sent(qloop, ui_engine, service, said):
    ui_engine.settings.pbx_url = ""
    assert service.dial("8 906 680-04-04") is False
    assert said.failed == ["The PBX is not set up: enter the PBX address in Settings."]
    ui_engine.settings.pbx_url = "http://127.0.0.1:9"
    ui_engine.settings.crm_user = ""
    assert service.dial("8 906 680-04-04") is False
    assert said.failed[-1] == "Click-to-dial is not set up: enter this workstation's CRM user in Settings."
    assert not service.busy


def test_text_that_is_no_number_is_explained(service, said):
    assert service.dial("hello") is False
    assert service.dial("134-30-60") is False
    assert said.failed == [
        "Cannot dial this: it contains no phone number.",
        "Cannot dial this: it is a local number without an area code.",
    ]


def test_dial_clipboard_finds_the_number_in_copied_text(qloop, pbx, service, said):
    QGuiApplication.clipboard().setText("Call me back at +7 906 680-04-04 after lunch, Ivan")
    assert service.dial_clipboard() is True
    wait_until(qloop, lambda: said.dialed)
    assert pbx.calls == [{"crm_user_id": "3", "dst": "89066800404"}]


def test_dial_clipboard_without_a_number_says_so_plainly(pbx, service, said):
    QGuiApplication.clipboard().setText("see you tomorrow at the office")
    assert service.dial_clipboard() is False
    QGuiApplication.clipboard().setText("   ")
    assert service.dial_clipboard() is False
    assert said.failed == ["The clipboard holds no phone number.", "The clipboard is empty: copy a phone number first."]
    assert make_calls(pbx) == []


def test_calling_back_records_the_number_and_clears_its_missed_calls(qloop, ctx, send, pbx, service, said):
    for call_id in ("cb-1", "cb-2"):
        send(envelope("call_ringing", call_body(call_id, other_leg="+74952523060")))
        send(envelope("call_hangup", call_body(call_id, other_leg="+74952523060", variable_answersec="0")))
    assert len(ctx.api.engine.store.read_sync(lambda s: s.calls.missed("3"))) == 2
    service.dial("8 (495) 252-30-60")
    wait_until(qloop, lambda: said.dialed)
    assert said.dialed == ["74952523060"]
    assert ctx.api.engine.store.read_sync(lambda s: s.calls.missed("3")) == []
    recent = ctx.api.engine.store.read_sync(lambda s: s.dials.recent())
    assert [(k, d) for k, d, _ in recent] == [("74952523060", "84952523060")]


# -- DialerWindow ----------------------------------------------------------------------------


@pytest.fixture
def window(qloop, ctx, service) -> Iterator[DialerWindow]:
    win = DialerWindow(ctx, service)
    win.show()
    wait_until(qloop, lambda: win.list_label.text() != "")
    yield win
    win.close()
    win.deleteLater()
    settle(qloop, 0.01)


def type_text(qloop, win: DialerWindow, text: str) -> None:
    win.number_edit.clear()
    QTest.keyClicks(win.number_edit, text)
    settle(qloop, 0.05)


def rows(win: DialerWindow) -> list[tuple[str, str, str]]:
    model = win.model
    return [
        (model.data(model.index(r, DialerListModel.NAME)), model.data(model.index(r, DialerListModel.COMPANY)),
         model.data(model.index(r, DialerListModel.NUMBER)))
        for r in range(model.rowCount())
    ]


@pytest.mark.parametrize(
    ("text", "preview", "callable"),
    [
        ("8 (906) 680-04-04", "Will dial 89066800404", True),
        ("+7 906 680 04 04", "Will dial 89066800404", True),
        ("tel:+7%20906%20680-04-04", "Will dial 89066800404", True),
        ("+1 415 555 0100", "Will dial +14155550100", True),
        ("9022", "Will dial 9022", True),
        ("134-30-60", "Cannot dial this: it is a local number without an area code.", False),
        ("+7 906 680", "Cannot dial this: it is too short for a +7 number.", False),
        ("mailto:ivan@example.com", "Cannot dial this: mailto: links are not phone numbers.", False),
    ],
)
def test_the_preview_shows_exactly_what_will_be_dialed(qloop, window, text, preview, callable):
    type_text(qloop, window, text)
    assert window.preview_label.text() == preview
    assert window.call_button.isEnabled() is callable


def test_call_is_disabled_for_garbage_and_empty_text(qloop, window):
    assert window.call_button.isEnabled() is False
    assert window.preview_label.text() == "Type a number or a contact's name."
    type_text(qloop, window, "!!??")
    assert window.call_button.isEnabled() is False
    assert window.preview_label.text().startswith("Cannot dial this:")


def test_typing_a_name_lists_matching_contacts_and_enter_dials_the_chosen_one(qloop, ctx, pbx, window):
    add_contact(ctx, "Petrov Ivan", "Romashka", "8 (495) 134-30-60", "+7 906 680-04-04")
    add_contact(ctx, "Sidorova Anna", None, "+7 812 123-45-67")
    type_text(qloop, window, "petr")
    wait_until(qloop, lambda: window.model.rowCount() == 2)
    assert rows(window) == [("Petrov Ivan", "Romashka", "+7 495 134-30-60"),
                            ("Petrov Ivan", "Romashka", "+7 906 680-04-04")]
    assert window.list_label.text() == "Contacts"
    assert window.preview_label.text() == "Choose a number below to call."
    assert not window.call_button.isEnabled()
    QTest.keyClick(window.number_edit, Qt.Key.Key_Down)
    QTest.keyClick(window.number_edit, Qt.Key.Key_Down)
    assert window.preview_label.text() == "Will dial 89066800404 (Petrov Ivan)"
    QTest.keyClick(window.number_edit, Qt.Key.Key_Return)
    wait_until(qloop, lambda: pbx.calls)
    assert pbx.calls == [{"crm_user_id": "3", "dst": "89066800404"}]
    wait_until(qloop, lambda: "Your phone rings first" in window.status_label.text())
    assert window.status_label.text() == "Your phone rings first: answer it and the PBX calls +7 906 680-04-04."


def test_a_partial_number_finds_the_contacts_that_have_it(qloop, ctx, window):
    add_contact(ctx, "Petrov Ivan", "Romashka", "8 (495) 134-30-60")
    add_contact(ctx, "Sidorova Anna", None, "+7 812 123-45-67")
    type_text(qloop, window, "495 134")
    wait_until(qloop, lambda: window.model.rowCount() == 1)
    assert rows(window) == [("Petrov Ivan", "Romashka", "+7 495 134-30-60")]
    type_text(qloop, window, "8 (812) 12")  # typed with the trunk prefix
    wait_until(qloop, lambda: rows(window) == [("Sidorova Anna", "", "+7 812 123-45-67")])
    type_text(qloop, window, "000 000")
    wait_until(qloop, lambda: window.list_label.text() == "No contact matches.")
    assert window.model.rowCount() == 0


def test_double_click_on_a_result_opens_its_card_and_never_dials(qloop, ctx, pbx, window):
    contact_id = add_contact(ctx, "Sidorova Anna", None, "+7 812 123-45-67")
    type_text(qloop, window, "Sidorova")
    wait_until(qloop, lambda: window.model.rowCount() == 1)
    opened: list[tuple[int, str]] = []
    window.open_card_requested.connect(lambda *args: opened.append(args))
    view = window.results_view
    rect = view.visualRect(window.model.index(0, DialerListModel.NUMBER))
    # a real double-click: Qt 6's QTest.mouseDClick sends only the second click's event
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    settle(qloop, 0.2)
    assert pbx.calls == []
    assert opened == [(contact_id, "+7 812 123-45-67")]
    # "Open card" on the selected row does the same; calling is the Call button
    window.open_card_button.click()
    assert opened[-1] == (contact_id, "+7 812 123-45-67")
    window.call_button.click()
    wait_until(qloop, lambda: pbx.calls)
    settle(qloop, 0.1)
    assert pbx.calls == [{"crm_user_id": "3", "dst": "88121234567"}]


def test_recent_numbers_appear_after_dialing(qloop, ctx, pbx, window):
    assert window.list_label.text() == "No numbers dialed yet."
    add_contact(ctx, "Petrov Ivan", "Romashka", "+7 906 680-04-04")
    type_text(qloop, window, "8 906 680-04-04")
    QTest.mouseClick(window.call_button, Qt.MouseButton.LeftButton)
    assert window.status_label.text() == "Asking the PBX to call +7 906 680-04-04\u2026"
    wait_until(qloop, lambda: window.status_label.text().startswith("Your phone rings first"))
    type_text(qloop, window, "+1 415 555 0100")
    window.call()
    wait_until(qloop, lambda: len(pbx.calls) == 2)
    window.number_edit.clear()
    wait_until(qloop, lambda: window.model.rowCount() == 2 and window.model.showing_recent)
    assert window.list_label.text() == "Recent numbers"
    assert [(name, number) for name, _company, number in rows(window)] == [
        ("", "+1 415-555-0100"), ("Petrov Ivan", "+7 906 680-04-04")]
    assert window.model.data(window.model.index(0, DialerListModel.WHEN)).startswith("today ")


def test_pbx_errors_are_shown_in_the_window(qloop, pbx, window):
    pbx.mode = "reject"
    type_text(qloop, window, "8 906 680-04-04")
    QTest.keyClick(window.number_edit, Qt.Key.Key_Return)
    wait_until(qloop, lambda: "said no" in window.status_label.text())
    assert "User crm_user_id is not added to the integration" in window.status_label.text()
    assert len(make_calls(pbx)) == 1
