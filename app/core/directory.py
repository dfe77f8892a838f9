"""Answers the PBX's questions from our own directory: who is on the team, whose client is this."""

from __future__ import annotations

from typing import Any

from app.protocol.phones import PhoneNormalizer
from app.protocol.webhook_actions import GetContactParams
from app.storage import CrmUser, InlineReadRefused, Store


class DirectoryService:
    """``get_users`` and ``get_contact`` on top of the store."""

    def __init__(self, store: Store, normalizer: PhoneNormalizer, own_user: CrmUser | None) -> None:
        self.store = store
        self.normalizer = normalizer
        self.own_user = own_user

    async def crm_users(self) -> list[dict[str, str]]:
        """The team, always including this workstation's own CRM user (the PBX maps its users to these)."""
        team = await self.store.read(lambda s: s.users.list())
        entries = [{"id": u.id, "name": u.name} for u in team]
        if self.own_user is not None and all(u.id != self.own_user.id for u in team):
            entries.insert(0, {"id": self.own_user.id, "name": self.own_user.name})
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
