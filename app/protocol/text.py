"""Text from the wire, made safe to log or to show (no I/O).

What the PBX (or anyone posting to the webhook) sends can hold newlines that forge log lines,
terminal escapes (``ESC]0;…``, ``ESC[2J``) that rewrite an admin's screen, NULs, and bidi
overrides that show a name or number reversed. Logs keep every character, escaped; what a
window shows loses the invisible ones.
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
