"""An asyncio publish/subscribe bus for what the UI and the CLI want to follow live.

Publishing never blocks and never fails because of a subscriber: the webhook has already
committed the event and must answer the PBX. A subscriber that does not keep up loses its
oldest messages (and we log that), it does not slow the others down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from app.storage import CallRecord, CdrRow, PresenceRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallChanged:
    """A call's folded state changed (``event`` is the PBX action that changed it)."""

    call: CallRecord
    event: str


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    presence: PresenceRecord
    event: str


@dataclass(frozen=True, slots=True)
class CdrAdded:
    cdr: CdrRow


@dataclass(frozen=True, slots=True)
class ContactChanged:
    """A contact was created or changed in the directory: its id and its number keys (before and
    after the change), so that windows showing one of those numbers (a pop-up) read it again."""

    contact_id: int
    keys: tuple[str, ...]


BusMessage = CallChanged | PresenceChanged | CdrAdded | ContactChanged


class Subscription:
    """A queue of bus messages; iterate it with ``async for`` or call :meth:`get`."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[BusMessage] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, message: BusMessage) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("a bus subscriber is not keeping up: %d messages dropped", self.dropped)
        self._queue.put_nowait(message)

    async def get(self) -> BusMessage:
        return await self._queue.get()

    def close(self) -> None:
        self._bus._subscriptions.discard(self)

    def __aiter__(self) -> AsyncIterator[BusMessage]:
        return self

    async def __anext__(self) -> BusMessage:
        return await self._queue.get()


class EventBus:
    """Fan-out of :data:`BusMessage` to queues (async consumers) and callbacks (the Qt adapter)."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._callbacks: list[Callable[[BusMessage], Any]] = []

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        subscription = Subscription(self, maxsize)
        self._subscriptions.add(subscription)
        return subscription

    def connect(self, callback: Callable[[BusMessage], Any]) -> Callable[[], None]:
        """Call ``callback(message)`` synchronously on publish; returns a disconnect function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def publish(self, message: BusMessage) -> None:
        for subscription in tuple(self._subscriptions):
            subscription._offer(message)
        for callback in tuple(self._callbacks):
            try:
                callback(message)
            except Exception:
                log.exception("a bus callback failed on %s", type(message).__name__)
