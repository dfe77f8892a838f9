"""Logging set-up shared by ``serve`` and the tray app: every handler redacts secrets and escapes
control characters (a value from the wire cannot forge a log line or drive the admin's terminal);
log files are readable by their owner only."""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from app.protocol.redact import redact
from app.protocol.text import escape_controls
from app.storage.files import private_dir


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log whose files are created 0600 (they name clients and numbers)."""

    def _open(self):  # type: ignore[no-untyped-def]
        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
                    opener=lambda path, flags: os.open(path, flags, 0o600))


class RedactingFilter(logging.Filter):
    """Masks keys, bearer tokens and URL query strings (recording-link tokens) in every record, and
    escapes newlines and other control characters in its message (not in a traceback it carries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = escape_controls(redact(message))
        if record.exc_info and record.exc_info[1] is not None:
            cleaned_exc = redact(logging.Formatter().formatException(record.exc_info))
            cleaned = f"{cleaned}\n{cleaned_exc}"
            record.exc_info = None
            record.exc_text = None
        record.msg = cleaned
        record.args = ()
        return True


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a malformed HTTP request (anyone can send one, no key needed) as an ERROR with a
    full traceback: one INFO line with what was wrong is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__module__.startswith("aiohttp") and hasattr(exc, "code"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "malformed HTTP request refused (%s): %s", (exc.code, type(exc).__name__)
            record.exc_info = record.exc_text = None
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: int = logging.INFO, log_file: Path | None = None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        private_dir(log_file.parent)
        handlers.append(PrivateRotatingFileHandler(log_file, maxBytes=5_000_000, backupCount=5, encoding="utf-8"))
        os.chmod(log_file, 0o600)  # a file from before this rule
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server_log.filters):
        server_log.addFilter(MalformedRequestFilter())
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
