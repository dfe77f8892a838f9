"""The settings dialog and the first-run wizard, offscreen, against the running engine and a FakePbx.

What the agent sees: the current settings in the fields, keys only as "•••••• (stored)", inline
errors that keep the file untouched, a TOML file without secrets, keys in the (memory) keyring,
a plain message when there is no keyring, and the connection/webhook probes' verdicts.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QLineEdit, QWidget, QWizard

from app.core.secrets import CRM_API_KEY, ENV_VARS, PBX_API_KEY, SERVICE, Keys
from app.core.settings import Settings
from app.ui.settings_dialog import FormValues, SettingsDialog, settings_from_form
from app.ui.wizard import FirstRunWizard
from tests.fakes.fake_pbx import refused_url
from tests.support import canary
from tests.support.qtloop import run, wait_until

# the offscreen platform cannot resize native windows; Qt says so when a dialog lays itself out
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

NEW_CRM_KEY = "typed-crm-key-3c9a1f77e2"
NEW_PBX_KEY = "typed-pbx-key-b41d08e6a5"
SECRETS = (canary.CRM_KEY, canary.PBX_KEY, NEW_CRM_KEY, NEW_PBX_KEY)


def widget_texts(root: QWidget) -> str:
    """Every text a user could see or copy in ``root``: labels, fields, placeholders, tooltips, items."""
    parts: list[str] = [root.windowTitle(), root.toolTip()]
    for widget in root.findChildren(QWidget):
        parts.append(widget.toolTip())
        if isinstance(widget, QLabel):
            parts.append(widget.text())
        elif isinstance(widget, QLineEdit):
            parts += [widget.displayText(), widget.placeholderText()]  # what is on screen (masked keys)
        elif isinstance(widget, QAbstractButton):
            parts.append(widget.text())
        elif isinstance(widget, QComboBox):
            parts += [widget.itemText(i) for i in range(widget.count())]
    return "\n".join(p for p in parts if p)


@pytest.fixture(autouse=True)
def _english(english) -> None:
    """Every test here reads English texts with their plural forms."""


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.toml"


@pytest.fixture
def dialog(ctx, qtbot, settings_file) -> SettingsDialog:
    d = SettingsDialog(ctx, settings_path=settings_file)
    qtbot.addWidget(d)
    d.show()
    return d


@pytest.fixture
def keyring_only(monkeypatch, memory_keyring):
    """Keys come from the (memory) keyring alone, as on a desktop without the environment variables."""
    for variable in ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)
    return memory_keyring


def click(qtbot, button: QAbstractButton) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# -- showing -----------------------------------------------------------------------------------------


def test_fields_show_the_current_settings(ctx, ui_engine, qtbot, settings_file) -> None:
    ui_engine.settings.pbx_url = "https://pbx.example.com"
    ui_engine.settings.popup_linger_s = 7.5
    ui_engine.settings.do_not_disturb = True
    d = SettingsDialog(ctx, settings_path=settings_file)
    qtbot.addWidget(d)
    assert d.pbx_url.text() == "https://pbx.example.com"
    assert (d.crm_user.text(), d.crm_user_name.text(), d.extension.text()) == ("3", "Agent Three", "9022")
    assert (d.host.text(), d.port.text()) == ("127.0.0.1", "0")
    assert d.region.currentData() == "RU" and d.region.currentText().startswith("RU")
    assert d.dial_format.currentData() == "auto"
    assert d.linger.value() == 7.5
    assert d.do_not_disturb.isChecked() and not d.see_all_calls.isChecked()
    assert d.language.currentData() == "" and d.language.currentText() == "System language"
    # the webhook URL is the running listener's (with the port it really got), read-only
    assert d.webhook_url.text() == ui_engine.server.url
    assert d.webhook_url.isReadOnly()
    assert "cannot reach 127.0.0.1" in d.webhook_note.text()
    assert d.dial_preview.text() == "8 495 134-30-60 will be dialed as 84951343060"
    assert "when you log in" in d.start_at_login.toolTip()


def test_keys_are_never_shown_only_their_state(dialog) -> None:
    for key_edit in (dialog.pbx_key, dialog.crm_key):
        assert key_edit.edit.echoMode() == QLineEdit.EchoMode.Password
        assert key_edit.edit.text() == ""
    # the conftest puts the canary keys in the environment: the dialog says so, without the key
    assert dialog.pbx_key.state.text().startswith("•••••• (set by the environment variable PBX_COMPANION_PBX_API_KEY")
    texts = widget_texts(dialog)
    for secret in SECRETS:
        assert secret not in texts


def test_a_key_in_the_keyring_shows_as_stored(keyring_only, ctx, qtbot, settings_file) -> None:
    keyring_only.set_password(SERVICE, PBX_API_KEY, canary.PBX_KEY)
    d = SettingsDialog(ctx, settings_path=settings_file)
    qtbot.addWidget(d)
    assert d.pbx_key.state.text() == "•••••• (stored)"
    assert d.pbx_key.edit.placeholderText().startswith("•••••• (stored)")
    assert d.crm_key.state.text() == "not set"
    assert d.pbx_key.edit.text() == ""
    assert canary.PBX_KEY not in widget_texts(d)


def test_the_dial_preview_follows_region_and_format(dialog) -> None:
    dialog.dial_format.setCurrentIndex(dialog.dial_format.findData("e164"))
    assert dialog.dial_preview.text() == "8 495 134-30-60 will be dialed as +74951343060"
    dialog.dial_format.setCurrentIndex(dialog.dial_format.findData("e164_digits"))
    assert dialog.dial_preview.text().endswith("as 74951343060")
    # in the US the same digits are no Moscow number: the preview shows what would really be dialed
    dialog.dial_format.setCurrentIndex(dialog.dial_format.findData("auto"))
    dialog.region.setCurrentIndex(dialog.region.findData("US"))
    assert dialog.dial_preview.text() == "8 495 134-30-60 will be dialed as +84951343060"


def test_the_webhook_url_follows_the_listener_fields_and_copies(dialog, ui_engine) -> None:
    dialog.port.setText("9999")
    assert dialog.webhook_url.text() == "http://127.0.0.1:9999/webhook"
    assert "after the app restarts" in dialog.webhook_note.text()
    dialog.port.setText("0")
    assert dialog.webhook_url.text() == ui_engine.server.url
    dialog.copy_webhook_url()
    assert QGuiApplication.clipboard().text() == ui_engine.server.url


# -- saving ------------------------------------------------------------------------------------------


def test_save_writes_the_toml_and_the_keys_go_to_the_keyring(keyring_only, ctx, qtbot, settings_file) -> None:
    d = SettingsDialog(ctx, settings_path=settings_file)
    qtbot.addWidget(d)
    saved: list[Settings] = []
    d.settings_saved.connect(saved.append)
    d.pbx_url.setText("https://pbx.example.com/")
    d.extension.setText("9023")
    d.port.setText("9100")
    d.dial_format.setCurrentIndex(d.dial_format.findData("e164"))
    d.linger.setValue(2.5)
    d.see_all_calls.setChecked(True)
    d.ring_sound.setChecked(True)
    d.popup_outgoing.setChecked(False)
    d.dial_repeat.setValue(5)
    d.start_at_login.setChecked(True)
    d.language.setCurrentIndex(d.language.findData("ru"))
    d.pbx_key.edit.setText(NEW_PBX_KEY)
    d.crm_key.edit.setText(NEW_CRM_KEY)
    click(qtbot, d.save_button)

    assert settings_file.exists(), d.status.text()
    text = settings_file.read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in text
    data = tomllib.loads(text)
    assert data["pbx_url"] == "https://pbx.example.com"
    assert (data["extension"], data["port"], data["dial_format"]) == ("9023", 9100, "e164")
    assert (data["popup_linger_s"], data["see_all_calls"], data["ring_sound"]) == (2.5, True, True)
    assert (data["popup_outgoing"], data["dial_repeat_window_s"]) == (False, 5.0)
    assert (data["start_at_login"], data["language"], data["crm_user"]) == (True, "ru", "3")
    loaded = Settings.load(settings_file, environ={})
    assert loaded == saved[0]

    assert keyring_only.store == {(SERVICE, PBX_API_KEY): NEW_PBX_KEY, (SERVICE, CRM_API_KEY): NEW_CRM_KEY}
    # the typed keys leave the fields; the state line says they are stored
    assert d.pbx_key.edit.text() == "" and d.crm_key.edit.text() == ""
    assert d.crm_key.state.text() == "•••••• (stored)"
    assert NEW_CRM_KEY not in widget_texts(d) and NEW_PBX_KEY not in widget_texts(d)

    outcome = d.last_outcome
    assert outcome is not None and outcome.restart_listener and outcome.restart_language and outcome.pbx_changed
    assert "Saved to" in d.status.text() and "Restart the app" in d.status.text()
    assert "takes effect after a restart" in d.status.text()



def test_a_short_key_is_refused_before_anything_is_saved(keyring_only, dialog, qtbot, settings_file) -> None:
    d = dialog
    d.crm_key.edit.setText("12345")
    click(qtbot, d.save_button)
    assert not settings_file.exists() and keyring_only.store == {}
    assert "at least 16 characters" in widget_texts(d)
    assert "Nothing was saved" in d.status.text()


def test_pop_up_changes_alone_need_no_restart(dialog, settings_file) -> None:
    dialog.do_not_disturb.setChecked(True)
    assert dialog.save()
    outcome = dialog.last_outcome
    assert outcome is not None and outcome.changed == frozenset({"do_not_disturb"})
    assert not outcome.restart_needed
    assert "Restart" not in dialog.status.text()
    assert tomllib.loads(settings_file.read_text(encoding="utf-8"))["do_not_disturb"] is True


@pytest.mark.parametrize(("field", "value", "error_field", "message"), [
    ("port", "abc", "port", "The port must be a number from 0 to 65535."),
    ("port", "70000", "port", "The port must be a number from 0 to 65535."),
    ("pbx_url", "pbx.example.com", "pbx_url", "Enter the PBX address as https://host"),
    ("pbx_url", "ftp://pbx.example.com", "pbx_url", "Enter the PBX address as https://host"),
    ("pbx_url", "https://pbx.example.com/?key=1", "pbx_url", "must not contain"),
    ("extension", "90a2", "extension", "digits of your PBX number"),
    ("tls_cert", "/nonexistent/cert.pem", "tls", "TLS needs both"),
])
def test_invalid_input_shows_an_inline_error_and_writes_nothing(keyring_only, dialog, settings_file, field, value,
                                                               error_field, message) -> None:
    dialog.crm_key.edit.setText(NEW_CRM_KEY)
    getattr(dialog, field).setText(value)
    assert dialog.save() is False
    assert message in dialog.field_error(error_field)
    label = dialog.findChild(QLabel, f"{error_field}_error")
    assert label is not None and label.isVisible() and dialog.tabs.currentWidget().isAncestorOf(label)
    assert "Nothing was saved" in dialog.status.text()
    assert not settings_file.exists()
    assert keyring_only.store == {}  # nothing half-saved either
    # what was typed stays in the form, and fixing it saves
    assert getattr(dialog, field).text() == value
    dialog.load(dialog.ctx.settings)
    assert dialog.save() is True
    assert dialog.field_error(error_field) == ""


def test_tls_needs_existing_files(dialog, settings_file, tmp_path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not really a certificate")
    dialog.tls_cert.setText(str(cert))
    dialog.tls_key.setText(str(tmp_path / "missing-key.pem"))
    assert dialog.save() is False
    assert dialog.field_error("tls") == f"File not found: {tmp_path / 'missing-key.pem'}"
    assert dialog.webhook_url.text().startswith("https://")
    assert not settings_file.exists()


def test_a_failing_keyring_shows_the_message_and_stores_nothing(dialog, settings_file, tmp_path) -> None:
    # the conftest's default backend is keyring's "fail" backend: a headless machine
    dialog.crm_key.edit.setText(NEW_CRM_KEY)
    dialog.extension.setText("9030")
    assert dialog.save() is False
    error = dialog.field_error("keys")
    assert "could not be stored in the OS keyring" in error and "nothing was saved" in error
    assert "PBX_COMPANION_CRM_API_KEY" in dialog.status.text()
    assert not settings_file.exists()
    assert NEW_CRM_KEY not in widget_texts(dialog)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and NEW_CRM_KEY.encode() in p.read_bytes()]
    assert leftovers == []
    # clearing the key field saves the other settings
    dialog.crm_key.edit.clear()
    assert dialog.save() is True
    assert tomllib.loads(settings_file.read_text(encoding="utf-8"))["extension"] == "9030"
    assert dialog.field_error("keys") == ""


def test_settings_from_form_keeps_what_the_form_does_not_show(settings) -> None:
    settings.extra["future_option"] = 1
    settings.event_log_days = 7
    new, errors = settings_from_form(settings, FormValues.of(settings))
    assert errors == {} and new is not None
    assert new == settings and new.extra == {"future_option": 1}
    new, errors = settings_from_form(settings, FormValues(host=" ", port=" 80 "))
    assert new is None and set(errors) == {"host"}


# -- probes ------------------------------------------------------------------------------------------


def test_test_connection_against_the_pbx(dialog, qloop, qtbot, fake_pbx) -> None:
    dialog.pbx_url.setText(fake_pbx.url)
    click(qtbot, dialog.test_button)
    assert not dialog.test_button.isEnabled()
    wait_until(qloop, lambda: dialog.test_button.isEnabled())
    assert dialog.test_result.text() == "Connected: 2 PBX users"
    assert fake_pbx.actions() == ["get_domain_user_list"] and fake_pbx.authorized == [True]
    # the probe used the URL in the form, not the engine's (which has none)
    assert dialog.ctx.api.engine.settings.pbx_url == ""


def test_test_connection_with_a_wrong_key_says_so(dialog, qloop, qtbot, fake_pbx) -> None:
    dialog.pbx_url.setText(fake_pbx.url)
    dialog.pbx_key.edit.setText("wrong-pbx-key-0000")
    click(qtbot, dialog.test_button)
    wait_until(qloop, lambda: dialog.test_button.isEnabled())
    text = dialog.test_result.text()
    assert text.startswith("The PBX refused the API key.")
    assert "HTTP 401" in text and "wrong-pbx-key-0000" not in text
    assert fake_pbx.authorized == [False]


def test_test_connection_to_nothing_says_unreachable(dialog, qloop, qtbot) -> None:
    dialog.pbx_url.setText(refused_url())
    click(qtbot, dialog.test_button)
    wait_until(qloop, lambda: dialog.test_button.isEnabled(), timeout=15)
    assert dialog.test_result.text().startswith("The PBX could not be reached.")
    assert "connection refused" in dialog.test_result.text()


def test_test_connection_needs_an_address(dialog, qtbot) -> None:
    dialog.pbx_url.setText("")
    click(qtbot, dialog.test_button)
    assert dialog.test_result.text() == "Enter the PBX address first."
    dialog.pbx_url.setText("pbx.example.com")
    click(qtbot, dialog.test_button)
    assert dialog.test_result.text().startswith("Enter the PBX address as https://host")


def test_webhook_self_test_against_the_running_listener(dialog, qloop, qtbot) -> None:
    click(qtbot, dialog.selftest_button)
    wait_until(qloop, lambda: dialog.selftest_button.isEnabled())
    assert dialog.selftest_result.text() == "Webhook OK: the listener answered the test and listed 1 CRM user."


def test_webhook_self_test_with_a_different_key_explains_the_401(dialog, qloop, qtbot) -> None:
    dialog.crm_key.edit.setText("not-the-listeners-key-42")
    click(qtbot, dialog.selftest_button)
    wait_until(qloop, lambda: dialog.selftest_button.isEnabled())
    text = dialog.selftest_result.text()
    assert "refused the CRM API key (HTTP 401)" in text and "differs" in text


def test_webhook_self_test_when_the_listener_is_down(dialog, qloop, qtbot, ui_engine) -> None:
    url = ui_engine.server.url
    run(qloop, ui_engine.server.stop())
    click(qtbot, dialog.selftest_button)
    wait_until(qloop, lambda: dialog.selftest_button.isEnabled())
    assert dialog.selftest_result.text().startswith(f"The listener at {url} is unreachable:")


# -- first run ---------------------------------------------------------------------------------------


def test_needs_first_run(settings) -> None:
    both = Keys(canary.CRM_KEY, canary.PBX_KEY)
    settings.pbx_url = "https://pbx.example.com"
    assert both.need_first_run(settings) is False
    assert Keys(None, canary.PBX_KEY).need_first_run(settings) is True
    assert Keys(canary.CRM_KEY, None).need_first_run(settings) is True
    settings.crm_user = ""
    assert both.need_first_run(settings) is True
    settings.crm_user, settings.pbx_url = "3", ""
    assert both.need_first_run(settings) is True
    assert Keys(None, None).need_first_run(Settings()) is True


@pytest.fixture
def wizard(ctx, qtbot, settings_file) -> FirstRunWizard:
    w = FirstRunWizard(ctx, settings_path=settings_file)
    qtbot.addWidget(w)
    w.show()
    return w


def test_wizard_walks_to_a_saved_setup(keyring_only, wizard, qloop, qtbot, fake_pbx, ui_engine, settings_file) -> None:
    finished: list[Any] = []
    wizard.finished_setup.connect(finished.append)
    ui_engine.settings.crm_user_name = ""
    assert wizard.currentPage() is wizard.mode_page and wizard.mode_page.standalone.isChecked()
    wizard.next()
    page = wizard.pbx_page
    assert wizard.currentPage() is page
    assert page.key.state.text() == "not set"
    # no address: Next stays on the page and says why
    wizard.next()
    assert wizard.currentPage() is page and page.error.text() == "Enter the PBX address."
    page.url.setText(fake_pbx.url)
    wizard.next()
    assert wizard.currentPage() is page and page.error.text() == "Enter the PBX API key."
    page.key.edit.setText(canary.PBX_KEY)
    click(qtbot, page.test_button)
    wait_until(qloop, lambda: page.test_button.isEnabled())
    assert page.result.text() == "Connected: 2 PBX users"
    wizard.next()

    crm = wizard.crm_page
    assert wizard.currentPage() is crm
    assert crm.url.text() == ui_engine.server.url and crm.url.isReadOnly()
    assert "cannot reach 127.0.0.1" in crm.note.text()
    wizard.next()
    assert wizard.currentPage() is crm and crm.error.text() == "Enter the CRM API key from the PBX."
    crm.key.edit.setText(NEW_CRM_KEY)
    wizard.next()

    agent = wizard.agent_page
    assert wizard.currentPage() is agent
    assert agent.crm_user.text() == "3" and agent.extension.text() == "9022"
    assert [agent.users.itemText(i) for i in range(agent.users.count())] == ["777 — Иванов", "1111 — Петров"]
    agent.pick(1)
    assert agent.extension.text() == "1111" and agent.crm_user_name.text() == "Петров"
    wizard.next()

    done = wizard.done_page
    assert wizard.currentPage() is done
    assert f"PBX: {fake_pbx.url}" in done.summary.text() and "Extension: 1111" in done.summary.text()
    click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))

    assert len(finished) == 1 and not wizard.isVisible()
    saved = finished[0]
    assert (saved.pbx_url, saved.crm_user, saved.crm_user_name, saved.extension) == (
        fake_pbx.url, "3", "Петров", "1111"
    )
    assert Settings.load(settings_file, environ={}) == saved
    text = settings_file.read_text(encoding="utf-8")
    assert all(secret not in text for secret in SECRETS)
    assert keyring_only.store == {(SERVICE, PBX_API_KEY): canary.PBX_KEY, (SERVICE, CRM_API_KEY): NEW_CRM_KEY}
    assert Keys(NEW_CRM_KEY, canary.PBX_KEY).need_first_run(saved) is False


def test_wizard_shows_the_pbx_error_when_users_cannot_load(wizard, qloop, fake_pbx) -> None:
    wizard.next()
    wizard.pbx_page.url.setText(fake_pbx.url)
    wizard.pbx_page.key.edit.setText("wrong-pbx-key-0000")
    wizard.next()
    wizard.crm_page.key.edit.setText(NEW_CRM_KEY)
    wizard.next()
    agent = wizard.agent_page
    wait_until(qloop, lambda: agent.load_button.isEnabled())
    assert agent.result.text().startswith("The PBX refused the API key.")
    assert agent.users.count() == 0 and agent.extension.text() == "9022"


def test_wizard_without_a_keyring_saves_the_rest_and_says_what_to_do(wizard, fake_pbx, qtbot, qloop,
                                                                      settings_file) -> None:
    finished: list[Any] = []
    wizard.finished_setup.connect(finished.append)
    wizard.next()
    wizard.pbx_page.url.setText(fake_pbx.url)
    wizard.pbx_page.key.edit.setText(NEW_PBX_KEY)
    wizard.next()
    wizard.next()  # the CRM key comes from the environment (conftest)
    wait_until(qloop, lambda: wizard.agent_page.load_button.isEnabled())  # the PBX users' request is over
    wizard.agent_page.crm_user.setText("5")
    wizard.next()
    click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    # the settings are kept; the page says, translated, that the PBX key was not, and how to give it
    saved = Settings.load(settings_file, environ={})
    assert (saved.pbx_url, saved.crm_user) == (fake_pbx.url, "5")
    assert len(finished) == 1 and finished[0] == saved
    assert wizard.done_page.title() == "Saved, but the keys were not"
    error = wizard.done_page.error.text()
    assert "no usable OS keyring" in error and "PBX_COMPANION_PBX_API_KEY" in error and "CRM_API_KEY" not in error
    assert "SecretService" not in error and "backend" not in error  # the keyring's own words go to the log
    assert wizard.isVisible() and NEW_PBX_KEY not in widget_texts(wizard)
    assert NEW_PBX_KEY not in settings_file.read_text(encoding="utf-8")
    click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))  # now labelled Close
    assert not wizard.isVisible() and len(finished) == 1
