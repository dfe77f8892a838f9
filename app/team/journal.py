"""What the feed journal keeps of each change, and who may receive it.

Runs inside the webhook's write transaction (:attr:`EventIngestor.journal
<app.core.ingest.EventIngestor.journal>`): a message is in the journal exactly when its event is
stored, so an agent who reconnects later gets it, and an acknowledged event is never missing
from the feed. Who receives what is decided here, once, as recipient tags:

- a call: ``user:<crm_user>`` and ``ext:<domain_user>`` of that leg;
- a CDR: the tags of the calls it belongs to, and ``ext:`` of its internal src/dst;
- presence: the whole team;
- a contact of the shared directory: the whole team (journaled in the save's own transaction).

A message with no tag reaches supervisors only: never "everyone" by default (zammad#2177).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.core.agent import AgentIdentity
from app.core.bus import BusMessage, CallChanged, CdrAdded, ContactChanged, PresenceChanged
from app.core.directory import read_caller_info
from app.core.feed import call_message_data, cdr_message_data, contact_message_data, presence_message_data
from app.protocol.agent_api import CallData, CdrData, ContactData, PresenceData
from app.protocol.phones import MAX_INTERNAL_DIGITS
from app.storage import CallRecord, Session
from app.storage.records import FeedRow

#: The caller facts are looked up for these changes (a pop-up opens on them).
_CALLER_EVENTS = frozenset({"call_ringing", "call_answer"})
#: Nobody in particular: read_caller_info's "is it me" facts are the receiving app's to decide.
_NOBODY = AgentIdentity()


def user_tag(crm_user: str | None, extension: str | None) -> list[str]:
    """The recipient tags of a CRM user and a PBX extension (those that are set)."""
    tags = []
    if crm_user:
        tags.append(f"user:{crm_user}")
    if extension:
        tags.append(f"ext:{extension}")
    return tags


def call_tags(call: CallRecord) -> list[str]:
    return user_tag(call.crm_user, call.domain_user)


def _internal(number: object) -> str | None:
    text = str(number or "").strip()
    return text if text.isdigit() and len(text) <= MAX_INTERNAL_DIGITS else None


class FeedJournal:
    """Appends the agents' messages of one ingested event to the feed (in the event's transaction)."""

    def append(self, session: Session, messages: Sequence[BusMessage], at: float) -> list[FeedRow]:
        """Journal each message; returns the rows as the journal now holds them (for the hub of
        this process, once they are committed: it need not read them back)."""
        rows = []
        for message in messages:
            data, everyone, tags = self._entry(session, message, messages)
            payload = data.model_dump_json()
            recipients = frozenset(tags)
            seq = session.feed.append(at, data.type, payload, everyone=everyone, recipients=recipients)
            rows.append(FeedRow(seq, at, data.type, everyone, recipients, payload))
        return rows

    def _entry(self, session: Session, message: BusMessage, messages: Sequence[BusMessage],
               ) -> tuple[CallData | PresenceData | CdrData | ContactData, bool, Iterable[str]]:
        if isinstance(message, CallChanged):
            caller = (read_caller_info(session, message.call, _NOBODY) if message.event in _CALLER_EVENTS
                      and message.call.other_key else None)
            return call_message_data(message.call, message.event, caller), False, call_tags(message.call)
        if isinstance(message, PresenceChanged):
            return presence_message_data(message.presence, message.event), True, ()
        if isinstance(message, CdrAdded):
            row = message.cdr
            # the calls it belongs to: the ingestor linked each of them in this event (a CallChanged
            # with this cdr_uniqueid), else they are read
            calls = [m.call for m in messages if isinstance(m, CallChanged) and m.call.cdr_uniqueid == row.uniqueid]
            tags = {tag for call in calls or session.calls.by_cdr(row.uniqueid) for tag in call_tags(call)}
            tags.update(f"ext:{ext}" for ext in (_internal(row.data.get("src")), _internal(row.data.get("dst"))) if ext)
            return cdr_message_data(row, has_recording=bool(row.data.get("link"))), False, sorted(tags)
        if isinstance(message, ContactChanged):
            return contact_message_data(message.contact_id, message.keys), True, ()
        raise TypeError(f"not a feed message: {type(message).__name__}")  # pragma: no cover
