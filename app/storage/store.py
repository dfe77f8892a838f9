"""The store: storage threads, group commit and the read/write interface, for either database.

Database calls block, so they do not run on the event loop: one writer thread owns the only
writing connection of this process and a small pool of reader threads read. A backend
(:mod:`app.storage.sqlite`, :mod:`app.storage.postgres`) only says how to connect, begin and read.

Group commit: the durable commit (an fsync) dominates a small write, so the writer takes every
write queued while it was busy and runs them in one transaction, each inside its own savepoint
(a failing one is rolled back alone and raises to its caller only), then commits once; every
caller resumes after that commit. A lone write runs exactly as before, in a transaction of its own.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .connection import Connection
from .errors import StorageError
from .repositories import Session

T = TypeVar("T")

#: Most writes committed together (bounds the wait of the last one in a burst).
MAX_GROUP_COMMIT = 128

_Job = tuple[Callable[[Session], Any], "Future[Any]"]


def newer_schema(version: int, known: int) -> StorageError:
    return StorageError(f"the database was written by a newer pbx-companion (schema {version}, this one knows {known})")


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the database driver (the event is then not stored: say so, not 500)."""
    return type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg")


class Store(abc.ABC):
    """The application's database: open once, share everywhere, close at shutdown.

    Callers never see SQL or a connection: they hand a function to :meth:`read` or :meth:`write`
    and it runs with a :class:`~app.storage.repositories.Session`.
    """

    #: the driver's exception base class(es), caught around transaction statements
    driver_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, *, readers: int) -> None:
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-reader")
        self._queued: deque[_Job] = deque()
        self._queued_lock = threading.Lock()
        self._closed = False

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the data is, for messages and Diagnostics (a path, or a URL without its password)."""

    # -- what a backend provides -----------------------------------------------------------

    @abc.abstractmethod
    def _writer_connection(self) -> Connection:
        """The writer's connection (reconnected here when the database server dropped it)."""

    @abc.abstractmethod
    def _run_read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` on a read connection (on a reader thread)."""

    @abc.abstractmethod
    def _close_connections(self) -> None:
        """Close every connection (the threads have finished)."""

    @abc.abstractmethod
    def read_inline(self, fn: Callable[[Session], T], budget: float = 0.005) -> T:
        """Run a small read on the caller's thread within ``budget`` seconds, or raise
        :class:`InlineReadRefused` (the caller then uses :meth:`read`)."""

    @abc.abstractmethod
    def integrity_check(self) -> str:
        """"ok", or what the database reports wrong."""

    # -- running work on the storage threads ---------------------------------------------

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` on a reader thread (never blocks the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._run_read, fn)

    async def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in one transaction on the writer thread; committed when this returns."""
        return await asyncio.wrap_future(self._submit_write(fn))

    def read_sync(self, fn: Callable[[Session], T]) -> T:
        """Blocking :meth:`read` for command-line use outside an event loop."""
        return self._readers.submit(self._run_read, fn).result()

    def write_sync(self, fn: Callable[[Session], T]) -> T:
        """Blocking :meth:`write` for command-line use outside an event loop."""
        return self._submit_write(fn).result()

    def _submit_write(self, fn: Callable[[Session], T]) -> Future[T]:
        """Queue ``fn`` for the writer; one drain task per write, a drain takes all that is queued."""
        future: Future[T] = Future()
        job = (fn, future)
        with self._queued_lock:
            self._queued.append(job)
        try:
            self._writer.submit(self._drain_writes)
        except RuntimeError:  # closed: refused like any executor after shutdown
            with self._queued_lock:
                self._queued.remove(job)
            raise
        return future

    def _drain_writes(self) -> None:
        with self._queued_lock:
            jobs = [self._queued.popleft() for _ in range(min(len(self._queued), MAX_GROUP_COMMIT))]
        jobs = [(fn, future) for fn, future in jobs if future.set_running_or_notify_cancel()]
        if len(jobs) == 1:
            self._run_alone(*jobs[0])
        elif jobs:
            try:
                self._run_group(jobs)
            except BaseException as exc:  # a broken connection: nobody may wait forever
                self._rollback_quietly()
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(*self.driver_errors, StorageError):
            conn = self._writer_connection()
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _begin(self) -> Connection:
        try:
            conn = self._writer_connection()
            conn.execute(conn.dialect.begin)
        except self.driver_errors as exc:
            raise StorageError(f"cannot write to the database: {exc}") from exc
        return conn

    def _run_alone(self, fn: Callable[[Session], Any], future: Future[Any]) -> None:
        try:
            result = self._run_write(fn)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def _run_group(self, jobs: list[_Job]) -> None:
        """Several queued writes in one transaction, each in a savepoint, one commit for all."""
        try:
            conn = self._begin()
        except StorageError as exc:
            for _, future in jobs:
                future.set_exception(exc)
            return
        done: list[tuple[Future[Any], Any]] = []
        for index, (fn, future) in enumerate(jobs):
            conn.execute("SAVEPOINT store_write")
            try:
                result = fn(Session(conn))
                conn.execute("RELEASE store_write")
            except BaseException as exc:
                if conn.in_transaction:  # undo this write alone; the others go on
                    conn.execute("ROLLBACK TO store_write")
                    conn.execute("RELEASE store_write")
                    future.set_exception(exc)
                    continue
                # The database rolled the whole transaction back (disk full, I/O error): the writes
                # before this one are lost too; the ones after it run alone, as without grouping.
                future.set_exception(exc)
                for earlier, _ in done:
                    earlier.set_exception(StorageError(f"cannot write to the database: {exc}"))
                for later in jobs[index + 1:]:
                    self._run_alone(*later)
                return
            done.append((future, result))
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback_quietly()
            for future, _ in done:
                future.set_exception(exc)
            return
        for future, result in done:
            future.set_result(result)

    def _run_write(self, fn: Callable[[Session], T]) -> T:
        conn = self._begin()
        try:
            result = fn(Session(conn))
            conn.execute("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise
        return result

    def close(self) -> None:
        """Finish pending work and close every connection."""
        if self._closed:
            return
        self._closed = True
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._close_connections()

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)
