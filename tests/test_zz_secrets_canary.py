"""The canary check, alphabetically last: no secret of the test run reached a file.

Every test runs with the canary keys of :mod:`tests.support.canary` (conftest puts them in the
environment, fixtures hand them to engines, webhook helpers post CDRs carrying the canary
recording link). After the whole suite, this walks pytest's base temp dir -- every ``tmp_path``
of the session and the per-user config/data/state dirs of ``isolated_user_dirs`` live there --
and checks:

* the CRM and PBX keys are in NO file: databases, WAL files, logs, settings, exports;
* the recording-link token is in no log or config file (databases may keep links: the call
  history shows them).

So that it cannot pass by scanning nothing, it requires a database that does keep the canary
link (proof that the walk reads database contents) and a log or settings file. When the suite
did not leave those behind (this file run alone, or with a few unrelated ones) it first runs a
small scenario of its own: an engine with a file log taking a CDR with the canary link, a
click-to-dial and a get_cdr against a fake PBX, and log records that try to leak the keys.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.fake_pbx import FakePbx, make_cdr
from tests.support import canary
from tests.support.webhook import call_body, cdr_body, envelope, post

KEYS = {"CRM API key": canary.CRM_KEY.encode(), "PBX API key": canary.PBX_KEY.encode()}
TOKEN = canary.LINK_TOKEN.encode()

_DATABASE = re.compile(r"\.(sqlite3?|db)(-wal|-shm|-journal)?$")
_LOG = re.compile(r"\.log(\.\d+)?$")
_CONFIG = re.compile(r"\.(toml|cfg|ini|conf)$")


def _files(root: Path) -> Iterator[Path]:
    """Regular files under root; symlinks are not followed (they could point out of the temp dir)."""
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames:
            path = Path(dirpath) / name
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:  # removed meanwhile (a -shm of a closing database)
                continue
            if stat.S_ISREG(mode):
                yield path


def _is_database(path: Path) -> bool:
    return bool(_DATABASE.search(path.name))


def _is_log_or_config(path: Path) -> bool:
    return bool(_LOG.search(path.name) or _CONFIG.search(path.name))


def _evidence(root: Path) -> tuple[list[Path], list[Path]]:
    """(databases holding the canary link, log or settings files) under root."""
    databases, texts = [], []
    for path in _files(root):
        if _is_database(path) and TOKEN in path.read_bytes():
            databases.append(path)
        elif _is_log_or_config(path):
            texts.append(path)
    return databases, texts


async def _scenario(tmp_path: Path) -> Path:
    """Leave a database, a settings file and a log behind, the way a working day would."""
    from app.core.engine import Engine
    from app.core.logs import setup_logging
    from app.core.secrets import Keys
    from app.core.settings import Settings
    from app.core.standalone import StandaloneApi

    log_file = tmp_path / "logs" / "pbx-companion.log"
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    fake = FakePbx(api_key=canary.PBX_KEY)
    fake.cdrs = [make_cdr("remote-1", 1_700_000_000, dst="+74952523060", link=canary.RECORDING_LINK)]
    await fake.start()
    try:
        setup_logging(logging.DEBUG, log_file)
        settings = Settings(pbx_url=fake.url, data_dir=str(tmp_path / "data"), port=0, crm_user="3").validate()
        settings.save(tmp_path / "config" / "settings.toml")
        engine = Engine(settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
        url = await engine.start()
        try:
            async with aiohttp.ClientSession() as http:
                for message in (envelope("call_ringing", call_body("canary-call")),
                                envelope("cdr_append", cdr_body("canary-call"))):
                    status, _ = await post(http, url, message)
                    assert status == 200
                # a wrong key is refused and logged without echoing what was sent
                status, _ = await post(http, url, envelope("cdr_append", cdr_body("x")), auth=False,
                                       headers={"Authorization": f"Bearer {canary.PBX_KEY}"})
                assert status == 401
            await engine.dial(engine.normalizer.parse("89066800404"))
            history = StandaloneApi(engine).history
            pages = [page async for page in history.pbx_pages([engine.normalizer.key("+74952523060")])]
            assert [r["link"] for page in pages for r in page.records] == [canary.RECORDING_LINK]
            log = logging.getLogger("app.canary")
            log.warning("a careless line: key %s, header Bearer %s, recording %s",
                        canary.CRM_KEY, canary.PBX_KEY, canary.RECORDING_LINK)
            try:
                raise RuntimeError(f"failed with Authorization: Bearer {canary.PBX_KEY} for {canary.RECORDING_LINK}")
            except RuntimeError:
                log.exception("a careless traceback")
        finally:
            await engine.stop()
    finally:
        await fake.stop()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    text = log_file.read_text(encoding="utf-8")
    assert "a careless line" in text and "a careless traceback" in text and "RuntimeError" in text
    assert "cdr_append uniqueid=canary-call" in text  # the engine logged the event it stored
    return log_file


async def test_no_secret_reached_any_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                                          isolated_user_dirs: Path, tmp_path: Path) -> None:
    base = tmp_path_factory.getbasetemp()
    assert isolated_user_dirs.is_relative_to(base) and tmp_path.is_relative_to(base)

    alone = all(item.path == request.path for item in request.session.items)
    databases, texts = _evidence(base)
    if alone or not databases or not texts:
        await _scenario(tmp_path)
        databases, texts = _evidence(base)

    # the walk is not vacuous: it read a database that keeps a canary link, and logs or settings
    assert databases, f"no database under {base} holds the canary recording link"
    assert texts, f"no log or settings file under {base}"

    scanned = 0
    leaks: list[str] = []
    for path in _files(base):
        data = path.read_bytes()
        scanned += 1
        for what, key in KEYS.items():
            if key in data:
                leaks.append(f"{what} in {path}")
        if _is_log_or_config(path) and TOKEN in data:
            leaks.append(f"recording-link token in {path}")
    assert not leaks, "secrets written to files:\n" + "\n".join(leaks)
    assert scanned >= len(databases) + len(texts)


async def test_no_key_reached_the_postgresql_server(postgres_server, postgres_url: str, settings) -> None:
    """The team server's database and its server log: the keys are in none of their files.

    A team server run stores a CDR with the canary link first (and checkpoints), so the scan is
    proven to read the table data: the link must be found, the keys must not.
    """
    from app.core.secrets import Keys
    from app.team.server import TeamServer

    server = TeamServer(settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=postgres_url)
    url = await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            for message in (envelope("call_ringing", call_body("pg-canary")), envelope("cdr_append",
                                                                                      cdr_body("pg-canary"))):
                assert (await post(http, url, message))[0] == 200
            assert (await post(http, url, envelope("cdr_append", cdr_body("y")), auth=False,
                               headers={"Authorization": f"Bearer {canary.PBX_KEY}"}))[0] == 401
    finally:
        await server.stop()
    postgres_server.execute("CHECKPOINT")
    holding_link, leaks = [], []
    for path in _files(postgres_server.directory):
        data = path.read_bytes()
        if TOKEN in data:
            holding_link.append(path)
        leaks += [f"{name} in {path}" for name, key in KEYS.items() if key in data]
    assert holding_link, "the scan found no stored CDR: it would pass without reading anything"
    assert leaks == []
