"""Each benchmark owns one marked section of docs/performance.md and rewrites only that."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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


def bench_parser(prog: str, description: str, parts: Sequence[str], *, wait_quiet: float) -> argparse.ArgumentParser:
    """The options every parted benchmark takes: ``--quick``, ``--doc``/``--no-doc``, ``--only``
    (see :func:`chosen_parts`), ``--keep``, ``--json``, ``--render`` and ``--wait-quiet``; the
    benchmark adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="fewer calls and runs; prints only")
    doc = parser.add_mutually_exclusive_group()
    doc.add_argument("--doc", dest="doc", action="store_true", default=None,
                     help="rewrite our section of docs/performance.md")
    doc.add_argument("--no-doc", dest="doc", action="store_false", help="do not touch docs/performance.md")
    parser.add_argument("--only", help=f"comma-separated parts ({','.join(parts)}); implies --no-doc")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--render", metavar="JSON", help="only render the report from a file written by --json "
                                                        "(with --doc: into docs/performance.md)")
    parser.add_argument("--wait-quiet", type=float, default=wait_quiet, metavar="SECONDS",
                        help=f"before each part wait up to this long for other processes to go quiet "
                             f"(default {wait_quiet:g})")
    return parser


def render_saved(args: argparse.Namespace, report: Callable[[dict[str, Any], bool], str],
                 write_doc: Callable[[str], None]) -> None:
    """``--render``: print the report of a ``--json`` file, and with ``--doc`` write it."""
    saved = json.loads(Path(args.render).read_text(encoding="utf-8"))
    section = report(saved, saved.get("quick", False))
    print(section)
    if args.doc:
        write_doc(section)
