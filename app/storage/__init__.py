"""Persistence behind repository classes: SQLite embedded, PostgreSQL for a team server.

Callers never see SQL or a connection. They hand a function to :meth:`Store.read` or
:meth:`Store.write`; it runs on a storage thread with a :class:`Session` whose repositories
do the SQL. A write function runs in one transaction that is committed durably
(``synchronous=FULL`` / ``synchronous_commit=on``) before the awaiting coroutine resumes, which
is what lets the webhook promise "acknowledged means durable". :func:`open_store` picks the
backend from what the settings or the command line name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.lazy import lazy_attributes

from .errors import InlineReadRefused, StorageError
from .records import (
    CallRecord,
    CallState,
    CdrRow,
    CompanyRecord,
    ContactRecord,
    CrmUser,
    EventRecord,
    HoldPeriod,
    PhoneRecord,
    PresenceRecord,
)

if TYPE_CHECKING:
    from .repositories import Session
    from .sqlite import SqliteStore
    from .store import Store, is_database_error

# The records are plain dataclasses and the errors plain exceptions; the store and its repositories
# load sqlite3. The tray app in team mode has no store and only handles records, so these load on
# first use, not with the package.
__getattr__ = lazy_attributes(__name__, {
    "Session": ".repositories",
    "SqliteStore": ".sqlite",
    "Store": ".store",
    "is_database_error": ".store",
})

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(database: str | Path) -> bool:
    """Whether ``database`` names a PostgreSQL server (else it is an SQLite file's path)."""
    return isinstance(database, str) and database.startswith(POSTGRESQL_SCHEMES)


def open_store(database: str | Path, *, readers: int = 2) -> Store:
    """The store for ``database``: a ``postgresql://`` URL, or the path of an SQLite file."""
    if is_database_url(database):
        from .postgres import PostgresStore  # psycopg: only the team server needs it

        return PostgresStore(str(database), readers=readers)
    from .sqlite import SqliteStore

    return SqliteStore(Path(database), readers=readers)


__all__ = [
    "POSTGRESQL_SCHEMES",
    "CallRecord",
    "CallState",
    "CdrRow",
    "CompanyRecord",
    "ContactRecord",
    "CrmUser",
    "EventRecord",
    "HoldPeriod",
    "InlineReadRefused",
    "PhoneRecord",
    "PresenceRecord",
    "Session",
    "SqliteStore",
    "StorageError",
    "Store",
    "is_database_error",
    "is_database_url",
    "open_store",
]
