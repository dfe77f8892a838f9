"""Answers the PBX's questions from our own directory: who is on the team, whose client is this."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.protocol.phones import PhoneNormalizer, is_phone_link
from app.protocol.webhook_actions import GetContactParams
from app.storage import CallRecord, CrmUser, InlineReadRefused

from .history import merge_history

if TYPE_CHECKING:
    from app.storage import Session, Store

    from .agent import AgentIdentity
    from .api import CallerInfo

#: How many earlier calls a pop-up counts at most (from the journal and from the CDRs each).
CALLER_HISTORY_LIMIT = 100
# Text that is typed as a number rather than a name: digits and separators, or a phone link.
_NUMBER_LIKE = re.compile(r"[\d\s()+\-./]*\d[\d\s()+\-./]*")


class DirectoryService:
    """``get_users`` and ``get_contact`` on top of the store.

    The number rules and this workstation's own CRM user are asked for at each request (they
    follow the settings), never copied in.
    """

    def __init__(self, store: Store, normalizer: Callable[[], PhoneNormalizer],
                 own_user: Callable[[], CrmUser | None]) -> None:
        self.store = store
        self._normalizer = normalizer
        self._own_user = own_user

    @property
    def normalizer(self) -> PhoneNormalizer:
        return self._normalizer()

    async def crm_users(self) -> list[dict[str, str]]:
        """The team, always including this workstation's own CRM user (the PBX maps its users to these)."""
        team = await self.store.read(lambda s: s.users.list())
        entries = [{"id": u.id, "name": u.name} for u in team]
        own = self._own_user()
        if own is not None and all(u.id != own.id for u in team):
            entries.insert(0, {"id": own.id, "name": own.name})
        return entries

    def key_for(self, params: GetContactParams) -> str | None:
        """The canonical key of the caller's number. ``e164_phone`` is already our key form."""
        e164 = (params.e164_phone or "").strip().lstrip("+")
        if e164.isdigit() and 8 <= len(e164) <= 15:
            return e164
        for text in (params.phone, params.e164_phone):
            if text and (key := self.normalizer.try_key(text)):
                return key
        return None

    def find_contacts_now(self, params: GetContactParams) -> list[dict[str, Any]] | None:
        """The lookup in place, bounded (see :meth:`Store.read_inline`); None when refused."""
        key = self.key_for(params)
        if key is None:
            return []
        try:
            return contact_list(self.store.read_inline(lambda s: s.contacts.lookup(key)))
        except InlineReadRefused:
            return None

    async def find_contacts(self, params: GetContactParams) -> list[dict[str, Any]]:
        """The lookup on a reader thread (the caller bounds it with the get_contact deadline)."""
        key = self.key_for(params)
        if key is None:
            return []
        return contact_list(await self.store.read(lambda s: s.contacts.lookup(key)))


def contact_list(rows: list[tuple[int, str, int | None, str | None, str | None, str | None]]) -> list[dict[str, Any]]:
    """The ``get_contact`` reply list: each company once, then the contacts.

    Our own ids are integers as in the vendor example; ``owner_id`` is a string like the ids
    ``get_users`` returns, because the PBX matches it against that mapping.
    """
    companies: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    seen: set[int] = set()
    for contact_id, name, company_id, company_name, company_owner, owner in rows:
        entry: dict[str, Any] = {"name": name, "id": contact_id, "type": "contact"}
        if company_id is not None:
            entry["company_id"] = company_id
            entry["company_name"] = company_name
            if company_id not in seen:
                seen.add(company_id)
                company: dict[str, Any] = {"name": company_name, "id": company_id, "type": "company"}
                if company_owner or owner:
                    company["owner_id"] = company_owner or owner
                companies.append(company)
        if owner:
            entry["owner_id"] = owner
        contacts.append(entry)
    return companies + contacts


@dataclass(frozen=True, slots=True)
class NumberQuery:
    """What a search text asks for: a number (whole key or digits of keys), else a name or company."""

    text: str
    as_number: bool
    key: str | None
    digit_forms: tuple[str, ...]

    @classmethod
    def parse(cls, normalizer: PhoneNormalizer, text: str) -> NumberQuery:
        text = text.strip()
        as_number = looks_like_number(text)
        key = normalizer.try_key(text) if as_number else None
        digits = tuple(search_digits(text)) if as_number and not is_phone_link(text) else ()
        return cls(text, as_number, key, digits)

    def matches(self, phone_key: str) -> bool:
        """Does a found contact's number match (a name search matches every number)?"""
        return not self.as_number or phone_key == self.key or any(d in phone_key for d in self.digit_forms)


def looks_like_number(text: str) -> bool:
    """Typed as a number (digits and separators, or a phone link), not as a name."""
    stripped = text.strip()
    return is_phone_link(stripped) or bool(_NUMBER_LIKE.fullmatch(stripped))


def search_digits(text: str) -> list[str]:
    """Digit strings to look for inside stored keys: as typed, and without a trunk prefix 8/0."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 3:
        return []
    forms = [digits]
    if digits[0] in "80" and len(digits) > 3:
        forms.append(digits[1:])
    return forms


def _same_call(other: CallRecord, call: CallRecord) -> bool:
    """The call itself, or another leg of it (a queue rings several agents in one session)."""
    return other.call_id == call.call_id or bool(call.session_id and other.session_id == call.session_id)


def read_caller_info(session: Session, call: CallRecord, me: AgentIdentity, my_name: str = "") -> CallerInfo:
    """Look the caller up (runs on a storage thread, inside ``store.read``).

    The first contact with the number is the one shown (and opened by "Open card"), as the
    PBX's ``get_contact`` does; the others are counted. The responsible employee is the
    contact's owner, else its company's, resolved to a CRM user's name (an owner may be a
    CRM user id or a PBX extension).
    """
    from .api import CallerInfo

    info = CallerInfo()
    key = call.other_key
    if not key:
        return info
    contacts = session.contacts.lookup(key)  # (id, name, company id, company name, company owner, owner)
    if contacts:
        contact_id, name, company_id, company_name, company_owner, owner = contacts[0]
        info.contact_id, info.name, info.company = contact_id, name, company_name
        info.more_contacts = len(contacts) - 1
        if not owner and company_id is not None:
            owner = company_owner
        if owner:
            user, by_extension = session.users.by_id_or_extension(owner)
            if user is not None:
                info.owner_is_me = bool(me.crm_user) and user.id == me.crm_user
            else:
                user = by_extension
                info.owner_is_me = me.is_me(owner) or (
                    user is not None and bool(me.crm_user) and user.id == me.crm_user)
            if user is not None:
                info.owner_name = user.name
            elif info.owner_is_me and my_name:
                info.owner_name = my_name
            else:
                info.owner_name = owner
    calls = [c for c in session.calls.for_number(key, CALLER_HISTORY_LIMIT, holds=False) if not _same_call(c, call)]
    own_cdrs = {call.call_id, call.session_id}
    cdrs = [r for r in session.cdrs.for_number(key, CALLER_HISTORY_LIMIT) if r.uniqueid not in own_cdrs]
    entries = merge_history(calls, cdrs, CALLER_HISTORY_LIMIT)
    info.earlier_calls = len(entries)
    info.earlier_capped = len(entries) >= CALLER_HISTORY_LIMIT
    info.last_call_at = entries[0].time if entries else None
    return info
