"""PostgreSQL for the benchmarks: a throw-away server configured like a real one, and loading it.

The tests' :class:`~tests.support.postgres.PostgresServer` keeps its data in /dev/shm and runs
with ``fsync = off`` (a test database is thrown away). A benchmark of the team server should pay
what production pays, so :func:`bench_postgres` puts the cluster on the disk (under /tmp) and
turns ``fsync`` and ``full_page_writes`` back on: a commit then waits for its WAL flush, as the
webhook's "acknowledged means durable" does on a real server. ``shared_buffers`` stays at the
test server's 32 MB (it needs a restart); the OS page cache holds the rest of the bench's data.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import psutil

from tests.support.postgres import TMPDIR_ENV, PostgresServer

from . import datagen

#: where the cluster lives: a disk-backed directory the server's unprivileged user can reach
DISK_BASE = "/tmp"


@contextlib.contextmanager
def bench_postgres(*, durable: bool = True) -> Iterator[PostgresServer]:
    """A running PostgreSQL (stopped and removed afterwards); ``durable``: on disk, fsync on."""
    previous = os.environ.get(TMPDIR_ENV)
    if durable and previous is None:
        os.environ[TMPDIR_ENV] = DISK_BASE
    try:
        server = PostgresServer().start()
    finally:
        if previous is None:
            os.environ.pop(TMPDIR_ENV, None)
    try:
        if durable:
            server.execute("ALTER SYSTEM SET fsync = on")
            server.execute("ALTER SYSTEM SET full_page_writes = on")
            server.execute("SELECT pg_reload_conf()")
        yield server
    finally:
        server.stop()


def settings_of(server: PostgresServer) -> dict[str, str]:
    """The settings that decide what a commit costs, as the server reports them."""
    names = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method",
             "shared_buffers", "data_directory")
    rows = server.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name IN ("
                          + ", ".join(f"'{name}'" for name in names) + ")")
    out = {str(name): str(value) for name, value in rows}
    out["data_directory"] = str(server.datadir)
    return out


def cpu_s(server: PostgresServer, seen: dict[int, float] | None = None) -> float:
    """CPU seconds (user+sys) of the postmaster and its backends. With ``seen`` (pid -> last CPU
    seen), backends that exited since an earlier call keep counting what they had used."""
    seen = {} if seen is None else seen
    try:
        pid = int((server.datadir / "postmaster.pid").read_text().splitlines()[0])
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except (OSError, ValueError, IndexError, psutil.Error):
        return sum(seen.values())
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            seen[proc.pid] = max(seen.get(proc.pid, 0.0), t.user + t.system)
    return sum(seen.values())


def load_dataset(dataset: datagen.Dataset, url: str, batch: int = 5000) -> None:
    """:func:`datagen.load_into_store` for any store: ``session.contacts.save`` in batches of
    ``batch``, here into the database at ``url`` (a ``postgresql://`` URL or an SQLite path);
    then ``ANALYZE`` on PostgreSQL."""
    from app.storage import ContactRecord, PhoneRecord, open_store

    store = open_store(url)
    try:
        def companies(session: Any) -> dict[str, int]:
            return {name: session.contacts.company_id(name, owner) for name, owner in dataset.companies.items()}

        company_ids = store.write_sync(companies)
        for start in range(0, len(dataset.contacts), batch):
            chunk = dataset.contacts[start:start + batch]

            def save(session: Any, chunk: list[datagen.Contact] = chunk) -> None:
                for c in chunk:
                    session.contacts.save(ContactRecord(
                        id=None, name=c.name, company_id=company_ids[c.company] if c.company else None,
                        owner_id=c.owner, email=c.email,
                        phones=[PhoneRecord(key, raw, label) for key, raw, label in c.phones],
                    ))

            store.write_sync(save)
        if url.startswith(("postgresql://", "postgres://")):
            # Fresh statistics, as a DBA would after a bulk load: until autovacuum analyzes the new
            # tables (up to a minute later) PostgreSQL plans get_contact's join as a sequential scan
            # of every contact (docs/performance.md, "Team server: analysis").
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")
    finally:
        store.close()
