"""Package attributes loaded on first use (PEP 562).

A package exports what it always has, and names whose modules cost memory all day (the store with
sqlite3, the PBX client with httpx) only once someone asks for them: the tray app in team mode never
does (tests/test_team_app.py). Each such package keeps ``TYPE_CHECKING`` imports of those names, so
type checkers and PyInstaller still see them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name in ``modules`` is imported from its
    submodule (a name relative to ``package``) the first time it is asked for, then kept as an
    ordinary attribute of the package."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
