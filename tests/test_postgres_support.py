"""The throw-away PostgreSQL server of tests/support/postgres.py really works.

Real server, real psycopg connections: a table round trip, a fresh database per test, isolation
between databases, a server that never runs as root, a Unix socket only, and a clear error (not a
skip) when the binaries are missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from tests.support import postgres
from tests.support.postgres import PostgresNotInstalled, PostgresServer

_seen_urls: list[str] = []


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])  # the real uid
    raise AssertionError(f"no Uid line for pid {pid}")


def test_table_round_trip(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE contacts (id serial PRIMARY KEY, name text NOT NULL, phone text)")
        conn.execute("INSERT INTO contacts (name, phone) VALUES (%s, %s), (%s, %s)",
                     ("Иван Петров", "+74951343060", "ООО Ромашка", "+74952523060"))
        conn.commit()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT name, phone FROM contacts ORDER BY id").fetchall()
        assert rows == [("Иван Петров", "+74951343060"), ("ООО Ромашка", "+74952523060")]
        assert conn.execute("SELECT lower(%s)", ("ИВАН",)).fetchone() == ("иван",)  # C.UTF-8, not C


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_gets_a_fresh_database(postgres_url: str, turn: str) -> None:
    """Run twice: each time an empty database of its own, whatever the other run left in its own."""
    assert postgres_url not in _seen_urls
    _seen_urls.append(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        assert tables == []
        conn.execute("CREATE TABLE marker (turn text)")
        conn.execute("INSERT INTO marker VALUES (%s)", (turn,))


def test_databases_are_isolated(postgres_server: PostgresServer, postgres_url: str) -> None:
    other_url = postgres_server.create_database("isolation_other")
    try:
        with psycopg.connect(postgres_url, autocommit=True) as one, psycopg.connect(other_url, autocommit=True) as two:
            one.execute("CREATE TABLE calls (id int)")
            one.execute("INSERT INTO calls VALUES (1)")
            two.execute("CREATE TABLE calls (id int)")
            assert one.execute("SELECT count(*) FROM calls").fetchone() == (1,)
            assert two.execute("SELECT count(*) FROM calls").fetchone() == (0,)
            assert one.execute("SELECT current_database()").fetchone() != two.execute(
                "SELECT current_database()").fetchone()
    finally:
        postgres_server.drop_database("isolation_other")
    names = [row[0] for row in postgres_server.execute("SELECT datname FROM pg_database")]
    assert "isolation_other" not in names


def test_drop_database_cuts_open_connections(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("left_open")
    conn = psycopg.connect(url, autocommit=True)
    try:
        postgres_server.drop_database("left_open")
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()


def test_server_runs_unprivileged_on_a_unix_socket_only(postgres_server: PostgresServer, postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        user, backend_pid = conn.execute("SELECT current_user, pg_backend_pid()").fetchone()  # type: ignore[misc]
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW max_connections").fetchone() == ("300",)
        backend_uid = _uid_of(backend_pid)
    postmaster_pid = int((postgres_server.datadir / "postmaster.pid").read_text().splitlines()[0])
    assert user == postgres_server.user
    assert _uid_of(postmaster_pid) == backend_uid
    if os.geteuid() == 0:
        assert user != "root"
        assert backend_uid != 0
        assert user == postgres.SERVER_USER
    else:
        assert backend_uid == os.geteuid()


def test_two_servers_side_by_side(postgres_server: PostgresServer) -> None:
    """What concurrent test processes do: each server has its own directory, socket and port."""
    with PostgresServer() as second:
        assert second.directory != postgres_server.directory
        assert second.port != postgres_server.port
        with psycopg.connect(second.url()) as a, psycopg.connect(postgres_server.url()) as b:
            a_dir = a.execute("SHOW data_directory").fetchone()
            assert a_dir != b.execute("SHOW data_directory").fetchone()
        directory = second.directory
    assert directory is not None and not directory.exists()
    assert second.directory is None


def test_missing_binaries_fail_with_the_bootstrap_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres.BINDIR_ENV, raising=False)
    monkeypatch.setattr(postgres, "_DEBIAN_ROOT", tmp_path)
    with pytest.raises(PostgresNotInstalled, match=r"packaging/bootstrap\.sh"):
        PostgresServer()
    monkeypatch.setenv(postgres.BINDIR_ENV, str(tmp_path))
    with pytest.raises(PostgresNotInstalled, match=r"packaging/bootstrap\.sh"):
        postgres.find_bindir()
