"""Persistence: SQLite today, behind repository classes so another backend can replace it.

Callers never see SQL or a connection. They hand a function to :meth:`Store.read` or
:meth:`Store.write`; it runs on a storage thread with a :class:`Session` whose repositories
do the SQL. A write function runs in one transaction that is committed (``synchronous=FULL``)
before the awaiting coroutine resumes, which is what lets the webhook promise "acknowledged
means durable".
"""

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
from .sqlite import InlineReadRefused, Session, StorageError, Store

__all__ = [
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
    "StorageError",
    "Store",
]
