"""The data, settings and logs are their owner's only; wire text cannot forge a log line."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from app.core.logs import setup_logging
from app.core.settings import Settings
from app.protocol.text import escape_controls, strip_controls
from app.storage import ContactRecord, SqliteStore
from tests.support.webhook import envelope, post

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_and_database_are_owner_only(tmp_path: Path):
    data = tmp_path / "data" / "pbx-companion"
    store = SqliteStore(data / "pbx-companion.sqlite3")
    try:
        store.write_sync(lambda s: s.contacts.save(ContactRecord(None, "Anna")))
        assert mode(data) == 0o700
        for name in ("pbx-companion.sqlite3", "pbx-companion.sqlite3-wal", "pbx-companion.sqlite3-shm"):
            assert mode(data / name) == 0o600, name
    finally:
        store.close()


def test_files_from_before_the_rule_are_tightened_when_opened(tmp_path: Path):
    data = tmp_path / "data"
    SqliteStore(data / "db.sqlite3").close()
    os.chmod(data, 0o755)
    os.chmod(data / "db.sqlite3", 0o644)
    SqliteStore(data / "db.sqlite3").close()
    assert (mode(data), mode(data / "db.sqlite3")) == (0o700, 0o600)


def test_the_settings_file_and_the_log_are_owner_only(tmp_path: Path):
    path = Settings(crm_user="3").validate().save(tmp_path / "config" / "settings.toml")
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)
    log_file = tmp_path / "logs" / "pbx-companion.log"
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        setup_logging(logging.INFO, log_file)
        logging.getLogger("app.test").info("hello")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    assert (mode(log_file.parent), mode(log_file)) == (0o700, 0o600)


def test_control_characters_are_escaped_for_logs_and_dropped_for_windows():
    forged = "Anna\n2026-12-03 WARNING app.webhook: refused get_users from 10.6.6.6\x1b]0;pwned\x07\x1b[2J\u202eevil"
    escaped = escape_controls(forged)
    assert "\n" not in escaped and "\x1b" not in escaped and "\u202e" not in escaped
    assert "\\x0a2026-12-03" in escaped and "\\x1b]0;pwned\\x07" in escaped and "\\u202eevil" in escaped
    assert strip_controls("Ива\u202eн\x00 <b>x</b>\tПетров") == "Иван <b>x</b> Петров"


async def test_an_event_cannot_forge_a_line_in_the_serve_log(engine, http, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture):
    log_file = tmp_path / "serve.log"
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        setup_logging(logging.INFO, log_file)
        forged = "9022\n2026-12-03 10:00:00,000 WARNING app.webhook: refused get_users from 10.6.6.6\x1b[2J"
        status, _ = await post(http, engine.server.url, envelope("agent_change", {
            "user_uid": "9022", "crm_user": forged, "base_status": -3, "status_name": "\x1b]0;owned\x07Break"}))
        assert status == 200
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    text = log_file.read_text(encoding="utf-8")
    assert "agent_change" in text
    assert "\x1b" not in text and "\x07" not in text
    assert not any(line.startswith("2026-12-03 10:00:00,000 WARNING") for line in text.splitlines())


async def test_a_malformed_request_is_one_info_line_not_a_traceback(engine, tmp_path: Path):
    import asyncio

    log_file = tmp_path / "serve.log"
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        setup_logging(logging.INFO, log_file)
        reader, writer = await asyncio.open_connection("127.0.0.1", engine.server.port)
        writer.write(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()
        await writer.wait_closed()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    text = log_file.read_text(encoding="utf-8")
    assert "malformed HTTP request refused" in text
    assert "Traceback" not in text and " ERROR " not in text


def _profile(home: Path) -> dict[str, Path]:
    """A profile an older version (or a umask of 022) left readable by everyone."""
    paths = {
        "config": home / "config" / "pbx-companion", "data": home / "data" / "pbx-companion",
        "logs": home / "state" / "pbx-companion" / "log",
    }
    paths["settings"] = paths["config"] / "settings.toml"
    paths["db"] = paths["data"] / "pbx-companion.sqlite3"
    paths["lock"] = paths["data"] / "instance.lock"
    paths["nested"] = paths["data"] / "cache"
    paths["nested_file"] = paths["nested"] / "state.json"
    paths["log"] = paths["logs"] / "pbx-companion.log"
    paths["old_log"] = paths["logs"] / "pbx-companion.log.1"
    for name in ("config", "data", "logs", "nested"):
        paths[name].mkdir(parents=True)
    Settings(crm_user="3").validate().save(paths["settings"])
    SqliteStore(paths["db"]).close()
    for name in ("lock", "nested_file", "log", "old_log"):
        paths[name].write_text("x", encoding="utf-8")
    for path in paths.values():
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return paths


def _profile_env(home: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"), "QT_QPA_PLATFORM": "offscreen"}


def test_an_existing_profile_is_made_owner_only_at_start(tmp_path: Path):
    import subprocess
    import sys

    paths = _profile(tmp_path)
    foreign = paths["data"] / "someone-elses.txt"
    foreign.write_text("x", encoding="utf-8")
    os.chmod(foreign, 0o644)
    if os.getuid() == 0:  # a file of another user in our directory is not ours to change
        os.chown(foreign, 65534, 65534)
    done = subprocess.run([sys.executable, "-m", "app", "crm-users", "list"], env=_profile_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name, path in paths.items():
        assert mode(path) == (0o700 if path.is_dir() else 0o600), name
    assert mode(foreign) == (0o644 if os.getuid() == 0 else 0o600)


def test_the_tray_apps_start_makes_the_profile_and_its_lock_owner_only(tmp_path: Path):
    import subprocess
    import sys

    paths = _profile(tmp_path)
    paths["lock"].unlink()
    elsewhere = tmp_path / "elsewhere"  # a --data-dir outside the profile: the directory, not its contents
    elsewhere.mkdir(mode=0o755)
    os.chmod(elsewhere, 0o755)
    (elsewhere / "notes.txt").write_text("x", encoding="utf-8")
    os.chmod(elsewhere / "notes.txt", 0o644)
    script = ("import sys; from pathlib import Path; from PySide6.QtCore import QCoreApplication;"
              " from app.ui.instance import SingleInstance; app = QCoreApplication([]);"
              " i = SingleInstance(Path(sys.argv[1])); assert i.acquire();"
              " print(oct(Path(sys.argv[1], 'instance.lock').stat().st_mode & 0o777)); i.release()")
    for data_dir in (paths["data"], elsewhere):
        done = subprocess.run([sys.executable, "-c", script, str(data_dir)], env=_profile_env(tmp_path),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "0o600"  # the lock, while it is held
    del paths["lock"]  # released: QLockFile removed it
    for name, path in paths.items():
        assert mode(path) == (0o700 if path.is_dir() else 0o600), name
    assert (mode(elsewhere), mode(elsewhere / "notes.txt")) == (0o700, 0o644)
