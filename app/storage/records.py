"""Plain records the repositories return and accept (no SQL, no connection)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CallState(StrEnum):
    """Where a call is, folded from its events (:mod:`app.core.calls`).

    A ``StrEnum``: stored as its text, and equal to it, so rows written before it existed read
    back the same.
    """

    RINGING = "ringing"
    ACTIVE = "active"
    HELD = "held"
    ENDED = "ended"

    @property
    def live(self) -> bool:
        """Ringing, in progress or on hold: the call is not over."""
        return self is not CallState.ENDED

    @property
    def connected(self) -> bool:
        """Answered and not over: the states in which hold can be toggled."""
        return self in (CallState.ACTIVE, CallState.HELD)


@dataclass(slots=True)
class CrmUser:
    """A member of the team that ``get_users`` returns; ``extension`` maps them to a PBX user."""

    id: str
    name: str
    extension: str | None = None


@dataclass(slots=True)
class CompanyRecord:
    id: int
    name: str
    owner_id: str | None = None


@dataclass(slots=True)
class PhoneRecord:
    key: str
    raw: str
    label: str | None = None
    extension: str | None = None


@dataclass(slots=True)
class ContactRecord:
    """A client. ``owner_id`` is the responsible employee (a CRM user id or a PBX extension)."""

    id: int | None
    name: str
    company_id: int | None = None
    company_name: str | None = None
    owner_id: str | None = None
    email: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    phones: list[PhoneRecord] = field(default_factory=list)


@dataclass(slots=True)
class HoldPeriod:
    held_at: float | None
    resumed_at: float | None


@dataclass(slots=True)
class CallRecord:
    """One call as this program knows it, folded from all of its events (one row per ``call_id``)."""

    call_id: str
    state: CallState
    first_seen: float
    updated_at: float
    session_id: str | None = None
    direction: int | None = None
    other_leg: str | None = None
    other_key: str | None = None
    crm_user: str | None = None
    domain_user: str | None = None
    gateway_number: str | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    hangup_at: float | None = None
    hangup_cause: str | None = None
    answer_seconds: int | None = None
    missed: bool = False
    answered_elsewhere: bool = False
    contact_id: int | None = None
    cdr_uniqueid: str | None = None
    missed_cleared_at: float | None = None  # the agent called back or dismissed it
    hold_periods: list[HoldPeriod] = field(default_factory=list)


@dataclass(slots=True)
class CdrRow:
    """A stored CDR: the wire fields in ``data`` (seed names, unknown fields too) plus our links."""

    uniqueid: str
    data: dict[str, Any]
    other_key: str | None
    contact_id: int | None
    received_at: float
    source: str


@dataclass(slots=True)
class PresenceRecord:
    """Latest known state of one PBX user: SIP registration and call-center status."""

    user_uid: str
    crm_user: str | None
    reg_status: int | None
    protocol: int | None
    base_status: int | None
    extra_status: int | None
    status_name: str | None
    updated_at: float


@dataclass(slots=True)
class EventRecord:
    id: int
    action: str
    action_id: str | None
    received_at: float
    payload: str


@dataclass(slots=True)
class AgentRecord:
    """An agent of the team server: who they are at the PBX, and a hash of their personal token."""

    id: int
    name: str
    crm_user: str
    extension: str | None
    supervisor: bool
    token_hash: str
    created_at: float
    rotated_at: float | None = None
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One journaled message of the agents' feed: its JSON ``payload`` and who may receive it.

    ``recipients`` are tags (``user:<crm user>``, ``ext:<extension>``); ``everyone`` marks a
    message for the whole team (presence). Supervisors receive every row.
    """

    seq: int
    at: float
    type: str
    everyone: bool
    recipients: frozenset[str]
    payload: str
