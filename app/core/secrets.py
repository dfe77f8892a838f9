"""API keys: the OS keyring, or environment variables on servers and in tests.

Never a file of ours. If no keyring backend works we say so plainly instead of silently
falling back to a plaintext store (``keyrings.alt`` would do exactly that).

``keyring`` is imported only where a key is read or stored: finding a desktop's backend loads
D-Bus, SecretStorage and ``cryptography`` (~8 MiB, ~90 ms). The tray app therefore reads its keys
in a short-lived child process (:func:`start_key_read`), so none of that stays in the process that
idles all day; the settings window asks which keys are stored the same way (:func:`stored_key_names`)
and loads keyring in-process only to store a key the agent typed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.protocol.redact import redact

if TYPE_CHECKING:
    import keyring.backend

    from app.core.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "pbx-companion"
CRM_API_KEY = "crm_api_key"
PBX_API_KEY = "pbx_api_key"
ENV_VARS = {CRM_API_KEY: "PBX_COMPANION_CRM_API_KEY", PBX_API_KEY: "PBX_COMPANION_PBX_API_KEY"}
KEY_TITLES = {CRM_API_KEY: "CRM API key (the PBX sends it to our webhook)",
              PBX_API_KEY: "PBX API key (we send it to the PBX)"}

_INSECURE_BACKEND_MODULES = ("keyrings.alt", "keyring.backends.fail", "keyring.backends.null")


class SecretsError(RuntimeError):
    """No usable keyring (or it refused); the message tells how to provide the keys instead."""


def _backend_usable() -> keyring.backend.KeyringBackend:
    import keyring

    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a configured backend that cannot start (SecretService without D-Bus)
        raise _unreachable(exc) from exc
    candidates = getattr(backend, "backends", [backend])  # the chainer wraps the real ones
    if not candidates or all(type(b).__module__.startswith(_INSECURE_BACKEND_MODULES) for b in candidates):
        raise SecretsError(
            "no secure OS keyring is available here; set the keys in the environment instead: "
            + ", ".join(ENV_VARS.values())
        )
    return backend


@dataclass(frozen=True)
class Keys:
    """The secrets the tray app runs with: both API keys (standalone) and the agent token (team mode)."""

    crm_api_key: str | None
    pbx_api_key: str | None
    agent_token: str | None = None

    def __repr__(self) -> str:  # never print a key, even by accident
        crm, pbx, agent = ("set" if key else "unset" for key in (self.crm_api_key, self.pbx_api_key, self.agent_token))
        return f"Keys(crm_api_key={crm}, pbx_api_key={pbx}, agent_token={agent})"

    def need_first_run(self, settings: Settings) -> bool:
        """True when the app cannot work yet: standalone, no PBX address, a key missing or no CRM
        user; in team mode, no agent token (the server has the rest). Here rather than beside the
        first-run wizard, so the app's start decides without importing the wizard's windows."""
        if settings.team_mode:
            return not self.agent_token
        return not (settings.pbx_url and self.crm_api_key and self.pbx_api_key and settings.crm_user)


#: the shortest API key accepted into the keyring: a key shorter than this is guessable or cut off
MIN_KEY_LENGTH = 16

#: an agent's personal token for a team server (``watch``, the tray app in team mode)
AGENT_TOKEN = "agent_token"
ENV_AGENT_TOKEN = "PBX_COMPANION_AGENT_TOKEN"
#: every secret the keyring may hold, and the environment variable that wins over it
KEY_ENV_VARS = {**ENV_VARS, AGENT_TOKEN: ENV_AGENT_TOKEN}


def get_key(name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The key from the environment, else from the keyring; None when neither has it."""
    value = _env_key(name, os.environ if environ is None else environ)
    if value:
        return value
    return _keyring_get(name)


def get_agent_token(*, environ: Mapping[str, str] | None = None) -> str | None:
    """The agent token from ``PBX_COMPANION_AGENT_TOKEN``, else from the keyring; None when neither has it."""
    return get_key(AGENT_TOKEN, environ=environ)


def _keyring_get(name: str) -> str | None:
    import keyring
    import keyring.errors

    try:
        return keyring.get_password(SERVICE, name) or None
    except keyring.errors.KeyringError:
        return None  # no backend: the caller reports the key as missing and how to set it
    except Exception as exc:  # a backend that cannot reach its service (SecretService without D-Bus: RuntimeError)
        log.warning("the OS keyring could not be read: %s", _keyring_failure(exc))
        return None


def _keyring_failure(exc: Exception) -> str:
    """What a keyring backend said, in one line with no secret in it."""
    return redact(f"{type(exc).__name__}: {exc}".splitlines()[0])


def _unreachable(exc: Exception) -> SecretsError:
    return SecretsError(f"the OS keyring is not reachable ({_keyring_failure(exc)}); set the keys in the"
                        f" environment instead: {', '.join(ENV_VARS.values())}")


def _env_key(name: str, environ: Mapping[str, str]) -> str | None:
    """The key the environment sets (it wins over the keyring everywhere), or None."""
    return environ.get(KEY_ENV_VARS[name], "").strip() or None


def load_keys(*, environ: dict[str, str] | None = None) -> Keys:
    return Keys(get_key(CRM_API_KEY, environ=environ), get_key(PBX_API_KEY, environ=environ))


def store_key(name: str, value: str) -> None:
    """Put a key into the OS keyring; raises SecretsError when there is no safe keyring."""
    if name not in ENV_VARS and name != AGENT_TOKEN:
        raise ValueError(f"unknown key {name!r}")
    if not value.strip():
        raise SecretsError("an empty key cannot be stored")
    if len(value.strip()) < MIN_KEY_LENGTH:
        raise SecretsError(f"a key has at least {MIN_KEY_LENGTH} characters (this one has {len(value.strip())}):"
                           " paste the whole key")
    import keyring.errors

    backend = _backend_usable()
    try:
        backend.set_password(SERVICE, name, value.strip())
    except keyring.errors.KeyringError as exc:
        raise SecretsError(f"the OS keyring refused to store the key ({type(exc).__name__})") from exc
    except Exception as exc:  # backends raise what their transport raises (RuntimeError, D-Bus errors, OSError)
        raise _unreachable(exc) from exc


def delete_key(name: str) -> bool:
    import keyring.errors

    backend = _backend_usable()
    try:
        backend.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        return False
    return True


# -- the tray app's keys, read in a child process ------------------------------------------------

#: How long the tray app waits for the key-reading child (a keyring may have to be unlocked first).
KEY_READ_TIMEOUT_S = 60.0


class PendingKeys:
    """The keys a child process is reading from the OS keyring (:func:`start_key_read`).

    The child runs while the app loads its modules; :meth:`result` waits for it. A key set in the
    environment wins over the keyring's, as in :func:`load_keys`. A keyring that fails or hangs
    costs only the keys (logged, one line, no secret): the app then asks for them as when none is set.
    """

    def __init__(self, environ: dict[str, str], process: subprocess.Popen[str] | None) -> None:
        self._environ = environ
        self._process = process

    @property
    def in_child(self) -> bool:
        """A child process is reading the keyring (False when the environment gave both keys)."""
        return self._process is not None

    def result(self, timeout: float = KEY_READ_TIMEOUT_S) -> Keys:
        from_keyring: dict[str, str | None] = {}
        if self._process is not None:
            try:
                out, err = self._process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.communicate()
                log.warning("the OS keyring did not answer within %.0f s", timeout)
            else:
                if self._process.returncode == 0:
                    from_keyring = json.loads(out)
                else:
                    reason = err.strip().splitlines()[-1] if err.strip() else f"exit status {self._process.returncode}"
                    log.warning("the OS keyring could not be read: %s", redact(reason))
            self._process = None

        def key(name: str) -> str | None:
            return _env_key(name, self._environ) or from_keyring.get(name) or None

        return Keys(key(CRM_API_KEY), key(PBX_API_KEY), key(AGENT_TOKEN))


def start_key_read(*, environ: dict[str, str] | None = None) -> PendingKeys:
    """Start reading the keys the environment does not give, in a child process (see the module doc)."""
    environ = dict(os.environ if environ is None else environ)
    # The environment may give all a mode needs: both API keys (standalone) or the agent token (team mode).
    if all(_env_key(name, environ) for name in ENV_VARS) or _env_key(AGENT_TOKEN, environ):
        return PendingKeys(environ, None)
    from app.core.autostart import launch_command

    process = subprocess.Popen([*launch_command(), "keys", "read-for-app"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
                               creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # no console flash on Windows
    return PendingKeys(environ, process)


def stored_key_names(*, environ: Mapping[str, str] | None = None,
                     timeout: float = KEY_READ_TIMEOUT_S) -> frozenset[str]:
    """Which keys the OS keyring holds (names, never values), read the way the tray app's start-up
    reads them: in a short-lived child process (:func:`start_key_read`), so that opening the
    settings window does not load the keyring machinery into the process that idles all day.

    The environment's keys are kept out of the child's environment: only the keyring answers.
    When ``keyring`` is loaded in this process already (a key was stored from here), asking it
    here costs nothing more than a child would. A keyring that fails or hangs reads as holding none.
    """
    import sys

    if "keyring" in sys.modules:
        return frozenset(name for name in KEY_ENV_VARS if _keyring_get(name))
    source = os.environ if environ is None else environ
    env = {name: value for name, value in source.items() if name not in KEY_ENV_VARS.values()}
    keys = start_key_read(environ=env).result(timeout)
    found = {CRM_API_KEY: keys.crm_api_key, PBX_API_KEY: keys.pbx_api_key, AGENT_TOKEN: keys.agent_token}
    return frozenset(name for name, value in found.items() if value)


def read_keys_for_app() -> str:
    """What ``pbx-companion keys read-for-app`` prints: the keys and the agent token from the keyring, one JSON line."""
    _backend_usable()
    import keyring

    try:
        return json.dumps({name: keyring.get_password(SERVICE, name) for name in (*ENV_VARS, AGENT_TOKEN)})
    except Exception as exc:
        raise _unreachable(exc) from exc
