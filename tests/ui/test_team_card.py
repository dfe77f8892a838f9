"""The client card in team mode: the windows get a TeamApi instead of the standalone API and
cannot tell. A real team server on the Qt loop; Rita's and Boris's apps are TeamApi clients.

- a recording plays through the server's authorised stream: the player is handed the audio, the
  PBX's link (with its token) never reaches the agent's side, in memory or on disk;
- a contact Boris edits shows the change in Rita's open card;
- the card offers the call outcomes the team server set, not the agent's own list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.core.api import ContactDraft
from app.core.secrets import Keys
from app.core.settings import Settings
from app.core.team_api import LIVE, TeamApi
from app.storage import PhoneRecord
from app.ui.card import ClientCard
from app.ui.player import RecordingPlayer
from tests.support import canary
from tests.support.companion import start_companion
from tests.support.qtloop import run, settle, wait_until
from tests.support.webhook import call_body, cdr_body, envelope, post
from tests.ui.test_card import MEDIA_NOISE, Recordings, wav_bytes

pytestmark = [pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
              pytest.mark.usefixtures("english")]

CLIENT, CLIENT_KEY = "+74952523060", "74952523060"
#: the server's ``outcomes`` setting: a built-in outcome by its Russian words, the call center's own words
TEAM_OUTCOMES = "Demo booked, Перезвонить, Договор отправлен"


@dataclass
class Agent:
    api: TeamApi
    ctx: Any


@pytest.fixture
def team(qloop, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A team server (SQLite) with Rita (3, 9022) and Boris (4, 9023), each with a started TeamApi and
    the UiContext the app would build around it."""
    from app.team.agents import AgentAdmin
    from app.team.server import TeamServer
    from app.ui.context import TaskRunner, UiContext
    from app.ui.qt_bridge import QtBridge

    settings = Settings(data_dir=str(tmp_path / "server"), port=0, outcomes=TEAM_OUTCOMES).validate()
    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
    webhook = run(qloop, server.start())
    admin = AgentAdmin(server.engine.store)
    agents: dict[str, Any] = {"webhook": webhook}
    for name, crm_user, extension in (("Rita", "3", "9022"), ("Boris", "4", "9023")):
        token = admin.add(name, crm_user, extension).token
        api = TeamApi(webhook.removesuffix("/webhook"), token, state_path=tmp_path / name / "team-feed.json")
        run(qloop, api.start())
        run(qloop, api.connection.wait_for(LIVE, timeout=10))
        app_settings = Settings(data_dir=str(tmp_path / name), mode="team", team_server=api.server_url,
                                outcomes="sale, not_interested").validate()  # an agent's own list: not offered
        bridge = QtBridge(api.events)
        agents[name] = Agent(api, UiContext(api, bridge, TaskRunner(qloop), app_settings))
    yield agents
    for name in ("Rita", "Boris"):
        agent = agents[name]
        run(qloop, agent.ctx.tasks.cancel_all())
        run(qloop, agent.api.stop())
        agent.ctx.bridge.close()
    run(qloop, server.stop())


def send(qloop, webhook: str, action: str, body: dict[str, Any]) -> None:
    import aiohttp

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            status, reply = await post(session, webhook, envelope(action, body))
            assert status == 200, reply

    run(qloop, go())


@pytest.mark.qt_log_ignore(*MEDIA_NOISE)
def test_a_recording_plays_through_the_team_server(qtbot, qloop, team, tmp_path: Path):
    recordings = Recordings()
    run(qloop, recordings.start())
    try:
        recordings.files["rec-1.wav"] = wav_bytes()
        pbx_link = f"{recordings.url}/rec-1.wav?token={canary.LINK_TOKEN}"
        rita = team["Rita"]
        send(qloop, team["webhook"], "call_ringing", call_body("rec-call", crm_user="3", domain_user="9022"))
        send(qloop, team["webhook"], "cdr_append", cdr_body("rec-1", dst="9022", link=pbx_link))
        link = run(qloop, rita.api.history.recording_link("rec-1"))
        assert link == rita.api.recording_url("rec-1") and canary.LINK_TOKEN not in link

        player = RecordingPlayer()
        qtbot.addWidget(player)
        player.show()
        player.set_loader(rita.api.history.recording, rita.ctx.tasks)
        player.set_recording(link)
        player.play_button.click()
        wait_until(qloop, lambda: player.state in (RecordingPlayer.PLAYING, RecordingPlayer.NOT_READY), timeout=15)
        assert player.state == RecordingPlayer.PLAYING, player.status_label.text()
        wait_until(qloop, lambda: player.duration_ms > 0, timeout=10)
        assert player.time_label.text().endswith("/ 0:02")
        assert recordings.hits == ["rec-1.wav"]  # the server fetched it, once
        player.open_button.click()  # a browser could not send the token: the agent is told, nothing opens
        assert "comes through the team server" in player.status_label.text()
        # to the end rather than stopped midway (see test_agent_day's no-audio-device test)
        wait_until(qloop, lambda: player.state == RecordingPlayer.FINISHED, timeout=15)
        player.stop()
        # a recording the PBX has not published yet reads as "not ready", as standalone
        unpublished = pbx_link.replace("rec-1", "rec-2")
        send(qloop, team["webhook"], "cdr_append", cdr_body("rec-2", dst="9022", link=unpublished))
        player.set_recording(rita.api.recording_url("rec-2"))
        player.play_button.click()
        wait_until(qloop, lambda: player.state == RecordingPlayer.NOT_READY, timeout=15)
        assert player.retry_button.isVisible()
    finally:
        run(qloop, recordings.stop())
    run(qloop, rita.api.stop())  # the app quits: its resume point is written
    on_disk = [p for p in (tmp_path / "Rita").rglob("*") if p.is_file()]
    assert on_disk and all(canary.LINK_TOKEN.encode() not in p.read_bytes() for p in on_disk)


def test_a_contact_edited_by_one_agent_changes_in_the_other_agents_open_card(qtbot, qloop, team):
    rita, boris = team["Rita"], team["Boris"]
    draft = ContactDraft("Иван Петров", "ООО «Ромашка»", None, "", "", [PhoneRecord(CLIENT_KEY, CLIENT)])
    contact_id = run(qloop, boris.api.contacts.save(draft, contact_id=None))
    card = ClientCard(rita.ctx, contact_id, None)
    qtbot.addWidget(card)
    card.show()
    wait_until(qloop, lambda: not card.is_loading and card.title_label.text() == "Иван Петров", timeout=10)

    run(qloop, boris.api.contacts.save(ContactDraft("Иван Петрович", "ООО «Ромашка»", None, "", "",
                                                    [PhoneRecord(CLIENT_KEY, CLIENT)]), contact_id=contact_id))
    wait_until(qloop, lambda: card.title_label.text() == "Иван Петрович", timeout=10)
    assert card.form.name_edit.text() == "Иван Петрович"

    # Rita is typing in the card: Boris's next change does not overwrite her edit; she is told
    card.form.note_edit.setPlainText("перезвонить в пятницу")
    run(qloop, boris.api.contacts.save(ContactDraft("Иван П.", "ООО «Ромашка»", None, "", "",
                                                    [PhoneRecord(CLIENT_KEY, CLIENT)]), contact_id=contact_id))
    wait_until(qloop, lambda: "Someone else changed this client" in card.save_status_label.text(), timeout=10)
    assert card.form.note_edit.toPlainText() == "перезвонить в пятницу"
    assert card.form.name_edit.text() == "Иван Петрович"


def test_the_card_offers_the_team_servers_outcomes_and_saves_one_for_the_call(qtbot, qloop, team):
    from tests.ui.test_card import M, select, texts

    rita = team["Rita"]
    body = call_body("out-1", crm_user="3", domain_user="9022", other_leg=CLIENT)
    send(qloop, team["webhook"], "call_ringing", body)
    send(qloop, team["webhook"], "call_answer", body)
    send(qloop, team["webhook"], "call_hangup", {**body, "hangup_cause": "NORMAL_CLEARING"})
    draft = ContactDraft("Иван Петров", "", None, "", "", [PhoneRecord(CLIENT_KEY, CLIENT)])
    contact_id = run(qloop, rita.api.contacts.save(draft, contact_id=None))
    card = ClientCard(rita.ctx, contact_id, None)
    qtbot.addWidget(card)
    card.show()
    wait_until(qloop, lambda: not card.is_loading and card.timeline_proxy.rowCount() == 1, timeout=10)

    combo = card.outcome_combo
    offered = [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]
    # the team's list in its order, a built-in one as its code in the agent's language; not Rita's own
    assert offered == [("", ""), ("Demo booked", "Demo booked"), ("call_back", "Call back"),
                       ("Договор отправлен", "Договор отправлен")]
    select(card, "out-1")
    combo.setCurrentIndex(combo.findData("Договор отправлен"))
    card.note_edit.setText("Договор на 12 месяцев")
    card.save_note_button.click()
    wait_until(qloop, lambda: card.message_label.text() == "Note saved.", timeout=10)
    assert texts(card, M.COL_NOTE) == ["Договор отправлен · Договор на 12 месяцев"]
    again = ClientCard(rita.ctx, contact_id, None)  # read back from the server
    qtbot.addWidget(again)
    again.show()
    wait_until(qloop, lambda: not again.is_loading and again.timeline_proxy.rowCount() == 1, timeout=10)
    select(again, "out-1")
    assert again.outcome_combo.currentData() == "Договор отправлен"


def test_diagnostics_in_team_mode_names_the_team_server_instead_of_a_listener(qtbot, qloop, team):
    from app.ui.diagnostics import DiagnosticsPanel, diagnostics_text

    rita = team["Rita"]
    panel = DiagnosticsPanel(rita.ctx)
    qtbot.addWidget(panel)
    assert panel.listener_label.text() == f"none: the team server {rita.api.server_url} is the PBX's webhook"
    text = diagnostics_text(rita.ctx.settings, panel.health, [], Path("log"))
    assert f"listener: none (team mode: {rita.api.server_url} is the PBX's webhook)" in text
    assert "agent_token:" in text


def test_a_dial_the_team_server_refuses_is_told_plainly_and_not_sent_again(qtbot, qloop, team):
    from app.ui.dialer import DialService

    rita = team["Rita"]
    service = DialService(rita.ctx)
    failures: list[str] = []
    service.dial_failed.connect(failures.append)
    run(qloop, rita.api.stop())  # the team server cannot be asked any more
    service.dial("tel:+74951343060")
    wait_until(qloop, lambda: failures, timeout=10)
    assert failures[0].startswith("Could not place the call: the team server cannot be reached")
    assert "The app keeps trying" in failures[0]
    settle(qloop, 0.5)
    assert len(failures) == 1  # one attempt, one message: nothing is re-sent behind the agent's back


def test_the_network_coming_back_connects_at_once_instead_of_after_the_backoff(qapp, qloop, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch):
    """The app starts while its team server is away (a laptop before its Wi-Fi): it says so and
    waits a long backoff; when the OS reports the network back, it connects at once."""
    import socket

    from PySide6.QtNetwork import QNetworkInformation

    from app.core import feed_client
    from app.team.agents import AgentAdmin
    from app.team.server import TeamServer

    monkeypatch.setattr(feed_client, "BACKOFF_FIRST", 60.0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server_settings = Settings(data_dir=str(tmp_path / "server"), port=port).validate()
    server = TeamServer(server_settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
    token = AgentAdmin(server.engine.store).add("Rita", "3", "9022").token
    settings = Settings(data_dir=str(tmp_path / "rita"), mode="team", team_server=f"http://127.0.0.1:{port}",
                        popup_linger_s=0.0).validate()
    app = start_companion(qloop, qapp, settings, Keys(None, None, token))
    try:
        wait_until(qloop, lambda: app.status.team == "unreachable", timeout=10)
        assert app.engine is None and app.api.webhook_url is None  # team mode: no listener of its own
        run(qloop, server.start())
        settle(qloop, 0.5)
        assert app.status.team == "unreachable"  # the backoff's wait is long
        app.network_changed(QNetworkInformation.Reachability.Online)
        wait_until(qloop, lambda: app.status.team == "live", timeout=5)
        assert app.ctx.identity.crm_user == "3" and app.ctx.identity.extension == "9022"  # from the server
    finally:
        run(qloop, app.shutdown())
        run(qloop, server.stop())
