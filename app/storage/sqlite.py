"""The SQLite backend, the embedded default: one file, WAL, ``synchronous=FULL``.

One writer connection (SQLite serialises writers anyway) and one read connection per reader
thread (WAL lets them read while the writer commits); :meth:`SqliteStore.read_inline` answers
``get_contact`` in place. The schema is versioned in ``PRAGMA user_version``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from .connection import SqliteConnection
from .errors import InlineReadRefused, StorageError
from .files import private_dir, private_file
from .migrations import MIGRATIONS
from .repositories import Session
from .store import Store, newer_schema

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Switching a new file to WAL while another process does the same can fail at once with
    # SQLITE_BUSY (SQLite skips the busy handler there to avoid a deadlock): retry for a while.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.01)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script, one by one (``;`` in comments or strings kept)."""
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                yield buffer
            buffer = ""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the latest version; returns the version now in the file."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise newer_schema(version, len(MIGRATIONS))
    if version == len(MIGRATIONS):
        return version
    # Read the version again under the write lock: several processes opening a new file at once
    # (serve and a CLI command) must migrate it once. One transaction: a crash keeps the old version.
    # (Not executescript(): it would commit the transaction that holds the lock.)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise newer_schema(version, len(MIGRATIONS))
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


class SqliteStore(Store):
    """The database in one SQLite file (created, and migrated, on first open)."""

    driver_errors = (sqlite3.Error,)

    def __init__(self, path: Path, *, readers: int = 2) -> None:
        self.path = Path(path)
        try:
            private_dir(self.path.parent)
            for file in (self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))):
                if file == self.path or file.exists():
                    private_file(file)  # SQLite gives its -wal/-shm the database file's mode
            raw = _connect(self.path)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"cannot open the database {self.path}: {exc}") from exc
        try:
            migrate(raw)
        except BaseException as exc:
            raw.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open the database {self.path}: {exc}") from exc
            raise
        super().__init__(readers=readers)
        self._write_conn = SqliteConnection(raw)
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_conns_lock = threading.Lock()
        self._inline_conn: sqlite3.Connection | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    def _writer_connection(self) -> SqliteConnection:
        return self._write_conn

    def read_inline(self, fn: Callable[[Session], T], budget: float = 0.005) -> T:
        """Run a small read right here, on the caller's (the event loop's) thread, or refuse.

        The hop to a reader thread and back costs ~150 µs on a small VM, ten times the indexed
        lookup ``get_contact`` needs while the PBX holds a live call. This runs it in place on
        a connection that never waits for a lock (``busy_timeout`` 0) and is interrupted once
        ``budget`` seconds have passed; then it raises :class:`InlineReadRefused` and the
        caller falls back to :meth:`read` (still under its own deadline). A blocked disk read
        cannot be interrupted: the database is small and hot in the page cache.
        """
        conn = self._inline_conn
        if conn is None:
            if self._closed:
                raise InlineReadRefused("the store is closed")
            conn = self._inline_conn = _connect(self.path)
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA query_only = ON")
        deadline = time.monotonic() + budget
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
        try:
            return fn(Session(SqliteConnection(conn)))
        except sqlite3.OperationalError as exc:  # interrupted, or the database is locked
            raise InlineReadRefused(str(exc)) from exc
        finally:
            conn.set_progress_handler(None, 0)

    def _read_conn(self) -> SqliteConnection:
        conn: SqliteConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            raw = _connect(self.path)
            raw.execute("PRAGMA query_only = ON")
            conn = self._local.conn = SqliteConnection(raw)
            with self._read_conns_lock:
                self._read_conns.append(raw)
        return conn

    def _run_read(self, fn: Callable[[Session], T]) -> T:
        return fn(Session(self._read_conn()))

    def _close_connections(self) -> None:
        """Close the readers, then checkpoint the WAL into the file and close the writer."""
        with self._read_conns_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()
        if self._inline_conn is not None:
            self._inline_conn.close()
            self._inline_conn = None
        # another process may hold the WAL; SQLite checkpoints later
        with contextlib.suppress(sqlite3.Error):
            self._write_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._write_conn.raw.close()

    def integrity_check(self) -> str:
        return self.read_sync(lambda s: str(s.conn.execute("PRAGMA integrity_check").fetchone()[0]))
