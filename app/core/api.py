"""The service API: everything the UI may ask for or do, and nothing else (Qt-free).

Windows never hold a database session, a PBX client or the engine: they call these services and
follow :class:`EventsApi`. Standalone (this computer is the webhook) the implementation is
:class:`app.core.standalone.StandaloneApi`, which wraps the :class:`~app.core.engine.Engine`;
with a team server it is a client of the server's agent API. No window knows which one it has.

Every method that may block is a coroutine; errors are the core's own types (``PbxError`` and
its subclasses for the PBX, :class:`NotConfigured` for a missing setting, ``PhoneError`` for a
number that is not one), so windows word them the same way in both modes.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app.protocol.pbx_actions import DomainUser
from app.protocol.phones import Phone, PhoneNormalizer
from app.storage import CallRecord, ContactRecord, CrmUser, EventRecord, PhoneRecord, PresenceRecord

from .agent import AgentIdentity
from .bus import BusMessage, Subscription
from .history import HistoryEntry
from .timeline import TimelineRow

if TYPE_CHECKING:  # contacts_io (vobject, csv sniffing) loads only when a file is imported
    from app.webhook.ratelimit import Refusal

    from .contacts_io import ImportSummary

#: The most missed calls the missed list shows.
MAX_MISSED = 200


class NotConfigured(RuntimeError):
    """A setting or key the requested action needs is missing; the message says how to set it."""


class RecordingUnavailable(RuntimeError):
    """The recording cannot be played: not published yet, gone, or larger than the app keeps in memory."""


class SetupProblem(enum.Enum):
    """What must be set up before the PBX can be asked (windows word it in the agent's language)."""

    PBX_URL = "pbx_url"
    PBX_KEY = "pbx_key"
    CRM_USER = "crm_user"


# -- what the services return ------------------------------------------------------------------


@dataclass
class ContactDraft:
    """A contact as the editor validated it: ready for :meth:`ContactsApi.save`."""

    name: str
    company: str
    owner_id: str | None
    email: str
    note: str
    phones: list[PhoneRecord] = field(default_factory=list)


@dataclass(slots=True)
class CallerInfo:
    """Everything the pop-up shows about a caller, read in one go from the directory."""

    contact_id: int | None = None
    name: str | None = None
    company: str | None = None
    more_contacts: int = 0          # other contacts with the same number
    owner_name: str | None = None   # the responsible employee
    owner_is_me: bool = False
    earlier_calls: int = 0          # earlier calls with this number (journal and CDRs merged)
    earlier_capped: bool = False    # there may be more than ``earlier_calls``
    last_call_at: float | None = None


@dataclass(slots=True)
class CardData:
    """What the client card shows when it opens.

    ``contact`` is None for a number nobody has yet (the card offers to create it) or a contact
    that was deleted; ``keys`` are the number keys its timeline is for.
    """

    contact: ContactRecord | None
    team: list[CrmUser]
    keys: list[str]
    rows: list[TimelineRow]
    call: CallRecord | None


@dataclass(frozen=True, slots=True)
class MissedCall:
    """A missed call of this agent's, with the contact it came from (None: unknown number)."""

    call: CallRecord
    contact: ContactRecord | None


@dataclass(frozen=True, slots=True)
class RecentDial:
    """A number this workstation dialed (newest first in :meth:`CallsApi.recent_dials`)."""

    key: str
    dialed: str
    at: float
    contact: ContactRecord | None


@dataclass(frozen=True, slots=True)
class DialResult:
    """A ``make_call`` the PBX accepted: the number and the text the PBX was given."""

    phone: Phone
    dialed: str


@dataclass(frozen=True, slots=True)
class PbxPage:
    """One page of older calls from the PBX's ``get_cdr``, already stored locally.

    ``records`` are the CDRs in the seed's field names (new to this walk); ``notes`` the stored
    note and outcome of each, keyed by uniqueid or call_id (see :func:`app.core.timeline.note_refs`).
    """

    records: list[dict[str, Any]]
    notes: dict[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class RecordingMedia:
    """What the player plays for a recording link (:meth:`HistoryApi.recording`).

    ``url``: a web address the player may stream by itself (standalone: the PBX's link). ``data``:
    the audio itself, fetched with this agent's credentials (a team server streams recordings
    only to an agent who may hear them, with a token the player could not send); then ``url`` is
    None and ``content_type`` says what the server called it.
    """

    url: str | None = None
    data: bytes | None = None
    content_type: str = ""


@dataclass(slots=True)
class TeamSnapshot:
    """The team panel's local facts: the CRM users, the PBX users' last status, calls in progress."""

    users: list[CrmUser]
    presence: list[PresenceRecord]
    live_calls: list[CallRecord]


# -- the services ------------------------------------------------------------------------------


class ContactsApi(Protocol):
    """The client directory."""

    async def find_by_number(self, key: str) -> list[ContactRecord]:
        """Contacts with this number key ("74951343060"), the one ``get_contact`` answers with first."""

    async def search(self, text: str, limit: int) -> list[ContactRecord]:
        """Contacts matching free text: a number (whole or digits of it) or a name/company part."""

    async def get(self, contact_id: int) -> ContactRecord | None:
        """One contact with its phones and company name; None when it does not exist (any more)."""

    async def save(self, draft: ContactDraft, *, contact_id: int | None, call_id: str | None = None) -> int:
        """Create (``contact_id`` None) or update a contact in one transaction; returns its id.

        Earlier calls and CDRs from its numbers are linked to it, and so is ``call_id`` (the live
        call the card was opened on): "create contact" from a pop-up is a save with the call's id.
        """

    async def caller(self, call: CallRecord) -> CallerInfo:
        """Who is calling: the first contact with the number, the responsible employee, earlier calls."""

    async def card(self, contact_id: int | None, key: str | None, call_id: str | None) -> CardData:
        """The client card's data: the contact (by id, else by number), the team and the timeline."""

    async def import_file(self, path: Path, progress: Callable[[int, int], Any] | None = None) -> ImportSummary:
        """Import a CSV or vCard file (``progress(bytes_done, bytes_total)``); returns what was imported,
        updated and skipped. Raises :class:`~app.core.contacts_io.ImportFormatError` for a file it cannot read."""

    async def export_file(self, path: Path, fmt: str) -> int:
        """Write every contact to ``path`` (``csv`` or ``vcf``); returns how many."""


class HistoryApi(Protocol):
    """Calls with a client: the local journal, CDRs and what the PBX still has."""

    async def timeline(self, keys: Sequence[str]) -> list[TimelineRow]:
        """The merged timeline of these number keys with notes, newest first."""

    async def entries(self, number: str, limit: int) -> list[HistoryEntry]:
        """The local history of one number (the ``history`` command), newest first."""

    def pbx_pages(self, keys: Sequence[str], *, max_records: int | None = None) -> AsyncIterator[PbxPage]:
        """Walk the PBX's ``get_cdr`` for these numbers, newest first; each page is stored before it is
        yielded (so the local timeline has it too). Raises the PBX's errors."""

    async def recording_link(self, uniqueid: str) -> str | None:
        """The stored CDR's current recording link (a later ``cdr_append`` may have brought one)."""

    async def recording(self, link: str) -> RecordingMedia:
        """What the player plays for ``link``: the link itself, or the audio fetched for this agent.
        Raises :class:`RecordingUnavailable` when there is none (yet) or it is too large."""

    def shared_outcomes(self) -> tuple[str, ...]:
        """The call outcomes the team server set for every agent's card; empty when there is no such
        list (standalone, or a server without one): the card then offers the agent's own setting
        (:func:`app.core.outcomes.offered_outcomes`)."""


class CallsApi(Protocol):
    """Placing and steering calls, the missed list, notes and outcomes."""

    def setup_problem(self, *, need_crm_user: bool) -> SetupProblem | None:
        """What is missing before the PBX can be asked (checked before starting a request)."""

    async def dial(self, phone: Phone) -> DialResult:
        """``make_call`` as this agent, sent once and never re-sent; on success the number goes to
        the dial log and every missed call from it is cleared (calling back settles them)."""

    async def hold(self, call_id: str) -> None:
        """Toggle hold (``switch_call_hold``); the call's state follows the PBX's events."""

    async def missed(self, limit: int = MAX_MISSED) -> list[MissedCall]:
        """This agent's missed calls nobody called back or dismissed, newest first."""

    async def clear_missed(self, call_id: str) -> bool:
        """Dismiss one missed call (it stays in the history); False when it was already cleared."""

    async def clear_all_missed(self) -> int:
        """Dismiss every missed call of this agent's ("Dismiss all"; they stay in the history);
        returns how many were cleared."""

    async def recent_dials(self, limit: int) -> list[RecentDial]:
        """Numbers this workstation dialed, newest first, each with its contact."""

    async def set_note(self, ref: str, note: str, outcome: str) -> None:
        """Store the note and outcome of one call (``ref``: its uniqueid or call_id)."""


class PresenceApi(Protocol):
    """The team's status."""

    async def team(self) -> TeamSnapshot:
        """The CRM users (this agent's own included), stored PBX statuses and calls in progress."""

    async def mine(self) -> list[PresenceRecord]:
        """This agent's own stored statuses (to honour "on break" before the next event)."""

    async def pbx_users(self) -> list[DomainUser]:
        """The PBX's user list (``get_domain_user_list``); raises the PBX's errors."""


class EventsApi(Protocol):
    """What changed: :class:`~app.core.bus.CallChanged`, ``PresenceChanged``, ``CdrAdded``."""

    def connect(self, callback: Callable[[BusMessage], Any]) -> Callable[[], None]:
        """Call ``callback(message)`` on the event loop for every change; returns the disconnect."""

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        """A bounded queue of changes for an async consumer."""


class CompanionApi(Protocol):
    """The one API the UI talks to (see the module docstring)."""

    contacts: ContactsApi
    history: HistoryApi
    calls: CallsApi
    presence: PresenceApi
    events: EventsApi

    @property
    def identity(self) -> AgentIdentity:
        """Who this agent is (CRM user, extension, supervisor): whose calls are "mine"."""

    @property
    def normalizer(self) -> PhoneNormalizer:
        """The number rules in force (region, dial format) for parsing and showing numbers."""

    @property
    def webhook_url(self) -> str | None:
        """The URL the PBX posts to when this process is the webhook and it listens; else None."""

    async def recent_events(self, limit: int) -> list[EventRecord]:
        """The newest PBX events as received (Diagnostics; masked by the window before showing)."""

    def recent_refusals(self) -> list[Refusal]:
        """The latest requests this computer's webhook refused (400, 401, 413, 429 …), oldest first:
        Diagnostics shows them beside the events. [] when this process is not the webhook."""
