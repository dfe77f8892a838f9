"""Masking of secrets in text that may reach a log, an error message or the diagnostics view.

Recording links carry an access token in their query string (``get_file?file=<token>``), the
keys travel in ``Authorization`` headers. Anything logged goes through :func:`redact`.
"""

from __future__ import annotations

import re
import threading

#: a link, with a scheme or without one ("pbx.example.com/get_file?file=..."): host, path, and what follows
_LINK = re.compile(
    r"(?P<head>\b(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#;\"'<>]+|(?:[a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}(?::\d+)?(?=/)))"
    r"(?P<path>/[^\s?#;\"'<>]*)?(?P<rest>[?#;][^\s\"'<>]*)?"
)
#: a path segment that looks like a token: 16+ URL-safe characters with both letters and digits
_TOKEN_SEGMENT = re.compile(r"(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
MASK = "***"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` masks it wherever it appears."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def _masked_link(match: re.Match[str]) -> str:
    """A link's host and path, with token-like path segments and any query, fragment or ``;``
    parameters masked (recording links carry their token in any of these places)."""
    path = _TOKEN_SEGMENT.sub(MASK, match.group("path") or "")
    rest = match.group("rest")
    return f"{match.group('head')}{path}{rest[0] + MASK if rest else ''}"


def redact(text: str) -> str:
    """The text with links' queries, fragments, parameters and token-like path segments, bearer
    tokens and registered secrets masked."""
    if not text:
        return text
    text = _LINK.sub(_masked_link, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
