"""What the webhook needs from the rest of the program."""

from __future__ import annotations

from typing import Any, Protocol

from app.protocol.base import WireModel
from app.protocol.envelope import Envelope
from app.protocol.webhook_actions import GetContactParams


class BackendUnavailable(RuntimeError):
    """The backend cannot do its part right now (the database cannot be written): answer 503."""


class WebhookBackend(Protocol):
    async def crm_users(self) -> list[dict[str, str]]:
        """The ``get_users`` body: ``[{"id": ..., "name": ...}]``, ids as strings."""

    def find_contacts_now(self, params: GetContactParams) -> list[dict[str, Any]] | None:
        """The ``get_contact`` list if it can be had at once (a bounded in-place lookup), else None.

        The PBX holds a live call while it waits: most lookups take microseconds, and answering
        them in place spares a thread hop. None sends the webhook to :meth:`find_contacts`,
        which it runs under the get_contact deadline.
        """

    async def find_contacts(self, params: GetContactParams) -> list[dict[str, Any]]:
        """The ``get_contact`` list: company entries, then contact entries; empty when unknown."""

    async def ingest_event(self, envelope: Envelope, body: WireModel, raw: bytes, remote: str | None) -> None:
        """Store the event durably (committed before this returns) and act on it."""
