"""Each benchmark owns one marked section of docs/performance.md and rewrites only that."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
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


def chosen_parts(parser: argparse.ArgumentParser, args: argparse.Namespace,
                 parts: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """The parts ``--only`` names (all by default; an unknown one is a usage error) and whether the
    run rewrites its docs section: a full run does unless ``--no-doc``, a ``--quick`` or ``--only``
    one only with ``--doc``."""
    chosen = tuple(p for p in (args.only or ",".join(parts)).split(",") if p)
    if unknown := set(chosen) - set(parts):
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    return chosen, (not args.quick and not args.only) if args.doc is None else args.doc
