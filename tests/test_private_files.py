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
