"""The team server's packaging (packaging/linux/server/) and its README section agree with the program.

The unit's command lines go through the real argument parser, every variable of the environment
file is one the program reads, and the README's admin commands parse too: a renamed option, a
dropped variable or a new ``agents`` subcommand fails here instead of on an administrator's server.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from app.cli import build_parser, cmd_serve
from app.core import settings as settings_module
from app.core.secrets import ENV_AGENT_TOKEN, ENV_VARS

ROOT = Path(__file__).resolve().parents[1]
SERVER_DIR = ROOT / "packaging" / "linux" / "server"
UNIT = SERVER_DIR / "pbx-companion-server.service"
ENV_EXAMPLE = SERVER_DIR / "server.env.example"
SYSUSERS = SERVER_DIR / "pbx-companion-server.sysusers"
README = ROOT / "README.md"
APP = ROOT / "app"

SERVICE_USER = "pbx-companion"
ENV_FILE = "/etc/pbx-companion/server.env"
VARIABLE = re.compile(r"\bPBX_COMPANION_[A-Z0-9_]+\b")


# -- reading the files -----------------------------------------------------------------------

def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values, in order]}} (keys may repeat, as in systemd).

    Fails on anything systemd would not read as a section, an assignment, a comment or a blank line.
    """
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"line {number}: no continuation lines, please: {raw!r}"
        header = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if header:
            assert header[1] not in sections, f"line {number}: section [{header[1]}] twice"
            current = sections[header[1]] = {}
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()), f"line {number}: not KEY=value: {raw!r}"
        assert current is not None, f"line {number}: an assignment before the first [Section]"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def one(section: dict[str, list[str]], key: str) -> str:
    values = [v for v in section.get(key, []) if v]
    assert len(values) == 1, f"{key}= should be set exactly once, is {section.get(key)}"
    return values[0]


def commented_exec_starts() -> list[str]:
    """The ``ExecStart=`` lines of the drop-ins the unit's comments show (the TLS one)."""
    lines = []
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#\s*ExecStart=(\S.*)", raw.strip())
        if match:
            lines.append(match[1])
    return lines


def parse_cli(argv: list[str]) -> argparse.Namespace:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"the program's parser refuses {shlex.join(argv)} (exit {exc.code})")


def serve_arguments(command_line: str) -> tuple[str, argparse.Namespace]:
    """The executable of an ``ExecStart=`` command line and its arguments as the program reads them."""
    words = shlex.split(command_line.replace("%d", "/run/credentials/pbx-companion-server.service"))
    assert words and not words[0].startswith(("-", "@", ":", "+", "!")), "no ExecStart prefixes expected"
    return words[0], parse_cli(words[1:])


def team_server_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Team server\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, "README.md has no '## Team server' section followed by another '## ' section"
    return match[1]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def admin_function() -> tuple[list[str], list[str]]:
    """The README's ``pbxc`` shell function: (the words before ``"$@"``, the words after it)."""
    match = re.search(r"^pbxc\(\) \{ (.*?);? \}$", team_server_section(), re.M)
    assert match, "the Team server section defines no one-line `pbxc() { ... }` function"
    words = shlex.split(match[1])
    assert "$@" in words, "pbxc must pass its arguments on with \"$@\""
    at = words.index("$@")
    return words[:at], words[at + 1:]


def admin_commands() -> list[list[str]]:
    """Every ``pbxc …`` command line of the README's Team server section, as words (comments dropped)."""
    commands = []
    for line in team_server_section().splitlines():
        if line.startswith("pbxc "):
            commands.append(shlex.split(line, comments=True)[1:])
    return commands


def source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(APP.rglob("*.py")))


# -- the unit --------------------------------------------------------------------------------

def test_the_unit_has_the_keys_a_team_server_needs() -> None:
    sections = unit()
    assert set(sections) == {"Unit", "Service", "Install"}
    service = sections["Service"]
    assert one(service, "User") == SERVICE_USER
    assert one(service, "EnvironmentFile") == ENV_FILE  # no "-" prefix: a missing file must stop the start
    assert one(service, "Restart") == "on-failure"
    assert one(service, "KillSignal") == "SIGTERM"
    assert " serve " in f" {one(service, 'ExecStart')} "
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "StateDirectory": "pbx-companion"}.items():
        assert one(service, key) == value, key
    after = " ".join(sections["Unit"].get("After", [])).split()
    assert {"network-online.target", "postgresql.service"} <= set(after)
    assert "network-online.target" in " ".join(sections["Unit"].get("Wants", []))  # After= alone does not pull it in
    assert one(sections["Install"], "WantedBy") == "multi-user.target"


def test_the_unit_holds_no_secret() -> None:
    """Keys go to the root-only environment file only; the unit is world-readable."""
    text = UNIT.read_text(encoding="utf-8")
    for name in (*ENV_VARS.values(), ENV_AGENT_TOKEN):
        assert not re.search(rf"^\s*Environment=.*{name}", text, re.M), name
    assert "pbxa_" not in text


def test_the_units_command_line_is_accepted_by_the_real_parser() -> None:
    executable, args = serve_arguments(one(unit()["Service"], "ExecStart"))
    assert executable == "/opt/pbx-companion-server/venv/bin/pbx-companion"
    assert args.command == "serve" and args.func is cmd_serve
    assert (args.host, args.port) == ("0.0.0.0", 8765)
    assert args.data_dir == "/var/lib/pbx-companion"  # the StateDirectory=
    assert args.tls_cert is None and args.tls_key is None


def test_the_tls_drop_in_in_the_units_comment_is_accepted_too() -> None:
    lines = commented_exec_starts()
    assert lines, "the unit's comment should show the TLS drop-in's ExecStart="
    plain_executable, plain = serve_arguments(one(unit()["Service"], "ExecStart"))
    for line in lines:
        executable, args = serve_arguments(line)
        assert executable == plain_executable
        assert args.tls_cert and args.tls_key and args.tls_cert != args.tls_key
        for name in ("host", "port", "config", "data_dir", "database"):  # the same server, only with TLS
            assert getattr(args, name) == getattr(plain, name), name


def test_the_system_user_is_the_units_user() -> None:
    entries = [line.split() for line in SYSUSERS.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    assert [(e[0], e[1]) for e in entries] == [("u", SERVICE_USER)]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on a copy whose ExecStart= points at this checkout's program
    (verify wants the executable to exist). It exits 0 on unknown keys, so its words are checked."""
    executable, _ = serve_arguments(one(unit()["Service"], "ExecStart"))
    program = shutil.which("pbx-companion") or str(ROOT / ".venv" / "bin" / "pbx-companion")
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(executable, program), encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True,
                            timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


# -- the environment file --------------------------------------------------------------------

def test_every_variable_of_the_environment_file_is_one_the_program_reads() -> None:
    named = set(VARIABLE.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))
    assert named, "server.env.example names no PBX_COMPANION_ variable"
    source = source_text()
    unread = sorted(name for name in named if f'"{name}"' not in source)
    assert unread == [], f"server.env.example names variables no module of app/ reads: {unread}"


def test_the_environment_file_sets_every_variable_the_server_needs() -> None:
    assigned = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and name == name.strip() and VARIABLE.fullmatch(name), f"not NAME=value: {line!r}"
            assigned[name] = value
    needed = {*ENV_VARS.values(), settings_module.ENV_DATABASE_URL, settings_module.ENV_PBX_URL}
    assert needed <= set(assigned), sorted(needed - set(assigned))
    for name in ENV_VARS.values():  # placeholders, never a real-looking key
        assert "CHANGE-ME" in assigned[name], name
    assert assigned[settings_module.ENV_DATABASE_URL].startswith("postgresql://")


def test_the_environment_file_says_it_is_root_only() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert re.search(r"install -m 0600 -o root -g root \S*server\.env\.example " + re.escape(ENV_FILE), text)


# -- the README ------------------------------------------------------------------------------

def test_the_readme_section_mentions_every_agents_subcommand() -> None:
    agents = subcommands(subcommands(build_parser())["agents"])
    assert len(agents) >= 4  # add, list, revoke, rotate when this was written
    section = team_server_section()
    missing = [name for name in agents if not re.search(rf"\bagents {re.escape(name)}\b", section)]
    assert missing == [], f"README.md's Team server section does not mention agents {missing}"


def test_the_readme_admin_commands_run_the_units_program_as_its_user() -> None:
    before, _ = admin_function()
    executable, _ = serve_arguments(one(unit()["Service"], "ExecStart"))
    assert before == ["sudo", "-u", SERVICE_USER, executable]
    assert executable in team_server_section()


def test_every_readme_admin_command_is_accepted_by_the_real_parser() -> None:
    _, options = admin_function()
    commands = admin_commands()
    assert len(commands) >= 5
    for words in commands:
        args = parse_cli([*words, *options])
        assert args.database == "postgresql:///pbx_companion?host=/var/run/postgresql"
        assert args.config == "/etc/pbx-companion/settings.toml"
    _, served = serve_arguments(one(unit()["Service"], "ExecStart"))
    assert parse_cli([*commands[0], *options]).config == served.config  # the admin sees the server's settings


def test_the_readme_uses_the_database_url_of_the_environment_file() -> None:
    url = next(line.partition("=")[2] for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
               if line.startswith(f"{settings_module.ENV_DATABASE_URL}="))
    assert url in admin_function()[1]


# -- the license ---------------------------------------------------------------------------------

def test_the_project_is_mit_licensed_in_every_place_that_says_so() -> None:
    """LICENSE at the root, the package metadata (PEP 639: an SPDX expression, which setuptools
    reads from 77 on: the build-system floor), and the installers' own metadata."""
    import tomllib

    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) ") and "pbx-companion developers" in text.splitlines()[2]
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"
    assert project["project"]["license-files"] == ["LICENSE"]
    [setuptools] = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert int(re.fullmatch(r"setuptools>=(\d+)", setuptools)[1]) >= 77  # type: ignore[index]
    # the bundle is built from a copy of the sources: LICENSE must be in it, and its setuptools new enough
    bundle = (ROOT / "packaging" / "bundle.sh").read_text(encoding="utf-8")
    assert re.search(r'^cp -r app pyproject.toml README.md LICENSE "\$SRC/"$', bundle, re.MULTILINE)
    assert 'SETUPTOOLS_PIN="setuptools>=77"' in bundle
    metainfo = (ROOT / "packaging" / "linux" / "org.pbxcompanion.PbxCompanion.metainfo.xml").read_text(encoding="utf-8")
    assert "<project_license>MIT</project_license>" in metainfo
    deb = (ROOT / "packaging" / "linux" / "build-deb.sh").read_text(encoding="utf-8")
    assert ".invalid" not in deb and "dev@pbx-companion.org" in deb and "copyright-format/1.0" in deb
