"""The common JSON envelope of every message in both directions.

``{"action": ..., "obj": "UserCRM", "action_id": ..., "params": {...}}`` for requests;
replies echo ``action``/``obj`` and add ``code`` and ``body`` (``list`` for get_contact);
PBX events carry their data in ``body`` plus ``code`` and ``notifies``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictStr, field_validator

from .base import OBJ, WireId, WireModel, bounded_json


class Envelope(WireModel):
    """One message as it travels on the wire, before its action-specific part is read."""

    action: StrictStr
    obj: StrictStr = OBJ
    action_id: WireId | None = None
    params: Annotated[dict[str, Any], AfterValidator(bounded_json)] = Field(default_factory=dict)
    body: Any = None  # validated by the action's own model
    code: int | None = None
    notifies: Annotated[list[Any], AfterValidator(bounded_json)] | None = None

    @field_validator("action")
    @classmethod
    def _action_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("action must not be empty")
        return value

    @field_validator("obj")
    @classmethod
    def _obj_is_usercrm(cls, value: str) -> str:
        if value != OBJ:
            raise ValueError(f"obj must be {OBJ!r}")
        return value


def reply(action: str, *, body: Any = None, list_: list[Any] | None = None, code: int = 200) -> dict[str, Any]:
    """Build a reply envelope exactly as the vendor documents it."""
    message: dict[str, Any] = {"action": action, "obj": OBJ, "code": code}
    if list_ is not None:
        message["list"] = list_
    if body is not None:
        message["body"] = body
    return message


def error_reply(action: str | None, code: int, message: str) -> dict[str, Any]:
    """The JSON error we answer with: the envelope shape plus a human-readable ``error``."""
    return {"action": action, "obj": OBJ, "code": code, "error": message}
