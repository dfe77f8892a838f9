"""``pbx-companion serve``: the engine (the PBX's webhook) plus the agents' feed on one listener.

Composition and the shutdown order only: the feed hub starts before the listener accepts anyone
and stops after the listener closed (every agent got 1001, "going away, resume elsewhere") and
before the store closes. Every ``serve`` process sharing one PostgreSQL database is the same
server: each journals what the PBX posts to it, each feeds its own agents from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from pathlib import Path

from app.core.engine import Engine
from app.core.outcomes import team_outcomes
from app.core.secrets import Keys
from app.core.settings import Settings
from app.storage import Session, is_database_url

from .agent_api import FeedLimits, add_agent_api
from .hub import FeedHub
from .journal import FeedJournal
from .rest import add_agent_rest

log = logging.getLogger("app.team")

PRUNE_INTERVAL = 3600.0


def _prune_feed(session: Session, *, days: float, keep: int) -> int:
    return session.feed.prune(older_than=time.time() - days * 86400, keep_at_most=keep)


class TeamServer:
    """One ``serve`` process. Build it, ``await start()``, ``await stop()``."""

    def __init__(self, settings: Settings, keys: Keys, *, database: str | Path | None = None,
                 limits: FeedLimits | None = None) -> None:
        self.engine = Engine(settings, keys, database=database)
        location = database or settings.database()
        self.hub = FeedHub(self.engine.store, listen_url=str(location) if is_database_url(location) else None)
        self.engine.ingestor.journal = FeedJournal().append
        self.engine.ingestor.journaled = self.hub.add_local  # after each local commit: no read, no poll
        self.engine.app_extensions.append(functools.partial(add_agent_api, hub=self.hub, limits=limits,
                                                            outcomes=team_outcomes(settings.outcomes)))
        self.engine.app_extensions.append(functools.partial(add_agent_rest, engine=self.engine))
        self.engine.on_stop.append(self.hub.stop)
        self._maintenance: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Start the feed, then the listener; returns the webhook URL."""
        await self.hub.start()
        try:
            url = await self.engine.start()
        except BaseException:
            await self.hub.stop()
            raise
        self._maintenance = asyncio.create_task(self._prune(), name="feed-maintenance")
        return url

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        await self.engine.stop()

    async def _prune(self) -> None:
        while True:
            s = self.engine.settings
            removed = await self.engine.store.write(functools.partial(_prune_feed, days=s.feed_days, keep=s.feed_max))
            if removed:
                log.info("feed journal: removed %d old messages", removed)
            await asyncio.sleep(PRUNE_INTERVAL)
