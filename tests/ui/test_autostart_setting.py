""""Start at login" in the settings window of a running app writes and removes the real XDG entry.

A real :class:`CompanionApp` runs in-process (offscreen, against the fake PBX); its settings window
is driven with the mouse. Each test has its own ``XDG_CONFIG_HOME``, so the settings file the window
writes and the autostart entry both land in the test's temporary folder and vanish with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QPoint, Qt

from app import APP_ID
from app.core.autostart import XdgAutostart, launch_command
from app.core.secrets import Keys
from app.ui.i18n import install_translators
from app.ui.settings_dialog import SettingsDialog
from tests.support import canary
from tests.support.companion import start_companion
from tests.support.qtloop import run, wait_until

pytestmark = [pytest.mark.usefixtures("english"),
              pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def entry(config_home: Path) -> Path:
    return config_home / "autostart" / f"{APP_ID}.desktop"


@pytest.fixture
def start_app(qapp, qloop, settings, fake_pbx, config_home) -> Iterator[Callable[..., Any]]:
    """Start a CompanionApp (optionally with the ``--config``/``--data-dir`` it was launched with)."""

    settings.pbx_url = fake_pbx.url
    started: list[Any] = []

    def start(autostart_arguments: tuple[str, ...] = (), settings_path: Path | None = None) -> Any:
        app = start_companion(qloop, qapp, settings, Keys(canary.CRM_KEY, canary.PBX_KEY),
                              settings_path=settings_path, autostart_arguments=autostart_arguments)
        started.append(app)
        return app

    yield start
    for app in started:
        if not app.engine.store._closed:
            run(qloop, app.shutdown())
        for window in app.shell.windows.values():
            window.deleteLater()


def open_start_at_login(app: Any) -> Any:
    """The settings window from the tray menu, on the tab with "Start at login"."""
    app.actions.settings.trigger()
    dialog = app.shell.windows["settings"]
    dialog.tabs.setCurrentIndex(dialog.tabs.indexOf(dialog.start_at_login.parentWidget()))
    assert dialog.start_at_login.isVisible()
    return dialog


def click_start_at_login(qtbot, dialog: Any) -> None:
    box = dialog.start_at_login
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))  # on the box itself


def save(qtbot, qloop, app: Any, dialog: Any) -> None:
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "Saved to" in dialog.status.text(), dialog.status.text()
    wait_until(qloop, lambda: app.tasks.pending == 0)


def saved_setting(config_home: Path) -> bool:
    data = tomllib.loads((config_home / "pbx-companion" / "settings.toml").read_text(encoding="utf-8"))
    return data["start_at_login"]


def assert_valid(path: Path) -> None:
    proc = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_ticking_start_at_login_installs_the_entry_and_unticking_removes_it(
        start_app, qtbot, qloop, config_home, entry) -> None:
    app = start_app()
    dialog = open_start_at_login(app)
    assert "when you log in" in dialog.start_at_login.toolTip()
    assert not dialog.start_at_login.isChecked() and not entry.exists()

    click_start_at_login(qtbot, dialog)
    assert dialog.start_at_login.isChecked()
    save(qtbot, qloop, app, dialog)
    assert entry.is_file()
    assert_valid(entry)
    assert XdgAutostart().current_command() == launch_command()
    assert saved_setting(config_home) is True and app.engine.settings.start_at_login is True

    click_start_at_login(qtbot, dialog)
    assert not dialog.start_at_login.isChecked()
    save(qtbot, qloop, app, dialog)
    assert not entry.exists()
    assert saved_setting(config_home) is False and app.engine.settings.start_at_login is False


def test_the_entry_starts_the_app_with_the_profile_it_was_started_with(
        start_app, qtbot, qloop, tmp_path, entry) -> None:
    profile = ("--config", str(tmp_path / "team a" / "settings.toml"), "--data-dir", str(tmp_path / "data a"))
    app = start_app(profile)
    dialog = open_start_at_login(app)
    click_start_at_login(qtbot, dialog)
    save(qtbot, qloop, app, dialog)
    assert XdgAutostart().current_command() == launch_command(profile)
    assert_valid(entry)


def test_an_entry_made_before_the_first_run_shows_ticked_and_a_stale_one_is_repaired(
        start_app, qtbot, entry) -> None:
    XdgAutostart().enable(["/opt/removed-install/pbx-companion"])  # e.g. an installer's, the app since moved
    app = start_app()
    assert XdgAutostart().current_command() == launch_command()
    assert_valid(entry)
    dialog = open_start_at_login(app)
    assert dialog.start_at_login.isChecked()


def test_saving_other_settings_does_not_bring_back_an_entry_removed_elsewhere(
        start_app, qtbot, qloop, entry) -> None:
    XdgAutostart().enable(launch_command())
    app = start_app()
    dialog = open_start_at_login(app)
    assert dialog.start_at_login.isChecked()
    entry.unlink()  # the user switched it off in the desktop's startup-apps tool meanwhile
    dialog.linger.setValue(9.0)
    save(qtbot, qloop, app, dialog)
    assert not entry.exists()


def test_a_failure_says_why_and_leaves_the_box_unticked(start_app, qtbot, qloop, config_home, entry) -> None:
    config_home.mkdir(parents=True, exist_ok=True)
    (config_home / "autostart").write_text("", encoding="utf-8")  # a file where the folder belongs
    app = start_app()
    dialog = open_start_at_login(app)
    click_start_at_login(qtbot, dialog)
    save(qtbot, qloop, app, dialog)

    notice = app.shell.main_window.statusBar().currentMessage()
    assert notice.startswith("Start at login: The autostart entry ")
    assert notice.endswith(f"{config_home / 'autostart'} is a file, not a folder")
    assert not dialog.start_at_login.isChecked()
    assert saved_setting(config_home) is False and app.engine.settings.start_at_login is False


def test_an_app_started_with_a_config_file_saves_its_settings_there(start_app, qtbot, qloop, config_home,
                                                                   tmp_path) -> None:
    """`pbx-companion --config X`: the settings window and do-not-disturb write X, not the default file."""
    profile = tmp_path / "profiles" / "night-shift.toml"
    app = start_app(settings_path=profile)
    dialog = open_start_at_login(app)
    click_start_at_login(qtbot, dialog)
    save(qtbot, qloop, app, dialog)
    assert str(profile) in dialog.status.text()
    assert tomllib.loads(profile.read_text(encoding="utf-8"))["start_at_login"] is True
    app.actions.do_not_disturb.trigger()
    assert tomllib.loads(profile.read_text(encoding="utf-8"))["do_not_disturb"] is True
    assert not (config_home / "pbx-companion" / "settings.toml").exists()


def test_the_tooltip_and_the_notice_speak_russian(qapp, ctx, qtbot, tmp_path) -> None:
    install_translators(qapp, "ru")
    try:
        dialog = SettingsDialog(ctx, settings_path=tmp_path / "settings.toml")
        qtbot.addWidget(dialog)
        assert dialog.start_at_login.text() == "Запускать при входе в систему"
        assert dialog.start_at_login.toolTip().startswith("Запускать pbx-companion при входе в систему")
        assert QCoreApplication.translate("CompanionApp", "Start at login: %1") == "Запуск при входе в систему: %1"
    finally:
        install_translators(qapp, "en")  # the english fixture puts back what was there before


def test_the_tray_app_repairs_a_stale_entry_with_its_own_config_and_data_dir(tmp_path, config_home, entry) -> None:
    """The real ``pbx-companion --config C --data-dir D`` process: its entry keeps that profile."""
    XdgAutostart().enable(["/opt/removed-install/pbx-companion"])
    profile = ["--config", str(tmp_path / "team a" / "settings.toml"), "--data-dir", str(tmp_path / "data a")]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(config_home),
               PBX_COMPANION_PBX_URL="http://127.0.0.1:9", PBX_COMPANION_CRM_USER="3")
    proc = subprocess.Popen([sys.executable, "-m", "app", *profile, "--port", "0"], env=env, cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while XdgAutostart().current_command() != launch_command(profile):
            assert proc.poll() is None, f"the tray app exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"the entry still starts {XdgAutostart().current_command()}"
            time.sleep(0.05)
        assert_valid(entry)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
