"""The diagnostics panel: real events posted to the running webhook, shown and copied masked."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from app.core.settings import default_log_dir
from app.storage.records import EventRecord
from app.ui.diagnostics import DiagnosticsPanel, EventLogModel, log_file_path, mask_payload
from tests.fakes.fake_pbx import FakePbx
from tests.support import canary
from tests.support.qtloop import run, wait_until
from tests.support.webhook import call_body, cdr_body, envelope, post

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

SECRETS = (canary.CRM_KEY, canary.PBX_KEY, canary.LINK_TOKEN)


@pytest.fixture(autouse=True)
def _english(english) -> None:
    """Every test here reads English texts with their plural forms."""


@pytest.fixture
def panel(ctx, qloop, qtbot) -> DiagnosticsPanel:
    p = DiagnosticsPanel(ctx)
    qtbot.addWidget(p)
    p.show()
    wait_until(qloop, lambda: p.events_loaded >= 1 and p.health.listener_up is not None)
    return p


def test_events_are_shown_and_copied_with_the_link_token_masked(panel, send, qloop) -> None:
    status, _ = send(envelope("call_ringing", call_body("diag-call-1")))
    assert status == 200
    status, _ = send(envelope("cdr_append", cdr_body("diag-cdr-1")))
    assert status == 200
    # the panel refreshes itself after the core reports the events
    wait_until(qloop, lambda: panel.model.rowCount() == 2)
    actions = [panel.model.data(panel.model.index(r, EventLogModel.ACTION)) for r in range(2)]
    assert actions == ["cdr_append", "call_ringing"]  # newest first
    panel.table.selectRow(0)
    assert "https://pbx.example.com/get_file?***" in panel.payload.toPlainText()
    assert '"uniqueid": "diag-cdr-1"' in panel.payload.toPlainText()
    # the event's body, not the envelope around it (its action and id are columns of their own)
    assert '"obj"' not in panel.payload.toPlainText() and '"action_id"' not in panel.payload.toPlainText()
    assert panel.payload.toPlainText().lstrip().startswith('{\n  "id"')

    shown = panel.visible_text()
    for secret in SECRETS:
        assert secret not in shown

    panel.copy_diagnostics()
    copied = QGuiApplication.clipboard().text()
    assert panel.status.text() == "Diagnostics copied to the clipboard."
    for secret in SECRETS:
        assert secret not in copied
    assert "cdr_append" in copied and "get_file?***" in copied and "diag-call-1" in copied
    for heading in ("Python:", "Qt:", "PySide6:", "aiohttp:", "SQLite:", "OS:", "pbx-companion: 0.1.0"):
        assert heading in copied
    assert "crm_user = '3'" in copied and "extension = '9022'" in copied
    assert "crm_api_key: environment" in copied  # where the key comes from, never the key
    assert f"listener: {panel.ctx.api.engine.server.url} (up)" in copied
    assert str(log_file_path(panel.ctx.settings)) in copied


def test_an_escaped_link_in_a_raw_payload_is_masked_too(panel, send, qloop) -> None:
    # PHP's json_encode writes "https:\/\/host\/..."; the raw payload is stored as received
    raw = json.dumps(envelope("cdr_append", cdr_body("diag-escaped"))).replace("/", "\\/")
    assert canary.LINK_TOKEN in raw and "https:\\/\\/" in raw
    status, _ = send(raw)
    assert status == 200
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    assert canary.LINK_TOKEN not in panel.visible_text()
    panel.copy_diagnostics()
    assert canary.LINK_TOKEN not in QGuiApplication.clipboard().text()
    assert "get_file?***" in QGuiApplication.clipboard().text()


def test_only_the_last_fifty_events_are_listed(panel, send, qloop) -> None:
    for i in range(53):
        assert send(envelope("cdr_append", cdr_body(f"diag-many-{i}")))[0] == 200
    panel.refresh()
    wait_until(qloop, lambda: panel.model.rowCount() == 50)
    assert "diag-many-52" in panel.model.masked(0).payload
    assert all("diag-many-2\"" not in e.payload for e in panel.model.events())


def test_listener_health_up_and_down(panel, qloop, ui_engine) -> None:
    url = ui_engine.server.url
    assert panel.listener_label.text() == f"{url} — up"
    run(qloop, ui_engine.server.stop())
    panel.refresh()
    wait_until(qloop, lambda: panel.listener_label.text().endswith("down"))
    assert panel.listener_label.text() == f"{url} — down"


def test_check_pbx_when_not_configured_says_what_to_set(panel, qloop, qtbot) -> None:
    assert panel.pbx_label.text() == "Not checked yet."
    qtbot.mouseClick(panel.check_pbx_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: panel.check_pbx_button.isEnabled())
    assert panel.pbx_label.text().startswith("Failed at ")
    assert "the PBX URL is not set" in panel.pbx_label.text()
    assert panel.health.pbx_ok is False


def test_check_pbx_against_the_pbx(panel, qloop, qtbot, ui_engine) -> None:
    fake = FakePbx(api_key=canary.PBX_KEY)
    run(qloop, fake.start())
    try:
        ui_engine.settings.pbx_url = fake.url
        qtbot.mouseClick(panel.check_pbx_button, Qt.MouseButton.LeftButton)
        wait_until(qloop, lambda: panel.check_pbx_button.isEnabled())
        assert panel.pbx_label.text().startswith("OK at ") and panel.pbx_label.text().endswith(": 2 PBX users")
        panel.copy_diagnostics()
        assert "PBX: ok at " in QGuiApplication.clipboard().text()
        fake.mode = "http500"
        qtbot.mouseClick(panel.check_pbx_button, Qt.MouseButton.LeftButton)
        wait_until(qloop, lambda: panel.check_pbx_button.isEnabled(), timeout=10)
        assert "HTTP 500" in panel.pbx_label.text()
    finally:
        run(qloop, fake.stop())


def test_the_log_file_is_in_the_platform_log_dir_or_the_given_data_dir(panel, tmp_path) -> None:
    from app.core.settings import Settings

    assert log_file_path() == default_log_dir() / "pbx-companion.log"
    assert log_file_path(Settings()) == default_log_dir() / "pbx-companion.log"
    # --data-dir (the settings fixture's data_dir): the logs go with the data
    assert log_file_path(panel.ctx.settings) == tmp_path / "data" / "logs" / "pbx-companion.log"
    assert panel.log_label.text() == str(log_file_path(panel.ctx.settings))


def test_the_apps_pbx_state_is_shown_when_the_panel_opens(ctx, qloop, qtbot, ui_engine) -> None:
    fake = FakePbx(api_key=canary.PBX_KEY)
    run(qloop, fake.start())
    try:
        ui_engine.settings.pbx_url = fake.url
        opened = DiagnosticsPanel(ctx)
        qtbot.addWidget(opened)
        opened.show()
        wait_until(qloop, lambda: opened.check_pbx_button.isEnabled() and opened.health.pbx_ok is not None)
        assert opened.pbx_label.text().startswith("OK at ") and opened.pbx_label.text().endswith(": 2 PBX users")
    finally:
        run(qloop, fake.stop())


def test_the_event_model_masks_without_a_widget() -> None:
    model = EventLogModel()
    payload = json.dumps({"action": "cdr_append", "obj": "UserCRM",
                          "body": {"link": canary.RECORDING_LINK, "note": f"Bearer {canary.CRM_KEY}"}})
    model.set_events([EventRecord(1, "cdr_append", "a-1", 1_700_000_000.0, payload)])
    assert model.rowCount() == 1 and model.columnCount() == 4
    assert model.headerData(EventLogModel.PAYLOAD, Qt.Orientation.Horizontal) == "Body"
    body = model.data(model.index(0, EventLogModel.PAYLOAD))
    assert body.startswith('{"link"') and "UserCRM" not in body  # the body, not the envelope
    cell = model.data(model.index(0, EventLogModel.PAYLOAD), Qt.ItemDataRole.ToolTipRole)
    assert canary.LINK_TOKEN not in cell and "get_file?***" in cell and "Bearer ***" in cell
    assert mask_payload("not json https://x.example/a?token=1") == "not json https://x.example/a?***"


def test_refused_requests_are_listed_with_the_events(panel, send, qloop) -> None:
    """A PBX posting with a stale key, or a body the webhook cannot read, shows up here too: the
    agent (or their admin) sees why calls do not arrive without reading the log."""
    import aiohttp

    async def with_a_stale_key() -> int:
        async with aiohttp.ClientSession() as session:
            status, _ = await post(session, panel.ctx.api.webhook_url, envelope("call_ringing", call_body("diag-key")),
                                   auth=False, headers={"Authorization": "Bearer a-stale-key-0123456789"})
            return status

    assert send(envelope("call_ringing", call_body("diag-ok")))[0] == 200
    assert run(qloop, with_a_stale_key()) == 401
    assert send({"action": "call_ringing", "obj": "UserCRM"})[0] == 400
    panel.refresh()
    wait_until(qloop, lambda: panel.model.rowCount() == 3)
    rows = [panel.model.masked(r) for r in range(3)]
    assert [r.action for r in rows] == ["refused 400 (call_ringing)", "refused 401 (call_ringing)", "call_ringing"]
    assert rows[1].payload.startswith("from 127.0.0.1: ") and "wrong CRM API key" in rows[1].payload
    assert canary.CRM_KEY not in panel.visible_text()
