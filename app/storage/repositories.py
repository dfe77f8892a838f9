"""The repositories: every SQL statement of the program, written once for SQLite and PostgreSQL.

A :class:`Session` binds them to one :class:`~app.storage.connection.Connection` (and, for a
write, one transaction). The SQL is the dialect both databases share; the few differences are
asked of the connection (see :mod:`app.storage.connection`).
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from app.protocol.cdr import CDR_FIELDS, CdrRecord

from .connection import POSTGRESQL, Connection
from .records import (
    AgentRecord,
    CallRecord,
    CallState,
    CdrRow,
    CompanyRecord,
    ContactRecord,
    CrmUser,
    EventRecord,
    FeedRow,
    HoldPeriod,
    PhoneRecord,
    PresenceRecord,
)


def _inserted_id(cursor: Any) -> int:
    """The id an ``INSERT ... RETURNING id`` made (read to the end: SQLite finishes the statement)."""
    rows = cursor.fetchall()
    return int(rows[0][0])


class Session:
    """The repositories bound to one connection (and, for writes, one transaction)."""

    __slots__ = ("agents", "calls", "cdrs", "conn", "contacts", "dials", "events", "feed", "meta", "notes", "presence",
                 "users")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.users = CrmUserRepository(conn)
        self.contacts = ContactRepository(conn)
        self.calls = CallRepository(conn)
        self.cdrs = CdrRepository(conn)
        self.presence = PresenceRepository(conn)
        self.events = EventLogRepository(conn)
        self.notes = NoteRepository(conn)
        self.dials = DialLogRepository(conn)
        self.agents = AgentRepository(conn)
        self.feed = FeedRepository(conn)
        self.meta = ServerMetaRepository(conn)


class _Repository:
    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _prune(self, table: str, key: str, at: str, *, older_than: float | None, keep_at_most: int | None,
               batch: int) -> int:
        """Delete up to ``batch`` of the oldest rows (by ``at``) that are older than ``older_than`` or
        beyond the newest ``keep_at_most``; returns how many. One statement for both databases: the
        rows are picked by key (PostgreSQL has no ``DELETE ... LIMIT``), a batch at a time so that a
        first prune of a big table does not hold the writer for long."""
        removed = 0
        if older_than is not None:
            removed += self.conn.execute(
                f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {at} < ? ORDER BY {at} LIMIT ?)",
                (older_than, batch),
            ).rowcount
        if keep_at_most is not None and keep_at_most > 0 and removed < batch:
            removed += self.conn.execute(
                f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {at} <"
                f" (SELECT {at} FROM {table} ORDER BY {at} DESC LIMIT 1 OFFSET ?) ORDER BY {at} LIMIT ?)",
                (keep_at_most - 1, batch - removed),
            ).rowcount
        return removed

    def _tuples_for_keys(self, select: str, keys: Sequence[str], order_by: str, limit: int) -> list[tuple[Any, ...]]:
        """``select`` over the rows whose ``other_key`` is one of ``keys``, as plain tuples (no
        row objects: a timeline reads 10,000 of them at once)."""
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        return self.conn.tuples(f"{select} WHERE other_key IN ({marks}) ORDER BY {order_by} LIMIT ?", (*keys, limit))


class CrmUserRepository(_Repository):
    """The team: CRM users that ``get_users`` returns and their PBX extensions."""

    __slots__ = ()

    def list(self) -> list[CrmUser]:
        rows = self.conn.execute("SELECT id, name, extension FROM crm_users ORDER BY name COLLATE NOCASE, id")
        return [CrmUser(r["id"], r["name"], r["extension"]) for r in rows]

    def get(self, user_id: str) -> CrmUser | None:
        r = self.conn.execute("SELECT id, name, extension FROM crm_users WHERE id = ?", (user_id,)).fetchone()
        return None if r is None else CrmUser(r["id"], r["name"], r["extension"])

    def by_extension(self, extension: str) -> CrmUser | None:
        r = self.conn.execute(
            "SELECT id, name, extension FROM crm_users WHERE extension = ?", (extension,)
        ).fetchone()
        return None if r is None else CrmUser(r["id"], r["name"], r["extension"])

    def by_id_or_extension(self, text: str) -> tuple[CrmUser | None, CrmUser | None]:
        """(the user whose id is ``text``, the user whose extension is ``text``): :meth:`get` and
        :meth:`by_extension` in one query."""
        by_id = by_extension = None
        for r in self.conn.execute(
            "SELECT id, name, extension FROM crm_users WHERE id = ? OR extension = ?", (text, text)
        ):
            user = CrmUser(r["id"], r["name"], r["extension"])
            if user.id == text:
                by_id = user
            if user.extension == text:
                by_extension = user
        return by_id, by_extension

    def by_name(self, name: str) -> builtins.list[CrmUser]:  # `list` here is the method above
        rows = self.conn.execute(
            "SELECT id, name, extension FROM crm_users WHERE name = ? COLLATE NOCASE", (name,)
        )
        return [CrmUser(r["id"], r["name"], r["extension"]) for r in rows]

    def upsert(self, user: CrmUser) -> None:
        """Add the user or update the name/extension of an existing id (an extension belongs to one user)."""
        self.conn.execute(
            "UPDATE crm_users SET extension = NULL WHERE extension = ? AND id <> ?", (user.extension, user.id)
        )
        self.conn.execute(
            "INSERT INTO crm_users (id, name, extension, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET name = excluded.name, extension = excluded.extension",
            (user.id, user.name, user.extension, time.time()),
        )

    def remove(self, user_id: str) -> bool:
        return self.conn.execute("DELETE FROM crm_users WHERE id = ?", (user_id,)).rowcount > 0


class ContactRepository(_Repository):
    """Clients, their companies and their phone numbers (several per contact, keyed canonically)."""

    __slots__ = ()

    _SELECT = (
        "SELECT c.id, c.name, c.company_id, co.name AS company_name, c.owner_id, c.email, c.note, c.extra"
        " FROM contacts c LEFT JOIN companies co ON co.id = c.company_id"
    )

    def _record(self, row: Any, *, with_phones: bool = True) -> ContactRecord:
        record = ContactRecord(
            id=row["id"], name=row["name"], company_id=row["company_id"], company_name=row["company_name"],
            owner_id=row["owner_id"], email=row["email"], note=row["note"], extra=json.loads(row["extra"]),
        )
        if with_phones:
            record.phones = self.phones(row["id"])
        return record

    def phones(self, contact_id: int) -> list[PhoneRecord]:
        rows = self.conn.execute(
            "SELECT key, raw, label, extension FROM phones WHERE contact_id = ? ORDER BY id", (contact_id,)
        )
        return [PhoneRecord(r["key"], r["raw"], r["label"], r["extension"]) for r in rows]

    def lookup(self, key: str) -> list[tuple[int, str, int | None, str | None, str | None, str | None]]:
        """The hot path of ``get_contact``: (contact id, name, company id, company name,
        company owner, contact owner) of every contact with this number, in one indexed query."""
        return self.conn.execute(
            "SELECT c.id, c.name, c.company_id, co.name, co.owner_id, c.owner_id"
            " FROM phones p JOIN contacts c ON c.id = p.contact_id"
            " LEFT JOIN companies co ON co.id = c.company_id"
            " WHERE p.key = ? ORDER BY c.id",
            (key,),
        ).fetchall()

    def find_by_key(self, key: str) -> list[ContactRecord]:
        rows = self.conn.execute(
            f"{self._SELECT} WHERE c.id IN (SELECT contact_id FROM phones WHERE key = ?) ORDER BY c.id", (key,)
        )
        return [self._record(r) for r in rows]

    def first_id_by_key(self, key: str) -> int | None:
        row = self.conn.execute("SELECT MIN(contact_id) FROM phones WHERE key = ?", (key,)).fetchone()
        contact_id: int | None = row[0]
        return contact_id

    def ids_by_keys(self, keys: Sequence[str]) -> dict[str, int]:
        """For import: which of these keys already belong to a contact (the oldest one wins)."""
        found: dict[str, int] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, contact_id in self.conn.execute(
                f"SELECT key, MIN(contact_id) FROM phones WHERE key IN ({marks}) GROUP BY key", chunk
            ):
                found[key] = contact_id
        return found

    def get(self, contact_id: int) -> ContactRecord | None:
        row = self.conn.execute(f"{self._SELECT} WHERE c.id = ?", (contact_id,)).fetchone()
        return None if row is None else self._record(row)

    def search(self, text: str, limit: int = 20) -> list[ContactRecord]:
        """Contacts whose name or company name contains ``text`` (case-insensitive), by name."""
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        op = self.conn.dialect.like
        rows = self.conn.execute(
            f"{self._SELECT} WHERE c.name {op} ? ESCAPE '\\' OR co.name {op} ? ESCAPE '\\'"
            " ORDER BY c.name COLLATE NOCASE LIMIT ?",
            (like, like, limit),
        )
        return [self._record(r) for r in rows]

    def search_phone(self, digits: str, limit: int = 20) -> list[ContactRecord]:
        """Contacts with a number whose key contains ``digits`` (a partial number typed in the dialer)."""
        digits = "".join(ch for ch in digits if ch.isdigit())
        if not digits:
            return []
        rows = self.conn.execute(
            f"{self._SELECT} WHERE c.id IN (SELECT contact_id FROM phones WHERE key LIKE ?)"
            " ORDER BY c.name COLLATE NOCASE LIMIT ?",
            (f"%{digits}%", limit),
        )
        return [self._record(r) for r in rows]

    def iter_all(self) -> Iterator[ContactRecord]:
        phones: dict[int, list[PhoneRecord]] = {}
        for r in self.conn.execute("SELECT contact_id, key, raw, label, extension FROM phones ORDER BY id"):
            phones.setdefault(r[0], []).append(PhoneRecord(r[1], r[2], r[3], r[4]))
        for row in self.conn.execute(f"{self._SELECT} ORDER BY c.id"):
            record = self._record(row, with_phones=False)
            record.phones = phones.get(row["id"], [])
            yield record

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0])

    def company_id(self, name: str, owner_id: str | None = None) -> int:
        """The id of the company with this name (case-insensitive), created when new."""
        row = self.conn.execute("SELECT id FROM companies WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        return _inserted_id(self.conn.execute(
            "INSERT INTO companies (name, owner_id, created_at) VALUES (?, ?, ?) RETURNING id",
            (name, owner_id, time.time()),
        ))

    def get_company(self, company_id: int) -> CompanyRecord | None:
        r = self.conn.execute("SELECT id, name, owner_id FROM companies WHERE id = ?", (company_id,)).fetchone()
        return None if r is None else CompanyRecord(r["id"], r["name"], r["owner_id"])

    def save(self, contact: ContactRecord) -> int:
        """Insert (``id`` None) or update a contact and add its phones not stored yet; returns the id."""
        now = time.time()
        extra = json.dumps(contact.extra, ensure_ascii=False)
        if contact.id is None:
            contact_id = contact.id = _inserted_id(self.conn.execute(
                "INSERT INTO contacts (name, company_id, owner_id, email, note, extra, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (contact.name, contact.company_id, contact.owner_id, contact.email, contact.note, extra, now, now),
            ))
        else:
            contact_id = contact.id
            self.conn.execute(
                "UPDATE contacts SET name = ?, company_id = ?, owner_id = ?, email = ?, note = ?, extra = ?,"
                " updated_at = ? WHERE id = ?",
                (contact.name, contact.company_id, contact.owner_id, contact.email, contact.note, extra, now,
                 contact_id),
            )
        self.add_phones(contact_id, contact.phones)
        return contact_id

    def add_phones(self, contact_id: int, phones: Iterable[PhoneRecord]) -> None:
        self.conn.executemany(
            "INSERT INTO phones (contact_id, key, raw, label, extension) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(contact_id, key) DO NOTHING",
            [(contact_id, p.key, p.raw, p.label, p.extension) for p in phones],
        )

    def set_phones(self, contact_id: int, phones: Sequence[PhoneRecord]) -> None:
        """Make the contact's phones exactly these (the card's editor): numbers left out are
        removed, kept ones get the new spelling and label; ``save`` only ever adds phones."""
        keys = [p.key for p in phones]
        if keys:
            marks = ",".join("?" * len(keys))
            self.conn.execute(f"DELETE FROM phones WHERE contact_id = ? AND key NOT IN ({marks})", (contact_id, *keys))
        else:
            self.conn.execute("DELETE FROM phones WHERE contact_id = ?", (contact_id,))
        self.conn.executemany(
            "INSERT INTO phones (contact_id, key, raw, label, extension) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(contact_id, key) DO UPDATE SET raw = excluded.raw, label = excluded.label,"
            " extension = excluded.extension",
            [(contact_id, p.key, p.raw, p.label, p.extension) for p in phones],
        )

    def delete(self, contact_id: int) -> bool:
        return self.conn.execute("DELETE FROM contacts WHERE id = ?", (contact_id,)).rowcount > 0

    def insert_many(self, contacts: Sequence[ContactRecord]) -> None:
        """Bulk import: insert new contacts (``id`` None) and their phones; sets each record's ``id``.

        Two ``executemany`` calls instead of a round trip per contact: the ids are taken
        beforehand (:meth:`~app.storage.connection.Connection.new_ids`).
        """
        if not contacts:
            return
        now = time.time()
        rows = []
        for c, contact_id in zip(contacts, self.conn.new_ids("contacts", len(contacts)), strict=True):
            c.id = contact_id
            rows.append((c.id, c.name, c.company_id, c.owner_id, c.email, c.note,
                         json.dumps(c.extra, ensure_ascii=False) if c.extra else "{}", now, now))
        self.conn.executemany(
            "INSERT INTO contacts (id, name, company_id, owner_id, email, note, extra, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.conn.executemany(
            "INSERT INTO phones (contact_id, key, raw, label, extension) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(contact_id, key) DO NOTHING",
            [(c.id, p.key, p.raw, p.label, p.extension) for c in contacts for p in c.phones],
        )

    def merge_many(self, patches: Sequence[ContactRecord]) -> None:
        """Bulk import: merge patches into existing contacts (``id`` set) and add their new phones.

        A non-empty field overwrites; an empty name/owner/email/note or a None company keeps
        the stored value. ``extra`` is merged key by key (JSON merge patch: a None value
        removes that key). Phones the contact already has are left as they are.
        """
        if not patches:
            return
        now = time.time()
        self.conn.executemany(
            "UPDATE contacts SET name = COALESCE(NULLIF(?, ''), name), company_id = COALESCE(?, company_id),"
            " owner_id = COALESCE(NULLIF(?, ''), owner_id), email = COALESCE(NULLIF(?, ''), email),"
            " note = COALESCE(NULLIF(?, ''), note), extra = json_patch(extra, ?), updated_at = ? WHERE id = ?",
            [
                (p.name, p.company_id, p.owner_id, p.email, p.note, json.dumps(p.extra, ensure_ascii=False), now,
                 p.id)
                for p in patches
            ],
        )
        self.conn.executemany(
            "INSERT INTO phones (contact_id, key, raw, label, extension) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(contact_id, key) DO NOTHING",
            [(c.id, p.key, p.raw, p.label, p.extension) for c in patches for p in c.phones],
        )


_CALL_COLUMNS = (
    "call_id", "session_id", "direction", "other_leg", "other_key", "crm_user", "domain_user", "gateway_number",
    "state", "ringing_at", "answered_at", "hangup_at", "hangup_cause", "answer_seconds", "missed",
    "answered_elsewhere", "contact_id", "cdr_uniqueid", "first_seen", "updated_at",
)


#: Columns of :meth:`CallRepository.timeline_rows`; ``at`` is ``COALESCE(ringing_at, first_seen)``.
CALL_TIMELINE_COLUMNS = (
    "call_id", "session_id", "direction", "other_leg", "state", "at", "answered_at", "hangup_at",
    "answer_seconds", "missed", "answered_elsewhere", "cdr_uniqueid",
)


class CallRepository(_Repository):
    """The call journal: one row per ``call_id``, plus its hold periods."""

    __slots__ = ()

    def _record(self, row: Any, *, holds: bool = True) -> CallRecord:
        data = {name: row[name] for name in _CALL_COLUMNS}
        data["missed_cleared_at"] = row["missed_cleared_at"]
        data["missed"] = bool(data["missed"])
        data["answered_elsewhere"] = bool(data["answered_elsewhere"])
        data["state"] = CallState(data["state"])
        record = CallRecord(**data)
        if not holds:
            return record
        record.hold_periods = [
            HoldPeriod(r[0], r[1])
            for r in self.conn.execute(
                "SELECT held_at, resumed_at FROM hold_periods WHERE call_id = ? ORDER BY id", (record.call_id,)
            )
        ]
        return record

    def _select(self, where: str, params: Sequence[Any], *, holds: bool = True) -> list[CallRecord]:
        rows = self.conn.execute(f"SELECT * FROM calls WHERE {where}", params).fetchall()
        return [self._record(r, holds=holds) for r in rows]

    def _select_with_holds(self, where: str, params: Sequence[Any]) -> list[CallRecord]:
        """The calls ``where`` picks (no LIMIT: it would count hold periods), each with its hold
        periods, in one query (a join) instead of one more per call; ordered by ``first_seen``."""
        rows = self.conn.execute(
            "SELECT c.*, h.id AS hold_id, h.held_at AS hold_held_at, h.resumed_at AS hold_resumed_at"
            f" FROM calls c LEFT JOIN hold_periods h ON h.call_id = c.call_id WHERE {where}"
            " ORDER BY c.first_seen, c.call_id, h.id",
            params,
        ).fetchall()
        calls: dict[str, CallRecord] = {}
        for row in rows:
            call = calls.get(row["call_id"])
            if call is None:
                call = calls[row["call_id"]] = self._record(row, holds=False)
            if row["hold_id"] is not None:
                call.hold_periods.append(HoldPeriod(row["hold_held_at"], row["hold_resumed_at"]))
        return list(calls.values())

    def get(self, call_id: str) -> CallRecord | None:
        found = self._select_with_holds("c.call_id = ?", (call_id,))
        return found[0] if found else None

    def in_session(self, session_id: str) -> list[CallRecord]:
        return self._select_with_holds("c.session_id = ?", (session_id,))

    def with_session(self, call_id: str, session_id: str | None) -> list[CallRecord]:
        """The call ``call_id`` (if stored) and every call of ``session_id``, with their hold
        periods, in one query: what folding an event reads."""
        if session_id is None:
            return self._select_with_holds("c.call_id = ?", (call_id,))
        return self._select_with_holds("c.call_id = ? OR c.session_id = ?", (call_id, session_id))

    def for_number(self, key: str, limit: int = 100, *, holds: bool = True) -> list[CallRecord]:
        """The calls from this number, newest first; ``holds=False`` leaves ``hold_periods`` empty
        (one query instead of one more per call: the pop-up only counts them)."""
        return self._select("other_key = ? ORDER BY COALESCE(ringing_at, first_seen) DESC LIMIT ?", (key, limit),
                            holds=holds)

    def for_contact(self, contact_id: int, limit: int = 100) -> list[CallRecord]:
        return self._select(
            "contact_id = ? ORDER BY COALESCE(ringing_at, first_seen) DESC LIMIT ?", (contact_id, limit)
        )

    def missed(self, crm_user: str | None = None, limit: int = 100) -> list[CallRecord]:
        """Missed calls nobody has called back or dismissed yet, newest first."""
        if crm_user is None:
            return self._select("missed = 1 AND missed_cleared_at IS NULL ORDER BY first_seen DESC LIMIT ?", (limit,))
        return self._select(
            "missed = 1 AND missed_cleared_at IS NULL AND crm_user = ? ORDER BY first_seen DESC LIMIT ?",
            (crm_user, limit),
        )

    def clear_missed(self, call_id: str, at: float) -> bool:
        """Dismiss one missed call (it stays in the journal, marked missed)."""
        return self.conn.execute(
            "UPDATE calls SET missed_cleared_at = ? WHERE call_id = ? AND missed = 1 AND missed_cleared_at IS NULL",
            (at, call_id),
        ).rowcount > 0

    def clear_missed_from(self, key: str, at: float) -> int:
        """Calling a number back clears every missed call from it."""
        return self.conn.execute(
            "UPDATE calls SET missed_cleared_at = ? WHERE other_key = ? AND missed = 1 AND missed_cleared_at IS NULL",
            (at, key),
        ).rowcount

    def recent(self, limit: int = 100) -> list[CallRecord]:
        return self._select("TRUE ORDER BY first_seen DESC LIMIT ?", (limit,))

    def by_cdr(self, uniqueid: str) -> list[CallRecord]:
        return self._select_with_holds("c.call_id = ? OR c.session_id = ?", (uniqueid, uniqueid))

    def save(self, call: CallRecord) -> None:
        """Insert or replace the call's row (hold periods are written by their own methods)."""
        values = [getattr(call, name) for name in _CALL_COLUMNS]
        marks = ",".join("?" * len(_CALL_COLUMNS))
        updates = ",".join(f"{name} = excluded.{name}" for name in _CALL_COLUMNS[1:])
        self.conn.execute(
            f"INSERT INTO calls ({','.join(_CALL_COLUMNS)}) VALUES ({marks})"
            f" ON CONFLICT(call_id) DO UPDATE SET {updates}",
            values,
        )

    def add_hold_event(self, call: CallRecord, at: float, *, held: bool) -> None:
        """What :meth:`hold_started` (``held``) or :meth:`hold_ended` does, in one statement, to a
        call read with all its hold periods (:meth:`get`, :meth:`with_session`): its
        ``hold_periods`` are updated the same way, so it need not be read again."""
        stamp = "held_at" if held else "resumed_at"
        for period in call.hold_periods:  # in id order, as the query below picks
            if getattr(period, stamp) is None:
                setattr(period, stamp, at)
                self.conn.execute(
                    f"UPDATE hold_periods SET {stamp} = ? WHERE id = (SELECT id FROM hold_periods"
                    f" WHERE call_id = ? AND {stamp} IS NULL ORDER BY id LIMIT 1)",
                    (at, call.call_id),
                )
                return
        call.hold_periods.append(HoldPeriod(at, None) if held else HoldPeriod(None, at))
        self.conn.execute(f"INSERT INTO hold_periods (call_id, {stamp}) VALUES (?, ?)", (call.call_id, at))

    def hold_count(self, call_id: str) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM hold_periods WHERE call_id = ?", (call_id,)).fetchone()[0])

    def hold_started(self, call_id: str, at: float) -> None:
        """A ``call_held``: fill a period whose resume arrived first, else open a new one."""
        row = self.conn.execute(
            "SELECT id FROM hold_periods WHERE call_id = ? AND held_at IS NULL ORDER BY id LIMIT 1", (call_id,)
        ).fetchone()
        if row is not None:
            self.conn.execute("UPDATE hold_periods SET held_at = ? WHERE id = ?", (at, row[0]))
        else:
            self.conn.execute("INSERT INTO hold_periods (call_id, held_at) VALUES (?, ?)", (call_id, at))

    def hold_ended(self, call_id: str, at: float) -> None:
        """A ``call_active``: close the oldest open period, or record one whose start is still to come."""
        row = self.conn.execute(
            "SELECT id FROM hold_periods WHERE call_id = ? AND resumed_at IS NULL ORDER BY id LIMIT 1", (call_id,)
        ).fetchone()
        if row is not None:
            self.conn.execute("UPDATE hold_periods SET resumed_at = ? WHERE id = ?", (at, row[0]))
        else:
            self.conn.execute("INSERT INTO hold_periods (call_id, resumed_at) VALUES (?, ?)", (call_id, at))

    def timeline_rows(self, keys: Sequence[str], limit: int = 100_000) -> list[tuple[Any, ...]]:
        """The calls from these numbers for a client's timeline, newest first, as plain tuples in
        :data:`CALL_TIMELINE_COLUMNS` order: one query, no hold periods, no record objects --
        the card opens a client with 10,000 calls, where a query or a dataclass per row would dominate."""
        return self._tuples_for_keys(
            f"SELECT {','.join(CALL_TIMELINE_COLUMNS[:5])}, COALESCE(ringing_at, first_seen),"
            f" {','.join(CALL_TIMELINE_COLUMNS[6:])} FROM calls", keys, "first_seen DESC", limit)

    def prune(self, *, older_than: float | None, keep_at_most: int | None, batch: int = 10_000) -> int:
        """Drop calls first seen before ``older_than`` and beyond the newest ``keep_at_most`` (their
        hold periods go with them), at most ``batch``; returns how many calls."""
        return self._prune("calls", "call_id", "first_seen", older_than=older_than, keep_at_most=keep_at_most,
                           batch=batch)

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def link_contact(self, key: str, contact_id: int) -> int:
        """Attach the calls from this number that have no contact yet; returns how many."""
        return self.conn.execute(
            "UPDATE calls SET contact_id = ? WHERE other_key = ? AND contact_id IS NULL", (contact_id, key)
        ).rowcount


_CDR_JSON_FIELDS = ("geo_ids", "geo_names")


#: Columns of :meth:`CdrRepository.timeline_rows`.
CDR_TIMELINE_COLUMNS = (
    "uniqueid", "dt", "src", "dst", "direction", "duration", "billsec", "link", "bridge_hangup_cause",
)


class CdrRepository(_Repository):
    """Call detail records, unique by ``uniqueid`` (a redelivered CDR changes nothing)."""

    __slots__ = ()

    def insert(self, cdr: CdrRecord, *, other_key: str | None, contact_id: int | None, source: str,
               received_at: float) -> bool:
        """Store the CDR unless its ``uniqueid`` is known; returns whether it was new."""
        values = self._values(cdr, other_key=other_key, contact_id=contact_id, source=source, received_at=received_at)
        columns = ",".join(values)
        marks = ",".join("?" * len(values))
        cursor = self.conn.execute(
            f"INSERT INTO cdrs ({columns}) VALUES ({marks}) ON CONFLICT(uniqueid) DO NOTHING", list(values.values())
        )
        return cursor.rowcount > 0

    def add(self, cdr: CdrRecord, *, other_key: str | None, contact_id: int | None, source: str,
            received_at: float) -> CdrRow | None:
        """:meth:`insert`, returning the stored row as :meth:`get` reads it (None: the ``uniqueid``
        was known), in the same statement."""
        values = self._values(cdr, other_key=other_key, contact_id=contact_id, source=source, received_at=received_at)
        columns = ",".join(values)
        marks = ",".join("?" * len(values))
        row = self.conn.execute(
            f"INSERT INTO cdrs ({columns}) VALUES ({marks}) ON CONFLICT(uniqueid) DO NOTHING RETURNING *",
            list(values.values()),
        ).fetchall()
        return self._row(row[0]) if row else None

    @staticmethod
    def _values(cdr: CdrRecord, *, other_key: str | None, contact_id: int | None, source: str,
                received_at: float) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in CDR_FIELDS:
            value = getattr(cdr, name)
            if name in _CDR_JSON_FIELDS and value is not None:
                value = json.dumps(value, ensure_ascii=False)
            values["pbx_id" if name == "id" else name] = value
        values.update(
            extra=json.dumps(cdr.extra_fields(), ensure_ascii=False, default=str), other_key=other_key,
            contact_id=contact_id, received_at=received_at, source=source,
        )
        return values

    def first_known(self, uniqueids: Sequence[str]) -> str | None:
        """The first of these ``uniqueid``s that has a CDR (one query for all)."""
        if not uniqueids:
            return None
        marks = ",".join("?" * len(uniqueids))
        found = {r[0] for r in self.conn.execute(f"SELECT uniqueid FROM cdrs WHERE uniqueid IN ({marks})", uniqueids)}
        return next((u for u in uniqueids if u in found), None)

    def _row(self, row: Any) -> CdrRow:
        data: dict[str, Any] = {}
        for name in CDR_FIELDS:
            value = row["pbx_id" if name == "id" else name]
            if name in _CDR_JSON_FIELDS and value is not None:
                value = json.loads(value)
            data[name] = value
        data.update(json.loads(row["extra"]))
        return CdrRow(row["uniqueid"], data, row["other_key"], row["contact_id"], row["received_at"], row["source"])

    def get(self, uniqueid: str) -> CdrRow | None:
        row = self.conn.execute("SELECT * FROM cdrs WHERE uniqueid = ?", (uniqueid,)).fetchone()
        return None if row is None else self._row(row)

    def for_number(self, key: str, limit: int = 100) -> list[CdrRow]:
        rows = self.conn.execute(
            "SELECT * FROM cdrs WHERE other_key = ? ORDER BY dt DESC LIMIT ?", (key, limit)
        ).fetchall()
        return [self._row(r) for r in rows]

    def timeline_rows(self, keys: Sequence[str], limit: int = 100_000) -> list[tuple[Any, ...]]:
        """The CDRs of these numbers for a client's timeline, newest first, as plain tuples in
        :data:`CDR_TIMELINE_COLUMNS` order (one query, only the columns a timeline shows)."""
        return self._tuples_for_keys(f"SELECT {','.join(CDR_TIMELINE_COLUMNS)} FROM cdrs", keys, "dt DESC", limit)

    def link_contact(self, key: str, contact_id: int) -> int:
        return self.conn.execute(
            "UPDATE cdrs SET contact_id = ? WHERE other_key = ? AND contact_id IS NULL", (contact_id, key)
        ).rowcount

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM cdrs").fetchone()[0])

    def prune(self, *, older_than: float | None, keep_at_most: int | None, batch: int = 10_000) -> int:
        """Drop CDRs received before ``older_than`` and beyond the newest ``keep_at_most``, at most ``batch``."""
        return self._prune("cdrs", "uniqueid", "received_at", older_than=older_than, keep_at_most=keep_at_most,
                           batch=batch)


class NoteRepository(_Repository):
    """The agent's note and outcome per call (``call_ref``: a call_id or a CDR uniqueid)."""

    __slots__ = ()

    def get(self, call_ref: str) -> tuple[str, str]:
        row = self.conn.execute("SELECT note, outcome FROM call_notes WHERE call_ref = ?", (call_ref,)).fetchone()
        return ("", "") if row is None else (row[0], row[1])

    def many(self, call_refs: Sequence[str]) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(call_refs), 500):
            chunk = list(call_refs[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for ref, note, outcome in self.conn.execute(
                f"SELECT call_ref, note, outcome FROM call_notes WHERE call_ref IN ({marks})", chunk
            ):
                found[ref] = (note, outcome)
        return found

    def set(self, call_ref: str, note: str, outcome: str, at: float) -> None:
        self.conn.execute(
            "INSERT INTO call_notes (call_ref, note, outcome, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(call_ref) DO UPDATE SET note = excluded.note, outcome = excluded.outcome,"
            " updated_at = excluded.updated_at",
            (call_ref, note, outcome, at),
        )

    def prune(self, *, older_than: float | None, keep_at_most: int | None, batch: int = 10_000) -> int:
        """Drop notes last written before ``older_than`` and beyond the newest ``keep_at_most``."""
        return self._prune("call_notes", "call_ref", "updated_at", older_than=older_than,
                           keep_at_most=keep_at_most, batch=batch)

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM call_notes").fetchone()[0])


class DialLogRepository(_Repository):
    """Numbers this workstation dialed (the dialer's "recent numbers")."""

    __slots__ = ()

    def add(self, key: str, dialed: str, at: float) -> None:
        self.conn.execute("INSERT INTO dial_log (key, dialed, at) VALUES (?, ?, ?)", (key, dialed, at))

    def prune(self, *, older_than: float | None, keep_at_most: int | None, batch: int = 10_000) -> int:
        """Drop dials before ``older_than`` and beyond the newest ``keep_at_most``."""
        return self._prune("dial_log", "id", "at", older_than=older_than, keep_at_most=keep_at_most, batch=batch)

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM dial_log").fetchone()[0])

    def recent(self, limit: int = 20) -> list[tuple[str, str, float]]:
        """Distinct numbers, the most recently dialed first: (key, dialed form, last time)."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute(
                "SELECT key, dialed, at FROM dial_log WHERE id IN (SELECT MAX(id) FROM dial_log GROUP BY key)"
                " ORDER BY at DESC, id DESC LIMIT ?",
                (limit,),
            )
        ]


class PresenceRepository(_Repository):
    """Latest SIP registration and agent status per PBX user, plus their history."""

    __slots__ = ()

    def registration(self, user_uid: str, crm_user: str | None, status: int | None, protocol: int | None,
                     at: float) -> PresenceRecord:
        """A SIP registration change; returns the user's presence now (as :meth:`get` reads it)."""
        rows = self.conn.execute(
            "INSERT INTO presence (user_uid, crm_user, reg_status, protocol, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(user_uid) DO UPDATE SET crm_user = COALESCE(excluded.crm_user, presence.crm_user),"
            " reg_status = excluded.reg_status, protocol = excluded.protocol, updated_at = excluded.updated_at"
            " RETURNING *",
            (user_uid, crm_user, status, protocol, at),
        ).fetchall()
        self.conn.execute(
            "INSERT INTO presence_history (user_uid, crm_user, kind, reg_status, protocol, at)"
            " VALUES (?, ?, 'registration', ?, ?, ?)",
            (user_uid, crm_user, status, protocol, at),
        )
        return self._record(rows[0])

    def agent(self, user_uid: str, crm_user: str | None, base_status: int | None, extra_status: int | None,
              status_name: str | None, at: float) -> PresenceRecord:
        """A call-center status change; returns the user's presence now (as :meth:`get` reads it)."""
        rows = self.conn.execute(
            "INSERT INTO presence (user_uid, crm_user, base_status, extra_status, status_name, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(user_uid) DO UPDATE SET crm_user = COALESCE(excluded.crm_user, presence.crm_user),"
            " base_status = excluded.base_status, extra_status = excluded.extra_status,"
            " status_name = excluded.status_name, updated_at = excluded.updated_at RETURNING *",
            (user_uid, crm_user, base_status, extra_status, status_name, at),
        ).fetchall()
        self.conn.execute(
            "INSERT INTO presence_history (user_uid, crm_user, kind, base_status, extra_status, status_name, at)"
            " VALUES (?, ?, 'agent', ?, ?, ?, ?)",
            (user_uid, crm_user, base_status, extra_status, status_name, at),
        )
        return self._record(rows[0])

    def _record(self, r: Any) -> PresenceRecord:
        return PresenceRecord(r["user_uid"], r["crm_user"], r["reg_status"], r["protocol"], r["base_status"],
                              r["extra_status"], r["status_name"], r["updated_at"])

    def get(self, user_uid: str) -> PresenceRecord | None:
        r = self.conn.execute("SELECT * FROM presence WHERE user_uid = ?", (user_uid,)).fetchone()
        return None if r is None else self._record(r)

    def all(self) -> list[PresenceRecord]:
        return [self._record(r) for r in self.conn.execute("SELECT * FROM presence ORDER BY user_uid")]

    def prune_history(self, *, older_than: float, keep_at_most: int) -> int:
        """Drop status changes before ``older_than`` and all but the newest ``keep_at_most``."""
        removed = self.conn.execute("DELETE FROM presence_history WHERE at < ?", (older_than,)).rowcount
        removed += self.conn.execute(
            "DELETE FROM presence_history WHERE id <= (SELECT id FROM presence_history ORDER BY id DESC LIMIT 1"
            " OFFSET ?)",
            (keep_at_most,),
        ).rowcount
        return removed

    def prune(self, *, older_than: float | None, keep_at_most: int | None, batch: int = 10_000) -> int:
        """Drop the latest status of PBX users not heard of since ``older_than`` and beyond the
        ``keep_at_most`` most recently heard of (each event may name a new ``user_uid``)."""
        return self._prune("presence", "user_uid", "updated_at", older_than=older_than,
                           keep_at_most=keep_at_most, batch=batch)

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM presence").fetchone()[0])

    def history(self, user_uid: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM presence_history WHERE user_uid = ? ORDER BY id DESC LIMIT ?", (user_uid, limit)
        )
        return [dict(r) for r in rows]


class EventLogRepository(_Repository):
    """Every event as received, unique by its dedupe key: the redelivery guard and the diagnostics log."""

    __slots__ = ()

    def record(self, dedupe_key: str, action: str, action_id: str | None, payload: str, at: float) -> bool:
        """Store the event; False when it was already stored (a redelivery: apply nothing)."""
        cursor = self.conn.execute(
            "INSERT INTO events (dedupe_key, action, action_id, received_at, payload) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(dedupe_key) DO NOTHING",
            (dedupe_key, action, action_id, at, payload),
        )
        return cursor.rowcount > 0

    def recent(self, limit: int = 50) -> list[EventRecord]:
        rows = self.conn.execute(
            "SELECT id, action, action_id, received_at, payload FROM events ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [EventRecord(*r) for r in rows]

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def has(self, dedupe_key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM events WHERE dedupe_key = ?", (dedupe_key,)).fetchone() is not None

    def prune(self, *, older_than: float, keep_at_most: int) -> int:
        """Drop events received before ``older_than`` and all but the newest ``keep_at_most``."""
        removed = self.conn.execute("DELETE FROM events WHERE received_at < ?", (older_than,)).rowcount
        removed += self.conn.execute(
            "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (keep_at_most,),
        ).rowcount
        return removed


class AgentRepository(_Repository):
    """The team server's agents; a revoked agent's row stays (its name may be given anew)."""

    __slots__ = ()

    _SELECT = ("SELECT id, name, crm_user, extension, supervisor, token_hash, created_at, rotated_at, revoked_at"
               " FROM agents")

    @staticmethod
    def _record(r: Any) -> AgentRecord:
        return AgentRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8])

    def add(self, name: str, crm_user: str, extension: str | None, supervisor: bool, token_hash: str,
            at: float) -> AgentRecord:
        agent_id = _inserted_id(self.conn.execute(
            "INSERT INTO agents (name, crm_user, extension, supervisor, token_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (name, crm_user, extension, supervisor, token_hash, at),
        ))
        return AgentRecord(agent_id, name, crm_user, extension, supervisor, token_hash, at)

    def get(self, name: str) -> AgentRecord | None:
        """The live (not revoked) agent of this name, case-insensitively."""
        row = self.conn.execute(
            f"{self._SELECT} WHERE name = ? COLLATE NOCASE AND revoked_at IS NULL", (name,)
        ).fetchone()
        return None if row is None else self._record(row)

    def by_token_hash(self, token_hash: str) -> AgentRecord | None:
        row = self.conn.execute(f"{self._SELECT} WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,)).fetchone()
        return None if row is None else self._record(row)

    def live(self) -> list[AgentRecord]:
        return [self._record(r) for r in self.conn.execute(f"{self._SELECT} WHERE revoked_at IS NULL ORDER BY id")]

    def all(self) -> list[AgentRecord]:
        return [self._record(r) for r in self.conn.execute(f"{self._SELECT} ORDER BY name COLLATE NOCASE, id")]

    def revoke(self, agent_id: int, at: float) -> bool:
        return self.conn.execute(
            "UPDATE agents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, agent_id)
        ).rowcount > 0

    def rotate(self, agent_id: int, token_hash: str, at: float) -> bool:
        return self.conn.execute(
            "UPDATE agents SET token_hash = ?, rotated_at = ? WHERE id = ? AND revoked_at IS NULL",
            (token_hash, at, agent_id),
        ).rowcount > 0


#: ``append_lock`` key of the feed: appends commit in ``seq`` order across server processes
FEED_APPEND_LOCK = 0x70626366
#: the NOTIFY channel a feed append wakes the other server processes on (payload: the seq)
FEED_CHANNEL = "pbx_companion_feed"


def _tag_set(tags: list[str] | str | None) -> frozenset[str]:
    """A row's recipients from their JSON array (a list from PostgreSQL, its text from SQLite)."""
    if tags is None:
        return frozenset()
    return frozenset(json.loads(tags) if isinstance(tags, str) else tags)


class FeedRepository(_Repository):
    """The agents' feed journal: what each agent's app resumes from after a disconnect."""

    __slots__ = ()

    def append(self, at: float, type_: str, payload: str, *, everyone: bool, recipients: Iterable[str]) -> int:
        """Journal one message; returns its ``seq``. Readers see appends in ``seq`` order: the
        lock makes a later seq commit after an earlier one, also between server processes."""
        self.conn.append_lock(FEED_APPEND_LOCK)
        if self.conn.dialect is POSTGRESQL:
            # the row, its recipients and the NOTIFY of its seq in one round trip
            return _inserted_id(self.conn.execute(
                "WITH f AS (INSERT INTO feed (at, type, everyone, payload) VALUES (?, ?, ?, ?) RETURNING seq),"
                " r AS (INSERT INTO feed_recipients (seq, recipient)"
                " SELECT f.seq, t.recipient FROM f, unnest(?::text[]) AS t(recipient))"
                " SELECT seq, pg_notify(?, seq::text) FROM f",
                (at, type_, everyone, payload, list(dict.fromkeys(recipients)), FEED_CHANNEL),
            ))
        seq = _inserted_id(self.conn.execute(
            "INSERT INTO feed (at, type, everyone, payload) VALUES (?, ?, ?, ?) RETURNING seq",
            (at, type_, everyone, payload),
        ))
        self.conn.executemany(
            "INSERT INTO feed_recipients (seq, recipient) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(seq, recipient) for recipient in recipients],
        )
        self.conn.notify(FEED_CHANNEL, str(seq))
        return seq

    def _rows(self, rows: list[Any]) -> list[FeedRow]:
        if not rows:
            return []
        tags: dict[int, set[str]] = {}
        for seq, recipient in self.conn.execute(
            "SELECT seq, recipient FROM feed_recipients WHERE seq >= ? AND seq <= ?", (rows[0][0], rows[-1][0])
        ):
            tags.setdefault(seq, set()).add(recipient)
        return [FeedRow(r[0], r[1], r[2], bool(r[3]), frozenset(tags.get(r[0], ())), r[4]) for r in rows]

    def after(self, seq: int, limit: int = 1000) -> list[FeedRow]:
        """Every message after ``seq`` (for everyone), oldest first; with their recipients, in one query."""
        tags = f"(SELECT {self.conn.dialect.json_array_agg}(r.recipient) FROM feed_recipients r WHERE r.seq = f.seq)"
        rows = self.conn.tuples(
            f"SELECT f.seq, f.at, f.type, f.everyone, f.payload, {tags} FROM feed f WHERE f.seq > ?"
            " ORDER BY f.seq LIMIT ?",
            (seq, limit),
        )
        return [FeedRow(r[0], r[1], r[2], bool(r[3]), _tag_set(r[5]), r[4]) for r in rows]

    def after_for(self, seq: int, recipients: Sequence[str], limit: int = 1000) -> list[FeedRow]:
        """The messages after ``seq`` for the whole team or for one of these tags, oldest first."""
        if not recipients:
            return self._rows(self.conn.tuples(
                "SELECT seq, at, type, everyone, payload FROM feed WHERE seq > ? AND everyone = 1 ORDER BY seq LIMIT ?",
                (seq, limit),
            ))
        marks = ",".join("?" * len(recipients))
        return self._rows(self.conn.tuples(
            "SELECT seq, at, type, everyone, payload FROM feed WHERE seq > ? AND (everyone = 1 OR seq IN"
            f" (SELECT seq FROM feed_recipients WHERE recipient IN ({marks}) AND seq > ?)) ORDER BY seq LIMIT ?",
            (seq, *recipients, seq, limit),
        ))

    def bounds(self) -> tuple[int, int]:
        """(first kept seq, last seq); (0, 0) for an empty journal (the first append is seq 1 or later)."""
        row = self.conn.execute("SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM feed").fetchone()
        return int(row[0]), int(row[1])

    def last_seq(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM feed").fetchone()[0])

    def prune(self, *, older_than: float, keep_at_most: int) -> int:
        """Drop messages older than ``older_than`` and all but the newest ``keep_at_most`` (the newest
        one always stays, so the last seq survives a quiet night)."""
        last = self.last_seq()
        removed = self.conn.execute("DELETE FROM feed WHERE at < ? AND seq < ?", (older_than, last)).rowcount
        removed += self.conn.execute("DELETE FROM feed WHERE seq <= ?", (last - max(keep_at_most, 1),)).rowcount
        return removed


class ServerMetaRepository(_Repository):
    """Facts about this database itself (e.g. the feed's epoch)."""

    __slots__ = ()

    def get_or_set(self, name: str, value: str) -> str:
        """The stored value of ``name``; ``value`` is stored first when there is none."""
        self.conn.execute("INSERT INTO server_meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                          (name, value))
        return str(self.conn.execute("SELECT value FROM server_meta WHERE name = ?", (name,)).fetchone()[0])
