"""Whose call is it, and may we interrupt the agent? (Qt-free, so it tests without a display.)"""

from __future__ import annotations

from dataclasses import dataclass

from app.protocol import events as ev
from app.storage import CallRecord, PresenceRecord

#: Call-center base statuses (DomainAgent): the vendor's −1…−4; anything else is "unknown (N)".
AVAILABLE = -1
ON_DEMAND = -2
ON_BREAK = -3
LOGGED_OUT = -4
BASE_STATUS_NAMES = {AVAILABLE: "available", ON_DEMAND: "on demand", ON_BREAK: "on break", LOGGED_OUT: "logged out"}


def base_status_label(status: int | None) -> str:
    if status is None:
        return "unknown"
    return BASE_STATUS_NAMES.get(status, f"unknown ({status})")


@dataclass
class AgentIdentity:
    """This workstation's agent: their CRM user id and PBX extension."""

    crm_user: str = ""
    extension: str = ""
    see_all_calls: bool = False  # supervisors follow every call of the team

    def is_mine(self, call: CallRecord) -> bool:
        if self.see_all_calls:
            return True
        return bool(
            (self.crm_user and call.crm_user == self.crm_user)
            or (self.extension and call.domain_user == self.extension)
        )

    def owns_presence(self, presence: PresenceRecord) -> bool:
        return bool(
            (self.extension and presence.user_uid == self.extension)
            or (self.crm_user and presence.crm_user == self.crm_user)
        )


def wants_popup(call: CallRecord, presence: PresenceRecord | None, do_not_disturb: bool) -> bool:
    """Pop up only for an incoming call that rings now, while the agent accepts interruptions."""
    if call.state != "ringing" or call.direction == ev.DIRECTION_OUTGOING:
        return False
    if do_not_disturb:
        return False
    if presence is not None and presence.base_status in (ON_BREAK, LOGGED_OUT):
        return False
    return True
