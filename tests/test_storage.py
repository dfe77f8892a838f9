"""The SQLite store on real files: pragmas, migrations, transactions and every repository."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.protocol.cdr import CDR_FIELDS, CdrRecord
from app.storage import ContactRecord, CrmUser, PhoneRecord, SqliteStore, StorageError, Store, open_store
from app.storage.migrations import MIGRATIONS
from app.storage.sqlite import BUSY_TIMEOUT_MS

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.sqlite3"


@pytest.fixture
def location(new_database: Callable[[str], str | None], db_path: Path) -> str | Path:
    """Where a store opens: the repository tests run on both backends (PostgreSQL: a real server
    the tests started, tests/support/postgres.py)."""
    return new_database("store") or db_path


@pytest.fixture
def store(location: str | Path) -> Iterator[Store]:
    s = open_store(location)
    yield s
    s.close()


def raw(path: Path, sql: str) -> Any:
    """One value read with a plain sqlite3 connection, outside the store."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def pragma(session: Any, name: str) -> Any:
    return session.conn.execute(f"PRAGMA {name}").fetchone()[0]


def contact(
    name: str, *phones: tuple[str, str], company_id: int | None = None, owner: str | None = None
) -> ContactRecord:
    return ContactRecord(id=None, name=name, company_id=company_id, owner_id=owner,
                         phones=[PhoneRecord(key, raw_) for key, raw_ in phones])


# -- the file ---------------------------------------------------------------------------------

def test_a_new_file_is_created_with_the_durable_settings(db_path: Path):
    store = SqliteStore(db_path)
    try:
        for run in (store.write_sync, store.read_sync):  # the writer and a reader connection alike
            assert run(lambda s: pragma(s, "journal_mode")) == "wal"
            assert run(lambda s: pragma(s, "synchronous")) == 2  # FULL: a commit is on disk
            assert run(lambda s: pragma(s, "busy_timeout")) == BUSY_TIMEOUT_MS
            assert run(lambda s: pragma(s, "foreign_keys")) == 1
        assert BUSY_TIMEOUT_MS >= 1000
        assert store.read_sync(lambda s: pragma(s, "user_version")) == len(MIGRATIONS)
    finally:
        store.close()
    assert db_path.is_file()
    assert raw(db_path, "PRAGMA journal_mode") == "wal"  # persistent in the file
    assert raw(db_path, "PRAGMA user_version") == len(MIGRATIONS)


def test_foreign_keys_are_enforced(store: Store):
    contact_id = store.write_sync(lambda s: s.contacts.save(contact("Anna", ("74951112233", "+7 495 111-22-33"))))
    assert store.write_sync(lambda s: s.contacts.delete(contact_id))
    assert store.read_sync(lambda s: s.contacts.find_by_key("74951112233")) == []
    assert store.read_sync(lambda s: s.contacts.ids_by_keys(["74951112233"])) == {}  # phones went with it
    with pytest.raises(store.driver_errors, match=r"(?i)foreign key"):
        store.write_sync(lambda s: s.contacts.add_phones(999, [PhoneRecord("74950000000", "x")]))


def test_reopening_keeps_the_data_and_does_not_migrate_again(db_path: Path):
    first = SqliteStore(db_path)
    contact_id = first.write_sync(lambda s: s.contacts.save(contact("Anna", ("74951112233", "+74951112233"))))
    first.close()
    second = SqliteStore(db_path)  # re-running migration 1 would fail on CREATE TABLE and raise here
    try:
        assert second.read_sync(lambda s: pragma(s, "user_version")) == len(MIGRATIONS)
        found = second.read_sync(lambda s: s.contacts.get(contact_id))
        assert found is not None and found.name == "Anna"
        assert second.read_sync(lambda s: s.contacts.count()) == 1
    finally:
        second.close()


OPEN_AND_WRITE = """
import sys
from app.storage import CrmUser, SqliteStore
store = SqliteStore(sys.argv[1])
store.write_sync(lambda s: s.users.upsert(CrmUser(sys.argv[2], "user " + sys.argv[2])))
store.close()
"""


def test_several_processes_opening_a_new_file_at_once_all_succeed(tmp_path: Path):
    """``serve`` and a CLI command started together on a fresh install both open the new database."""
    for attempt in range(2):
        path = tmp_path / f"attempt-{attempt}" / "store.sqlite3"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_WRITE, str(path), str(n)], cwd=PROJECT_ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(5)]
        for proc in procs:
            _out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        assert raw(path, "PRAGMA user_version") == len(MIGRATIONS)
        assert raw(path, "SELECT COUNT(*) FROM crm_users") == 5
        assert raw(path, "PRAGMA journal_mode") == "wal"


def test_a_file_from_a_newer_version_is_refused_and_left_alone(db_path: Path):
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        SqliteStore(db_path)
    assert raw(db_path, "PRAGMA user_version") == len(MIGRATIONS) + 1
    assert raw(db_path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'contacts'") == 0


def test_a_file_that_is_not_a_database_is_a_storage_error(db_path: Path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not an SQLite file, just some text " * 100)
    with pytest.raises(StorageError):
        SqliteStore(db_path)


def test_a_failing_write_leaves_nothing_behind_and_the_store_keeps_working(store: Store):
    def half_done(session: Any) -> None:
        session.contacts.save(contact("Half", ("74951112233", "+74951112233")))
        session.users.upsert(CrmUser("9", "Nine", "109"))
        raise ValueError("the caller changed its mind")

    with pytest.raises(ValueError, match="changed its mind"):
        store.write_sync(half_done)
    assert store.read_sync(lambda s: s.contacts.count()) == 0
    assert store.read_sync(lambda s: s.users.list()) == []
    assert store.read_sync(lambda s: s.contacts.find_by_key("74951112233")) == []
    store.write_sync(lambda s: s.users.upsert(CrmUser("9", "Nine", "109")))
    assert store.read_sync(lambda s: s.users.get("9")) == CrmUser("9", "Nine", "109")


# -- CDRs ---------------------------------------------------------------------------------------

FULL_CDR: dict[str, Any] = {
    "id": 4711, "uniqueid": "5548f6ab-efab-4dd9-843b-c53f50a5506a", "dt": 1633333012.25, "src": "+74952523060",
    "dst": "9022", "duration": 14, "billsec": 3, "cc_queue_waiting_time": 2, "lastapp": "bridge",
    "lastdata": "sofia/internal/9022@office", "rec_path": "office/2021-10-04/", "gateway": "Test1",
    "gateway_number": "+74951343060", "dial_status": 0, "direction": 0, "project_id": 12,
    "project_name": "Продажи", "bridge_hangup_cause": "NORMAL_CLEARING", "hold_accum_seconds": 5,
    "geo_ids": [1, 2, {"region": 77}], "geo_names": {"city": "Москва", "country": "Россия"},
    "link": "https://pbx.example.com/get_file?file=token123",
}


def test_every_cdr_field_round_trips_and_unknown_fields_are_kept(store: Store):
    record = CdrRecord.model_validate({**FULL_CDR, "new_vendor_field": {"nested": [1, "two"]}, "tag": "vip"})
    assert store.write_sync(lambda s: s.cdrs.insert(record, other_key="74952523060", contact_id=None,
                                                      source="event", received_at=1000.0))
    row = store.read_sync(lambda s: s.cdrs.get(FULL_CDR["uniqueid"]))
    assert row is not None
    expected = {**FULL_CDR, "id": "4711", "project_id": "12"}  # ids are opaque strings inside the program
    assert {name: row.data[name] for name in CDR_FIELDS} == expected
    assert row.data["new_vendor_field"] == {"nested": [1, "two"]} and row.data["tag"] == "vip"
    assert (row.other_key, row.contact_id, row.received_at, row.source) == ("74952523060", None, 1000.0, "event")
    assert row.data == record.wire_dict()


def test_a_cdr_is_stored_once_per_uniqueid(store: Store):
    first = CdrRecord.model_validate(FULL_CDR)
    second = CdrRecord.model_validate({**FULL_CDR, "billsec": 999, "link": None, "extra_thing": 1})
    assert store.write_sync(lambda s: s.cdrs.insert(first, other_key=None, contact_id=None, source="event",
                                                      received_at=1.0)) is True
    assert store.write_sync(lambda s: s.cdrs.insert(second, other_key="x", contact_id=None, source="pbx",
                                                      received_at=2.0)) is False
    assert store.read_sync(lambda s: s.cdrs.count()) == 1
    row = store.read_sync(lambda s: s.cdrs.get(FULL_CDR["uniqueid"]))
    assert row.data["billsec"] == 3 and row.data["link"] == FULL_CDR["link"] and "extra_thing" not in row.data
    assert (row.source, row.received_at) == ("event", 1.0)


# -- the event log ------------------------------------------------------------------------------

def test_the_event_log_dedupes_by_key(store: Store):
    assert store.write_sync(lambda s: s.events.record("call_ringing:a1", "call_ringing", "a1", "{}", 1.0)) is True
    assert store.write_sync(lambda s: s.events.record("call_ringing:a1", "call_ringing", "a1", '{"x":1}', 2.0)) is False
    assert store.write_sync(lambda s: s.events.record("call_answer:a1", "call_answer", "a1", "{}", 3.0)) is True
    assert store.read_sync(lambda s: s.events.count()) == 2
    assert store.read_sync(lambda s: s.events.has("call_ringing:a1"))
    assert not store.read_sync(lambda s: s.events.has("call_hangup:a1"))
    recent = store.read_sync(lambda s: s.events.recent())
    assert [(e.action, e.payload, e.received_at) for e in recent] == [("call_answer", "{}", 3.0),
                                                                       ("call_ringing", "{}", 1.0)]


def test_pruning_drops_old_events_and_keeps_at_most_the_newest(store: Store):
    def fill(session: Any) -> None:
        for i in range(10):
            session.events.record(f"e:{i}", "user_change", str(i), "{}", 100.0 + i)

    store.write_sync(fill)
    # nothing is old and the cap is high: nothing goes
    assert store.write_sync(lambda s: s.events.prune(older_than=50.0, keep_at_most=100)) == 0
    # 100..104 are older than 105; of the five left, only the newest three stay
    assert store.write_sync(lambda s: s.events.prune(older_than=105.0, keep_at_most=3)) == 7
    assert [e.action_id for e in store.read_sync(lambda s: s.events.recent())] == ["9", "8", "7"]
    assert store.read_sync(lambda s: s.events.has("e:9")) and not store.read_sync(lambda s: s.events.has("e:6"))


# -- contacts -----------------------------------------------------------------------------------

def test_contacts_with_several_phones_are_found_by_any_of_them(store: Store):
    anna = contact("Anna Smirnova", ("74951112233", "+7 495 111-22-33"), ("79161234567", "8 916 123-45-67"))
    anna.phones[1].label = "mobile"
    anna_id = store.write_sync(lambda s: s.contacts.save(anna))
    boris_id = store.write_sync(lambda s: s.contacts.save(contact("Boris", ("79161234567", "+79161234567"))))

    stored = store.read_sync(lambda s: s.contacts.get(anna_id))
    assert [(p.key, p.raw, p.label) for p in stored.phones] == [
        ("74951112233", "+7 495 111-22-33", None), ("79161234567", "8 916 123-45-67", "mobile")]
    assert [c.id for c in store.read_sync(lambda s: s.contacts.find_by_key("74951112233"))] == [anna_id]
    assert [c.id for c in store.read_sync(lambda s: s.contacts.find_by_key("79161234567"))] == [anna_id, boris_id]
    assert store.read_sync(lambda s: s.contacts.find_by_key("70000000000")) == []
    # the oldest contact wins a shared number; unknown keys are simply absent
    assert store.read_sync(lambda s: s.contacts.ids_by_keys(["79161234567", "74951112233", "70000000000"])) == {
        "79161234567": anna_id, "74951112233": anna_id}
    assert store.read_sync(lambda s: s.contacts.first_id_by_key("79161234567")) == anna_id

    # saving again adds the new phone without duplicating the known one
    stored.phones.append(PhoneRecord("74959998877", "+74959998877"))
    store.write_sync(lambda s: s.contacts.save(stored))
    assert len(store.read_sync(lambda s: s.contacts.get(anna_id)).phones) == 3


def test_ids_by_keys_handles_more_keys_than_one_query_takes(store: Store):
    keys = [f"7495{i:07d}" for i in range(1200)]

    def fill(session: Any) -> None:
        for key in keys[::2]:
            session.contacts.save(contact(f"c{key}", (key, key)))

    store.write_sync(fill)
    found = store.read_sync(lambda s: s.contacts.ids_by_keys(keys))
    assert set(found) == set(keys[::2])


def test_lookup_returns_company_and_owners_in_one_row_per_contact(store: Store):
    def fill(session: Any) -> tuple[int, int, int]:
        company = session.contacts.company_id("Acme LLC", owner_id="1004")
        a = session.contacts.save(contact("Petrov AA", ("74951343060", "+74951343060"), company_id=company, owner="7"))
        b = session.contacts.save(contact("Sidorov", ("74951343060", "84951343060")))
        return company, a, b

    company, a, b = store.write_sync(fill)
    rows = store.read_sync(lambda s: s.contacts.lookup("74951343060"))
    assert [tuple(r) for r in rows] == [(a, "Petrov AA", company, "Acme LLC", "1004", "7"),
                                        (b, "Sidorov", None, None, None, None)]
    assert store.read_sync(lambda s: s.contacts.lookup("70000000000")) == []


def test_a_company_name_is_reused_case_insensitively(store: Store):
    first = store.write_sync(lambda s: s.contacts.company_id("Acme LLC", owner_id="1"))
    assert store.write_sync(lambda s: s.contacts.company_id("ACME llc")) == first
    assert store.write_sync(lambda s: s.contacts.company_id("Acme")) != first
    company = store.read_sync(lambda s: s.contacts.get_company(first))
    assert (company.name, company.owner_id) == ("Acme LLC", "1")


def test_search_treats_percent_and_underscore_as_plain_text(store: Store):
    def fill(session: Any) -> None:
        for name in ("100% Service", "1000 Services", "a_b Ltd", "axb Ltd", "Back\\slash"):
            session.contacts.save(contact(name))

    store.write_sync(fill)

    def names(text: str) -> list[str]:
        return [c.name for c in store.read_sync(lambda s: s.contacts.search(text))]

    assert names("100%") == ["100% Service"]
    assert names("a_b") == ["a_b Ltd"]
    assert names("%") == ["100% Service"]
    assert names("\\") == ["Back\\slash"]
    assert names("SERVICE") == ["100% Service", "1000 Services"]  # case-insensitive contains
    assert names("ltd") == ["a_b Ltd", "axb Ltd"]
    assert names("nobody") == []


def test_search_finds_contacts_by_their_company_too(store: Store):
    def fill(session: Any) -> None:
        romashka = session.contacts.company_id("Romashka LLC")
        session.contacts.save(contact("Petrov", company_id=romashka))
        session.contacts.save(contact("Sidorova", company_id=romashka))
        session.contacts.save(contact("Romashka Cafe"))
        session.contacts.save(contact("Ivanova", company_id=session.contacts.company_id("Lilac")))

    store.write_sync(fill)

    def names(text: str) -> list[str]:
        return [c.name for c in store.read_sync(lambda s: s.contacts.search(text))]

    assert names("romashka") == ["Petrov", "Romashka Cafe", "Sidorova"]  # by company, and by name
    assert names("LILAC") == ["Ivanova"]
    assert names("%") == []


# -- the team -----------------------------------------------------------------------------------

def test_crm_users_upsert_remove_and_an_extension_moving_to_another_user(store: Store):
    store.write_sync(lambda s: s.users.upsert(CrmUser("1", "Rita", "101")))
    store.write_sync(lambda s: s.users.upsert(CrmUser("2", "Boris", "102")))
    assert store.read_sync(lambda s: s.users.by_extension("101")) == CrmUser("1", "Rita", "101")

    store.write_sync(lambda s: s.users.upsert(CrmUser("1", "Rita Manager", "101")))  # same id: updated
    assert store.read_sync(lambda s: s.users.list()) == [CrmUser("2", "Boris", "102"),
                                                         CrmUser("1", "Rita Manager", "101")]

    store.write_sync(lambda s: s.users.upsert(CrmUser("2", "Boris", "101")))  # 101 moves to Boris
    assert store.read_sync(lambda s: s.users.by_extension("101")) == CrmUser("2", "Boris", "101")
    assert store.read_sync(lambda s: s.users.get("1")) == CrmUser("1", "Rita Manager", None)
    assert store.read_sync(lambda s: s.users.by_extension("102")) is None

    assert store.write_sync(lambda s: s.users.remove("1")) is True
    assert store.write_sync(lambda s: s.users.remove("1")) is False
    assert store.read_sync(lambda s: s.users.list()) == [CrmUser("2", "Boris", "101")]


# -- concurrency and closing --------------------------------------------------------------------

async def test_many_reads_and_writes_from_the_event_loop_at_once(location: str | Path):
    store = open_store(location)
    try:
        async def write(i: int) -> int:
            return await store.write(lambda s: s.contacts.save(contact(f"c{i}", (f"7495{i:07d}", str(i)))))

        async def read(i: int) -> int:
            return await store.read(lambda s: s.contacts.count())

        results = await asyncio.gather(*(job(i) for i in range(60) for job in (write, read)))
        ids, counts = results[0::2], results[1::2]
        assert sorted(ids) == list(range(1, 61))
        assert all(0 <= c <= 60 for c in counts)
        assert await store.read(lambda s: s.contacts.count()) == 60
        found = await asyncio.gather(*(store.read(lambda s, i=i: s.contacts.first_id_by_key(f"7495{i:07d}"))
                                       for i in range(60)))
        assert None not in found
    finally:
        await store.aclose()


async def test_a_failing_write_among_concurrent_ones_takes_back_only_itself(location: str | Path):
    """Writes that arrive together may share a commit; one that fails must not take the others along."""
    store = open_store(location)
    try:
        def good(i: int) -> Any:
            return store.write(lambda s: s.contacts.save(contact(f"good{i}", (f"7495{i:07d}", str(i)))))

        def bad(s: Any) -> None:
            s.contacts.save(contact("bad", ("79990000000", "+79990000000")))
            raise ValueError("bad write")

        jobs = [good(i) for i in range(20)] + [store.write(bad)] + [good(i) for i in range(20, 40)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], ValueError)
        assert await store.read(lambda s: s.contacts.count()) == 40
        assert await store.read(lambda s: s.contacts.find_by_key("79990000000")) == []
        assert await store.read(lambda s: s.contacts.search("bad")) == []
    finally:
        await store.aclose()
    reopened = open_store(location)  # and it is all stored
    try:
        assert reopened.read_sync(lambda s: s.contacts.count()) == 40
    finally:
        reopened.close()


def test_after_close_the_file_is_consistent_and_complete(db_path: Path):
    store = SqliteStore(db_path)
    store.write_sync(lambda s: s.contacts.save(contact("Anna", ("74951112233", "+74951112233"))))
    store.write_sync(lambda s: s.events.record("k", "user_change", "1", "{}", 1.0))
    store.close()
    store.close()  # closing twice is harmless
    assert raw(db_path, "PRAGMA integrity_check") == "ok"
    assert raw(db_path, "SELECT COUNT(*) FROM contacts") == 1
    assert raw(db_path, "SELECT COUNT(*) FROM events") == 1
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed: the main file alone is complete


# -- the bounded in-place read (get_contact's fast path) ---------------------------------------

def test_an_inline_read_answers_in_place(tmp_path):
    from app.storage import ContactRecord, PhoneRecord

    store = SqliteStore(tmp_path / "inline.sqlite3")
    try:
        petrov = ContactRecord(None, "Petrov", phones=[PhoneRecord("74951343060", "+7 495 134-30-60")])
        store.write_sync(lambda s: s.contacts.save(petrov))
        rows = store.read_inline(lambda s: s.contacts.lookup("74951343060"))
        assert [r[1] for r in rows] == ["Petrov"]
    finally:
        store.close()


def test_an_inline_read_over_its_budget_is_refused_and_the_store_stays_usable(tmp_path):
    from app.storage import InlineReadRefused

    store = SqliteStore(tmp_path / "inline.sqlite3")
    endless = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)"
               " SELECT COUNT(*) FROM n WHERE i < 50000000")
    try:
        started = time.monotonic()
        with pytest.raises(InlineReadRefused):
            store.read_inline(lambda s: s.conn.execute(endless).fetchone(), budget=0.01)
        assert time.monotonic() - started < 0.5
        assert store.read_inline(lambda s: s.conn.execute("SELECT 42").fetchone()[0]) == 42
    finally:
        store.close()
    with pytest.raises(InlineReadRefused):
        store.read_inline(lambda s: 1)


def test_a_reader_connection_the_server_dropped_is_replaced_and_the_read_still_answers(postgres_server, postgres_url):
    """Pooled connections are not checked with a query per borrow: a dead one fails its first
    statement, is discarded, and the read runs once more on a fresh connection."""
    store = open_store(postgres_url)
    try:
        store.write_sync(lambda s: s.users.upsert(CrmUser("7", "Rita", "9022")))
        writer = store.write_sync(lambda s: s.conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        for _ in range(2):
            assert store.read_sync(lambda s: s.users.get("7")) == CrmUser("7", "Rita", "9022")
            postgres_server.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE application_name = 'pbx-companion' AND pid <> {int(writer)}")
        assert store.read_sync(lambda s: s.users.get("7")) == CrmUser("7", "Rita", "9022")
    finally:
        store.close()
