"""Start a whole tray application (:class:`app.main.CompanionApp`) in a UI test, on the test's qasync loop.

One place for what every such test needs: the app is built inside the running loop (its task
runner takes the running loop), started, and -- standalone -- its engine's start-up maintenance
(store writes on the storage thread) has finished on the loop. A storage future that completed
between two ``run()`` calls would be stepped by Qt's event processing with no running asyncio
loop ("no running event loop", raised again at shutdown).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.qtloop import run


def start_companion(qloop: asyncio.AbstractEventLoop, qapp: Any, settings: Any, keys: Any, **options: Any) -> Any:
    """A started CompanionApp; ``options`` go to its constructor (settings_path, autostart_arguments)."""
    from app.main import CompanionApp

    async def build() -> CompanionApp:
        app = CompanionApp(qapp, settings, keys, **options)
        await app.start()
        if app.engine is not None:
            await app.engine.maintenance_idle.wait()
        return app

    return run(qloop, build())
