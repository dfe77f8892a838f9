"""The Qt-free core, assembled: store, bus, directory, ingestion, PBX client and webhook.

``serve`` runs it alone; the tray app wraps it. It owns the shutdown order: stop taking
requests, then close the PBX client, then close the database (its last commit is on disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from app.pbx import PbxClient
from app.protocol.base import WireModel
from app.protocol.envelope import Envelope
from app.protocol.phones import Phone, PhoneNormalizer
from app.protocol.redact import register_secret
from app.protocol.webhook_actions import GetContactParams
from app.storage import CrmUser, Session, Store, open_store
from app.webhook import WebhookConfig, WebhookServer, create_app
from app.webhook.app import REFUSALS
from app.webhook.ratelimit import Refusal, parse_networks
from app.webhook.server import ListenerLimits, tls_context

from .agent import AgentIdentity
from .api import NotConfigured
from .bus import EventBus
from .directory import DirectoryService
from .ingest import EventIngestor
from .secrets import ENV_VARS, PBX_API_KEY, Keys
from .settings import Settings

__all__ = ["Engine", "NotConfigured"]

log = logging.getLogger("app.core")

PRUNE_INTERVAL = 3600.0
#: rows of each history table dropped in one transaction (the webhook's writes go in between)
HISTORY_BATCH = 10_000
#: PBX users whose latest status is kept (each event may name a new ``user_uid``)
PRESENCE_MAX = 10_000


class Engine:
    """One instance per process. Build it, ``await start()``, ``await stop()``."""

    def __init__(self, settings: Settings, keys: Keys, *, database: str | Path | None = None) -> None:
        """``database``: a ``postgresql://`` URL or an SQLite path (default: :meth:`Settings.database`)."""
        self.settings = settings
        self.keys = keys
        register_secret(keys.crm_api_key)
        register_secret(keys.pbx_api_key)
        self.store: Store = open_store(database or settings.database())
        self.bus = EventBus()
        self.directory = DirectoryService(self.store, lambda: self.normalizer, lambda: self.own_user)
        self.ingestor = EventIngestor(self.store, self.bus, lambda: self.normalizer)
        self.server: WebhookServer | None = None
        self.maintenance_idle = asyncio.Event()
        self._pbx: PbxClient | None = None
        self._maintenance: asyncio.Task[None] | None = None
        #: more routes for the listener (the team server's agent API), see ``create_app``
        self.app_extensions: list[Callable[[web.Application], None]] = []
        #: awaited after the listener closed and before the store closes
        self.on_stop: list[Callable[[], Awaitable[None]]] = []

    # -- what follows the settings (derived at each use, never copied) -------------------

    @property
    def normalizer(self) -> PhoneNormalizer:
        """The number rules of the current settings (one cached normaliser per region and format)."""
        return self.settings.phone_normalizer()

    @property
    def identity(self) -> AgentIdentity:
        return AgentIdentity.from_settings(self.settings)

    @property
    def own_user(self) -> CrmUser | None:
        """This workstation's CRM user as ``get_users`` lists it (None when not set)."""
        s = self.settings
        return CrmUser(s.crm_user, s.crm_user_name or f"CRM user {s.crm_user}") if s.crm_user else None

    # -- the webhook backend (see app.webhook.backend.WebhookBackend) --------------------

    async def crm_users(self) -> list[dict[str, str]]:
        return await self.directory.crm_users()

    def find_contacts_now(self, params: GetContactParams) -> list[dict[str, Any]] | None:
        return self.directory.find_contacts_now(params)

    async def find_contacts(self, params: GetContactParams) -> list[dict[str, Any]]:
        return await self.directory.find_contacts(params)

    async def ingest_event(self, envelope: Envelope, body: WireModel, raw: bytes, remote: str | None) -> None:
        await self.ingestor.ingest(envelope, body, raw)

    # -- lifecycle -----------------------------------------------------------------------

    def webhook_config(self) -> WebhookConfig:
        s = self.settings
        return WebhookConfig(
            crm_api_key=self.keys.crm_api_key, contact_deadline=s.contact_deadline_ms / 1000,
            body_read_timeout=s.body_read_timeout_s, auth_failures_before_block=s.auth_failures_before_block,
            auth_block_seconds=s.auth_block_seconds, trusted_proxies=parse_networks(s.trusted_proxies),
        )

    async def start(self) -> str:
        """Open the listener; returns the webhook URL to paste into the PBX."""
        s = self.settings
        if not self.keys.crm_api_key:
            log.warning("no CRM API key is set: every action but `test` will be refused (401);"
                        " run `pbx-companion keys set` or set %s", ENV_VARS["crm_api_key"])
        ssl_context = tls_context(s.tls_cert, s.tls_key) if s.tls_cert else None
        self.server = self._listener(ssl_context)
        url = await self.server.start()
        self._maintenance = asyncio.create_task(self._maintain(), name="store-maintenance")
        return url

    def _listener(self, ssl_context: ssl.SSLContext | None) -> WebhookServer:
        s = self.settings
        limits = ListenerLimits(max_connections=s.max_connections, header_timeout=s.header_timeout_s)
        return WebhookServer(create_app(self, self.webhook_config(), self.app_extensions), s.host, s.port, ssl_context,
                             limits)

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self.server is not None:
            await self.server.stop()
        for stop in self.on_stop:
            await stop()
        if self._pbx is not None:
            await self._pbx.aclose()
        await self.store.aclose()

    async def reconfigure(self, settings: Settings, keys: Keys) -> str | None:
        """Apply new settings and keys to the running core (the settings window saved them).

        Numbers, identity and pop-up behaviour follow at once (they are derived from the settings
        object, updated in place); a new PBX address or key rebuilds
        the PBX client; a new listen address, certificate or CRM key restarts the listener.
        Returns the listener's URL when it was restarted.
        """
        listener_fields = ("host", "port", "tls_cert", "tls_key", "contact_deadline_ms", "body_read_timeout_s",
                           "auth_failures_before_block", "auth_block_seconds", "trusted_proxies", "max_connections",
                           "header_timeout_s")
        restart = (any(getattr(settings, f) != getattr(self.settings, f) for f in listener_fields)
                   or keys.crm_api_key != self.keys.crm_api_key)
        new_pbx = (settings.pbx_url != self.settings.pbx_url or keys.pbx_api_key != self.keys.pbx_api_key
                   or settings.pbx_timeout_s != self.settings.pbx_timeout_s
                   or settings.pbx_max_reply_mb != self.settings.pbx_max_reply_mb)
        for name, value in vars(settings).items():  # in place: every window holds this object
            setattr(self.settings, name, value)
        self.keys = keys
        register_secret(keys.crm_api_key)
        register_secret(keys.pbx_api_key)
        s = self.settings
        if new_pbx and self._pbx is not None:
            old, self._pbx = self._pbx, None
            await old.aclose()
        if restart and self.server is not None:
            await self.server.stop()
            ssl_context = tls_context(s.tls_cert, s.tls_key) if s.tls_cert else None
            self.server = self._listener(ssl_context)
            return await self.server.start()
        return None

    def recent_refusals(self) -> list[Refusal]:
        """The latest requests the webhook refused (400, 401, 413, 429 …), oldest first; [] without a listener."""
        return list(self.server.app[REFUSALS].recent) if self.server is not None else []

    async def _maintain(self) -> None:
        while True:
            days, keep = self.settings.event_log_days, self.settings.event_log_max
            removed = await self.store.write(functools.partial(_prune_events, days=days, keep=keep))
            if removed:
                log.info("event log: removed %d old events", removed)
            removed = await self.prune_history()
            if removed:
                log.info("call history: removed %d old rows", removed)
            self.maintenance_idle.set()  # start-up work done (tests and benchmarks wait for this)
            await asyncio.sleep(PRUNE_INTERVAL)

    async def prune_history(self) -> int:
        """Apply ``history_days`` / ``history_max`` a batch at a time; returns how many rows went."""
        total = 0
        while True:
            s = self.settings
            removed = await self.store.write(functools.partial(_prune_history, days=s.history_days,
                                                               keep=s.history_max, batch=HISTORY_BATCH))
            total += removed
            if not removed:
                return total

    # -- talking to the PBX --------------------------------------------------------------

    @property
    def pbx(self) -> PbxClient:
        if self._pbx is None:
            if not self.settings.pbx_url:
                raise NotConfigured("the PBX URL is not set: set pbx_url in the settings or PBX_COMPANION_PBX_URL")
            if not self.keys.pbx_api_key:
                raise NotConfigured("the PBX API key is not set: run `pbx-companion keys set`"
                                    f" or set {ENV_VARS[PBX_API_KEY]}")
            self._pbx = PbxClient(self.settings.pbx_url, self.keys.pbx_api_key, timeout=self.settings.pbx_timeout_s,
                                  max_reply_bytes=int(self.settings.pbx_max_reply_mb * 1024 * 1024))
        return self._pbx

    def own_crm_user(self) -> str:
        if not self.settings.crm_user:
            raise NotConfigured("this workstation's CRM user is not set:"
                                " set crm_user in the settings or PBX_COMPANION_CRM_USER")
        return self.settings.crm_user

    async def dial(self, phone: Phone) -> str:
        """``make_call`` as this workstation's CRM user; returns what was dialed (``dst``)."""
        crm_user = self.own_crm_user()
        dst = self.normalizer.dial_string(phone)
        await self.pbx.make_call(crm_user, dst)
        log.info("make_call %s as crm_user %s", dst, crm_user)
        return dst

    async def hold(self, call_id: str) -> None:
        await self.pbx.switch_call_hold(self.own_crm_user(), call_id)


def _prune_events(session: Session, *, days: float, keep: int) -> int:
    """Drop events (and the presence history they made) older than ``days`` and beyond the newest
    ``keep`` (one write transaction): nothing that grows with each event grows without bound."""
    older_than = time.time() - days * 86400
    return (session.events.prune(older_than=older_than, keep_at_most=keep)
            + session.presence.prune_history(older_than=older_than, keep_at_most=keep))


def _prune_history(session: Session, *, days: float, keep: int, batch: int = HISTORY_BATCH) -> int:
    """One batch of the history's retention (one write transaction): calls (their hold periods go with
    them), CDRs, call notes and dialed numbers received more than ``days`` ago (0: no age limit) or
    beyond the newest ``keep`` of each table (0: no cap); the latest status of PBX users not heard
    of in ``days``, and of all but the :data:`PRESENCE_MAX` most recently heard of."""
    older_than = time.time() - days * 86400 if days > 0 else None
    cap = keep if keep > 0 else None
    return (session.calls.prune(older_than=older_than, keep_at_most=cap, batch=batch)
            + session.cdrs.prune(older_than=older_than, keep_at_most=cap, batch=batch)
            + session.notes.prune(older_than=older_than, keep_at_most=cap, batch=batch)
            + session.dials.prune(older_than=older_than, keep_at_most=cap, batch=batch)
            + session.presence.prune(older_than=older_than, keep_at_most=PRESENCE_MAX, batch=batch))
