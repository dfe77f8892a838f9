"""Each benchmark owns one marked section of docs/performance.md and rewrites only that."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "performance.md"


def write_section(name: str, section: str, heading: str, intro: str = "") -> None:
    """Put ``section`` between the ``<!-- bench-NAME:start/end -->`` markers of docs/performance.md;
    if the markers are missing, append them under ``## heading`` (and ``intro``) first."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    if start not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + (f"{intro}\n\n" if intro else "") + f"{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    DOC.write_text(f"{head}{start}\n{section}{end}{tail}", encoding="utf-8")
