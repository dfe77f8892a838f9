"""Requests we send to the PBX (``{pbx}/integration/usercrm/``) and the replies we expect."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import WireId, WireModel

GET_CDR = "get_cdr"
MAKE_CALL = "make_call"
SWITCH_CALL_HOLD = "switch_call_hold"
GET_DOMAIN_USER_LIST = "get_domain_user_list"


class GetCdrParams(WireModel):
    """Filters of ``get_cdr`` (those of the PBX's ReportCallsHistory); times are unix seconds as strings."""

    start_dt: str | None = None
    end_dt: str | None = None
    src_or_dst_list: list[str] | None = None


def _newest_first() -> dict[str, Literal["+", "-"]]:
    return {"dt": "-"}


class GetCdrRequest(WireModel):
    """``get_cdr``: sort, limit and offset sit at the top level, beside ``params``."""

    sort: dict[str, Literal["+", "-"]] = Field(default_factory=_newest_first)
    limit: int = 50
    offset: int = 0
    params: GetCdrParams = Field(default_factory=GetCdrParams)


class MakeCallParams(WireModel):
    """``make_call``: the PBX rings ``crm_user_id``'s phone first, then dials ``dst``."""

    crm_user_id: WireId
    dst: str


class SwitchCallHoldParams(WireModel):
    """``switch_call_hold`` toggles hold on ``call_id`` for ``crm_user_id``."""

    crm_user_id: WireId
    call_id: WireId


class DomainUser(WireModel):
    """One PBX user from ``get_domain_user_list``: ``uid`` is the extension, ``id`` the PBX's own id."""

    uid: WireId
    id: WireId | None = None
    user_name: str = ""
    user_surname: str = ""
    proto: int | None = None

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.user_name, self.user_surname) if part) or self.uid


def request(action: str, action_id: str, params: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    """Build a CRM→PBX request envelope."""
    message: dict[str, Any] = {"action": action, "obj": "UserCRM", "action_id": action_id}
    message.update(top)
    message["params"] = params or {}
    return message
