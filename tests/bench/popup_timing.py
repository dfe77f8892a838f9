"""When a pop-up was shown, exposed and painted: the instrument of the pop-up benchmarks.

Imported only inside an app process under test (it imports Qt): ``ui_bench``'s child
(standalone) and ``tests/ui/x11/team_popup_probe.py`` (team mode) time their pop-ups the same way.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from PySide6.QtCore import QEvent, QObject


class Watch(QObject):
    """Event filter that reports Expose and Paint events with their monotonic time."""

    def __init__(self, report: Any) -> None:
        super().__init__()
        self._report = report

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Paint or kind == QEvent.Type.Expose:
            self._report(watched, kind, time.monotonic())
        return False


def follow_popups(manager: Any, loop: asyncio.AbstractEventLoop) -> dict[str, dict[str, Any]]:
    """Record each pop-up ``manager`` shows, by call id (monotonic seconds): ``shown`` (the signal),
    ``show_ms`` (the manager's own show latency), ``exposed_at_signal``, ``expose`` (its window
    exposed), ``paint``/``painted`` (first paint event / after it), ``info_paint``/``info_painted``
    (the caller's facts painted) and ``name_shown``. The returned dict fills as calls come."""
    records: dict[str, dict[str, Any]] = {}
    watches: dict[str, Watch] = {}

    def shown(call_id: str) -> None:
        now = time.monotonic()
        popup = manager.popup(call_id)
        window = popup.windowHandle() if popup is not None else None
        rec = records[call_id] = {"shown": now, "show_ms": (manager.last_shown_latency or 0.0) * 1000,
                                  "exposed_at_signal": bool(window is not None and window.isExposed())}
        if popup is None or window is None:
            return

        def painted(key: str) -> None:
            rec.setdefault(key, time.monotonic())

        def report(watched: QObject, kind: QEvent.Type, at: float) -> None:
            if kind == QEvent.Type.Expose:
                if window.isExposed():
                    rec.setdefault("expose", at)
                return
            if watched is not popup:
                return
            if "paint" not in rec:
                rec["paint"] = at
                loop.call_soon(painted, "painted")
            if popup.info is not None and "info_paint" not in rec:
                rec["info_paint"] = at
                rec["name_shown"] = popup.name_label.text()
                loop.call_soon(painted, "info_painted")

        watch = watches[call_id] = Watch(report)
        popup.installEventFilter(watch)
        window.installEventFilter(watch)

    manager.popup_shown.connect(shown)
    # drop our filter (and its references to the pop-up) when the pop-up goes away
    manager.popup_closed.connect(lambda call_id: watches.pop(call_id, None))
    return records
