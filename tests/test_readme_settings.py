"""The README lists every setting with its meaning, and says where settings, data and logs live."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from app.core.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start:end if end >= 0 else None]


def test_every_setting_is_in_the_readmes_table_with_a_meaning() -> None:
    table = _section(README.read_text(encoding="utf-8"), "### Every setting")
    listed: set[str] = set()
    for line in table.splitlines():
        cells = [c.strip() for c in line.replace("\\|", "/").strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            assert cells[2], f"no meaning for {cells[0]}"
            listed.update(re.findall(r"`([a-z_]+)`", cells[0]))
    missing = sorted({f.name for f in fields(Settings)} - {"extra"} - listed)
    assert missing == [], f"settings the README does not explain: {missing}"


def test_the_readme_says_where_settings_data_and_logs_live() -> None:
    where = _section(README.read_text(encoding="utf-8"), "### Where things live")
    for fact in ("settings.toml", "pbx-companion.sqlite3", "pbx-companion.log", "--data-dir", "D/logs/",
                 "keyring", "config path"):
        assert fact in where, fact
