"""Text from the wire, made safe to log or to show (no I/O).

What the PBX (or anyone posting to the webhook) sends can hold newlines that forge log lines,
terminal escapes (``ESC]0;…``, ``ESC[2J``) that rewrite an admin's screen, NULs, and bidi
overrides that show a name or number reversed. Logs keep every character, escaped; what a
window shows loses the invisible ones.

A CSV export is read by a spreadsheet, which runs a cell that starts with ``=``, ``+``, ``-``,
``@``, tab or CR as a formula (``=HYPERLINK(…)``, ``=WEBSERVICE(…)``, DDE). Every CSV cell we
write goes through :func:`spreadsheet_cell`, and our import reads cells back through
:func:`from_spreadsheet_cell`.
"""

from __future__ import annotations

import re

#: C0 and C1 controls, DEL, and the bidi embedding/override/isolate characters
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` on one line with every control and bidi character written as ``\\xNN``/``\\uNNNN``."""
    return _UNSAFE.sub(_escape, text)


def strip_controls(text: str) -> str:
    """``text`` without control and bidi characters (a tab or newline becomes a space), for showing."""
    return _UNSAFE.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)


#: How a cell a spreadsheet reads as a formula starts (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula: ``'`` before a formula start (OWASP's advice).

    The single quote is the spreadsheets' own "this cell is text" mark: Excel and Google Sheets
    show ``'=HYPERLINK(…)`` as the text ``=HYPERLINK(…)``. Phone numbers get it too, on purpose:
    unmarked, ``+7 495 134-30-60`` is a formula to a spreadsheet (an error, or ``+74951343060``
    computed into the number 74951343060 without its plus), and telling a harmless number from
    ``+A1*…`` is a second rule to get wrong; marked, it is the text the agent knows (LibreOffice
    and a text editor show the quote in front, which still reads as the number). A value that
    already starts with quotes before a formula start gets one more, so that
    :func:`from_spreadsheet_cell` gives every value back exactly.
    """
    if value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def from_spreadsheet_cell(text: str) -> str:
    """What :func:`spreadsheet_cell` made of a value, back to the value (other text as it is).

    Only the one quote the export adds is taken away (a quote before a formula start), so a
    name like ``'t Hooft`` stays as it is.
    """
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS):
        return text[1:]
    return text
