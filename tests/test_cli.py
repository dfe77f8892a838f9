"""The ``pbx-companion`` command line, end to end, as real subprocesses.

Every run is ``python -m app ...`` with its own data dir and settings file, the canary keys in
its environment (see conftest) and, where the PBX is involved, a real fake PBX
(:class:`tests.fakes.fake_pbx.FakePbx`) listening on loopback in this process.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app import __version__
from app.core.settings import ENV_CRM_USER, ENV_PBX_URL
from app.protocol.cdr import CDR_FIELDS
from tests.fakes.fake_pbx import FakePbx, make_cdr, refused_url
from tests.support import canary
from tests.support.webhook import AUTH, call_body, cdr_body, envelope

CRM_USER = "3"
CLIENT = "+74952523060"
#: Other spellings of CLIENT an agent or the OS may hand over.
CLIENT_FORMS = ("8 495 252-30-60", "4952523060", "tel:+7-495-252-30-60", "+7 (495) 252 30 60", "callto:84952523060")
RUN_TIMEOUT = 60


# -- running the CLI -----------------------------------------------------------------------------

@dataclass
class Cli:
    """Runs ``python -m app`` with a per-test data dir and settings file."""

    data_dir: Path
    config: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, common: bool = True, env: dict[str, str] | None = None,
            timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """``common``: append ``--data-dir``/``--config`` (every subcommand but ``keys`` has them)."""
        argv = [sys.executable, "-m", "app", *args]
        if common:
            argv += ["--data-dir", str(self.data_dir), "--config", str(self.config)]
        return subprocess.run(argv, env=self.env if env is None else env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, encoding="utf-8", timeout=timeout, check=False)

    def run_all(self, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        """Independent commands run side by side (separate processes, same data dir); results in order."""
        procs = []
        for args in commands:
            argv = [sys.executable, "-m", "app", *args, "--data-dir", str(self.data_dir), "--config", str(self.config)]
            procs.append((argv, subprocess.Popen(argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                 encoding="utf-8")))
        results = []
        for argv, proc in procs:
            try:
                out, err = proc.communicate(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise
            results.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
        return results

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        proc = self.run(*args, **kwargs)
        check_ok(proc)
        return proc


def check_ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_PBX_URL, ENV_CRM_USER)}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def make_cli(root: Path, **env: str) -> Cli:
    root.mkdir(parents=True, exist_ok=True)
    return Cli(data_dir=root / "data", config=root / "settings.toml", cwd=root, env=_env(**env))


def assert_user_error(proc: subprocess.CompletedProcess[str], *fragments: str, status: int = 1) -> str:
    """One line on stderr, ``pbx-companion: error: ...``, the exit status, no traceback; returns the line."""
    assert proc.returncode == status, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    assert lines[0].startswith("pbx-companion: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert canary.PBX_KEY not in proc.stderr and canary.CRM_KEY not in proc.stderr
    return lines[0]


@pytest.fixture
def fake_pbx() -> Iterator[FakePbx]:
    fake = FakePbx(api_key=canary.PBX_KEY)
    fake.start_in_thread()
    try:
        yield fake
    finally:
        fake.stop_thread()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI of a workstation configured only through the environment: CRM user 3, no PBX URL."""
    return make_cli(tmp_path, **{ENV_CRM_USER: CRM_USER})


@pytest.fixture
def pbx_cli(cli: Cli, fake_pbx: FakePbx) -> Cli:
    """:func:`cli` with the fake PBX's URL."""
    cli.env[ENV_PBX_URL] = fake_pbx.url
    return cli


# -- dial and hold -------------------------------------------------------------------------------

def test_dial_sends_one_make_call(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    proc = pbx_cli.ok("dial", "89066800404")
    assert fake_pbx.actions() == ["make_call"]
    assert fake_pbx.requests[0]["params"] == {"crm_user_id": CRM_USER, "dst": "89066800404"}
    assert fake_pbx.requests[0]["obj"] == "UserCRM"
    assert fake_pbx.auth_headers == [f"Bearer {canary.PBX_KEY}"]
    assert fake_pbx.calls == [{"crm_user_id": CRM_USER, "dst": "89066800404"}]
    assert "89066800404" in proc.stdout and "your phone rings first" in proc.stdout
    assert canary.PBX_KEY not in proc.stdout + proc.stderr


def test_dial_links_from_the_os(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    # run side by side: every one succeeds (needs a reply) and the PBX saw exactly as many
    # requests as commands, so each command sent exactly one make_call
    targets = ("tel:+7%20906%20680-04-04", "callto:+79066800404", "sip:79066800404@pbx.example.com",
               "callto://89066800404")
    for target, proc in zip(targets, pbx_cli.run_all(*(("dial", t) for t in targets)), strict=True):
        assert "calling 89066800404: your phone rings first" in check_ok(proc).stdout, target
    assert fake_pbx.actions() == ["make_call"] * len(targets)
    assert fake_pbx.calls == [{"crm_user_id": CRM_USER, "dst": "89066800404"}] * len(targets)
    assert fake_pbx.auth_headers == [f"Bearer {canary.PBX_KEY}"] * len(targets)


def test_dial_a_foreign_number_sends_plus_e164(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    proc = pbx_cli.ok("dial", "+1 415 555 0100")
    assert fake_pbx.calls == [{"crm_user_id": CRM_USER, "dst": "+14155550100"}]
    assert len(fake_pbx.requests) == 1
    assert "+14155550100" in proc.stdout


def test_dial_rejected_by_the_pbx(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.mode = "reject"
    proc = pbx_cli.run("dial", "89066800404")
    assert_user_error(proc, "refused to place the call", fake_pbx.reject_message)
    assert proc.stdout == ""  # no "your phone rings" when it will not
    assert len(fake_pbx.requests) == 1


@pytest.mark.slow
def test_dial_without_an_answer_reports_outcome_unknown_and_never_resends(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.mode = "hang"
    started = time.monotonic()
    proc = pbx_cli.run("dial", "89066800404", timeout=40)
    elapsed = time.monotonic() - started

    line = assert_user_error(proc, "It is not known whether the PBX", "placed the call", "do not call again")
    assert "your phone may ring" in line
    assert len(fake_pbx.requests) == 1, "make_call was sent again: the agent's phone would ring twice"
    assert elapsed < 30


def test_dial_with_the_pbx_unreachable(cli: Cli) -> None:
    url = refused_url()
    proc = cli.run("dial", "89066800404", env=dict(cli.env, **{ENV_PBX_URL: url}))
    assert_user_error(proc, "could not be reached", url.removeprefix("http://"))


def test_dial_without_a_pbx_url(cli: Cli, fake_pbx: FakePbx) -> None:
    proc = cli.run("dial", "89066800404")
    assert_user_error(proc, "PBX URL is not set", ENV_PBX_URL)
    assert fake_pbx.requests == []


def test_dial_without_a_crm_user(cli: Cli, fake_pbx: FakePbx) -> None:
    env = _env(**{ENV_PBX_URL: fake_pbx.url})
    proc = cli.run("dial", "89066800404", env=env)
    assert_user_error(proc, "CRM user is not set", ENV_CRM_USER)
    assert fake_pbx.requests == []


def test_dial_a_bad_number(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    targets = ("abc", "mailto:boss@example.com", "134-30-60")
    for target, proc in zip(targets, pbx_cli.run_all(*(("dial", t) for t in targets)), strict=True):
        assert_user_error(proc, repr(target), "is not a phone number")
    assert fake_pbx.requests == []


def test_hold_sends_one_switch_call_hold(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    proc = pbx_cli.ok("hold", "call-42.1")
    assert fake_pbx.actions() == ["switch_call_hold"]
    assert fake_pbx.holds == [{"crm_user_id": CRM_USER, "call_id": "call-42.1"}]
    assert fake_pbx.auth_headers == [f"Bearer {canary.PBX_KEY}"]
    assert "call-42.1" in proc.stdout


def test_hold_rejected(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.mode = "http400"
    assert_user_error(pbx_cli.run("hold", "gone"), "refused to switch hold on the call")
    assert len(fake_pbx.requests) == 1


# -- users and crm-users -------------------------------------------------------------------------

def test_users_lists_the_pbx_users_with_the_crm_mapping(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.users = [
        {"user_name": "Анна", "user_surname": "Сидорова", "uid": "9022", "id": 4001, "proto": 0},
        {"user_name": "Иванов", "user_surname": "", "uid": "777", "id": 3103, "proto": 0},
    ]
    pbx_cli.ok("crm-users", "add", "3", "Agent", "--extension", "9022")

    human, as_json = pbx_cli.run_all(("users",), ("users", "--json"))
    lines = check_ok(human).stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\s*9022\s+Анна Сидорова\s+crm user 3 \(Agent\)", lines[0]), lines[0]
    assert re.fullmatch(r"\s*777\s+Иванов", lines[1]), lines[1]

    data = json.loads(check_ok(as_json).stdout)
    assert [(u["uid"], u["user_name"], u["crm_user"]) for u in data] == [("9022", "Анна", "3"), ("777", "Иванов", None)]
    assert fake_pbx.actions() == ["get_domain_user_list", "get_domain_user_list"]
    assert all(h == f"Bearer {canary.PBX_KEY}" for h in fake_pbx.auth_headers)


def test_users_when_the_pbx_answers_html(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.mode = "html"
    assert_user_error(pbx_cli.run("users"), "load the list of PBX users", "HTML")


def _crm_lines(cli: Cli) -> dict[str, str]:
    out = cli.ok("crm-users", "list").stdout
    entries: dict[str, str] = {}
    for line in out.splitlines():
        user_id, rest = line.strip().split(None, 1)
        assert user_id not in entries, f"{user_id} listed twice:\n{out}"
        entries[user_id] = rest
    return entries


def test_crm_users_add_list_remove(cli: Cli) -> None:
    # an empty team still has this workstation's own user (what get_users answers the PBX)
    assert _crm_lines(cli) == {"3": "CRM user 3  (this workstation)"}

    add3, add5 = cli.run_all(("crm-users", "add", "3", "Agent", "--extension", "9022"),
                             ("crm-users", "add", "5", "Борис Борисов"))
    assert check_ok(add3).stdout.strip() == "CRM user 3 saved"
    check_ok(add5)
    cli.ok("crm-users", "add", "5", "Борис", "--extension", "9023")  # an update, not a second entry
    assert _crm_lines(cli) == {"3": "Agent  extension 9022", "5": "Борис  extension 9023"}

    removed, unknown = cli.run_all(("crm-users", "remove", "5"), ("crm-users", "remove", "99"))
    assert check_ok(removed).stdout.strip() == "CRM user 5 removed"
    assert_user_error(unknown, "no CRM user with id '99'")
    assert _crm_lines(cli) == {"3": "Agent  extension 9022"}


def test_crm_users_own_user_and_validation(cli: Cli) -> None:
    cli.ok("crm-users", "add", "5", "Борис")
    cli.env[ENV_CRM_USER] = "12"  # this workstation's user is not in the team
    listed, bad_extension, blank_name = cli.run_all(("crm-users", "list"),
                                                    ("crm-users", "add", "7", "X", "--extension", "90a2"),
                                                    ("crm-users", "add", "7", "  "))
    out = check_ok(listed).stdout
    assert re.search(r"^\s*12\s+CRM user 12\s+\(this workstation\)$", out, re.M), out
    assert re.search(r"^\s*5\s+Борис$", out, re.M), out
    assert_user_error(bad_extension, "extension is digits only")
    assert_user_error(blank_name, "non-empty id and name")
    assert set(_crm_lines(cli)) == {"12", "5"}


# -- history from the local journal (fed through `serve`) ------------------------------------------

def _read_line(stream: Any, timeout: float) -> str:
    box: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: box.put(stream.readline()), daemon=True).start()
    try:
        return box.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line on stdout within {timeout} s") from None


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(url: str, message: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST",
                                     headers={**AUTH, "Content-Type": "application/json"})
    with _NO_PROXY.open(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@dataclass
class Journal:
    cli: Cli
    cdr_dt: float


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    """A data dir whose journal ``serve`` filled from real webhook posts, then stopped."""
    root = tmp_path_factory.mktemp("journal")
    jcli = make_cli(root, **{ENV_CRM_USER: CRM_USER})
    log_path = root / "serve.log"
    with open(log_path, "w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", "0", "-v", "--data-dir", str(jcli.data_dir),
             "--config", str(jcli.config)],
            env=jcli.env, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file,
            text=True, encoding="utf-8",
        )
        try:
            first = _read_line(proc.stdout, 20)
            match = re.search(r"webhook listening on (\S+)$", first.strip())
            assert match, f"unexpected first line: {first!r}; log:\n{log_path.read_text()}"
            url = match.group(1)
            assert re.fullmatch(r"http://127\.0\.0\.1:(\d+)/webhook", url) and not url.endswith(":0/webhook"), url

            cdr_dt = float(int(time.time()) - 5)
            messages = [
                # call-a: answered, then its CDR (uniqueid = call_id) with a recording
                envelope("call_ringing", call_body("call-a", other_leg=CLIENT)),
                envelope("call_answer", call_body("call-a", other_leg=CLIENT)),
                envelope("call_hangup", call_body("call-a", other_leg=CLIENT, gateway_number="74951343060",
                                                  hangup_cause="NORMAL_CLEARING", variable_answersec=3)),
                envelope("cdr_append", cdr_body("call-a", src=CLIENT, dt=cdr_dt)),
                # an old call of the same client known only by its CDR, in another spelling
                envelope("cdr_append", cdr_body("old-cdr-1", src="84952523060", dt=1633333012.0, duration=61,
                                                billsec=55)),
                # another client: must not show up
                envelope("call_ringing", call_body("call-x", other_leg="+74951112233")),
                envelope("cdr_append", cdr_body("other-cdr", src="+74951112233", dt=cdr_dt - 100)),
                # call-b: rang and hung up unanswered, no CDR yet (the newest: it rang last)
                envelope("call_ringing", call_body("call-b", other_leg="8 (495) 252-30-60")),
                envelope("call_hangup", call_body("call-b", other_leg="8 (495) 252-30-60",
                                                  gateway_number="74951343060", hangup_cause="NO_ANSWER")),
            ]
            for message in messages:
                status, reply = _post(url, message)
                assert status == 200 and reply.get("code") == 200, (message["action"], status, reply)
                time.sleep(0.01)  # distinct receive times
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                status = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                raise AssertionError("serve did not exit within 5 s of SIGTERM") from None
            finally:
                assert proc.stdout is not None
                rest = proc.stdout.read()
                proc.stdout.close()
    assert status == 0, f"serve exited with {status}; log:\n{log_path.read_text()}"
    assert "database:" in rest
    log_text = log_path.read_text(encoding="utf-8")
    assert "Traceback" not in log_text
    assert "cdr_append uniqueid=call-a" in log_text  # serve logged the events it took
    return Journal(jcli, cdr_dt)


def _history(cli: Cli, *args: str) -> list[dict[str, Any]]:
    return json.loads(cli.ok("history", *args, "--json").stdout)


def test_history_json_from_the_local_journal(journal: Journal) -> None:
    records = _history(journal.cli, CLIENT)

    assert isinstance(records, list) and len(records) == 3
    for record in records:
        assert set(CDR_FIELDS) <= set(record), sorted(set(CDR_FIELDS) - set(record))
    assert [r["uniqueid"] for r in records] == [None, "call-a", "old-cdr-1"]  # newest first
    assert records[0]["dt"] > records[1]["dt"] > records[2]["dt"]

    missed, answered, old = records
    assert missed["missed"] is True and missed["call_id"] == "call-b" and missed["link"] is None
    assert missed["direction"] == 0 and missed["billsec"] in (None, 0)
    assert answered["dt"] == journal.cdr_dt and answered["direction"] == 0
    assert (answered["duration"], answered["billsec"]) == (14, 3)
    # where the recording is, without its access token (--show-links prints it whole)
    assert answered["link"] == "https://pbx.example.com/get_file?***"
    assert answered["call_id"] == "call-a" and answered["missed"] is False
    assert (old["src"], old["duration"], old["billsec"], old["dt"]) == ("84952523060", 61, 55, 1633333012.0)
    assert all(r.get("uniqueid") != "other-cdr" and r.get("call_id") != "call-x" for r in records)


def test_history_is_the_same_for_every_spelling_of_the_number(journal: Journal) -> None:
    forms = (CLIENT, *CLIENT_FORMS)
    results = [json.loads(check_ok(p).stdout) for p in journal.cli.run_all(*(("history", f, "--json") for f in forms))]
    assert len(results[0]) == 3
    for form, records in zip(forms, results, strict=True):
        assert records == results[0], form


def test_history_limit(journal: Journal) -> None:
    one, two, zero = journal.cli.run_all(("history", CLIENT, "--limit", "1", "--json"),
                                         ("history", CLIENT, "--limit", "2", "--json"),
                                         ("history", CLIENT, "--limit", "0"))
    assert [r["call_id"] for r in json.loads(check_ok(one).stdout)] == ["call-b"]
    assert [r["call_id"] for r in json.loads(check_ok(two).stdout)] == ["call-b", "call-a"]
    assert_user_error(zero, "--limit must be at least 1")


def test_history_human_form_one_line_per_call(journal: Journal) -> None:
    full, limited = journal.cli.run_all(("history", "8 495 252-30-60"), ("history", CLIENT, "--limit", "1"))
    out = check_ok(full).stdout
    lines = out.splitlines()
    calls = [line for line in lines if not line.startswith(" ")]
    assert len(calls) == 3, out
    assert "MISSED" in calls[0] and "no recording" in calls[0] and "incoming" in calls[0]
    assert "uniqueid call-a" in calls[1] and "recording available" in calls[1] and "MISSED" not in calls[1]
    assert "duration 14s" in calls[1] and "billsec 3s" in calls[1]
    assert "uniqueid old-cdr-1" in calls[2] and "duration 61s" in calls[2]
    # continuation lines (the recording link) are indented under their call
    assert all(line.startswith("    ") for line in lines if line not in calls)

    one = check_ok(limited).stdout.splitlines()
    assert len([line for line in one if not line.startswith(" ")]) == 1 and "MISSED" in one[0]


def test_history_masks_the_recording_token_unless_asked_to_show_links(journal: Journal) -> None:
    human, as_json, shown, shown_json = journal.cli.run_all(
        ("history", CLIENT), ("history", CLIENT, "--json"), ("history", CLIENT, "--show-links"),
        ("history", CLIENT, "--json", "--show-links"))
    for proc in (human, as_json):
        out = check_ok(proc).stdout
        assert canary.LINK_TOKEN not in out + proc.stderr
        assert "pbx.example.com/get_file?***" in out
    assert f"    {canary.RECORDING_LINK}\n" in check_ok(shown).stdout
    assert [r["link"] for r in json.loads(check_ok(shown_json).stdout)] == [None, *[canary.RECORDING_LINK] * 2]


def test_history_of_a_number_without_calls(journal: Journal) -> None:
    human, as_json = journal.cli.run_all(("history", "+7 495 999-99-99"), ("history", "+7 495 999-99-99", "--json"))
    assert check_ok(human).stdout.strip() == "no calls with +7 495 999-99-99"
    assert json.loads(check_ok(as_json).stdout) == []


def test_history_of_a_bad_number(journal: Journal) -> None:
    assert_user_error(journal.cli.run("history", "hello"), "'hello'", "is not a phone number")


# -- history from the PBX (get_cdr) ----------------------------------------------------------------

def test_remote_history_newest_first(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.cdrs = [
        make_cdr("r-old", 1_600_000_000, src="9022", dst=CLIENT, direction=1),
        make_cdr("r-new", 1_700_000_000, src="9022", dst="84952523060", direction=1),
        make_cdr("r-mid", 1_650_000_000, src="4952523060", dst="9022", direction=0, duration=30, billsec=20),
        make_cdr("r-other", 1_690_000_000, src="9022", dst="+74951112233", direction=1),
    ]
    as_json, human = pbx_cli.run_all(("history", "8 (495) 252-30-60", "--remote", "--json"),
                                     ("history", CLIENT, "--remote"))
    records = json.loads(check_ok(as_json).stdout)

    assert [r["uniqueid"] for r in records] == ["r-new", "r-mid", "r-old"]
    for record in records:
        assert set(CDR_FIELDS) <= set(record)
    assert (records[1]["duration"], records[1]["billsec"], records[1]["direction"]) == (30, 20, 0)
    assert fake_pbx.actions() == ["get_cdr", "get_cdr"]
    for request in fake_pbx.requests:
        assert request["sort"] == {"dt": "-"}
        assert "74952523060" in "".join(request["params"]["src_or_dst_list"])
    assert fake_pbx.auth_headers == [f"Bearer {canary.PBX_KEY}"] * 2

    lines = check_ok(human).stdout.splitlines()
    calls = [line for line in lines if not line.startswith(" ")]
    assert [re.search(r"uniqueid (\S+)", c).group(1) for c in calls] == ["r-new", "r-mid", "r-old"]  # type: ignore[union-attr]
    assert "outgoing" in calls[0] and "incoming" in calls[1]

    # what the PBX returned is kept: the local history now has it without asking again
    fake_pbx.mode = "hang"
    assert [r["uniqueid"] for r in _history(pbx_cli, CLIENT)] == ["r-new", "r-mid", "r-old"]
    assert len(fake_pbx.requests) == 2  # the local history did not ask the PBX


#: what a terminal must never get from PBX or directory text: escapes, forged lines, bidi overrides
HOSTILE_TEXT = "\x1b]0;pwned\x07\x1b[2J\u202eevil\r\nWARNING forged"
HOSTILE_SHOWN = "]0;pwned[2Jevil  WARNING forged"


def _no_controls(text: str) -> None:
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text), repr(text)


def test_remote_history_shows_pbx_text_without_control_characters(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.cdrs = [make_cdr("r-1" + HOSTILE_TEXT, 1_700_000_000, src="9022" + HOSTILE_TEXT, dst=CLIENT,
                              link="https://pbx.example.org/rec\u202e.wav?file=tok" + HOSTILE_TEXT)]
    out = check_ok(pbx_cli.run("history", CLIENT, "--remote")).stdout
    _no_controls(out)
    assert f"9022{HOSTILE_SHOWN} -> " in out and f"uniqueid r-1{HOSTILE_SHOWN}" in out
    assert len(out.splitlines()) == 2  # the call and its link: no forged line


def test_crm_users_and_contacts_are_listed_without_control_characters(cli: Cli, tmp_path: Path) -> None:
    cli.ok("crm-users", "add", "7" + HOSTILE_TEXT, "Agent" + HOSTILE_TEXT, "--extension", "9022")
    path = _write(tmp_path / "hostile.csv", "name,phone,company,owner\n"
                  f'"Ivan{HOSTILE_TEXT}",89066800404,"Acme{HOSTILE_TEXT}",Boss\u202e\n')
    cli.ok("contacts", "import", str(path))
    listed, found = cli.run_all(("crm-users", "list"), ("contacts", "find", "89066800404"))
    for out in (check_ok(listed).stdout, check_ok(found).stdout):
        _no_controls(out)
    assert f"7{HOSTILE_SHOWN}  Agent{HOSTILE_SHOWN}  extension 9022" in listed.stdout
    assert f"Ivan{HOSTILE_SHOWN} (Acme{HOSTILE_SHOWN})" in found.stdout and len(found.stdout.splitlines()) == 1


def test_remote_history_limit(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.cdrs = [make_cdr(f"r{i}", 1_600_000_000 + i, dst=CLIENT) for i in range(5)]
    assert [r["uniqueid"] for r in _history(pbx_cli, CLIENT, "--remote", "--limit", "2")] == ["r4", "r3"]


def test_remote_history_without_a_pbx(cli: Cli) -> None:
    assert_user_error(cli.run("history", CLIENT, "--remote"), "PBX URL is not set")


def test_remote_history_garbage_reply(pbx_cli: Cli, fake_pbx: FakePbx) -> None:
    fake_pbx.mode = "garbage"
    assert_user_error(pbx_cli.run("history", CLIENT, "--remote"), "load the call history", "not JSON")


# -- contacts ------------------------------------------------------------------------------------

CONTACTS_CSV = (
    "name,phone,company,owner\n"                                             # line 1
    "Иван Петров,+7 906 680-04-04,ООО Ромашка,3\n"                           # 2: new
    'Мария,"8 (495) 252-30-60; work: 8 495 134-30-60 доб. 12",,\n'           # 3: new, two numbers
    ",,,\n"                                                                  # 4: blank: silently ignored
    "Без номера,,,\n"                                                        # 5: new, no number
    ",not-a-number,,\n"                                                      # 6: skipped
    "Иван Петров,89066800404,,\n"                                            # 7: updates line 2
    ",,ООО Пустота,\n"                                                       # 8: skipped
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Directory:
    cli: Cli
    csv_path: Path
    imported: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Directory:
    """A data dir into which CONTACTS_CSV was imported (read-only for the tests that use it)."""
    root = tmp_path_factory.mktemp("directory")
    dcli = make_cli(root, **{ENV_CRM_USER: CRM_USER})
    csv_path = _write(root / "contacts.csv", CONTACTS_CSV)
    return Directory(dcli, csv_path, dcli.ok("contacts", "import", str(csv_path)))


def test_contacts_import_summary_and_skips(directory: Directory) -> None:
    proc = directory.imported
    assert re.fullmatch(r"imported 3, updated 1, skipped 2 \(\d+\.\d s\)", proc.stdout.strip()), proc.stdout
    skips = [line for line in proc.stderr.splitlines() if line.startswith("skipped")]
    assert len(skips) == 2, proc.stderr
    assert skips[0].startswith("skipped line 6: ") and "not-a-number" in skips[0]
    assert skips[1].startswith("skipped line 8: ")


def test_contacts_import_twice_updates(cli: Cli, tmp_path: Path) -> None:
    path = _write(tmp_path / "contacts.csv", CONTACTS_CSV)
    cli.ok("contacts", "import", str(path))
    again = cli.ok("contacts", "import", str(path))
    # rows with a known number update their contact; "Без номера" has no number to match, so it is new again
    assert again.stdout.startswith("imported 1, updated 3, skipped 2")


def test_contacts_find_in_any_number_form(directory: Directory) -> None:
    forms = ("+79066800404", "8 906 680-04-04", "9066800404", "tel:+7-906-680-04-04",
             "sip:89066800404@pbx.example.com", "callto://+79066800404")
    commands = [("contacts", "find", f) for f in forms]
    commands += [("contacts", "find", "4951343060", "--json"), ("contacts", "find", "+7 495 000-00-01"),
                 ("contacts", "find", "+7 495 000-00-01", "--json"), ("contacts", "find", "nope")]
    *by_form, maria, missing, missing_json, bad = directory.cli.run_all(*commands)

    for form, proc in zip(forms, by_form, strict=True):
        out = check_ok(proc).stdout
        assert re.fullmatch(r"#\d+ Иван Петров \(ООО Ромашка\), responsible: 3; \+7 906 680-04-04\n", out), (form, out)
    found = json.loads(check_ok(maria).stdout)
    assert [c["name"] for c in found] == ["Мария"]
    assert {p["key"] for p in found[0]["phones"]} == {"74952523060", "74951343060"}
    assert missing.returncode == 1 and "no contact has the number +7 495 000-00-01" in missing.stderr
    assert json.loads(check_ok(missing_json).stdout) == []
    assert_user_error(bad, "is not a phone number")


def _parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_contacts_export_reimports_to_the_same_contacts(directory: Directory, tmp_path: Path) -> None:
    out_file = tmp_path / "export.csv"
    exported, to_file = directory.cli.run_all(("contacts", "export"), ("contacts", "export", "-o", str(out_file)))
    assert check_ok(exported).stderr.strip() == "exported 3 contacts"
    rows = _parse_csv(exported.stdout)
    assert [r["name"] for r in rows] == ["Иван Петров", "Мария", "Без номера"]
    assert rows[0]["company"] == "ООО Ромашка" and rows[0]["owner"] == "3"
    check_ok(to_file)
    assert out_file.read_text(encoding="utf-8") == exported.stdout

    other = make_cli(tmp_path / "second-workstation", **{ENV_CRM_USER: CRM_USER})
    proc = other.ok("contacts", "import", str(out_file))
    assert proc.stdout.startswith("imported 3, updated 0, skipped 0")
    again, found = other.run_all(("contacts", "export"), ("contacts", "find", "8 495 134 30 60"))
    assert _parse_csv(check_ok(again).stdout) == rows
    out = check_ok(found).stdout
    assert out.startswith("#") and "Мария" in out and "доб. 12" in out


def test_contacts_import_of_a_missing_file(cli: Cli, tmp_path: Path) -> None:
    assert_user_error(cli.run("contacts", "import", str(tmp_path / "nope.csv")), "no such file", "nope.csv")


# -- config --------------------------------------------------------------------------------------

def test_config_set_and_show(cli: Cli, fake_pbx: FakePbx) -> None:
    proc = cli.ok("config", "set", "pbx_url", "https://pbx.example.com")
    assert proc.stdout.strip() == f'pbx_url = "https://pbx.example.com" saved to {cli.config}'
    # the environment's values are overrides, never written into the file
    env = dict(cli.env, **{ENV_PBX_URL: fake_pbx.url})
    cli.ok("config", "set", "port", "9001", env=env)

    data = tomllib.loads(cli.config.read_text(encoding="utf-8"))
    assert data["pbx_url"] == "https://pbx.example.com" and data["port"] == 9001
    assert data["crm_user"] == ""  # PBX_COMPANION_CRM_USER=3 was in the environment

    show, path = cli.run_all(("config", "show"), ("config", "path"))
    shown = check_ok(show).stdout.splitlines()
    assert 'pbx_url = "https://pbx.example.com"' in shown and "port = 9001" in shown
    assert check_ok(path).stdout.strip() == str(cli.config)
    text = cli.config.read_text(encoding="utf-8")
    assert canary.PBX_KEY not in text and canary.CRM_KEY not in text


def test_config_show_shows_the_environments_values_marked(cli: Cli) -> None:
    cli.ok("config", "set", "pbx_url", "https://pbx.example.com")
    env = dict(cli.env, **{ENV_PBX_URL: "https://other.example.com"})
    shown = cli.ok("config", "show", env=env).stdout.splitlines()
    assert ('pbx_url = "https://other.example.com"  # from the environment (PBX_COMPANION_PBX_URL);'
            ' the file: "https://pbx.example.com"') in shown
    env.pop(ENV_PBX_URL)
    env.pop("PBX_COMPANION_CRM_USER", None)
    shown = cli.ok("config", "show", env=env).stdout.splitlines()
    assert 'pbx_url = "https://pbx.example.com"' in shown and 'crm_user = ""' in shown


def test_config_set_rejects_bad_values_and_keeps_the_file(cli: Cli) -> None:
    cli.ok("config", "set", "pbx_url", "https://pbx.example.com")
    before = cli.config.read_bytes()

    cases = [
        (("port", "abc"), "port must be an integer, not 'abc'"),
        (("port", "70000"), "port must be between 0 and 65535"),
        (("dial_format", "nope"), "dial_format must be one of"),
        (("pbx_url", "pbx.example.com"), "pbx_url must start with http"),
        (("colour", "red"), "unknown setting 'colour'"),
        (("do_not_disturb", "maybe"), "do_not_disturb must be true or false, not 'maybe'"),
        (("start_at_login", "true"), "use `pbx-companion autostart on|off`"),
    ]
    procs = cli.run_all(*(("config", "set", *args) for args, _ in cases))
    for (_, message), proc in zip(cases, procs, strict=True):
        assert_user_error(proc, message)
    assert cli.config.read_bytes() == before


def test_config_set_reads_yes_no_settings_as_words(cli: Cli) -> None:
    """`false` must switch a setting off: Python's bool("false") is True."""
    cli.ok("config", "set", "do_not_disturb", "true")
    assert tomllib.loads(cli.config.read_text(encoding="utf-8"))["do_not_disturb"] is True
    proc = cli.ok("config", "set", "do_not_disturb", "false")
    assert proc.stdout.startswith("do_not_disturb = false saved to")
    assert tomllib.loads(cli.config.read_text(encoding="utf-8"))["do_not_disturb"] is False
    cli.ok("config", "set", "ring_sound", "Yes")
    assert tomllib.loads(cli.config.read_text(encoding="utf-8"))["ring_sound"] is True


def test_a_settings_file_with_invalid_toml(cli: Cli) -> None:
    cli.config.write_text("port = = 3\n", encoding="utf-8")
    commands = (("config", "show"), ("dial", "89066800404"), ("history", CLIENT), ("crm-users", "list"))
    for proc in cli.run_all(*commands):
        assert_user_error(proc, str(cli.config), "is not valid TOML")


def test_a_settings_file_with_an_invalid_value(cli: Cli) -> None:
    cli.config.write_text('dial_format = "sometimes"\n', encoding="utf-8")
    assert_user_error(cli.run("dial", "89066800404"), "dial_format must be one of")


def test_pbx_url_and_dial_format_from_the_settings_file(cli: Cli, fake_pbx: FakePbx) -> None:
    cli.ok("config", "set", "pbx_url", fake_pbx.url)
    cli.ok("config", "set", "dial_format", "e164")
    cli.ok("dial", "8 906 680-04-04")
    assert fake_pbx.calls == [{"crm_user_id": CRM_USER, "dst": "+79066800404"}]


# -- usage errors and version ----------------------------------------------------------------------

def test_unknown_subcommand(cli: Cli) -> None:
    proc = cli.run("frobnicate", common=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("pbx-companion: error: ")
    assert "frobnicate" in proc.stderr


def test_a_word_that_is_neither_a_command_nor_a_link_is_a_usage_error(cli: Cli) -> None:
    # (no command at all starts the tray app: tests/ui/test_single_instance.py)
    proc = cli.run("bogus", common=False)
    assert proc.returncode == 2 and "usage: pbx-companion" in proc.stderr and "Traceback" not in proc.stderr


def test_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "app", "--version"], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == f"pbx-companion {__version__}"


def test_console_script_version() -> None:
    script = Path(sys.executable).with_name("pbx-companion")
    if not script.exists():
        pytest.skip(f"the console script is not installed next to {sys.executable}")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == f"pbx-companion {__version__}"
