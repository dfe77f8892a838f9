"""The eight events the PBX posts to the webhook, with their ``body`` models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from .base import WireId, WireInt, WireModel, bounded_json
from .cdr import CdrRecord

USER_CHANGE = "user_change"
AGENT_CHANGE = "agent_change"
CALL_RINGING = "call_ringing"
CALL_ANSWER = "call_answer"
CALL_HANGUP = "call_hangup"
CDR_APPEND = "cdr_append"
CALL_HELD = "call_held"
CALL_ACTIVE = "call_active"


class UserChange(WireModel):
    """SIP registration of a PBX user (fields as the PBX's DomainUser object)."""

    user_uid: WireId
    crm_user: WireId | None = None
    status: WireInt | None = None
    protocol: WireInt | None = None


class AgentChange(WireModel):
    """Call-center agent status (DomainAgent): base −1 available, −2 on demand, −3 break, −4 logged out."""

    user_uid: WireId
    crm_user: WireId | None = None
    base_status: WireInt | None = None
    extra_status: WireInt | None = None
    status_name: str | None = None


class CallEvent(WireModel):
    """Body of ``call_ringing``, ``call_answer`` and ``call_hangup``."""

    call_id: WireId
    session_id: WireId | None = None
    crm_user: WireId | None = None
    domain_user: WireId | None = None
    other_leg: str | None = None
    rt_vars: Annotated[dict[str, Any], AfterValidator(bounded_json)] = Field(default_factory=dict)
    direction: WireInt | None = None
    variable_answersec: WireInt | None = None

    @field_validator("rt_vars", mode="before")
    @classmethod
    def _rt_vars_null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("variable_answersec", mode="before")
    @classmethod
    def _answersec_blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def gateway_number(self) -> str | None:
        value = self.rt_vars.get("gateway_number")
        return None if value is None else str(value)

    @property
    def hangup_cause(self) -> str | None:
        value = self.rt_vars.get("hangup_cause")
        return None if value is None else str(value)


class HoldEvent(WireModel):
    """Body of ``call_held`` and ``call_active`` (the PBX names the extension ``user_uid`` here)."""

    call_id: WireId
    session_id: WireId | None = None
    user_uid: WireId | None = None
    crm_user: WireId | None = None
    other_leg: str | None = None
    direction: WireInt | None = None


EVENT_BODIES: dict[str, type[WireModel]] = {
    USER_CHANGE: UserChange,
    AGENT_CHANGE: AgentChange,
    CALL_RINGING: CallEvent,
    CALL_ANSWER: CallEvent,
    CALL_HANGUP: CallEvent,
    CDR_APPEND: CdrRecord,
    CALL_HELD: HoldEvent,
    CALL_ACTIVE: HoldEvent,
}
EVENT_ACTIONS = frozenset(EVENT_BODIES)
CALL_ACTIONS = frozenset({CALL_RINGING, CALL_ANSWER, CALL_HANGUP, CALL_HELD, CALL_ACTIVE})

#: ``direction`` codes. The vendor text does not define them; its examples show 0 on a call that
#: rang an agent from an outside number on a company line (``gateway_number``), so 0 is incoming.
#: 1 is outgoing by the PBX's usual convention. Anything else is kept as it came.
DIRECTION_INCOMING = 0
DIRECTION_OUTGOING = 1
