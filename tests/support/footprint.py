"""What the tray app in team mode must never load: one list for the test and the benchmarks.

In team mode the app is a client of the team server: no listener, no store, no PBX client
(issue 10). Their modules would only be memory the app carries all day; windows the agent has not
opened load when first opened. tests/test_team_app.py asserts none of these is in the app's
``sys.modules`` after a pop-up and a dial; tests/bench/team_app_bench.py reports any it finds.
"""

from __future__ import annotations

from collections.abc import Container

#: standalone's engine, webhook listener, store and PBX client, and what they bring in
STANDALONE_ONLY = ("app.core.engine", "app.core.standalone", "app.core.ingest", "app.webhook", "aiohttp.web",
                   "app.storage.store", "app.storage.sqlite", "app.storage.postgres", "app.pbx.client",
                   "httpx", "httpcore", "sqlite3")
#: windows (and their helpers) the idle app has not opened
UNOPENED = ("app.ui.wizard", "app.ui.settings_dialog", "app.ui.card", "app.ui.diagnostics", "plistlib")
#: QtNetwork (and the Kerberos libraries it links): the OS's network information loads at the first
#: lost connection; the single-instance socket is a Unix socket (app/ui/instance.py)
NOT_YET_NEEDED = ("PySide6.QtNetwork",)


def unexpected(modules: Container[str]) -> list[str]:
    """The names of :data:`STANDALONE_ONLY`, :data:`UNOPENED` and :data:`NOT_YET_NEEDED` found in
    ``modules`` (``sys.modules``)."""
    return [name for name in (*STANDALONE_ONLY, *UNOPENED, *NOT_YET_NEEDED) if name in modules]
