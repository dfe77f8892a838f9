"""Retention of everything that grows with events (issue 12): calls with their hold periods, CDRs,
call notes, dialed numbers and the PBX users' latest status, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

import pytest

from app.core.engine import _prune_history
from app.storage import Session
from tests.support.webhook import call_body, cdr_body, envelope, post


@pytest.fixture
def database(new_database: Callable[[str], str | None]) -> str | None:
    return new_database("retention")


async def _history(engine, http, prefix: str, count: int) -> None:
    """``count`` calls (each held once), their CDRs, notes and dials, and as many PBX users."""
    url = engine.server.url
    for n in range(count):
        call_id = f"{prefix}-{n:02d}"
        for action in ("call_ringing", "call_answer"):
            assert (await post(http, url, envelope(action, call_body(call_id))))[0] == 200
        for action in ("call_held", "call_active"):
            assert (await post(http, url, envelope(action, {"call_id": call_id, "user_uid": "9022"})))[0] == 200
        assert (await post(http, url, envelope("cdr_append", cdr_body(call_id))))[0] == 200
        assert (await post(http, url, envelope("agent_change", {"user_uid": call_id, "base_status": -1})))[0] == 200

        def note(s: Session, ref: str = call_id) -> None:
            s.notes.set(ref, "called back", "done", time.time())
            s.dials.add(f"+7495252{ref[-2:]}", f"8495252{ref[-2:]}", time.time())

        await engine.store.write(note)


def _counts(s: Session) -> tuple[int, ...]:
    return s.calls.count(), s.cdrs.count(), s.notes.count(), s.dials.count(), s.presence.count()


async def test_the_history_is_kept_for_history_days_and_at_most_history_max_rows(engine, http):
    await _history(engine, http, "old", 5)
    await asyncio.sleep(1.1)
    await _history(engine, http, "new", 15)
    assert await engine.store.read(_counts) == (20, 20, 20, 20, 20)

    engine.settings.history_days, engine.settings.history_max = 0, 0  # 0: keep everything
    assert await engine.prune_history() == 0

    engine.settings.history_days = 1 / 86400  # one second: the "old" history is older than that
    engine.settings.history_max = 10  # and of the "new" one only the newest 10 rows of each table stay
    assert await engine.prune_history() == 4 * 10 + 5
    assert await engine.store.read(_counts) == (10, 10, 10, 10, 15)  # presence: only by age (cap 10,000)
    kept = await engine.store.read(lambda s: sorted(c.call_id for c in s.calls.recent(100)))
    assert kept == [f"new-{n:02d}" for n in range(5, 15)]
    assert await engine.store.read(lambda s: s.calls.hold_count("new-00") + s.calls.hold_count("old-00")) == 0
    assert await engine.store.read(lambda s: s.calls.hold_count("new-14")) == 1
    assert await engine.store.read(lambda s: s.cdrs.get("new-04")) is None
    assert await engine.store.read(lambda s: s.notes.get("new-14")) == ("called back", "done")


async def test_a_big_prune_goes_a_batch_at_a_time(engine, http):
    await _history(engine, http, "b", 12)
    removed = await engine.store.write(functools.partial(_prune_history, days=0, keep=2, batch=4))
    assert removed == 4 * 4  # calls, CDRs, notes, dials: four of each in this transaction
    assert await engine.store.read(_counts) == (8, 8, 8, 8, 12)
    assert await engine.store.write(functools.partial(_prune_history, days=0, keep=2, batch=4)) == 4 * 4
    assert await engine.store.write(functools.partial(_prune_history, days=0, keep=2, batch=4)) == 4 * 2
    assert await engine.store.write(functools.partial(_prune_history, days=0, keep=2, batch=4)) == 0
    assert await engine.store.read(_counts) == (2, 2, 2, 2, 12)


def test_history_limits_must_not_be_negative():
    from app.core.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="history_days and history_max"):
        Settings(history_days=-1).validate()
    assert Settings().validate().history_days == 730
