"""The team server's commands as an admin types them: agents, serve --database, watch (real processes)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.test_cli import Cli, assert_user_error, check_ok, make_cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def test_agents_add_prints_a_token_once_and_stores_only_its_hash(cli: Cli):
    added = check_ok(cli.run("agents", "add", "Rita Petrova", "--crm-user", "3", "--extension", "9022"))
    token = added.stdout.strip()
    assert re.fullmatch(r"pbxa_[A-Za-z0-9_-]{43}", token)  # 32 random bytes, URL-safe
    assert "shown only now" in added.stderr and token not in added.stderr
    listed = check_ok(cli.run("agents", "list"))
    assert "Rita Petrova" in listed.stdout and "9022" in listed.stdout and token not in listed.stdout
    database = cli.data_dir / "pbx-companion.sqlite3"
    assert token.encode() not in database.read_bytes()
    with sqlite3.connect(database) as conn:
        (stored,) = conn.execute("SELECT token_hash FROM agents").fetchone()
    assert len(stored) == 64 and stored != token


def test_agents_mistakes_get_one_line_and_a_non_zero_exit(cli: Cli):
    check_ok(cli.run("agents", "add", "Rita", "--crm-user", "3"))
    assert_user_error(cli.run("agents", "add", "rita", "--crm-user", "4"), "exists already")
    assert_user_error(cli.run("agents", "add", "Bad\nName", "--crm-user", "4"), "name")
    assert_user_error(cli.run("agents", "revoke", "Nobody"), "no agent named 'Nobody'")
    assert_user_error(cli.run("agents", "rotate", "Nobody"), "no agent named")


def test_revoke_and_rotate(cli: Cli):
    first = check_ok(cli.run("agents", "add", "Rita", "--crm-user", "3")).stdout.strip()
    second = check_ok(cli.run("agents", "rotate", "Rita")).stdout.strip()
    assert second != first and second.startswith("pbxa_")
    assert "revoked Rita" in check_ok(cli.run("agents", "revoke", "Rita")).stdout
    assert "Rita" not in check_ok(cli.run("agents", "list")).stdout
    assert "revoked" in check_ok(cli.run("agents", "list", "--all")).stdout
    again = check_ok(cli.run("agents", "add", "Rita", "--crm-user", "3")).stdout.strip()  # the name is free again
    assert again not in (first, second)


def test_agents_on_postgresql_through_the_environment(cli: Cli, postgres_url: str):
    cli.env["PBX_COMPANION_DATABASE_URL"] = postgres_url
    check_ok(cli.run("agents", "add", "Boris", "--crm-user", "4", "--supervisor"))
    assert "supervisor" in check_ok(cli.run("agents", "list")).stdout
    assert not (cli.data_dir / "pbx-companion.sqlite3").exists()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT name, supervisor FROM agents").fetchall() == [("Boris", 1)]


def test_a_database_that_cannot_be_reached_is_one_line_without_its_password(cli: Cli, tmp_path: Path):
    url = f"postgresql://admin:s3cret-pw@/pbx?host={tmp_path / 'no-server'}&port=5999"
    line = assert_user_error(cli.run("agents", "list", "--database", url), "cannot connect to the database")
    assert "s3cret-pw" not in line
    serve = cli.run("serve", "--database", url, "--port", "0", timeout=30)
    assert serve.returncode != 0 and "s3cret-pw" not in serve.stderr + serve.stdout
    assert "Traceback" not in serve.stderr


def test_a_postgresql_schema_newer_than_the_program_is_refused(cli: Cli, postgres_url: str):
    check_ok(cli.run("agents", "list", "--database", postgres_url))  # creates the schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE pbx_companion_schema SET version = version + 1")
    assert_user_error(cli.run("agents", "list", "--database", postgres_url), "newer pbx-companion")


def test_watch_without_a_token_or_with_a_bad_server_url(cli: Cli):
    env = {k: v for k, v in cli.env.items() if k != "PBX_COMPANION_AGENT_TOKEN"}
    cli.env = env
    assert_user_error(cli.run("watch", "--server", "https://team.example:8765", common=False),
                      "PBX_COMPANION_AGENT_TOKEN")
    cli.env["PBX_COMPANION_AGENT_TOKEN"] = "pbxa_x"
    assert_user_error(cli.run("watch", "--server", "team.example:8765", common=False), "http:// or https://")
