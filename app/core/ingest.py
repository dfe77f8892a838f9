"""Takes in every PBX event: dedupes it, folds it into the journal, commits, then publishes.

The commit happens before the webhook answers 200, so an acknowledged event survives a crash.
Publishing comes after the commit, so subscribers never see what was not stored.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from app.protocol import events as ev
from app.protocol.base import WireModel
from app.protocol.cdr import CdrRecord
from app.protocol.envelope import Envelope
from app.protocol.events import AgentChange, CallEvent, HoldEvent, UserChange
from app.protocol.phones import PhoneError, PhoneNormalizer
from app.storage import Session, StorageError, Store, is_database_error
from app.webhook.backend import BackendUnavailable

from .bus import BusMessage, CallChanged, CdrAdded, EventBus, PresenceChanged
from .calls import CallFolder

log = logging.getLogger("app.events")


def dedupe_key(envelope: Envelope, raw: bytes) -> str:
    """``action:action_id``; the action is part of it because the vendor's examples reuse one
    action_id across a call's ringing/answer/hangup. Without an action_id: a hash of the message."""
    if envelope.action_id:
        return f"{envelope.action}:{envelope.action_id}"
    return f"{envelope.action}:sha256:{hashlib.sha256(raw).hexdigest()}"


class EventIngestor:
    """Applies events to the store in one transaction each and publishes what changed."""

    def __init__(self, store: Store, bus: EventBus, normalizer: Callable[[], PhoneNormalizer],
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.bus = bus
        self._normalizer = normalizer
        self.calls = CallFolder(normalizer)
        self.clock = clock
        #: called with what an event changed inside its transaction (the team server's feed journal)
        self.journal: Callable[[Session, list[BusMessage], float], Any] | None = None
        #: called on the event loop with what ``journal`` returned, once the transaction committed
        #: (before the event's messages are published)
        self.journaled: Callable[[Any], object] | None = None

    @property
    def normalizer(self) -> PhoneNormalizer:
        """The number rules in force (they follow the settings)."""
        return self._normalizer()

    async def ingest(self, envelope: Envelope, body: WireModel, raw: bytes) -> bool:
        """Store and apply one event; False when it was a redelivery (nothing changed)."""
        at = self.clock()
        key = dedupe_key(envelope, raw)
        payload = raw.decode("utf-8")

        def work(session: Session) -> tuple[list[BusMessage], Any] | None:
            if not session.events.record(key, envelope.action, envelope.action_id, payload, at):
                return None
            messages = self._apply(session, envelope.action, body, at)
            journaled = self.journal(session, messages, at) if self.journal is not None and messages else None
            return messages, journaled

        try:
            done = await self.store.write(work)
        except (StorageError, OSError) as exc:
            raise BackendUnavailable(str(exc)) from exc
        except Exception as exc:  # the driver's own errors: the event is not stored, say so
            if is_database_error(exc):
                raise BackendUnavailable(f"{type(exc).__name__}: {exc}") from exc
            raise
        if done is None:
            log.info("%s %s: redelivery ignored", envelope.action, envelope.action_id or "-")
            return False
        messages, journaled = done
        if journaled is not None and self.journaled is not None:
            self.journaled(journaled)
        log.info("%s", describe(envelope.action, body))
        for message in messages:
            self.bus.publish(message)
        return True

    def _apply(self, session: Session, action: str, body: WireModel, at: float) -> list[BusMessage]:
        if isinstance(body, (CallEvent, HoldEvent)):
            return [CallChanged(call, action) for call in self.calls.apply(session, action, body, at)]
        if isinstance(body, UserChange):
            presence = session.presence.registration(body.user_uid, body.crm_user, body.status, body.protocol, at)
            return [PresenceChanged(presence, action)]
        if isinstance(body, AgentChange):
            presence = session.presence.agent(body.user_uid, body.crm_user, body.base_status, body.extra_status,
                                              body.status_name, at)
            return [PresenceChanged(presence, action)]
        if isinstance(body, CdrRecord):
            return self.store_cdr(session, body, at, source="event")
        raise ValueError(f"no handler for {action}")  # pragma: no cover

    def store_cdr(self, session: Session, cdr: CdrRecord, at: float, *, source: str) -> list[BusMessage]:
        """Insert a CDR (from an event or fetched from the PBX) and link it to its call and contact."""
        other_key = self.client_number_key(cdr)
        contact_id = session.contacts.first_id_by_key(other_key) if other_key else None
        row = session.cdrs.add(cdr, other_key=other_key, contact_id=contact_id, source=source, received_at=at)
        if row is None:
            return []
        messages: list[BusMessage] = []
        for call in session.calls.by_cdr(cdr.uniqueid):
            call.cdr_uniqueid = cdr.uniqueid
            session.calls.save(call)
            messages.append(CallChanged(call, ev.CDR_APPEND))
        return [CdrAdded(row), *messages]

    def client_number_key(self, cdr: CdrRecord) -> str | None:
        """The client's side of a CDR: by direction when known, else the side that is not an extension."""
        if cdr.direction == ev.DIRECTION_INCOMING:
            candidates = (cdr.src, cdr.dst)
        else:
            candidates = (cdr.dst, cdr.src)
        for text in candidates:
            if not text:
                continue
            try:
                phone = self.normalizer.parse(text)
            except PhoneError:
                continue
            if not phone.internal:
                return phone.key
        return None


def describe(action: str, body: WireModel) -> str:
    """The one log line per event ``serve`` prints (numbers yes, links and keys never)."""
    if isinstance(body, CallEvent):
        extra = f" cause={body.hangup_cause}" if body.hangup_cause else ""
        return (f"{action} call={body.call_id} other={body.other_leg or '-'} user={body.domain_user or '-'}"
                f" crm_user={body.crm_user or '-'} line={body.gateway_number or '-'}{extra}")
    if isinstance(body, HoldEvent):
        return f"{action} call={body.call_id} user={body.user_uid or '-'} other={body.other_leg or '-'}"
    if isinstance(body, UserChange):
        return (f"{action} user={body.user_uid} crm_user={body.crm_user or '-'} status={body.status}"
                f" protocol={body.protocol}")
    if isinstance(body, AgentChange):
        return (f"{action} user={body.user_uid} crm_user={body.crm_user or '-'} base_status={body.base_status}"
                f" status_name={body.status_name!r}")
    if isinstance(body, CdrRecord):
        return (f"{action} uniqueid={body.uniqueid} {body.src or '-'} -> {body.dst or '-'} duration={body.duration}"
                f" billsec={body.billsec} recording={'yes' if body.link else 'no'}")
    return action
