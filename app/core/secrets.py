"""API keys: the OS keyring, or environment variables on servers and in tests.

Never a file of ours. If no keyring backend works we say so plainly instead of silently
falling back to a plaintext store (``keyrings.alt`` would do exactly that).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import keyring
import keyring.errors

from app.protocol.redact import redact

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
    crm_api_key: str | None
    pbx_api_key: str | None

    def __repr__(self) -> str:  # never print a key, even by accident
        return f"Keys(crm_api_key={'set' if self.crm_api_key else 'unset'}, pbx_api_key={'set' if self.pbx_api_key else 'unset'})"


def get_key(name: str, *, environ: dict[str, str] | None = None) -> str | None:
    """The key from the environment, else from the keyring; None when neither has it."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VARS[name], "").strip()
    if value:
        return value
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


def load_keys(*, environ: dict[str, str] | None = None) -> Keys:
    return Keys(get_key(CRM_API_KEY, environ=environ), get_key(PBX_API_KEY, environ=environ))


def store_key(name: str, value: str) -> None:
    """Put a key into the OS keyring; raises SecretsError when there is no safe keyring."""
    if name not in ENV_VARS:
        raise ValueError(f"unknown key {name!r}")
    if not value.strip():
        raise SecretsError("an empty key cannot be stored")
    _backend_usable()
    try:
        keyring.set_password(SERVICE, name, value.strip())
    except keyring.errors.KeyringError as exc:
        raise SecretsError(f"the OS keyring refused to store the key ({type(exc).__name__})") from exc
    except Exception as exc:  # backends raise what their transport raises (RuntimeError, D-Bus errors, OSError)
        raise _unreachable(exc) from exc


def delete_key(name: str) -> bool:
    _backend_usable()
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        return False
    return True
