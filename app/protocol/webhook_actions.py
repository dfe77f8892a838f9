"""Requests the PBX sends to our webhook (test, get_users, get_contact) and our replies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, StrictStr, model_validator

from .base import WireId, WireModel

TEST = "test"
GET_USERS = "get_users"
GET_CONTACT = "get_contact"
REQUEST_ACTIONS = frozenset({TEST, GET_USERS, GET_CONTACT})


class EmptyParams(WireModel):
    """``params`` of ``test`` and ``get_users``: nothing expected, anything extra kept."""


def _number_as_text(value: Any) -> Any:
    # The PBX sends numbers and ids as JSON numbers or strings alike; ``true`` is not a number.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


PhoneText = Annotated[StrictStr, BeforeValidator(_number_as_text)]


class GetContactParams(WireModel):
    """``get_contact`` params: ``phone`` is E.164 without the country code, ``e164_phone`` with it."""

    phone: PhoneText | None = None
    e164_phone: PhoneText | None = None

    @model_validator(mode="after")
    def _some_number(self) -> GetContactParams:
        if not (self.phone or "").strip() and not (self.e164_phone or "").strip():
            raise ValueError("get_contact needs params.phone or params.e164_phone")
        return self


class CrmUserEntry(WireModel):
    """One CRM user in the ``get_users`` reply."""

    id: WireId
    name: str


class CompanyEntry(WireModel):
    """The company item of a ``get_contact`` reply."""

    type: Literal["company"] = "company"
    id: int
    name: str
    owner_id: str | None = None


class ContactEntry(WireModel):
    """A contact item of a ``get_contact`` reply.

    ``company_id`` is the company's id and ``company_name`` its name: the vendor's example has
    the two swapped, we do not copy that.
    """

    type: Literal["contact"] = "contact"
    id: int
    name: str
    company_id: int | None = None
    company_name: str | None = None
    owner_id: str | None = None
