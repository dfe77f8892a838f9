"""The layering the architecture promises, checked on the source (docs/architecture.md).

Windows talk to the service API only (app/core/api.py): a window that reached the database, a
session, the engine or its ingestor would work standalone and break against a team server. And
nothing below the UI imports Qt, so the core, the webhook, the client and the store run and test
without a display (and inside a headless team server).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
UI_FILES = sorted((APP / "ui").glob("*.py"))
QT_FREE = ["protocol", "storage", "pbx", "webhook", "core", "team"]

# What a window must not say: the store, a storage session, the engine, its event ingestor.
FORBIDDEN_IN_UI = re.compile(r"\b(store|session|engine)\.|\bingestor\b")


def test_there_are_ui_files_to_check() -> None:
    assert len(UI_FILES) > 10


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_windows_use_only_the_service_api(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    hits = [f"{path.name}:{n}: {line.strip()}" for n, line in enumerate(lines, 1) if FORBIDDEN_IN_UI.search(line)]
    assert hits == []


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_windows_import_no_storage_or_pbx_client(path: Path) -> None:
    """Records (``app.storage.records``) and errors are shared types; the store and the client are not."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {alias.name for alias in node.names}
            if node.module in ("app.core.engine", "app.core.standalone", "app.storage.sqlite", "app.pbx.client"):
                bad.append(node.module)
            if node.module in ("app.storage", "app.pbx") and names & {"Store", "Session", "PbxClient"}:
                bad.append(f"{node.module}: {sorted(names)}")
    assert bad == []


def _qt_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in ("PySide6", "shiboken6", "qasync")]
        elif isinstance(node, ast.ImportFrom) and node.module and (
            node.module.split(".")[0] in ("PySide6", "shiboken6", "qasync") or node.module.startswith("app.ui")
        ):
            found.append(node.module)
    return found


@pytest.mark.parametrize("package", QT_FREE)
def test_nothing_below_the_ui_imports_qt(package: str) -> None:
    offenders = {str(p.relative_to(APP)): _qt_imports(p) for p in (APP / package).rglob("*.py") if _qt_imports(p)}
    assert offenders == {}


def test_the_forbidden_pattern_catches_what_it_should() -> None:
    """The grep above would have caught the code this issue removed from the windows."""
    for line in ("self._ctx.store.read(read)", "session.contacts.get(1)", "ingestor = self._ctx.engine.ingestor",
                 "pbx = self._ctx.engine.pbx"):
        assert FORBIDDEN_IN_UI.search(line)
    for line in ("self._ctx.api.contacts.get(1)", "restore()", "sessions: dict = {}"):
        assert not FORBIDDEN_IN_UI.search(line)
