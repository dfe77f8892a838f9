"""Import this module right after the first PySide6 import of a process (``app.main`` and
``app.ui.instance`` do): it stops PySide6 from reading the source of every module imported later.

PySide6's ``__feature__`` support (PYSIDE-2029) calls ``inspect.getsource()`` on each newly
imported module to see whether it mentions "PySide6", so that ``from __feature__ import
snake_case`` can switch that module's view of Qt classes. The source lines then stay in
``linecache``: ~2.7 million characters for the ~190 modules the tray app imports after Qt, several
MiB that the app kept for its whole life, plus the time to read and split them. The app never
selects a feature, so every module sees the default Qt API either way; answering "does not use
PySide" marks it "ignore this module" (select id -1), which is what an unselected module gets in
effect. Nothing happens if a PySide6 release drops this internal.
"""

from __future__ import annotations

import sys

import PySide6.QtCore  # noqa: F401 - loads shibokensupport.feature, patched below


def skip_feature_scan() -> None:
    feature = sys.modules.get("shibokensupport.feature")
    if feature is not None and callable(getattr(feature, "_mod_uses_pyside", None)):
        feature._mod_uses_pyside = lambda module: False  # type: ignore[attr-defined]


skip_feature_scan()
