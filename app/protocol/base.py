"""Shared building blocks of the wire models.

The vendor sends ids sometimes as numbers and sometimes as strings (``"1"``, ``1004``,
``"user_crm_30"``); inside the program they are always opaque strings, so :data:`WireId`
accepts both and normalises. Unknown fields are kept (``extra="allow"``): the PBX adds
fields over time and we must neither reject nor drop them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

OBJ = "UserCRM"


def _id_to_str(value: Any) -> Any:
    # bool is an int subclass: ``true`` is not an id.
    if isinstance(value, bool):
        raise ValueError("an id must be a string or an integer, not a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("an id must not be empty")
        return value
    raise ValueError("an id must be a string or an integer")


WireId = Annotated[str, BeforeValidator(_id_to_str)]

#: An integer field that is stored: SQLite integers are 64-bit, anything wider is a client error (400),
#: not a storage failure.
WireInt = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


#: The longest text a wire field may hold (a field may say otherwise: a recording link is longer).
MAX_TEXT = 1000
#: What the fields this program does not know may take, as JSON (they are stored with the record).
MAX_EXTRA_BYTES = 8192


def bounded_json(value: Any) -> Any:
    if value is not None:
        size = len(json.dumps(value, ensure_ascii=False, default=str).encode())
        if size > MAX_EXTRA_BYTES:
            raise ValueError(f"takes {size} bytes as JSON; at most {MAX_EXTRA_BYTES} are kept")
    return value


#: A free-form JSON field (vendor variables, geo data, notifies): bounded like the unknown fields,
#: since the strings inside it escape :data:`MAX_TEXT`.
BoundedJson = Annotated[Any, AfterValidator(bounded_json)]


class WireModel(BaseModel):
    """Base of every wire model: keeps unknown fields, coerces numbers to strings.

    Every text is bounded (:data:`MAX_TEXT`, the unknown fields together :data:`MAX_EXTRA_BYTES`):
    what the webhook stores grows with each event, so an over-long field is refused with a 400
    that names it, not written to disk.
    """

    model_config = ConfigDict(
        extra="allow",
        coerce_numbers_to_str=True,
        populate_by_name=True,
        frozen=False,
        str_max_length=MAX_TEXT,
    )

    @model_validator(mode="after")
    def _bounded_extra(self) -> WireModel:
        if self.model_extra:
            size = len(json.dumps(self.model_extra, ensure_ascii=False, default=str).encode())
            if size > MAX_EXTRA_BYTES:
                names = ", ".join(sorted(self.model_extra)[:5])
                raise ValueError(f"the unknown fields ({names}) take {size} bytes; at most {MAX_EXTRA_BYTES} are kept")
        return self

    def extra_fields(self) -> dict[str, Any]:
        """The fields the PBX sent that this model does not know (kept for the record)."""
        return dict(self.model_extra or {})
