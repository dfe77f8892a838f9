"""Talking to the PBX: the UserCRM API client and its errors.

The errors load with the package; :class:`PbxClient` (and httpx with it) on first use (PEP 562):
the tray app in team mode words the team server's PBX failures with these error types but never
talks to the PBX itself (tests/test_team_app.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.lazy import lazy_attributes

from .errors import (
    PbxError,
    PbxKeyRefused,
    PbxOutcomeUnknown,
    PbxProtocolError,
    PbxRejected,
    PbxReplyTooLarge,
    PbxServerError,
    PbxUnreachable,
)

if TYPE_CHECKING:
    from .client import PbxClient

__getattr__ = lazy_attributes(__name__, {"PbxClient": ".client"})


__all__ = [
    "PbxClient",
    "PbxError",
    "PbxKeyRefused",
    "PbxOutcomeUnknown",
    "PbxProtocolError",
    "PbxRejected",
    "PbxReplyTooLarge",
    "PbxServerError",
    "PbxUnreachable",
]
