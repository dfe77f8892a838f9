"""Whose call is it, and may we interrupt the agent? (Qt-free, so it tests without a display.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.protocol import events as ev
from app.storage import CallRecord, CallState, PresenceRecord

from .calls import answered

if TYPE_CHECKING:
    from .settings import Settings

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


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """An agent: their CRM user id and PBX extension, and whether they follow the whole team.

    Standalone it is derived from the settings each time it is asked for
    (:meth:`from_settings`), never copied, so a saved settings window takes effect everywhere at
    once; a team server derives it from the agent's record. The one source of "is this call
    mine" for pop-ups, the missed list, the tray and the server.
    """

    crm_user: str = ""
    extension: str = ""
    see_all_calls: bool = False  # supervisors follow every call of the team

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentIdentity:
        return cls(settings.crm_user, settings.extension, settings.see_all_calls)

    def is_mine(self, call: CallRecord) -> bool:
        """Is this call this agent's (their CRM user or their extension; every call for a supervisor)?"""
        if self.see_all_calls:
            return True
        return bool(
            (self.crm_user and call.crm_user == self.crm_user)
            or (self.extension and call.domain_user == self.extension)
        )

    def owns_presence(self, presence: PresenceRecord) -> bool:
        """Is this PBX user's status this agent's own?"""
        return bool(
            (self.extension and presence.user_uid == self.extension)
            or (self.crm_user and presence.crm_user == self.crm_user)
        )

    def is_me(self, user_id: str | None) -> bool:
        """Is this CRM user id or PBX extension (a contact's owner) this agent?"""
        return bool(user_id) and user_id in {self.crm_user, self.extension} - {""}

    def answered_here(self, call: CallRecord) -> bool:
        """Is this leg this agent's own (their extension, else their CRM user)? Unknown: yes.

        A supervisor who sees every call gets pop-ups for colleagues' legs too; once a colleague
        answers, for the supervisor that call was answered elsewhere.
        """
        if self.extension and call.domain_user:
            return call.domain_user == self.extension
        if self.crm_user and call.crm_user:
            return call.crm_user == self.crm_user
        return True

    def answered_elsewhere(self, call: CallRecord) -> bool:
        """Someone else took this call: another leg of its queue, or a colleague's leg a supervisor follows."""
        return call.answered_elsewhere or (answered(call) and not self.answered_here(call))


def is_outgoing(call: CallRecord) -> bool:
    return call.direction == ev.DIRECTION_OUTGOING


def wants_popup(call: CallRecord, presence: PresenceRecord | None, do_not_disturb: bool, *,
                outgoing: bool = False) -> bool:
    """Pop up for an incoming call that rings now, while the agent accepts interruptions.

    ``outgoing`` (the ``popup_outgoing`` setting): the agent's own outgoing call gets the same
    in-call pop-up (Open card, Hold, notes) while it rings or is in progress. The agent placed it,
    so it is no interruption: do-not-disturb and a break do not hold it back.
    """
    if is_outgoing(call):
        return outgoing and CallState(call.state).live
    if call.state != CallState.RINGING:
        return False
    if do_not_disturb:
        return False
    if presence is not None and presence.base_status in (ON_BREAK, LOGGED_OUT):
        return False
    return True
