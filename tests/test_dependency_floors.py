"""Every dependency floor in pyproject.toml says why it is there; Qt's excludes known CVEs (issue 13)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
#: the first open-source Qt with the fixes for CVE-2025-12385 (6.10.1) and CVE-2025-10729 (6.9.3)
QT_FIXED = (6, 10, 1)
_FLOOR = re.compile(r"""^\s*(?:requires\s*=\s*\[)?\s*"([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9.]+)[^"]*",?\]?\s*(#.*)?$""")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def _floors() -> list[tuple[str, str, str]]:
    """(name, floor, its reason): the comment beside it, else a ``# floor:`` comment right above it."""
    found = []
    above: list[str] = []
    for line in PYPROJECT.read_text(encoding="utf-8").splitlines():
        match = _FLOOR.match(line)
        if match:
            reason = match[3] or next((c for c in above if c.startswith("# floor:")), "")
            found.append((match[1], match[2], reason))
        above = [*above, line.strip()] if line.strip().startswith("#") else []
    return found


def test_every_floor_has_its_reason_beside_it():
    floors = _floors()
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    declared = [*data["build-system"]["requires"], *data["project"]["dependencies"],
                *(r for extra in data["project"]["optional-dependencies"].values() for r in extra)]
    assert len(floors) == sum(">=" in r for r in declared)  # the pattern saw every floor
    missing = [name for name, _, comment in floors if not comment.startswith("# floor:")]
    assert not missing, f"no '# floor: <reason>' beside {missing}"


def test_qt_floor_and_the_installed_qt_have_the_cve_fixes():
    floors = {name: _version(version) for name, version, _ in _floors()}
    assert floors["PySide6-Essentials"] >= QT_FIXED and floors["PySide6-Addons"] >= QT_FIXED
    from PySide6 import QtCore

    assert _version(QtCore.qVersion()) >= QT_FIXED
