"""Settings (a TOML file) and API keys (OS keyring or environment), in-process.

The keyring used here is never a real one: the ``memory_keyring`` fixture, keyring's own
"fail" backend (what a headless server has), or a stand-in for ``keyrings.alt`` (a plaintext
file store the program must refuse).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from app import cli
from app.core import secrets
from app.core.secrets import CRM_API_KEY, ENV_VARS, PBX_API_KEY, SERVICE, Keys, SecretsError, load_keys, store_key
from app.core.settings import ENV_CRM_USER, ENV_PBX_URL, Settings, SettingsError
from tests.support import canary

# Keys typed into `keys set` in these tests: different from the canary keys in the environment,
# so that "the environment wins" is observable.
KEYRING_CRM = "keyring-crm-value-1a2b3c4d5e"
KEYRING_PBX = "keyring-pbx-value-6f7a8b9c0d"


# -- helpers -------------------------------------------------------------------------------------

def _snapshot(*roots: Path) -> dict[Path, tuple[int, int]]:
    """Every file under the roots with its size and mtime (ns)."""
    found: dict[Path, tuple[int, int]] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if path.is_file():
                stat = path.stat()
                found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


def _files_containing(needle: str, *roots: Path) -> list[Path]:
    hits = []
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if path.is_file() and needle.encode() in path.read_bytes():
                hits.append(path)
    return hits


def _keys_set(monkeypatch: pytest.MonkeyPatch, stdin_text: str, *argv: str) -> int:
    """``pbx-companion keys set`` in-process with ``stdin_text`` piped in (not a TTY: no prompt)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin_text))
    return cli.main(["keys", "set", *argv])


def _no_env_keys() -> dict[str, str]:
    """The environment without the two key variables (the conftest sets the canary keys there)."""
    return {k: v for k, v in os.environ.items() if k not in ENV_VARS.values()}


# -- settings: the file ---------------------------------------------------------------------------

def test_settings_round_trip_through_toml(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "settings.toml"
    original = Settings(pbx_url="https://pbx.example.com", crm_user="42", crm_user_name="Мария", extension="9022",
                        region="KZ", dial_format="e164", host="0.0.0.0", port=9443, data_dir=str(tmp_path / "d"),
                        contact_deadline_ms=250, body_read_timeout_s=2.5, event_log_days=7).validate()
    assert original.save(path) == path

    text = path.read_text(encoding="utf-8")
    assert tomllib.loads(text)["crm_user_name"] == "Мария"  # real TOML, UTF-8
    loaded = Settings.load(path, environ={})
    assert loaded == original
    assert not path.with_suffix(".tmp").exists()  # the atomic write left no temporary behind


def test_missing_settings_file_means_defaults(tmp_path: Path) -> None:
    loaded = Settings.load(tmp_path / "nowhere.toml", environ={})
    assert loaded == Settings()
    assert not (tmp_path / "nowhere.toml").exists()  # reading never creates the file


def test_integer_in_the_file_for_a_float_setting_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("body_read_timeout_s = 5\nauth_block_seconds = 30\n", encoding="utf-8")
    loaded = Settings.load(path, environ={})
    assert loaded.body_read_timeout_s == 5.0 and isinstance(loaded.body_read_timeout_s, float)
    assert loaded.auth_block_seconds == 30.0


def test_unknown_keys_survive_load_and_save(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('port = 9000\nfuture_option = "keep me"\n\n[ui]\ntheme = "dark"\nscale = 1.25\n',
                    encoding="utf-8")
    loaded = Settings.load(path, environ={})
    assert loaded.port == 9000
    loaded.crm_user = "7"
    loaded.save(path)

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["future_option"] == "keep me"
    assert data["ui"] == {"theme": "dark", "scale": 1.25}
    assert data["crm_user"] == "7" and data["port"] == 9000
    assert "extra" not in data  # the container is not a setting of its own


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    Settings(pbx_url="https://file.example.com", crm_user="1").save(path)

    loaded = Settings.load(path, environ={ENV_PBX_URL: " https://env.example.com ", ENV_CRM_USER: "55"})
    assert loaded.pbx_url == "https://env.example.com"
    assert loaded.crm_user == "55"
    # empty variables do not blank the file's values
    assert Settings.load(path, environ={ENV_PBX_URL: "", ENV_CRM_USER: ""}).pbx_url == "https://file.example.com"
    # the environment is not written back
    assert tomllib.loads(path.read_text(encoding="utf-8"))["pbx_url"] == "https://file.example.com"


def test_saving_keeps_the_files_values_where_the_environment_overrides_them(tmp_path: Path) -> None:
    """The settings window saves what load() gave it, the environment's values included."""
    path = tmp_path / "settings.toml"
    path.write_text('pbx_url = "https://file.example.com"\nport = 9000\n', encoding="utf-8")
    env = {ENV_PBX_URL: "https://env.example.com", ENV_CRM_USER: "55"}

    loaded = Settings.load(path, environ=env)
    assert (loaded.pbx_url, loaded.crm_user) == ("https://env.example.com", "55")
    # what the settings window does: a copy with the form's values, then save
    dataclasses.replace(loaded, port=9001, ring_sound=True).save(path, environ=env)
    on_disk = tomllib.loads(path.read_text(encoding="utf-8"))
    assert on_disk["pbx_url"] == "https://file.example.com"  # the file's own value
    assert "crm_user" not in on_disk  # the file never had one: the environment's is not written
    assert (on_disk["port"], on_disk["ring_sound"]) == (9001, True)
    again = Settings.load(path, environ={})
    assert (again.pbx_url, again.crm_user, again.port) == ("https://file.example.com", "", 9001)

    # a value the user changed is the user's, whatever the environment says
    dataclasses.replace(loaded, pbx_url="https://typed.example.com", crm_user="7").save(path, environ=env)
    on_disk = tomllib.loads(path.read_text(encoding="utf-8"))
    assert (on_disk["pbx_url"], on_disk["crm_user"]) == ("https://typed.example.com", "7")
    assert Settings.load(path, environ=env).pbx_url == "https://env.example.com"  # env still wins at run time


def test_saving_reads_the_process_environment_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.toml"
    Settings(pbx_url="https://file.example.com").save(path)
    monkeypatch.setenv(ENV_PBX_URL, "https://from-process-env.example.com")
    Settings.load(path).save(path)
    assert tomllib.loads(path.read_text(encoding="utf-8"))["pbx_url"] == "https://file.example.com"


def test_the_process_environment_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PBX_URL, "https://from-process-env.example.com")
    assert Settings.load(tmp_path / "none.toml").pbx_url == "https://from-process-env.example.com"


def test_invalid_environment_value_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="pbx_url must start with http"):
        Settings.load(tmp_path / "none.toml", environ={ENV_PBX_URL: "pbx.example.com"})


@pytest.mark.parametrize(
    ("toml_text", "expected"),
    [
        ('port = "abc"\n', r"port must be an integer, not 'abc'"),
        ("port = 70000\n", r"port must be between 0 and 65535, not 70000"),
        ("port = -1\n", r"port must be between 0 and 65535"),
        ("port = true\n", r"port must be an integer, not True"),
        ("body_read_timeout_s = true\n", r"body_read_timeout_s must be a number, not True"),
        ('dial_format = "nope"\n', r"dial_format must be one of auto, e164, e164_digits, national, not 'nope'"),
        ('region = "XX"\n', r"unknown phone region 'XX'"),
        ('pbx_url = "ftp://pbx.example.com"\n', r"pbx_url must start with http:// or https://"),
        ('tls_cert = "/etc/cert.pem"\n', r"TLS needs both tls_cert and tls_key"),
        ("contact_deadline_ms = 0\n", r"contact_deadline_ms must be positive"),
        ("crm_user = 3\n", r"crm_user must be a string, not 3"),
    ],
)
def test_invalid_values_are_settings_errors_naming_the_setting(tmp_path: Path, toml_text: str, expected: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(toml_text, encoding="utf-8")
    with pytest.raises(SettingsError, match=expected):
        Settings.load(path, environ={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("port = = 3\n", encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        Settings.load(path, environ={})
    assert str(path) in str(info.value) and "not valid TOML" in str(info.value)
    assert "\n" not in str(info.value)


def test_settings_error_is_a_value_error() -> None:
    # callers validating user input catch ValueError (PhoneError, SettingsError alike)
    with pytest.raises(ValueError, match="port"):
        Settings(port=65536).validate()


# -- keys: the keyring ----------------------------------------------------------------------------

def test_keys_set_stores_both_keys_from_standard_input(memory_keyring, monkeypatch, capsys) -> None:
    assert _keys_set(monkeypatch, f"{KEYRING_CRM}\n  {KEYRING_PBX}  \n") == 0

    assert memory_keyring.store == {(SERVICE, CRM_API_KEY): KEYRING_CRM, (SERVICE, PBX_API_KEY): KEYRING_PBX}
    out, err = capsys.readouterr()
    assert out.splitlines() == ["crm_api_key stored in the OS keyring", "pbx_api_key stored in the OS keyring"]
    assert KEYRING_CRM not in out + err and KEYRING_PBX not in out + err  # never echoed

    # without the environment variables the keys come from the keyring
    assert load_keys(environ=_no_env_keys()) == Keys(KEYRING_CRM, KEYRING_PBX)
    # the environment wins over the keyring (servers and tests set it)
    assert load_keys() == Keys(canary.CRM_KEY, canary.PBX_KEY)
    # one variable set: that key from the environment, the other from the keyring
    assert load_keys(environ={ENV_VARS[PBX_API_KEY]: "from-env-pbx"}) == Keys(KEYRING_CRM, "from-env-pbx")


def test_keys_set_only_one_key(memory_keyring, monkeypatch, capsys) -> None:
    assert _keys_set(monkeypatch, f"{KEYRING_PBX}\n{KEYRING_CRM}\n", "--pbx") == 0
    assert memory_keyring.store == {(SERVICE, PBX_API_KEY): KEYRING_PBX}
    assert capsys.readouterr().out.strip() == "pbx_api_key stored in the OS keyring"


def test_keys_set_with_an_empty_line_stores_nothing_for_it(memory_keyring, monkeypatch, capsys) -> None:
    assert _keys_set(monkeypatch, "\n", "--crm") == 1
    assert memory_keyring.store == {}
    err = capsys.readouterr().err
    assert err.startswith("pbx-companion: error: no value given for the CRM API key")
    assert err.count("\n") == 1


def test_no_keyring_backend_refuses_and_writes_nothing(isolated_user_dirs: Path, tmp_path: Path, monkeypatch,
                                                      capsys) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.chdir(tmp_path)  # a relative "fallback" file would land here
    roots = (isolated_user_dirs, tmp_path)
    before = _snapshot(*roots)
    try:
        status = _keys_set(monkeypatch, f"{KEYRING_CRM}\n{KEYRING_PBX}\n")
    finally:
        keyring.set_keyring(previous)

    assert status == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pbx-companion: error: ")
    assert "no secure OS keyring" in err
    assert ENV_VARS[CRM_API_KEY] in err and ENV_VARS[PBX_API_KEY] in err  # says what to do instead
    assert "Traceback" not in err and "stored" not in out
    assert KEYRING_CRM not in out + err
    assert _snapshot(*roots) == before, "keys set wrote files although it stored nothing"
    assert _files_containing(KEYRING_CRM, *roots) == [] and _files_containing(KEYRING_PBX, *roots) == []


def test_plaintext_keyrings_alt_backend_is_refused(tmp_path: Path) -> None:
    # keyrings.alt is not installed here: emulate its PlaintextKeyring by a backend class that is
    # defined in a module named keyrings.alt.* and really writes passwords into a file.
    module = types.ModuleType("keyrings.alt.file")
    source = (
        "from pathlib import Path\n"
        "from keyring.backend import KeyringBackend\n"
        "class PlaintextKeyring(KeyringBackend):\n"
        "    priority = 0.5\n"
        "    file_path = None\n"
        "    def get_password(self, service, username):\n"
        "        return None\n"
        "    def set_password(self, service, username, password):\n"
        "        with open(self.file_path, 'a', encoding='utf-8') as f:\n"
        "            f.write(f'{service} {username} {password}\\n')\n"
        "    def delete_password(self, service, username):\n"
        "        pass\n"
    )
    exec(compile(source, "<keyrings.alt.file>", "exec"), module.__dict__)
    backend = module.PlaintextKeyring()
    assert type(backend).__module__ == "keyrings.alt.file"
    backend.file_path = tmp_path / "keyring_pass.cfg"

    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        with pytest.raises(SecretsError, match="no secure OS keyring") as info:
            store_key(CRM_API_KEY, KEYRING_CRM)
    finally:
        keyring.set_keyring(previous)
    assert ENV_VARS[CRM_API_KEY] in str(info.value)
    assert not backend.file_path.exists()  # the plaintext store was never written


def test_store_key_rejects_unknown_and_empty(memory_keyring) -> None:
    with pytest.raises(ValueError, match="unknown key"):
        store_key("password", "x")
    with pytest.raises(SecretsError, match="empty"):
        store_key(CRM_API_KEY, "   ")
    with pytest.raises(SecretsError, match=r"at least 16 characters \(this one has 6\): paste the whole key"):
        store_key(CRM_API_KEY, "123456")
    assert memory_keyring.store == {}


def test_keys_set_refuses_a_short_key(memory_keyring, monkeypatch, capsys) -> None:
    assert _keys_set(monkeypatch, "short-key\n", "--crm") == 1
    assert memory_keyring.store == {}
    err = capsys.readouterr().err
    assert "at least 16 characters" in err and "short-key" not in err


def test_delete_key(memory_keyring) -> None:
    store_key(PBX_API_KEY, KEYRING_PBX)
    assert secrets.delete_key(PBX_API_KEY) is True
    assert secrets.delete_key(PBX_API_KEY) is False
    assert load_keys(environ={}) == Keys(None, None)


def test_a_missing_backend_reads_as_no_key() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        assert load_keys(environ={}) == Keys(None, None)
        assert load_keys(environ={ENV_VARS[CRM_API_KEY]: " from-env "}) == Keys("from-env", None)
    finally:
        keyring.set_keyring(previous)


def test_repr_of_keys_never_shows_a_key() -> None:
    token = "pbxa_" + canary.CRM_KEY[::-1]
    keys = Keys(canary.CRM_KEY, canary.PBX_KEY, token)
    for text in (repr(keys), str(keys), f"{keys}", repr([keys]), repr({"k": keys})):
        assert canary.CRM_KEY not in text and canary.PBX_KEY not in text and token not in text
    assert repr(keys) == "Keys(crm_api_key=set, pbx_api_key=set, agent_token=set)"
    assert repr(Keys(None, "")) == "Keys(crm_api_key=unset, pbx_api_key=unset, agent_token=unset)"


def test_config_set_never_writes_a_key_into_the_settings_file(memory_keyring, monkeypatch, capsys,
                                                              tmp_path: Path) -> None:
    # keys in both places a key can come from: the environment (canary) and the keyring
    assert _keys_set(monkeypatch, f"{KEYRING_CRM}\n{KEYRING_PBX}\n") == 0
    path = tmp_path / "settings.toml"
    for key, value in (("pbx_url", "https://pbx.example.com"), ("crm_user", "3"), ("port", "9001")):
        assert cli.main(["config", "set", key, value, "--config", str(path)]) == 0
    capsys.readouterr()

    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert data["pbx_url"] == "https://pbx.example.com" and data["crm_user"] == "3" and data["port"] == 9001
    for secret in (canary.CRM_KEY, canary.PBX_KEY, KEYRING_CRM, KEYRING_PBX):
        assert secret not in text
    assert "api_key" not in text and "apikey" not in text

    # a key cannot be smuggled in as a setting either
    assert cli.main(["config", "set", "crm_api_key", "x" * 12, "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pbx-companion: error: unknown setting 'crm_api_key'")
    assert "x" * 12 not in path.read_text(encoding="utf-8")


def test_a_keyring_that_cannot_reach_its_service_is_one_readable_line(isolated_user_dirs: Path) -> None:
    """The desktop's usual backend (SecretService) without a D-Bus session raises RuntimeError from
    inside keyring: `keys set` must say what is wrong and what to do, and reading keys must not crash."""
    env = {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", *ENV_VARS.values())}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
    done = subprocess.run([sys.executable, "-m", "app", "keys", "set", "--crm"], input=f"{KEYRING_CRM}\n",
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pbx-companion: error: the OS keyring is not reachable"), done.stderr
    assert "DBUS_SESSION_BUS_ADDRESS" in lines[0] and ENV_VARS[CRM_API_KEY] in lines[0]
    assert KEYRING_CRM not in done.stdout + done.stderr

    read = subprocess.run([sys.executable, "-c", "from app.core.secrets import load_keys; print(load_keys())"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "Keys(crm_api_key=unset, pbx_api_key=unset, agent_token=unset)"
    assert "could not be read: RuntimeError" in read.stderr


# -- the tray app reads its keys in a child process ----------------------------------------------

CHILD_CRM, CHILD_PBX = "child-read-crm-key-7f3a", "child-read-pbx-key-91c2"


def _file_keyring_env(tmp_path: Path, **keys: str) -> dict[str, str]:
    from tests.support.file_keyring import FILE_VARIABLE

    store = tmp_path / "keyring.json"
    store.write_text(json.dumps({f"{SERVICE}/{name}": value for name, value in keys.items()}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS.values()}
    root = str(Path(__file__).resolve().parents[1])
    env.update(PYTHON_KEYRING_BACKEND="tests.support.file_keyring.FileKeyring", **{FILE_VARIABLE: str(store)},
               PYTHONPATH=os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p))
    return env


def test_the_tray_apps_keys_come_from_the_keyring_through_a_child_process(tmp_path: Path) -> None:
    env = _file_keyring_env(tmp_path, **{CRM_API_KEY: CHILD_CRM, PBX_API_KEY: CHILD_PBX})
    keys = secrets.start_key_read(environ=env).result()
    assert (keys.crm_api_key, keys.pbx_api_key) == (CHILD_CRM, CHILD_PBX)
    # a key in the environment wins over the keyring's, as everywhere else
    env[ENV_VARS[PBX_API_KEY]] = "from-the-environment"
    keys = secrets.start_key_read(environ=env).result()
    assert (keys.crm_api_key, keys.pbx_api_key) == (CHILD_CRM, "from-the-environment")


def test_with_both_keys_in_the_environment_no_child_is_started(tmp_path: Path) -> None:
    pending = secrets.start_key_read(environ={ENV_VARS[CRM_API_KEY]: "a", ENV_VARS[PBX_API_KEY]: "b"})
    assert not pending.in_child
    keys = pending.result()
    assert (keys.crm_api_key, keys.pbx_api_key) == ("a", "b")


def test_a_keyring_the_child_cannot_reach_costs_only_the_keys(tmp_path: Path, caplog) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (*ENV_VARS.values(), "DBUS_SESSION_BUS_ADDRESS")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
    with caplog.at_level("WARNING", logger="app.core.secrets"):
        keys = secrets.start_key_read(environ=env).result()
    assert keys == Keys(None, None)
    assert "the OS keyring could not be read" in caplog.text and "DBUS_SESSION_BUS_ADDRESS" in caplog.text


def test_keys_read_for_app_prints_nothing_to_a_terminal() -> None:
    import pty

    main, secondary = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "app", "keys", "read-for-app"], stdout=secondary,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(secondary)
        os.close(main)
    assert done.returncode == 1 and "it prints nothing to a terminal" in done.stderr
