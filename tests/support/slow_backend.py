"""A webhook backend whose contact lookup is slow: the PBX must not wait for it."""

from __future__ import annotations

import asyncio
from typing import Any

from app.protocol.base import WireModel
from app.protocol.envelope import Envelope
from app.protocol.webhook_actions import GetContactParams


class SlowBackend:
    """Implements :class:`app.webhook.backend.WebhookBackend`; ``find_contacts`` takes ``delay`` seconds.

    It would answer a contact if it ever finished, so an empty reply proves the deadline cut it off.
    """

    def __init__(self, delay: float = 5.0) -> None:
        self.delay = delay
        self.lookups_started = 0
        self.lookups_finished = 0
        self.events: list[tuple[str, WireModel]] = []

    async def crm_users(self) -> list[dict[str, str]]:
        return [{"id": "1", "name": "Slow Rita"}]

    def find_contacts_now(self, params: GetContactParams) -> list[dict[str, Any]] | None:
        return None  # never quick: always the deadline-bounded path

    async def find_contacts(self, params: GetContactParams) -> list[dict[str, Any]]:
        self.lookups_started += 1
        await asyncio.sleep(self.delay)
        self.lookups_finished += 1
        return [{"name": "Too Late Ltd", "id": 1, "type": "company", "owner_id": "1004"}]

    async def ingest_event(self, envelope: Envelope, body: WireModel, raw: bytes, remote: str | None) -> None:
        self.events.append((envelope.action, body))
