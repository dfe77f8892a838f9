"""The Qt bindings must not release references they do not own.

PySide6 6.12.0 on CPython 3.11 drops a reference to ``None`` on every ``QTimer.singleShot``
callable and every Python override Qt calls; qasync runs every asyncio callback that way, so
the count fell by ~200 per incoming call until the interpreter aborted (``Fatal Python error:
none_dealloc``) after 120-160 calls (tests/bench/ui_bench.py found it). pyproject.toml keeps
PySide6 below 6.12; this test fails on a release with the bug.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, QTimer, Signal

from tests.support.qtloop import settle

CALLS = 1000


class _Emitter(QObject):
    fired = Signal(object, bool)


def test_callbacks_and_signals_keep_none_true_and_false_alive(qapp, qloop):
    emitter = _Emitter()
    seen: list[object] = []
    emitter.fired.connect(lambda value, flag: seen.append(value))
    gc.collect()
    before = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True), ("False", False))}
    for _ in range(CALLS):
        QTimer.singleShot(0, lambda: None)
        emitter.fired.emit(None, True)
        emitter.fired.emit(None, False)
    settle(qloop, 0.3)
    seen.clear()
    gc.collect()
    after = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True), ("False", False))}
    lost = {name: before[name] - after[name] for name in before if before[name] - after[name] > CALLS // 2}
    assert not lost, f"the Qt bindings released references they do not own: {lost}"
