"""Talking to the PBX: the UserCRM API client and its errors."""

from .client import PbxClient
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
