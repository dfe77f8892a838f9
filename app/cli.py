"""The ``pbx-companion`` command line (argparse).

Every user error ends as one line on stderr and a non-zero exit status, never a traceback:
:func:`main` maps the program's typed errors to messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from app import __version__

log = logging.getLogger("app.cli")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
STOP_TIMEOUT = 5.0


class CliError(Exception):
    """A user error: printed as one line, exit status 1."""


# -- building blocks -----------------------------------------------------------------------

def _load_settings(args: argparse.Namespace) -> Any:
    from app.core.settings import Settings

    settings = Settings.load(Path(args.config) if getattr(args, "config", None) else None)
    for name in ("host", "port", "data_dir", "tls_cert", "tls_key"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, str(value) if name in ("data_dir", "tls_cert", "tls_key") else value)
    settings.validate()
    from app.core.userdirs import secure_user_dirs

    secure_user_dirs(settings.data_path)  # data, settings and logs owner-only before anything reads them
    return settings


def _engine(args: argparse.Namespace) -> Any:
    from app.core.engine import Engine
    from app.core.secrets import load_keys

    settings = _load_settings(args)
    return Engine(settings, load_keys(), database=_database(args, settings))


def _database(args: argparse.Namespace, settings: Any) -> Any:
    """``--database``, else ``PBX_COMPANION_DATABASE_URL``, else the SQLite file of the settings."""
    return settings.database(getattr(args, "database", None))


def _open_store(args: argparse.Namespace, settings: Any) -> Any:
    from app.storage import open_store

    return open_store(_database(args, settings))


def _with_engine(args: argparse.Namespace, work: Callable[[Any], Any]) -> Any:
    """Run ``await work(engine)`` with an engine that is always closed afterwards."""
    async def run() -> Any:
        engine = _engine(args)
        try:
            return await work(engine)
        finally:
            await engine.stop()

    return asyncio.run(run())


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def _shown(value: Any) -> str:
    """PBX or directory text as a terminal line shows it: without control and bidi characters.

    A name, number or uniqueid can hold terminal escapes (``ESC]0;…``, ``ESC[2J``), newlines that
    forge output lines, or bidi overrides that show it reversed; JSON output escapes them itself.
    """
    from app.protocol.text import strip_controls

    return strip_controls("" if value is None else str(value))


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


# -- serve ---------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from app.core.logs import setup_logging
    from app.core.secrets import load_keys
    from app.team.server import TeamServer

    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    settings = _load_settings(args)
    server = TeamServer(settings, load_keys(), database=_database(args, settings))

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            url = await server.start()
            print(f"pbx-companion {__version__}: webhook listening on {url}", flush=True)
            print(f"agents connect to {url.removesuffix('/webhook')}/agent/ws", flush=True)
            print(f"database: {server.engine.store.location}", flush=True)
            await stop.wait()
            log.info("stopping")
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.stop(), STOP_TIMEOUT)

    asyncio.run(serve())
    return 0


# -- the team server's agents ----------------------------------------------------------------

def cmd_agents(args: argparse.Namespace) -> int:
    from app.team.agents import AgentAdmin, AgentError

    store = _open_store(args, _load_settings(args))
    try:
        admin = AgentAdmin(store)
        try:
            if args.agents_action == "add":
                issued = admin.add(args.name, args.crm_user, args.extension, args.supervisor)
            elif args.agents_action == "rotate":
                issued = admin.rotate(args.name)
            elif args.agents_action == "revoke":
                agent = admin.revoke(args.name)
                print(f"revoked {agent.name}: its connections close within a second")
                return 0
            else:
                _print_agents(admin.list(include_revoked=args.all))
                return 0
        except AgentError as exc:
            raise CliError(str(exc)) from None
    finally:
        store.close()
    print(f"agent {issued.agent.name} (CRM user {issued.agent.crm_user}"
          f"{', extension ' + issued.agent.extension if issued.agent.extension else ''}"
          f"{', supervisor' if issued.agent.supervisor else ''}). Personal token, shown only now:", file=sys.stderr)
    print(issued.token)
    return 0


def _print_agents(agents: list[Any]) -> None:
    if not agents:
        print("no agents yet: pbx-companion agents add NAME --crm-user ID")
        return
    print(f"{'name':<24} {'crm user':<10} {'extension':<10} {'role':<11} {'since':<19} state")
    for a in agents:
        role = "supervisor" if a.supervisor else "agent"
        state = f"revoked {_when(a.revoked_at)}" if a.revoked_at else "active"
        print(f"{a.name:<24} {a.crm_user:<10} {a.extension or '-':<10} {role:<11} {_when(a.created_at):<19} {state}")


def cmd_watch(args: argparse.Namespace) -> int:
    import ssl

    from app.core.feed_client import FeedClient, FeedRejected
    from app.core.secrets import ENV_AGENT_TOKEN, get_agent_token

    token = get_agent_token()
    if not token:
        raise CliError(f"no agent token: set {ENV_AGENT_TOKEN} or store it in the keyring (pbx-companion keys set"
                       " --agent)")
    for server in args.server:
        if not server.startswith(("http://", "https://")):
            raise CliError(f"--server must start with http:// or https://, not {server!r}")
    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    client = FeedClient(args.server, token, ssl_context=context)

    async def follow() -> None:
        async for item in client.messages():
            sys.stdout.write(item.text + "\n")
            sys.stdout.flush()

    try:
        asyncio.run(follow())
    except FeedRejected as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        return 0
    return 0


# -- contacts ------------------------------------------------------------------------------

def cmd_contacts_import(args: argparse.Namespace) -> int:
    from app.core.contacts_io import import_contacts
    settings = _load_settings(args)
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    store = _open_store(args, settings)
    try:
        from tqdm import tqdm

        with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="importing", disable=None,
                  file=sys.stderr, leave=False) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            started = time.perf_counter()
            summary = import_contacts(store, path, settings.phone_normalizer(), progress=progress)
            elapsed = time.perf_counter() - started
    finally:
        store.close()
    for issue in summary.skipped:
        print(f"skipped line {issue.line}: {issue.reason}", file=sys.stderr)
    for issue in summary.warnings:
        print(f"warning line {issue.line}: {issue.reason}", file=sys.stderr)
    print(f"imported {summary.imported}, updated {summary.updated}, skipped {len(summary.skipped)}"
          f" ({elapsed:.1f} s)")
    return 0


def cmd_contacts_export(args: argparse.Namespace) -> int:
    from app.core.contacts_io import export_contacts
    store = _open_store(args, _load_settings(args))
    try:
        if args.output in (None, "-"):
            count = export_contacts(store, sys.stdout, args.format)
        else:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = export_contacts(store, out, args.format)
    finally:
        store.close()
    print(f"exported {count} contacts", file=sys.stderr)
    return 0


def cmd_contacts_find(args: argparse.Namespace) -> int:
    async def work(engine: Any) -> list[Any]:
        key = engine.normalizer.key(args.number)
        return await engine.store.read(lambda s: s.contacts.find_by_key(key))

    found = _with_engine(args, work)
    if args.json:
        _print_json([asdict(c) for c in found])
    elif not found:
        print(f"no contact has the number {args.number}", file=sys.stderr)
        return EXIT_ERROR
    for contact in [] if args.json else found:
        company = f" ({_shown(contact.company_name)})" if contact.company_name else ""
        owner = f", responsible: {_shown(contact.owner_id)}" if contact.owner_id else ""
        phones = ", ".join(_shown(p.raw) + (f" [{_shown(p.label)}]" if p.label else "") for p in contact.phones)
        print(f"#{contact.id} {_shown(contact.name)}{company}{owner}; {phones}")
    return 0


# -- history, dial, hold, users ------------------------------------------------------------

async def _remote_history(engine: Any, number: str, limit: int) -> list[dict[str, Any]]:
    """The PBX's CDRs of one number, newest first, kept in the local store too (the card's walk)."""
    from app.core.standalone import StandaloneApi

    key = engine.normalizer.key(number)
    return [record async for page in StandaloneApi(engine).history.pbx_pages([key], max_records=limit)
            for record in page.records]


def cmd_history(args: argparse.Namespace) -> int:
    from app.core.history import direction_label
    from app.core.standalone import StandaloneApi

    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    if args.remote:
        records = _with_engine(args, lambda e: _remote_history(e, args.number, args.limit))
    else:
        entries = _with_engine(args, lambda e: StandaloneApi(e).history.entries(args.number, args.limit))
        records = [entry.as_cdr() for entry in entries]
    if not args.show_links:
        from app.protocol.redact import redact

        # The query string of a recording link is its access token: a terminal, a pasted
        # transcript or a shell history keeps it (redact masks it, and tokens in the path).
        for record in records:
            if record.get("link"):
                record["link"] = redact(record["link"])
    if args.json:
        _print_json(records)
        return 0
    if not records:
        print(f"no calls with {args.number}")
        return 0
    for r in records:
        missed = " MISSED" if r.get("missed") else ""
        recording = "recording available" if r.get("link") else "no recording"
        print(f"{_when(r.get('dt'))}  {direction_label(r.get('direction')):<9}"
              f" {_shown(r.get('src')) or '-'} -> {_shown(r.get('dst')) or '-'}"
              f"  duration {r.get('duration') if r.get('duration') is not None else '-'}s"
              f"  billsec {r.get('billsec') if r.get('billsec') is not None else '-'}s"
              f"  {recording}{missed}  uniqueid {_shown(r.get('uniqueid')) or '-'}")
        if r.get("link"):
            print(f"    {_shown(r['link'])}")
    return 0


def cmd_dial(args: argparse.Namespace) -> int:
    dst = _with_engine(args, lambda e: e.dial(e.normalizer.parse(args.target)))
    print(f"calling {dst}: your phone rings first; answer it and the PBX dials the client")
    return 0


def cmd_hold(args: argparse.Namespace) -> int:
    _with_engine(args, lambda e: e.hold(args.call_id))
    print(f"hold toggled for call {args.call_id}")
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    async def work(engine: Any) -> tuple[list[Any], dict[str, Any]]:
        users = await engine.pbx.get_domain_user_list()
        team = await engine.store.read(lambda s: {u.extension: u for u in s.users.list() if u.extension})
        return users, team

    users, team = _with_engine(args, work)
    if args.json:
        _print_json([{**u.model_dump(), "crm_user": team[u.uid].id if u.uid in team else None} for u in users])
        return 0
    for user in users:
        mapped = f"  crm user {_shown(team[user.uid].id)} ({_shown(team[user.uid].name)})" if user.uid in team else ""
        print(f"{_shown(user.uid):>6}  {_shown(user.display_name)}{mapped}")
    return 0


# -- crm-users -----------------------------------------------------------------------------

def cmd_crm_users(args: argparse.Namespace) -> int:
    from app.storage import CrmUser

    async def work(engine: Any) -> Any:
        store = engine.store
        if args.crm_action == "add":
            if not args.id.strip() or not args.name.strip():
                raise CliError("a CRM user needs a non-empty id and name")
            if args.extension is not None and not args.extension.isdigit():
                raise CliError(f"an extension is digits only, not {args.extension!r}")
            await store.write(lambda s: s.users.upsert(CrmUser(args.id.strip(), args.name.strip(), args.extension)))
            return f"CRM user {args.id} saved"
        if args.crm_action == "remove":
            if not await store.write(lambda s: s.users.remove(args.id)):
                raise CliError(f"no CRM user with id {args.id!r}")
            return f"CRM user {args.id} removed"
        return await engine.crm_users(), await store.read(lambda s: {u.id: u for u in s.users.list()})

    result = _with_engine(args, work)
    if isinstance(result, str):
        print(result)
        return 0
    entries, team = result
    for entry in entries:
        user = team.get(entry["id"])
        ext = f"  extension {_shown(user.extension)}" if user and user.extension else ""
        own = "" if user else "  (this workstation)"
        print(f"{_shown(entry['id']):>8}  {_shown(entry['name'])}{ext}{own}")
    return 0


# -- keys and settings ---------------------------------------------------------------------

def cmd_keys_set(args: argparse.Namespace) -> int:
    from app.core.secrets import AGENT_TOKEN, CRM_API_KEY, KEY_TITLES, PBX_API_KEY, store_key

    names = ([n for n, wanted in ((CRM_API_KEY, args.crm), (PBX_API_KEY, args.pbx), (AGENT_TOKEN, args.agent))
              if wanted] or [CRM_API_KEY, PBX_API_KEY])
    titles = {**KEY_TITLES, AGENT_TOKEN: "agent token (from the team server's admin)"}
    for name in names:
        if sys.stdin.isatty():
            value = getpass.getpass(f"{titles[name]}: ")
        else:
            value = sys.stdin.readline().strip()
        if not value:
            raise CliError(f"no value given for the {titles[name]}")
        store_key(name, value)
        print(f"{name} stored in the OS keyring")
    return 0


def cmd_keys_read_for_app(args: argparse.Namespace) -> int:
    from app.core.secrets import read_keys_for_app

    if sys.stdout is None or sys.stdout.isatty():  # None: a windowed build started without a pipe
        raise CliError("this command hands the keys to the tray app through a pipe; it prints nothing to a terminal")
    print(read_keys_for_app())
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from app.core.settings import Settings, SettingsError, settings_path

    path = Path(args.config) if args.config else settings_path()
    if args.config_action == "path":
        print(path)
        return 0
    settings = Settings.load(path, environ={})
    if args.config_action == "show":
        from app.core.settings import ENV_OVERRIDES

        for f in fields(settings):
            if f.name == "extra":
                continue
            stored = json.dumps(getattr(settings, f.name), ensure_ascii=False)
            variable = ENV_OVERRIDES.get(f.name, "")
            from_env = os.environ.get(variable, "").strip() if variable else ""
            if from_env:  # what the app runs with: the environment's value, marked, and the file's under it
                print(f"{f.name} = {json.dumps(from_env, ensure_ascii=False)}  # from the environment ({variable});"
                      f" the file: {stored}")
            else:
                print(f"{f.name} = {stored}")
        return 0
    known = {f.name: f for f in fields(settings) if f.name != "extra"}
    if args.key not in known:
        raise CliError(f"unknown setting {args.key!r}; known: {', '.join(known)}")
    value = _setting_value(args.key, getattr(settings, args.key), args.value)
    if args.key == "start_at_login":
        raise CliError("start_at_login follows the OS's own login entry: use `pbx-companion autostart on|off`")
    setattr(settings, args.key, value)
    try:
        settings.validate()
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    settings.save(path, environ={})  # loaded without the environment's overrides: every value is the file's
    print(f"{args.key} = {json.dumps(value, ensure_ascii=False)} saved to {path}")
    return 0


_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


def _setting_value(key: str, current: Any, text: str) -> Any:
    """``text`` as the type of the setting's current value; yes/no settings take true/false words
    (``bool("false")`` would be True)."""
    if isinstance(current, bool):
        word = text.strip().lower()
        if word in _TRUE_WORDS or word in _FALSE_WORDS:
            return word in _TRUE_WORDS
        raise CliError(f"{key} must be true or false, not {text!r}")
    try:
        return type(current)(text)
    except ValueError:
        kind = {int: "an integer", float: "a number"}.get(type(current), "a string")
        raise CliError(f"{key} must be {kind}, not {text!r}") from None


# -- start at login ------------------------------------------------------------------------

def cmd_autostart(args: argparse.Namespace) -> int:
    """``autostart on|off|status``: the per-user entry that starts the tray app at login.

    The same entry the settings window's "Start at login" writes (app.core.autostart); the tray
    app's setting follows it at its next start. ``on`` passes ``--config``/``--data-dir`` on to
    the entry, so that the app starts at login with that profile.
    """
    import shlex

    from app.core.autostart import (
        autostart_for_platform,
        launch_command,
        profile_arguments,
    )

    autostart = autostart_for_platform()
    if args.autostart_action == "on":
        autostart.sync(True, launch_command(profile_arguments(args.config, args.data_dir)))
    elif args.autostart_action == "off":
        autostart.sync(False, ())
    command = autostart.current_command()
    print(f"start at login: {'on' if autostart.is_enabled() else 'off'}")
    print(f"entry: {autostart.location}{'' if autostart.exists() else ' (none)'}")
    if command:
        print(f"command: {shlex.join(command)}")
    return 0


# -- the parser ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="directory of the database (default: the per-user data dir)")
    common.add_argument("--config", help="settings file (default: settings.toml in the per-user config dir)")
    common.add_argument("--database", metavar="URL",
                        help="a team server's PostgreSQL database, postgresql://user@host/dbname (default:"
                             " $PBX_COMPANION_DATABASE_URL, else the SQLite file in the data dir)")

    parser = argparse.ArgumentParser(
        prog="pbx-companion",
        description="Companion for agents of a cloud PBX (UserCRM API). Without a command it starts the tray"
                    " app: pbx-companion [--data-dir D] [--host H] [--port P] [tel:/callto:/sip: URI ...]",
    )
    parser.add_argument("--version", action="version", version=f"pbx-companion {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the webhook listener and call journal (headless)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8765)")
    serve.add_argument("--tls-cert", help="certificate (PEM) to serve HTTPS")
    serve.add_argument("--tls-key", help="private key (PEM) of --tls-cert")
    serve.add_argument("-v", "--verbose", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)

    agents = sub.add_parser("agents", help="the team server's agents and their tokens").add_subparsers(
        dest="agents_action", required=True, metavar="ACTION")
    p = agents.add_parser("add", parents=[common], help="add an agent; prints their personal token once")
    p.add_argument("name")
    p.add_argument("--crm-user", required=True, help="the agent's CRM user id (they dial as this user)")
    p.add_argument("--extension", help="the agent's PBX extension")
    p.add_argument("--supervisor", action="store_true", help="receives every call of the team")
    p.set_defaults(func=cmd_agents)
    p = agents.add_parser("list", parents=[common], help="the agents (never their tokens)")
    p.add_argument("--all", action="store_true", help="revoked agents too")
    p.set_defaults(func=cmd_agents)
    p = agents.add_parser("revoke", parents=[common], help="revoke an agent's token; closes their connections")
    p.add_argument("name")
    p.set_defaults(func=cmd_agents)
    p = agents.add_parser("rotate", parents=[common], help="a new token for an agent (the old one stops working)")
    p.add_argument("name")
    p.set_defaults(func=cmd_agents)

    p = sub.add_parser("watch", help="print every feed message this agent receives, one JSON line each")
    p.add_argument("--server", required=True, metavar="URL", action="append",
                   help="the team server, e.g. https://pbx-team:8765 (repeat it for several server processes:"
                        " tried in turn after a connection is lost)")
    p.add_argument("--cafile", help="CA certificate (PEM) to trust for a server with its own certificate")
    p.set_defaults(func=cmd_watch)

    contacts = sub.add_parser("contacts", help="the contact directory").add_subparsers(
        dest="contacts_action", required=True, metavar="ACTION")
    p = contacts.add_parser("import", parents=[common], help="import a CSV or vCard file")
    p.add_argument("file")
    p.set_defaults(func=cmd_contacts_import)
    p = contacts.add_parser("export", parents=[common], help="export every contact")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--format", choices=("csv", "vcard"), default="csv")
    p.set_defaults(func=cmd_contacts_export)
    p = contacts.add_parser("find", parents=[common], help="contacts with this number")
    p.add_argument("number")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_contacts_find)

    p = sub.add_parser("history", parents=[common], help="a client's calls, newest first")
    p.add_argument("number")
    p.add_argument("--remote", action="store_true", help="ask the PBX (get_cdr) instead of the local journal")
    p.add_argument("--json", action="store_true", help="print CDR objects with the PBX's field names")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--show-links", action="store_true",
                   help="print recording links whole (their query string is an access token; masked by default)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("dial", parents=[common], help="click-to-dial: your phone rings, then the client's")
    p.add_argument("target", help="a number or a tel:, callto: or sip: URI")
    p.set_defaults(func=cmd_dial)

    p = sub.add_parser("hold", parents=[common], help="put a call on hold or take it off")
    p.add_argument("call_id")
    p.set_defaults(func=cmd_hold)

    p = sub.add_parser("users", parents=[common], help="the PBX's users (get_domain_user_list)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_users)

    crm = sub.add_parser("crm-users", help="the team that get_users returns").add_subparsers(
        dest="crm_action", required=True, metavar="ACTION")
    crm.add_parser("list", parents=[common]).set_defaults(func=cmd_crm_users)
    p = crm.add_parser("add", parents=[common], help="add or update a CRM user")
    p.add_argument("id")
    p.add_argument("name")
    p.add_argument("--extension", help="the PBX extension of this user")
    p.set_defaults(func=cmd_crm_users)
    p = crm.add_parser("remove", parents=[common])
    p.add_argument("id")
    p.set_defaults(func=cmd_crm_users)

    keys = sub.add_parser("keys", help="API keys in the OS keyring").add_subparsers(
        dest="keys_action", required=True, metavar="ACTION")
    p = keys.add_parser("set", help="store the keys (asked for, or read from standard input one per line)")
    p.add_argument("--crm", action="store_true", help="only the CRM API key")
    p.add_argument("--pbx", action="store_true", help="only the PBX API key")
    p.add_argument("--agent", action="store_true", help="only the agent token of a team server (watch, team mode)")
    p.set_defaults(func=cmd_keys_set)
    # For the tray app only (app.core.secrets.start_key_read): prints both keys as JSON to a pipe.
    keys.add_parser("read-for-app").set_defaults(func=cmd_keys_read_for_app)

    config = sub.add_parser("config", help="the settings file").add_subparsers(
        dest="config_action", required=True, metavar="ACTION")
    for name in ("show", "path"):
        config.add_parser(name, parents=[common]).set_defaults(func=cmd_config)
    p = config.add_parser("set", parents=[common])
    p.add_argument("key")
    p.add_argument("value")
    p.set_defaults(func=cmd_config)

    autostart = sub.add_parser("autostart", help="start the tray app at login (the per-user autostart entry)"
                               ).add_subparsers(dest="autostart_action", required=True, metavar="ACTION")
    autostart.add_parser("on", parents=[common], help="start at login (with --config/--data-dir if given)"
                         ).set_defaults(func=cmd_autostart)
    autostart.add_parser("off", help="do not start at login").set_defaults(func=cmd_autostart)
    autostart.add_parser("status", help="whether and how the app starts at login").set_defaults(func=cmd_autostart)
    return parser


def _run_tray(argv: list[str]) -> int:
    from app.core.settings import SettingsError
    from app.protocol.redact import redact

    try:
        if _forwarded_to_running_app(argv):
            return 0
        from app.core.secrets import start_key_read

        keys = start_key_read()  # the keyring is read in a child process while the app loads
        from app.main import run_tray
    except ImportError as exc:  # Qt libraries missing on this machine
        print(f"pbx-companion: error: the tray app cannot start ({exc}); `pbx-companion serve` runs headless",
              file=sys.stderr)
        return EXIT_ERROR
    try:
        return run_tray(argv, keys)
    except (SettingsError, OSError) as exc:
        print(f"pbx-companion: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_ERROR


def _user_errors() -> tuple[type[BaseException], ...]:
    from app.core.contacts_io import ImportFormatError
    from app.core.engine import NotConfigured
    from app.core.secrets import SecretsError
    from app.core.settings import SettingsError
    from app.pbx import PbxError
    from app.protocol.phones import PhoneError
    from app.storage import StorageError

    return (CliError, ImportFormatError, NotConfigured, SecretsError, SettingsError, PbxError, PhoneError,
            StorageError, OSError)


SUBCOMMANDS = frozenset({"serve", "agents", "watch", "contacts", "history", "dial", "hold", "users", "crm-users",
                         "keys", "config", "autostart"})


def _forwarded_to_running_app(argv: list[str]) -> bool:
    """The fast path of a clicked link: the running tray app takes the arguments (see
    :func:`app.ui.instance.forward_to_running`). Options are read as the tray app reads them
    (:mod:`app.options`); anything odd falls through to the full start, which reports it."""
    from app.core.settings import SettingsError
    from app.options import parse_known, tray_settings

    try:
        settings = tray_settings(parse_known(argv))
    except (SystemExit, SettingsError):  # a malformed option or setting: the full start reports it in one line
        return False
    if not settings.data_path.is_dir():
        return False
    from app.protocol.phones import is_phone_link
    from app.ui.instance import forward_to_running

    uris = [a for a in argv if is_phone_link(a)]
    return forward_to_running(settings.data_path, uris)


def _wants_tray(argv: Sequence[str]) -> bool:
    """No subcommand (options and tel:/callto:/sip: links only) starts the tray app."""
    from app.options import VALUE_OPTIONS
    from app.protocol.phones import is_phone_link

    previous = ""
    for token in argv:
        if token in ("-h", "--help", "--version"):
            return False
        if not token.startswith("-") and previous not in VALUE_OPTIONS:
            if token in SUBCOMMANDS or not is_phone_link(token):
                return False
        previous = token
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _wants_tray(argv):
        return _run_tray(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from app.protocol.redact import redact

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("pbx-companion: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pbx-companion history --json | head`: the reader has had enough
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0
    except _user_errors() as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.strerror or message}: {exc.filename}"
        print(f"pbx-companion: error: {redact(message)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line for the user, the details in the log
        log.debug("internal error", exc_info=True)
        print(f"pbx-companion: internal error: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return EXIT_INTERNAL
