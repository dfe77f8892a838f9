"""Shared fixtures: isolated per-user dirs, canary secrets, a real engine on loopback."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import keyring
import pytest

from tests.support import canary
from tests.support.memory_keyring import MemoryKeyring

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

# Every process the tests start sees only the canary keys and never a real keyring.
os.environ["PBX_COMPANION_CRM_API_KEY"] = canary.CRM_KEY
os.environ["PBX_COMPANION_PBX_API_KEY"] = canary.PBX_KEY
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
for name in ("PBX_COMPANION_PBX_URL", "PBX_COMPANION_CRM_USER"):
    os.environ.pop(name, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The secrets canary scans what the whole suite left behind: it must run last."""
    items.sort(key=lambda item: item.path.name == "test_zz_secrets_canary.py")


@pytest.fixture(scope="session", autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Config, data and log dirs of every test (and subprocess) live under pytest's temp dir."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            mp.setenv(var, str(home / var.lower()))
        yield home


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def settings(tmp_path: Path):
    from app.core.settings import Settings

    return Settings(data_dir=str(tmp_path / "data"), port=0, crm_user="3", crm_user_name="Agent Three",
                    extension="9022").validate()


@pytest.fixture
async def engine(settings, database) -> AsyncIterator[object]:
    """The whole core with its webhook listening on a free loopback port."""
    from app.core.engine import Engine
    from app.core.secrets import Keys

    eng = Engine(settings, Keys(canary.CRM_KEY, canary.PBX_KEY), database=database)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()


@pytest.fixture
def database() -> str | None:
    """The engine's database: None is the SQLite file in the settings' data dir. Modules that test
    what the repositories do override it with ``new_database``, which runs them on both backends."""
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest) -> Callable[[str], str | None]:
    """``new_database(name)``: a fresh database on this test's backend -- None for SQLite (the
    caller's own file), else the URL of a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return lambda name: None
    server = request.getfixturevalue("postgres_server")

    def create(name: str) -> str:
        database = f"t_{re.sub(r'[^a-z0-9_]+', '_', name.lower())[:30]}_{uuid.uuid4().hex[:8]}"
        url: str = server.create_database(database)
        request.addfinalizer(lambda: server.drop_database(database))
        return url

    return create


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server of this test session (tests/support/postgres.py), stopped at its end.

    Started on first request only, so a session without PostgreSQL tests does not pay the ~1 s it
    takes. Missing binaries fail the test with a hint to run packaging/bootstrap.sh: no silent skip.
    """
    from tests.support.postgres import PostgresServer

    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh, empty database for this test only, dropped afterwards (connections the
    test left open are cut). Its name starts with the test's name, to find it in the server log."""
    stem = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())[:40]
    name = f"t_{stem}_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
