"""The call timeline's model and filter proxy, without any widget: what a table would show."""

from __future__ import annotations

import csv
import io
import time

import pytest
from PySide6.QtCore import QModelIndex, Qt

from app.core.timeline import TimelineRow, apply_notes, merge_rows, note_refs, row_from_cdr
from app.protocol.phones import PhoneNormalizer
from app.storage import CallRecord
from app.ui.timeline import (
    ANSWERED,
    MISSED,
    TimelineFilterProxy,
    TimelineModel,
    timeline_csv,
)

M = TimelineModel
CLIENT = "+74952523060"
NOW = 1_700_000_000.0  # a fixed "now": 2023-11-14
DAY = 86400.0


@pytest.fixture
def normalizer() -> PhoneNormalizer:
    return PhoneNormalizer("RU")


@pytest.fixture
def model(qapp, normalizer) -> TimelineModel:
    return TimelineModel(normalizer, now=lambda: NOW)


def cdr(uniqueid: str, dt: float, *, direction: int = 0, billsec: int = 3, duration: int = 14,
        link: str | None = "https://pbx.example.com/get_file?file=tok-SECRET", cause: str = "NORMAL_CLEARING",
        client: str = CLIENT) -> tuple:
    """A CDR tuple in CDR_TIMELINE_COLUMNS order."""
    src, dst = (client, "9022") if direction == 0 else ("9022", client)
    return (uniqueid, dt, src, dst, direction, duration, billsec, link, cause)


def call(call_id: str, at: float, *, state: str = "ended", direction: int = 0, answered: bool = False,
         missed: bool = False, elsewhere: bool = False, cdr_uniqueid: str | None = None,
         session_id: str | None = None, hangup_after: float | None = 20.0) -> tuple:
    """A journal tuple in CALL_TIMELINE_COLUMNS order."""
    return (call_id, session_id or f"s-{call_id}", direction, CLIENT, state, at, at + 2 if answered else None,
            None if hangup_after is None or state != "ended" else at + hangup_after, 15 if answered else None,
            int(missed), int(elsewhere), cdr_uniqueid)


def cell(model, row: int, column: int, role: int = Qt.ItemDataRole.DisplayRole):
    return model.data(model.index(row, column), role)


def column(model, col: int) -> list:
    return [cell(model, r, col) for r in range(model.rowCount())]


def refs(model) -> list[str]:
    return [model.data(model.index(r, 0), M.ROW_ROLE).ref for r in range(model.rowCount())]


def test_journal_and_cdrs_merge_into_one_row_per_call_newest_first():
    rows = merge_rows(
        calls=[
            call("a", NOW - 100, answered=True, cdr_uniqueid="a"),       # has its CDR
            call("b", NOW - 50, missed=True),                             # no CDR yet
            call("c1", NOW - 30, session_id="q", elsewhere=True),         # a queue: two legs,
            call("c2", NOW - 29, session_id="q", answered=True),          # one answered
        ],
        cdrs=[cdr("a", NOW - 101), cdr("old", NOW - 5 * DAY, direction=1, billsec=0, link=None)],
    )
    assert [r.ref for r in rows] == ["c2", "b", "a", "old"]
    queue, missed, merged, old = rows
    assert queue.status == ANSWERED and queue.time == NOW - 30  # earliest leg's time, best outcome
    assert missed.status == MISSED and missed.link is None and missed.call_id == "b"
    assert merged.call_id == "a" and merged.uniqueid == "a" and merged.time == NOW - 101  # the CDR's time
    assert merged.number == CLIENT and merged.link is not None
    assert old.number == CLIENT  # outgoing: the client is the destination
    assert old.status == "no_answer"


def test_a_cdr_shows_missed_when_the_journal_says_it_was_missed_here():
    rows = merge_rows([call("m", NOW, missed=True, cdr_uniqueid="m")], [cdr("m", NOW, billsec=0)])
    assert [r.status for r in rows] == [MISSED]


def test_columns_headers_and_display_texts(model):
    model.set_rows(merge_rows(
        [call("live", NOW - 10, state="ringing", hangup_after=None)],
        [cdr("u1", NOW - DAY - 3600, billsec=65, duration=70), cdr("u2", NOW - 2 * DAY, direction=1, billsec=0,
                                                                     link=None)],
    ))
    assert model.rowCount() == 3 and model.columnCount() == 8
    assert model.rowCount(model.index(0, 0)) == 0  # a table, not a tree
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(8)]
    assert headers == ["Time", "Direction", "Number", "Duration", "Talk time", "Status", "Recording", "Note"]
    assert column(model, M.COL_STATUS) == ["Ringing", "Answered", "Not answered"]
    assert column(model, M.COL_DIRECTION) == ["Incoming", "Incoming", "Outgoing"]
    assert column(model, M.COL_NUMBER) == ["+7 495 252-30-60"] * 3
    assert column(model, M.COL_DURATION) == ["", "1:10", "0:14"]
    assert column(model, M.COL_BILLSEC) == ["", "1:05", "0:00"]
    assert column(model, M.COL_RECORDING) == ["—", "Yes", "—"]
    assert cell(model, 0, M.COL_TIME).startswith("today ")
    assert cell(model, 1, M.COL_TIME).startswith("yesterday ")
    # raw values for sorting, the row object, and a tooltip that never carries the link's token
    assert cell(model, 1, M.COL_BILLSEC, M.SORT_ROLE) == 65
    assert cell(model, 1, M.COL_TIME, M.SORT_ROLE) == NOW - DAY - 3600
    assert cell(model, 1, 0, M.ROW_ROLE).uniqueid == "u1"
    assert cell(model, 1, M.COL_RECORDING, Qt.ItemDataRole.ToolTipRole) == "pbx.example.com/get_file"
    assert cell(model, 2, M.COL_RECORDING, Qt.ItemDataRole.ToolTipRole) is None
    assert model.data(QModelIndex()) is None


def test_sorting_by_a_column_keeps_ties_newest_first_and_goes_back_to_time(model):
    model.set_rows(merge_rows([], [
        cdr("short-new", NOW - 10, duration=5), cdr("long", NOW - 20, duration=90),
        cdr("short-old", NOW - 30, duration=5), cdr("mid", NOW - 40, duration=30),
    ]))
    model.sort(M.COL_DURATION, Qt.SortOrder.AscendingOrder)
    assert refs(model) == ["short-new", "short-old", "mid", "long"]
    model.sort(M.COL_DURATION, Qt.SortOrder.DescendingOrder)
    assert refs(model) == ["long", "mid", "short-new", "short-old"]
    model.sort(M.COL_TIME, Qt.SortOrder.AscendingOrder)
    assert refs(model) == ["mid", "short-old", "long", "short-new"]
    model.sort(M.COL_TIME, Qt.SortOrder.DescendingOrder)
    assert refs(model) == ["short-new", "long", "short-old", "mid"]


def test_the_proxy_sorts_through_the_model_and_keeps_a_selected_row(model):
    model.set_rows(merge_rows([], [cdr("a", NOW - 1, billsec=1), cdr("b", NOW - 2, billsec=50)]))
    proxy = TimelineFilterProxy(model)
    held = proxy.index(0, 0)  # "a"
    from PySide6.QtCore import QPersistentModelIndex

    persistent = QPersistentModelIndex(held)
    proxy.sort(M.COL_BILLSEC, Qt.SortOrder.DescendingOrder)
    assert [proxy.row_at(r).ref for r in range(proxy.rowCount())] == ["b", "a"]
    assert proxy.data(persistent, M.ROW_ROLE).ref == "a" and persistent.row() == 1


def test_filter_by_direction_and_date_range(model):
    model.set_rows(merge_rows(
        [call("in-today", NOW - 60)],
        [cdr("out-today", NOW - 120, direction=1), cdr("in-week", NOW - 6 * DAY),
         cdr("out-month", NOW - 30 * DAY, direction=1)],
    ))
    proxy = TimelineFilterProxy(model)
    assert proxy.rowCount() == 4

    def shown() -> list[str]:
        return [r.ref for r in proxy.visible_rows()]

    proxy.set_direction(0)
    assert shown() == ["in-today", "in-week"]
    proxy.set_direction(1)
    assert shown() == ["out-today", "out-month"]
    proxy.set_direction(None)
    proxy.set_date_range(NOW - 7 * DAY, NOW)
    assert shown() == ["in-today", "out-today", "in-week"]
    proxy.set_date_range(NOW - 7 * DAY, NOW - DAY)
    assert shown() == ["in-week"]
    proxy.set_direction(1)
    assert shown() == []
    proxy.set_date_range(None, None)
    assert shown() == ["out-today", "out-month"]
    # a row added later is filtered too
    model.add_rows([row_from_cdr({"uniqueid": "in-new", "dt": NOW - 5, "src": CLIENT, "dst": "9022",
                                  "direction": 0, "billsec": 1})])
    assert shown() == ["out-today", "out-month"]
    proxy.set_direction(None)
    assert shown()[0] == "in-new"


def test_pages_from_the_pbx_are_deduplicated_and_join_journal_rows(model):
    model.set_rows(merge_rows([call("live-1", NOW - 5)], [cdr("u1", NOW - 100), cdr("u2", NOW - 200)]))
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))

    page = [row_from_cdr({"uniqueid": u, "dt": dt, "src": CLIENT, "dst": "9022", "direction": 0, "billsec": 4,
                          "link": None}) for u, dt in (("u1", NOW - 100), ("u2", NOW - 200), ("u3", NOW - 300))]
    assert model.add_rows(page) == 1  # u1 and u2 are already there
    assert model.add_rows(page) == 0  # the same page again adds nothing
    assert inserted == [(3, 3)]  # appended at the end: it is the oldest
    assert refs(model) == ["live-1", "u1", "u2", "u3"]

    # the CDR of the call the journal showed alone: one row, now with the CDR's facts
    late = row_from_cdr({"uniqueid": "live-1", "dt": NOW - 6, "src": CLIENT, "dst": "9022", "direction": 0,
                         "billsec": 9, "link": "https://pbx.example.com/get_file?file=x"})
    assert model.add_rows([late]) == 0
    assert model.rowCount() == 4
    assert cell(model, 0, M.COL_STATUS) == "Answered" and cell(model, 0, M.COL_RECORDING) == "Yes"
    assert cell(model, 0, 0, M.ROW_ROLE).call_id == "live-1"

    # a newer call from a page lands in order
    newer = row_from_cdr({"uniqueid": "u0", "dt": NOW - 1, "src": CLIENT, "dst": "9022", "direction": 0})
    assert model.add_rows([newer]) == 1
    assert refs(model)[:2] == ["u0", "live-1"]


def test_live_call_updates_add_a_row_then_change_it(model):
    model.set_rows(merge_rows([], [cdr("u1", NOW - 100)]))
    record = CallRecord(call_id="c9", state="ringing", first_seen=NOW, updated_at=NOW, session_id="s9",
                        direction=0, other_leg=CLIENT, other_key="74952523060", ringing_at=NOW)
    model.upsert_call(record)
    assert refs(model) == ["c9", "u1"]
    assert cell(model, 0, M.COL_STATUS) == "Ringing"
    record.state, record.hangup_at, record.missed = "ended", NOW + 30, True
    changed: list[int] = []
    model.dataChanged.connect(lambda top, bottom, roles: changed.append(top.row()))
    model.upsert_call(record)
    assert model.rowCount() == 2 and changed == [0]
    assert cell(model, 0, M.COL_STATUS) == "Missed" and cell(model, 0, M.COL_DURATION) == "0:30"


def test_notes_apply_by_uniqueid_or_the_call_id_they_were_taken_under(model):
    rows = merge_rows([call("c1", NOW - 10, cdr_uniqueid="u1"), call("c2", NOW - 20)],
                      [cdr("u1", NOW - 11)])
    assert sorted(note_refs(rows)) == ["c1", "c2", "u1"]
    apply_notes(rows, {"c1": ("taken live", "Call back"), "c2": ("journal only", "")})
    model.set_rows(rows)
    assert column(model, M.COL_NOTE) == ["Call back · taken live", "journal only"]
    model.set_note("u1", "after the call", "Resolved")
    assert cell(model, 0, M.COL_NOTE) == "Resolved · after the call"
    assert cell(model, 0, M.COL_NOTE, Qt.ItemDataRole.ToolTipRole) == "after the call"


def test_ten_thousand_calls_load_in_order_with_correct_cells(model):
    n = 10_000
    cdrs = [cdr(f"u{i}", NOW - i * 3600, direction=i % 2, billsec=i % 7, link=None if i % 3 else "https://h/p?x=1")
            for i in range(n)]
    calls = [call(f"u{i}", NOW - i * 3600 + 1, direction=i % 2, answered=bool(i % 7), cdr_uniqueid=f"u{i}")
             for i in range(n)]
    started = time.perf_counter()
    model.set_rows(merge_rows(calls, list(reversed(cdrs))))
    elapsed = time.perf_counter() - started
    assert model.rowCount() == n
    assert cell(model, 0, 0, M.ROW_ROLE).ref == "u0"
    assert cell(model, n - 1, 0, M.ROW_ROLE).ref == f"u{n - 1}"
    times = [model.row_at(r).time for r in range(n)]
    assert times == sorted(times, reverse=True)
    last = n - 1  # 9999: outgoing, billsec 9999 % 7 = 3, a link (9999 % 3 == 0)
    assert cell(model, last, M.COL_DIRECTION) == "Outgoing"
    assert cell(model, last, M.COL_BILLSEC) == "0:03"
    assert cell(model, last, M.COL_RECORDING) == "Yes"
    assert cell(model, last, 0, M.ROW_ROLE).call_id == f"u{last}"
    proxy = TimelineFilterProxy(model)
    proxy.set_direction(1)
    assert proxy.rowCount() == n // 2
    print(f"merge + set_rows of {n} rows: {elapsed * 1000:.0f} ms")  # informal, not asserted


def test_csv_has_the_calls_and_no_link_token(normalizer):
    rows = merge_rows([], [cdr("u1", NOW - 60, billsec=65, duration=70), cdr("u2", NOW - 120, direction=1,
                                                                               billsec=0, link=None)])
    apply_notes(rows, {"u1": ('said "yes", call back', "Sale")})
    text = timeline_csv(rows, normalizer)
    assert "SECRET" not in text and "get_file" not in text
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["time", "direction", "number", "duration", "billsec", "status", "outcome", "note",
                        "recording", "call_ref"]
    # the number is marked as text (a spreadsheet would compute "+7 …"): see spreadsheet_cell
    assert table[1][1:] == ["incoming", "'+7 495 252-30-60", "70", "65", "answered", "Sale",
                            'said "yes", call back', "yes", "u1"]
    assert table[2][1:] == ["outgoing", "'+7 495 252-30-60", "14", "0", "no_answer", "", "", "no", "u2"]
    assert time.strptime(table[1][0], "%Y-%m-%d %H:%M:%S")


def test_a_row_without_a_number_and_an_unknown_direction():
    row = row_from_cdr({"uniqueid": "x", "dt": NOW, "src": "9022", "dst": "84951343060", "direction": None})
    assert row.number == "84951343060"  # the side that is not an extension
    assert isinstance(row, TimelineRow) and row.status == "no_answer"
