"""The PostgreSQL backend, for a team server: several ``serve`` processes can share one database.

Same repositories, same threads as SQLite (:class:`~app.storage.store.Store`): one writer
connection per process (``synchronous_commit=on``: a commit is on disk before the webhook's
200), and a :class:`psycopg_pool.ConnectionPool` the reader threads borrow from. Connections are
in autocommit mode with explicit ``BEGIN``, like SQLite's, so the group commit is the same code.
Migrations take an advisory lock: processes starting together migrate once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.adapt import Dumper
from psycopg_pool import ConnectionPool, PoolTimeout

from .connection import PgConnection, pg_row_factory
from .errors import InlineReadRefused, StorageError
from .migrations import MIGRATIONS, POSTGRESQL_PREAMBLE, postgresql_script
from .repositories import Session
from .store import Store, newer_schema

T = TypeVar("T")

CONNECT_TIMEOUT = 10
#: how long a reader waits for a free pooled connection before the read fails
POOL_TIMEOUT = 10.0
#: ``pg_advisory_xact_lock`` key serialising migrations ("pbxc" in ASCII)
MIGRATION_LOCK = 0x70627863


class _BoolAsInteger(Dumper):
    """Flags are INTEGER 0/1 columns in both databases (the shared SQL compares ``= 1``)."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInteger)
    conn.execute("SET synchronous_commit = on")


def _connect(url: str) -> psycopg.Connection[Any]:
    conn: psycopg.Connection[Any] = psycopg.connect(
        url, autocommit=True, row_factory=pg_row_factory, connect_timeout=CONNECT_TIMEOUT,
        application_name="pbx-companion",
    )
    _configure(conn)
    return conn


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the schema to the latest version (once, under a lock); returns the version now."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS pbx_companion_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM pbx_companion_schema").fetchone()
        if row is None:
            conn.execute("INSERT INTO pbx_companion_schema (version) VALUES (0)")
            version = 0
        else:
            version = int(row[0])
        if version > len(MIGRATIONS):
            raise newer_schema(version, len(MIGRATIONS))
        if version == 0:
            conn.execute(POSTGRESQL_PREAMBLE)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.execute(postgresql_script(script))
            conn.execute("UPDATE pbx_companion_schema SET version = %s", (number,))
    return len(MIGRATIONS)


class PostgresStore(Store):
    """The database on a PostgreSQL server (``postgresql://user@host/dbname``)."""

    driver_errors = (psycopg.Error,)

    def __init__(self, url: str, *, readers: int = 2) -> None:
        self.url = url
        try:
            raw = _connect(url)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to the database {self.location}: {_reason(exc)}") from exc
        try:
            migrate(raw)
        except BaseException as exc:
            raw.close()
            if isinstance(exc, psycopg.Error):
                raise StorageError(f"cannot open the database {self.location}: {_reason(exc)}") from exc
            raise
        super().__init__(readers=readers)
        self._write_conn = PgConnection(raw)
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=readers, timeout=POOL_TIMEOUT, open=True, name="pbx-companion-readers",
            kwargs={"autocommit": True, "row_factory": pg_row_factory, "connect_timeout": CONNECT_TIMEOUT,
                    "application_name": "pbx-companion"},
            configure=_configure,
        )

    @property
    def location(self) -> str:
        return safe_url(self.url)

    def _writer_connection(self) -> PgConnection:
        raw = self._write_conn.raw
        if raw.closed or raw.broken:  # the server restarted or the network dropped: connect again
            try:
                self._write_conn = PgConnection(_connect(self.url))
            except psycopg.Error as exc:
                raise StorageError(f"cannot connect to the database {self.location}: {_reason(exc)}") from exc
            raw.close()
        return self._write_conn

    def _run_read(self, fn: Callable[[Session], T]) -> T:
        # A pooled connection is not checked with a query each time it is borrowed (a round trip
        # per read): one the server dropped (a restart, an idle timeout) fails its first statement,
        # the pool discards it, and the read runs again on another (each of them may be dead).
        attempts = self._pool.max_size + 1
        for attempt in range(1, attempts + 1):
            try:
                with self._pool.connection() as raw:
                    try:
                        return fn(Session(PgConnection(raw)))
                    except psycopg.OperationalError:
                        if attempt == attempts or not (raw.closed or raw.broken):
                            raise
            except PoolTimeout as exc:
                raise StorageError(f"cannot read the database {self.location}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def read_inline(self, fn: Callable[[Session], T], budget: float = 0.005) -> T:
        """Refused: a server round trip must not block the event loop (the reader threads answer)."""
        raise InlineReadRefused("PostgreSQL is read on the reader threads")

    def _close_connections(self) -> None:
        self._pool.close()
        self._write_conn.raw.close()

    def integrity_check(self) -> str:
        """PostgreSQL checks its pages itself; "ok" once the server answers a query."""
        return self.read_sync(lambda s: "ok" if s.conn.execute("SELECT 1").fetchone()[0] == 1 else "no answer")


def _reason(exc: psycopg.Error) -> str:
    """The server's message on one line (libpq's can span several)."""
    return " ".join(str(exc).split())
