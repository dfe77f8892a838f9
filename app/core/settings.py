"""Settings: a TOML file in the platformdirs config dir, overridden by the command line.

Secrets are not settings: they live in the OS keyring or in environment variables
(:mod:`app.core.secrets`) and never reach this file.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from app.protocol.phones import DIAL_FORMATS, PhoneNormalizer

APP_NAME = "pbx-companion"
ENV_PBX_URL = "PBX_COMPANION_PBX_URL"
ENV_CRM_USER = "PBX_COMPANION_CRM_USER"
#: settings the environment overrides at run time (never in the file: see Settings.save)
ENV_OVERRIDES = {"pbx_url": ENV_PBX_URL, "crm_user": ENV_CRM_USER}
#: a team server's PostgreSQL database (never a setting in the file: the URL may hold a password)
ENV_DATABASE_URL = "PBX_COMPANION_DATABASE_URL"
DEFAULT_PORT = 8765
#: the tray app's modes (the ``mode`` setting)
STANDALONE, TEAM = "standalone", "team"
MODES = (STANDALONE, TEAM)


class SettingsError(ValueError):
    """The settings file or a setting value is invalid; the message says which and why."""


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


@dataclass
class Settings:
    """Everything configurable that is not a secret. Field names are the TOML keys."""

    pbx_url: str = ""
    crm_user: str = ""                # this workstation's CRM user id (make_call's crm_user_id)
    crm_user_name: str = ""           # how get_users names it when it is not in the team table
    extension: str = ""               # this agent's PBX extension
    region: str = "RU"                # default region for numbers without a country code
    dial_format: str = "auto"         # see app.protocol.phones.DIAL_FORMATS
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: str = ""
    tls_key: str = ""
    data_dir: str = ""                # empty: the platformdirs data dir
    contact_deadline_ms: int = 400    # get_contact answers (empty) within this, the PBX holds a live call
    body_read_timeout_s: float = 10.0
    # the listener faces the internet: connections open at once (clamped to the open-file limit) and
    # the time a client has to send a request's headers (slow clients are closed, issue 12)
    max_connections: int = 1000
    header_timeout_s: float = 10.0
    pbx_timeout_s: float = 10.0      # wait this long for a PBX reply (make_call is never re-sent after it)
    pbx_max_reply_mb: float = 8.0     # a bigger PBX reply is refused before it is all in memory (a page: ~0.1 MB)
    auth_failures_before_block: int = 10
    auth_block_seconds: float = 60.0
    trusted_proxies: str = ""         # reverse proxies (addresses/CIDRs) whose X-Forwarded-For is believed
    event_log_days: int = 30
    event_log_max: int = 200_000
    # the call history (calls with their hold periods, CDRs, notes, dialed numbers): dropped this many
    # days after it reached this app, and beyond the newest history_max rows of each table (0: no limit)
    history_days: int = 730
    history_max: int = 5_000_000
    # the team server's feed journal: what an agent's app can resume from after a disconnect
    feed_days: int = 3
    feed_max: int = 2_000_000
    # the tray app: "standalone" (this computer is the PBX's webhook) or "team" (a team server's client)
    mode: str = "standalone"
    team_server: str = ""             # the team server's URL (mode "team"); the agent's token is a key
    team_cafile: str = ""             # a CA certificate to trust the team server's TLS with ("": the system's)
    see_all_calls: bool = False       # supervisors: pop up every call of the team, not only mine
    do_not_disturb: bool = False      # no pop-ups, only the tray badge
    popup_linger_s: float = 4.0       # how long a pop-up stays after its call ended elsewhere/ended
    popup_outgoing: bool = True       # the agent's own outgoing calls get the in-call pop-up too
    dial_repeat_window_s: float = 3.0  # the same number asked for again within this is dialed once
    outcomes: str = ""                # the call outcomes the card offers (app.core.outcomes); "": the built-in ones
    ring_sound: bool = False
    language: str = ""                # "", "ru" or "en"; empty follows the system
    start_at_login: bool = False
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def validate(self) -> Settings:
        if self.dial_format not in DIAL_FORMATS:
            raise SettingsError(f"dial_format must be one of {', '.join(DIAL_FORMATS)}, not {self.dial_format!r}")
        try:
            PhoneNormalizer(self.region, self.dial_format)
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        if not 0 <= int(self.port) < 65536:  # 0: any free port
            raise SettingsError(f"port must be between 0 and 65535, not {self.port}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("TLS needs both tls_cert and tls_key")
        if self.language not in ("", "ru", "en"):
            raise SettingsError(f"language must be ru, en or empty (follow the system), not {self.language!r}")
        if self.popup_linger_s < 0:
            raise SettingsError("popup_linger_s must not be negative")
        if self.dial_repeat_window_s < 0:
            raise SettingsError("dial_repeat_window_s must not be negative")
        if self.pbx_timeout_s <= 0:
            raise SettingsError("pbx_timeout_s must be positive")
        if self.pbx_max_reply_mb <= 0:
            raise SettingsError("pbx_max_reply_mb must be positive")
        if self.contact_deadline_ms <= 0:
            raise SettingsError("contact_deadline_ms must be positive")
        if self.history_days < 0 or self.history_max < 0:
            raise SettingsError("history_days and history_max must not be negative (0: no limit)")
        if self.max_connections < 1:
            raise SettingsError("max_connections must be at least 1")
        if self.header_timeout_s <= 0:
            raise SettingsError("header_timeout_s must be positive")
        if self.trusted_proxies.strip():
            from app.webhook.ratelimit import parse_networks  # only then: a clicked link's fast path stays lean

            try:
                parse_networks(self.trusted_proxies)
            except ValueError as exc:
                raise SettingsError(f"trusted_proxies: {exc}") from None
        if self.pbx_url and not self.pbx_url.startswith(("http://", "https://")):
            raise SettingsError(f"pbx_url must start with http:// or https://, not {self.pbx_url!r}")
        if self.mode not in MODES:
            raise SettingsError(f"mode must be {' or '.join(MODES)}, not {self.mode!r}")
        if self.team_server and not self.team_server.startswith(("http://", "https://")):
            raise SettingsError(f"team_server must start with http:// or https://, not {self.team_server!r}")
        if self.mode == TEAM and not self.team_server:
            raise SettingsError("mode \"team\" needs team_server: the team server's URL")
        return self

    @property
    def team_mode(self) -> bool:
        """The tray app is a team server's client: no listener, no PBX or CRM key of its own."""
        return self.mode == TEAM

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    @property
    def log_path(self) -> Path:
        """The tray app's log folder: ``logs`` in the data dir when one is given (``--data-dir`` or
        ``data_dir``: a second profile keeps its own logs), else the platform's log dir."""
        return self.data_path / "logs" if self.data_dir else default_log_dir()

    @property
    def database_path(self) -> Path:
        return self.data_path / "pbx-companion.sqlite3"

    def database(self, override: str | None = None, *, environ: Mapping[str, str] | None = None) -> str | Path:
        """Where the data lives: ``override`` (``--database``), else ``PBX_COMPANION_DATABASE_URL``,
        else the SQLite file in the data directory."""
        env: Mapping[str, str] = os.environ if environ is None else environ
        return override or env.get(ENV_DATABASE_URL, "").strip() or self.database_path

    def phone_normalizer(self) -> PhoneNormalizer:
        """The normaliser of these number settings; one shared instance per (region, dial format),
        so its parse cache survives and a changed setting takes effect at the next use."""
        return _normalizer(self.region, self.dial_format)

    # -- file ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the TOML file (missing file: defaults), then apply the environment overrides."""
        env: Mapping[str, str] = os.environ if environ is None else environ
        path = path or settings_path()
        data: dict[str, Any] = {}
        if path.exists():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                extra[key] = value
                continue
            default = known[key].default
            if isinstance(value, bool) is not isinstance(default, bool) or not isinstance(value, type(default)):
                if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                else:
                    kinds = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
                    kind = kinds.get(type(default), type(default).__name__)
                    raise SettingsError(f"{path}: {key} must be {kind}, not {value!r}")
            values[key] = value
        settings = cls(**values, extra=extra)
        for name, value in _env_overrides(env).items():
            setattr(settings, name, value)
        return settings.validate()

    def save(self, path: Path | None = None, *, environ: Mapping[str, str] | None = None) -> Path:
        """Write the TOML file; what the environment overrides keeps the file's own value.

        :meth:`load` puts ``PBX_COMPANION_PBX_URL``/``PBX_COMPANION_CRM_USER`` over the file's
        values, so the settings window shows and saves them; written back, they would outlive the
        environment that set them (a one-off ``PBX_COMPANION_PBX_URL=… pbx-companion`` would move
        the workstation to that PBX for good). A value equal to the environment's is taken as the
        environment's: the file keeps what it had there (or nothing). A value the user changed
        is written. ``environ`` must be the one the settings were loaded with.
        """
        path = path or settings_path()
        data = {k: v for k, v in asdict(self).items() if k != "extra"}
        data.update(self.extra)
        overrides = _env_overrides(os.environ if environ is None else environ)
        if any(data[name] == value for name, value in overrides.items()):
            stored = _read_toml(path)
            for name, value in overrides.items():
                if data[name] == value:
                    if name in stored:
                        data[name] = stored[name]
                    else:
                        del data[name]
        from app.storage.files import private_dir, private_file

        private_dir(path.parent)
        tmp = path.with_suffix(".tmp")
        private_file(tmp)
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        tmp.replace(path)
        return path


def _env_overrides(env: Mapping[str, str]) -> dict[str, str]:
    """The settings the environment sets (name -> value); the one rule for load and save."""
    return {name: env[var].strip() for name, var in ENV_OVERRIDES.items() if env.get(var, "").strip()}


def _read_toml(path: Path) -> dict[str, Any]:
    """The settings file as it is on disk; empty when it is missing or unreadable."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


@functools.lru_cache(maxsize=8)
def _normalizer(region: str, dial_format: str) -> PhoneNormalizer:
    return PhoneNormalizer(region, dial_format)


def settings_path() -> Path:
    return config_dir() / "settings.toml"
