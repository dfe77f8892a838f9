"""The tray app's command line, in one place: what ``pbx-companion [options] [tel:…]`` accepts.

Three readers need it and must agree: :func:`app.cli.main` deciding that a command line starts the
tray app, the fast path that hands a clicked link to the running app before Qt is loaded, and
:func:`app.main.run_tray`. Kept free of Qt and of the core's heavier imports (the fast path runs
it on every click).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.settings import Settings

#: Each option of the tray app and its argparse keywords.
TRAY_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--data-dir", {"help": "directory of the database (default: the per-user data dir)"}),
    ("--config", {"help": "settings file"}),
    ("--host", {"help": "address the webhook listens on"}),
    ("--port", {"type": int, "help": "port the webhook listens on"}),
    ("--server", {"metavar": "URL", "help": "connect to this team server (team mode) instead of being the webhook"}),
)
#: The options that take a value (so the token after them is not a subcommand or a link).
VALUE_OPTIONS = frozenset(name for name, _ in TRAY_OPTIONS)


def tray_parser(*, add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pbx-companion", description="The pbx-companion tray app.",
                                     add_help=add_help)
    for name, keywords in TRAY_OPTIONS:
        parser.add_argument(name, **keywords)
    parser.add_argument("uris", nargs="*", metavar="URI", help="tel:, callto: or sip: links to dial")
    return parser


def parse_known(argv: Sequence[str]) -> argparse.Namespace:
    """The tray options in ``argv``, ignoring anything else (the fast path must never fail)."""
    known, _ = tray_parser(add_help=False).parse_known_args(list(argv))
    return known


def tray_settings(args: argparse.Namespace) -> Settings:
    """The settings the tray app runs with: the file (``--config`` or the default), then the options."""
    from app.core.settings import Settings

    settings = Settings.load(Path(args.config) if args.config else None)
    if args.data_dir:
        settings.data_dir = args.data_dir
    if getattr(args, "host", None):
        settings.host = args.host
    if getattr(args, "port", None) is not None:
        settings.port = args.port
    if getattr(args, "server", None):
        from app.core.settings import TEAM

        settings.mode, settings.team_server = TEAM, args.server.strip()
    return settings.validate()
