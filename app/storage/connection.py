"""One connection interface for the repositories, over SQLite or PostgreSQL.

The repositories (:mod:`app.storage.repositories`) write their SQL once, in the dialect both
databases share: ``?`` placeholders, ``ON CONFLICT`` upserts, ``RETURNING``, ``COLLATE NOCASE``
(a case-insensitive ICU collation of that name on PostgreSQL). What really differs is asked of
the connection: its :class:`Dialect` (the case-insensitive ``LIKE``), :meth:`new_ids` (ids for a
bulk insert) and the transaction statements.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # psycopg is the team server's dependency: the tray app never imports it
    import psycopg


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the shared SQL cannot spell the same way in both databases."""

    name: str
    #: ``LIKE`` that ignores case (SQLite's does for ASCII; PostgreSQL's ``ILIKE`` for every letter)
    like: str
    #: starts a write transaction (SQLite takes the write lock at once, so no deadlock can follow)
    begin: str
    #: the aggregate that makes a JSON array of a column's values (a list, or its text, per row)
    json_array_agg: str


SQLITE = Dialect("sqlite", like="LIKE", begin="BEGIN IMMEDIATE", json_array_agg="json_group_array")
POSTGRESQL = Dialect("postgresql", like="ILIKE", begin="BEGIN", json_array_agg="json_agg")


class Cursor(Protocol):
    """The part of a DB-API cursor the repositories use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Any: ...


class Connection(Protocol):
    """What a repository holds: run SQL, read plain tuples, get ids, know the dialect."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        """Run one statement (``?`` placeholders)."""

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Cursor:
        """Run one statement for each parameter row."""

    def tuples(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows as plain tuples (a timeline reads 10,000 of them: no row objects)."""

    def new_ids(self, table: str, count: int) -> list[int]:
        """``count`` ids for rows the caller inserts into ``table`` itself (bulk import)."""

    def append_lock(self, key: int) -> None:
        """Hold an exclusive lock on ``key`` until this transaction ends, so that rows appended
        under it commit in the order of their ids (PostgreSQL; SQLite's writer lock does it)."""

    def notify(self, channel: str, payload: str) -> None:
        """Tell other processes listening on ``channel``, at commit (PostgreSQL's NOTIFY)."""

    @property
    def in_transaction(self) -> bool: ...


class SqliteConnection:
    """A :class:`Connection` over :mod:`sqlite3`."""

    __slots__ = ("raw",)

    dialect = SQLITE

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        return self.raw.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Cursor:
        return self.raw.executemany(sql, rows)

    def tuples(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = self.raw.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, params).fetchall()

    def new_ids(self, table: str, count: int) -> list[int]:
        # What SQLite would pick itself; safe because only a write transaction calls this, and
        # SQLite lets no other connection insert meanwhile.
        base = int(self.raw.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])
        return list(range(base + 1, base + count + 1))

    def append_lock(self, key: int) -> None:
        pass  # one writer at a time already

    def notify(self, channel: str, payload: str) -> None:
        pass  # one process: it wakes its own readers after the commit

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction


@functools.lru_cache(maxsize=2048)
def _pyformat(sql: str) -> str:
    """The shared SQL in psycopg's placeholder style (``%s``; a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgRow:
    """A row readable by position and by column name, like :class:`sqlite3.Row`."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)


def pg_row_factory(cursor: Any) -> Any:
    """psycopg row factory making :class:`PgRow` (the column index is built once per query, from
    the result's field names: ``cursor.description`` would build a Column object per column)."""
    result = cursor.pgresult
    names = [result.fname(i) for i in range(result.nfields)] if result is not None else []
    index = {name.decode("utf-8", "replace"): position for position, name in enumerate(names) if name is not None}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, index)

    return make


class PgConnection:
    """A :class:`Connection` over a psycopg 3 connection in autocommit mode (explicit BEGIN)."""

    __slots__ = ("_locked", "raw")

    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        #: the append locks this transaction holds (taken once per transaction, not per append)
        self._locked: set[int] = set()

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        if self._locked and not params and sql.startswith(("COMMIT", "ROLLBACK", "BEGIN")):
            self._locked.clear()  # the transaction ends (or a savepoint's locks are given back)
        return self.raw.execute(_pyformat(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(_pyformat(sql), rows)
        return cursor

    def tuples(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        from psycopg.rows import tuple_row

        with self.raw.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(_pyformat(sql), params)
            return cursor.fetchall()

    def new_ids(self, table: str, count: int) -> list[int]:
        rows = self.raw.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", (table, count)
        ).fetchall()
        return [int(row[0]) for row in rows]

    def append_lock(self, key: int) -> None:
        if key not in self._locked:
            self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            self._locked.add(key)

    def notify(self, channel: str, payload: str) -> None:
        self.raw.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)
