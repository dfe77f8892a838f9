"""Human forms of what the windows show: phone numbers, times, durations and counts.

Every window formats the same things the same way, so an agent recognises a number or a
time at a glance whether it is in the pop-up, the card or the missed-calls list. Only
text comes out of here (no widgets); the strings go through ``QCoreApplication.translate``
with the context ``"Format"`` so that pyside6-lupdate extracts them and Russian plurals
work. Functions taking ``now`` accept it so that callers (and tests) can fix the clock.

Data from the PBX and the directory is shown as the text it is, never as markup: Qt guesses
rich text (``Qt::mightBeRichText``) for labels, tooltips and message boxes, and a name like
``<img src="/some/fifo">`` would make it open that file while laying the text out (a FIFO froze
the whole process, webhook included; ``/dev/zero`` ate the memory). :func:`plain_text` is what a
window shows of such data (no control or bidi-override characters either), :func:`plain_tooltip`
what goes into a tooltip, and labels are :class:`app.ui.labels.PlainLabel` (``Qt.PlainText``).
"""

from __future__ import annotations

import html
import time
from datetime import date, datetime, timedelta

from PySide6 import QtGui
from PySide6.QtCore import QCoreApplication, QDate, QLocale, QObject

from app.protocol.phones import PhoneError, PhoneNormalizer
from app.protocol.text import strip_controls

__all__ = [
    "call_count_text",
    "clock_text",
    "date_text",
    "duration_text",
    "missed_count_text",
    "phone_text",
    "plain_text",
    "plain_tooltip",
    "when_text",
]

# Line and paragraph separators: a line break to Qt's text layout, so not for one-line displays.
_SEPARATORS = str.maketrans({"\u2028": " ", "\u2029": " "})


def plain_text(text: str | None, *, multiline: bool = False) -> str:
    """Text from the PBX, the directory or an error, as a window shows it.

    Control and bidi-override characters go (they would show a name reversed or garbled: see
    :func:`app.protocol.text.strip_controls`); a one-line display gets the line breaks as spaces,
    ``multiline=True`` keeps them. Markup stays the text it is: show the result in a
    :class:`~app.ui.labels.PlainLabel`, a table cell or :func:`plain_tooltip`, never in a widget
    that guesses rich text.
    """
    if not text:
        return ""
    if multiline:
        return "\n".join(strip_controls(line) for line in text.splitlines())
    return strip_controls(text).translate(_SEPARATORS)


def plain_tooltip(text: str | None) -> str:
    """A tooltip (``setToolTip``, a model's ``ToolTipRole``) that shows ``text`` as it is.

    Qt has no plain-text tooltip: ``QToolTip`` renders whatever ``Qt::mightBeRichText`` takes for
    markup as rich text (loading its images, making its links clickable). Text Qt would show as
    plain anyway is returned as it is (without control characters; line breaks kept); anything
    else is escaped inside an explicit rich-text paragraph, so ``<b>x</b>`` reads ``<b>x</b>``.
    """
    shown = plain_text(text, multiline=True)
    if not QtGui.Qt.mightBeRichText(shown):
        return shown
    return '<p style="white-space:pre-wrap">' + html.escape(shown, quote=False) + "</p>"


def outcome_label(outcome: str | None) -> str:
    """A stored outcome in the agent's language: a built-in code (or the words it was once stored
    as) translated, the call center's own outcomes as they are."""
    from app.core.outcomes import outcome_code

    code = outcome_code(outcome)
    labels = {
        "resolved": QCoreApplication.translate("Outcome", "Resolved"),
        "call_back": QCoreApplication.translate("Outcome", "Call back"),
        "sale": QCoreApplication.translate("Outcome", "Sale"),
        "not_interested": QCoreApplication.translate("Outcome", "Not interested"),
        "wrong_number": QCoreApplication.translate("Outcome", "Wrong number"),
    }
    return labels.get(code, code)


def phone_text(normalizer: PhoneNormalizer, text: str | None) -> str:
    """A number as agents read it ("+7 495 134-30-60", "9022"); text that is no number as it came.

    The PBX sends whatever the caller's network sent: an anonymous caller has no number,
    and a SIP caller may send a name. Neither is an error worth hiding the call for (but its
    control and bidi-override characters are: they would show the text reversed or garbled).
    """
    if text is None or not text.strip():
        return QCoreApplication.translate("Format", "Hidden number")
    try:
        return normalizer.display(normalizer.parse(text))
    except PhoneError:
        return strip_controls(text).strip()


def clock_text(moment: datetime) -> str:
    """"14:05": agents in a call center think in 24-hour time whatever the locale's habit."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


def when_text(timestamp: float, now: float | None = None) -> str:
    """"today 14:05", "yesterday 14:05", else the locale's short date and the time.

    Relative words for the two days an agent remembers; a date for anything older, because
    "3 days ago" makes the reader count back to find out which weekday it was.
    """
    moment = datetime.fromtimestamp(timestamp)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    clock = clock_text(moment)
    day = moment.date()
    if day == today:
        return QCoreApplication.translate("Format", "today %1").replace("%1", clock)
    if day == today - timedelta(days=1):
        return QCoreApplication.translate("Format", "yesterday %1").replace("%1", clock)
    return f"{date_text(day)} {clock}"


def date_text(day: date) -> str:
    """The locale's short date (follows the system: 12.03.2024 in Russia, 3/12/24 in the US)."""
    return QLocale().toString(QDate(day.year, day.month, day.day), QLocale.FormatType.ShortFormat)


def duration_text(seconds: float | int | None) -> str:
    """"0:05", "1:05", "1:02:05": how long a call took or has been going on ("" when unknown)."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


class Format(QObject):
    """The shared plural texts. A QObject so that they are ``self.tr`` calls: pyside6-lupdate
    recognises a plural (``%n``) message only there, and the class name is the context."""

    def calls(self, n: int) -> str:
        return self.tr("%n call(s)", "", n)

    def missed_calls(self, n: int) -> str:
        return self.tr("%n missed call(s)", "", n)


_format = Format()


def call_count_text(n: int) -> str:
    """"1 call", "5 calls" (with the three Russian plural forms once translated)."""
    return _format.calls(n)


def missed_count_text(n: int) -> str:
    """"3 missed calls": the tray tooltip and the missed-calls window title."""
    return _format.missed_calls(n)
