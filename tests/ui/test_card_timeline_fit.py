"""The client card's timeline fits the card's default size (issue 11): no horizontal scroll bar,
the short columns show their texts whole, and a long value is elided with its tooltip saying it whole.

``make screenshots`` showed the card at its default size with a horizontal scroll bar, the status
column cut and the recording column out of sight: fixed column widths that add up to more than the
timeline side gets, more so with Russian headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from app.ui.card import ClientCard
from app.ui.timeline import TimelineModel
from tests.support.qtloop import run, settle
from tests.support.webhook import cdr_body
from tests.ui.test_card import CLIENT, open_card, post, save_contact

# the offscreen platform cannot resize native windows; Qt says so when a window lays itself out
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

LONG_NOTE = ("The client asked to call back after the board meeting about the new contract, "
             "preferably before noon, and to send the price list for the second warehouse too")
SHORT = (TimelineModel.COL_TIME, TimelineModel.COL_DIRECTION, TimelineModel.COL_NUMBER, TimelineModel.COL_DURATION,
         TimelineModel.COL_BILLSEC, TimelineModel.COL_RECORDING)
TOOLTIP = Qt.ItemDataRole.ToolTipRole


@pytest.fixture(params=["en", "ru"])
def language(request, qapp) -> Iterator[str]:
    """English, and Russian: its headers and statuses are longer."""
    from app.ui.i18n import install_translators, installed_language, remove_translators

    before = installed_language(qapp)
    assert install_translators(qapp, request.param) == request.param
    yield request.param
    remove_translators(qapp)
    if before is not None:
        install_translators(qapp, before)


def card_with_history(qtbot, ctx, qloop, send) -> ClientCard:
    """A client with more calls than the view shows (a vertical scroll bar), each lasting hours,
    one with a long note."""
    contact_id = save_contact(ctx, qloop)
    now = time.time()
    for n in range(30):
        post(send, "cdr_append", cdr_body(f"fit-{n}", src=CLIENT, dt=now - 86400 * 400 - 3600 * n, direction=n % 2,
                                          duration=9 * 3600 + 59 * 60 + 59, billsec=9 * 3600 + 59 * 60)
             | ({} if n % 3 else {"link": ""}))
    run(qloop, ctx.api.engine.store.write(lambda s: s.notes.set("fit-0", LONG_NOTE, "Sale", now)))
    card = open_card(qtbot, ctx, qloop, contact_id)
    settle(qloop, 0.2)
    assert card.size().width() == 1240  # the default size, as the card opens
    return card


def test_the_timeline_fits_the_default_card_without_a_horizontal_scroll_bar(qtbot, ctx, qloop, send, language):
    card = card_with_history(qtbot, ctx, qloop, send)
    view, proxy = card.timeline_view, card.timeline_proxy
    header = view.horizontalHeader()
    assert proxy.rowCount() == 30 and view.verticalScrollBar().isVisible()

    assert not view.horizontalScrollBar().isVisible()
    assert header.length() <= view.viewport().width()
    assert all(header.sectionSize(c) > 0 and not header.isSectionHidden(c) for c in range(header.count()))

    metrics = view.fontMetrics()
    for row in range(proxy.rowCount()):
        for column in SHORT:  # shown whole
            text = proxy.data(proxy.index(row, column))
            assert metrics.horizontalAdvance(text) < header.sectionSize(column), (language, column, text)
        status = proxy.index(row, TimelineModel.COL_STATUS)
        assert proxy.data(status, TOOLTIP) == proxy.data(status)  # a cut status can be read whole

    # the long note is elided, and its tooltip has it whole
    note = proxy.index(0, TimelineModel.COL_NOTE)
    assert proxy.data(note).endswith(LONG_NOTE)
    assert metrics.horizontalAdvance(proxy.data(note)) > header.sectionSize(TimelineModel.COL_NOTE)
    assert proxy.data(note, TOOLTIP) == LONG_NOTE
    # a header too long for its column is elided; its tooltip is the title
    for column in range(header.count()):
        title = proxy.headerData(column, Qt.Orientation.Horizontal)
        assert title and proxy.headerData(column, Qt.Orientation.Horizontal, TOOLTIP) == title


def test_a_wider_card_gives_the_room_to_the_headers_and_the_note(qtbot, ctx, qloop, send, language):
    card = card_with_history(qtbot, ctx, qloop, send)
    view = card.timeline_view
    header = view.horizontalHeader()
    note_before = header.sectionSize(TimelineModel.COL_NOTE)
    card.resize(1800, 800)
    settle(qloop, 0.2)
    assert not view.horizontalScrollBar().isVisible()
    assert header.length() <= view.viewport().width()
    for column in SHORT:  # every header whole now
        assert header.sectionSize(column) >= header.sectionSizeHint(column), column
    assert header.sectionSize(TimelineModel.COL_NOTE) > note_before + 300
