"""Where the data files that ship with the app (translations, icons) are found at run time.

In a checkout (or an editable install) they are in ``resources/`` beside the ``app`` package; in the
PyInstaller bundle ``build.spec`` copies them to ``resources/`` under ``sys._MEIPASS``. No Qt here:
the core and the packaging scripts use it too.
"""

from __future__ import annotations

import sys
from pathlib import Path


def resource_dir() -> Path:
    """The ``resources`` directory of this installation."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def resource_path(*parts: str) -> Path:
    """A file or directory under :func:`resource_dir`, e.g. ``resource_path("icons", "pbx-companion.svg")``."""
    return resource_dir().joinpath(*parts)
