"""Masking of secrets in text that may reach a log, an error message or the diagnostics view.

Recording links carry an access token in their query string (``get_file?file=<token>``), the
keys travel in ``Authorization`` headers. Anything logged goes through :func:`redact`.
"""

from __future__ import annotations

import re
import threading

_URL_QUERY = re.compile(r"(?P<base>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]+)\?[^\s\"'<>]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
MASK = "***"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` masks it wherever it appears."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """The text with URL query strings, bearer tokens and registered secrets masked."""
    if not text:
        return text
    text = _URL_QUERY.sub(lambda m: f"{m.group('base')}?{MASK}", text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
