"""Settings → Connection in team mode: the two modes, the team server's fields, "Test connection"
naming the step that failed, and what Save writes (the mode and address to the file, the token to
the keyring and nowhere else). Against a real team server on the Qt loop."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.core.secrets import AGENT_TOKEN, SERVICE, Keys
from app.core.settings import Settings
from app.ui.settings_dialog import FormValues, SettingsDialog, settings_from_form
from tests.fakes.fake_pbx import refused_url
from tests.support import canary
from tests.support.qtloop import run, wait_until

pytestmark = [pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
              pytest.mark.usefixtures("english")]


@pytest.fixture
def team_server(qloop, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A team server (SQLite: the storage is not what is tested here) with agent Rita; (URL, her token)."""
    from app.team.agents import AgentAdmin
    from app.team.server import TeamServer

    settings = Settings(data_dir=str(tmp_path / "server"), port=0).validate()
    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
    url = run(qloop, server.start())
    token = AgentAdmin(server.engine.store).add("Rita", "3", "9022").token
    yield url.removesuffix("/webhook"), token
    run(qloop, server.stop())


@pytest.fixture
def dialog(ctx, qtbot, tmp_path: Path, memory_keyring) -> SettingsDialog:
    d = SettingsDialog(ctx, settings_path=tmp_path / "config" / "settings.toml")
    qtbot.addWidget(d)
    d.show()
    return d


def choose_team(qtbot, dialog: SettingsDialog, url: str, token: str) -> None:
    dialog.mode_team.click()
    dialog.team_server.setText(url)
    dialog.agent_token.edit.setText(token)


def test_the_team_server_address_is_checked_before_anything_is_saved():
    base = Settings()
    for bad in ("", "team.example.com", "ftp://team.example.com", "https://u:p@team.example.com"):
        settings, errors = settings_from_form(base, FormValues(mode="team", team_server=bad))
        assert settings is None and errors["team_server"], bad
    settings, errors = settings_from_form(base, FormValues(mode="team", team_server=" https://team.example:8765/ "))
    assert errors == {} and settings is not None
    assert (settings.mode, settings.team_server, settings.team_mode) == ("team", "https://team.example:8765", True)
    # standalone ignores the (disabled) team fields and keeps the address saved before
    saved = Settings(team_server="https://team.example").validate()
    settings, errors = settings_from_form(saved, FormValues(mode="standalone", team_server="typo"))
    assert errors == {} and settings is not None and not settings.team_mode
    assert settings.team_server == "https://team.example"


def test_team_mode_needs_only_the_token_to_skip_the_first_run():
    team = Settings(mode="team", team_server="https://team.example").validate()
    assert Keys(None, None).need_first_run(team) is True
    assert Keys(None, None, "pbxa_" + "x" * 40).need_first_run(team) is False


def test_choosing_team_mode_disables_what_the_server_does(qtbot, dialog: SettingsDialog):
    assert dialog.mode_standalone.isChecked() and dialog.team_box.isHidden() and not dialog.standalone_box.isHidden()
    dialog.mode_team.click()
    assert not dialog.team_box.isHidden() and dialog.standalone_box.isHidden()
    assert not dialog.tabs.isTabEnabled(dialog.tabs.indexOf(dialog.listener_page))
    assert not dialog.tabs.isTabEnabled(dialog.tabs.indexOf(dialog.agent_page))
    dialog.mode_standalone.click()
    assert not dialog.standalone_box.isHidden() and dialog.tabs.isTabEnabled(dialog.tabs.indexOf(dialog.listener_page))


def test_save_writes_the_mode_and_address_and_keeps_the_token_in_the_keyring(qtbot, dialog: SettingsDialog,
                                                                               memory_keyring: Any, tmp_path: Path):
    token = "pbxa_typed-token-" + "7" * 30
    choose_team(qtbot, dialog, "https://team.example.com:8765", token)
    assert dialog.save(), dialog.status.text()
    written = (tmp_path / "config" / "settings.toml").read_text(encoding="utf-8")
    assert tomllib.loads(written)["mode"] == "team"
    assert tomllib.loads(written)["team_server"] == "https://team.example.com:8765"
    assert token not in written
    assert memory_keyring.get_password(SERVICE, AGENT_TOKEN) == token
    assert dialog.last_outcome is not None and dialog.last_outcome.team_changed
    assert "Restart the app to connect" in dialog.status.text()
    assert dialog.agent_token.typed() == ""  # never shown again
    assert "(stored)" in dialog.agent_token.state.text()


def test_a_bad_address_keeps_the_file_untouched(qtbot, dialog: SettingsDialog, tmp_path: Path):
    choose_team(qtbot, dialog, "team.example.com", "")
    assert not dialog.save()
    assert dialog.field_error("team_server")
    assert not (tmp_path / "config" / "settings.toml").exists()


def test_test_connection_says_who_the_token_is_or_which_step_failed(qtbot, qloop, dialog: SettingsDialog,
                                                                    team_server: tuple[str, str]):
    url, token = team_server
    choose_team(qtbot, dialog, url, token)
    qtbot.mouseClick(dialog.team_test_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: dialog.team_test_button.isEnabled(), timeout=15)
    assert dialog.team_test_result.text().startswith("Connected as Rita (CRM user 3, extension 9022)")

    dialog.agent_token.edit.setText(token[:-6] + "xxxxxx")
    qtbot.mouseClick(dialog.team_test_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: dialog.team_test_button.isEnabled(), timeout=15)
    assert dialog.team_test_result.text().startswith("The token was refused")
    assert token[:-6] not in dialog.team_test_result.text()

    dialog.team_server.setText(refused_url())
    dialog.agent_token.edit.setText(token)
    qtbot.mouseClick(dialog.team_test_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: dialog.team_test_button.isEnabled(), timeout=15)
    assert dialog.team_test_result.text().startswith("The address does not work")

    dialog.team_server.setText(url.replace("http://", "https://"))  # a TLS client against a plain listener
    qtbot.mouseClick(dialog.team_test_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: dialog.team_test_button.isEnabled(), timeout=15)
    assert dialog.team_test_result.text().startswith("The secure connection (TLS) failed")


def test_the_wizard_connects_to_a_team_server_in_one_page(qtbot, qloop, ctx, tmp_path: Path, memory_keyring: Any,
                                                          team_server: tuple[str, str]):
    from PySide6.QtWidgets import QWizard

    from app.ui.wizard import FirstRunWizard

    url, token = team_server
    path = tmp_path / "config" / "settings.toml"
    wizard = FirstRunWizard(ctx, settings_path=path)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.mode_page.team.click()
    wizard.next()
    page = wizard.team_page
    assert wizard.currentPage() is page
    wizard.next()
    assert wizard.currentPage() is page and page.error.text().startswith("Enter the team server's address")
    page.url.setText(url)
    page.token.edit.setText(token)
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: page.test_button.isEnabled(), timeout=15)
    assert page.result.text().startswith("Connected as Rita (CRM user 3, extension 9022)")
    wizard.next()
    assert wizard.currentPage() is wizard.done_page  # no PBX, CRM key or agent page: the server has them
    assert f"Team server: {url}" in wizard.done_page.summary.text()
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.FinishButton), Qt.MouseButton.LeftButton)
    assert not wizard.isVisible()
    saved = Settings.load(path, environ={})
    assert (saved.mode, saved.team_server) == ("team", url)
    assert memory_keyring.get_password(SERVICE, AGENT_TOKEN) == token
    assert token not in path.read_text(encoding="utf-8")
    assert Keys(None, None, token).need_first_run(saved) is False
