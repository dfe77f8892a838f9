"""What can go wrong when we talk to the PBX, one class per thing the user can act on.

Every error knows the ``action`` it was raised for and reads, through ``str()``, as one
English sentence that names the action and says what to do. Messages never carry the
API key or a full URL with its query string: the client hands them only a host name and
short, already-redacted details (see :func:`app.pbx.client.PbxClient`).

Hierarchy::

    PbxError
    ├── PbxUnreachable      the request never reached the PBX
    ├── PbxKeyRefused       HTTP 401/403: the PBX API key is wrong
    ├── PbxRejected         the PBX answered "no" (HTTP 4xx or envelope code != 200)
    ├── PbxProtocolError    the answer is not the JSON envelope we expect
    ├── PbxServerError      HTTP 5xx / 429, after the retries we are allowed
    └── PbxOutcomeUnknown   timeout / dropped connection after the request may have arrived
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "ACTION_LABELS",
    "NON_IDEMPOTENT_ACTIONS",
    "PbxError",
    "PbxKeyRefused",
    "PbxOutcomeUnknown",
    "PbxProtocolError",
    "PbxRejected",
    "PbxServerError",
    "PbxUnreachable",
]

#: What each action does, in words a user understands ("Could not <label> ...").
ACTION_LABELS: dict[str, str] = {
    "get_cdr": "load the call history",
    "make_call": "place the call",
    "switch_call_hold": "switch hold on the call",
    "get_domain_user_list": "load the list of PBX users",
}

#: Actions with an effect in the real world: never re-sent, and a lost answer matters.
NON_IDEMPOTENT_ACTIONS: frozenset[str] = frozenset({"make_call", "switch_call_hold"})

_MAX_DETAIL = 200
_WS = re.compile(r"\s+")


def _clean(text: object) -> str:
    """One line, bounded length: details come from the network and end up in a dialog."""
    value = _WS.sub(" ", str(text)).strip()
    if len(value) > _MAX_DETAIL:
        value = value[: _MAX_DETAIL - 1].rstrip() + "…"
    return value


def _label(action: str) -> str:
    return f"{ACTION_LABELS.get(action, f'run {action!s}')} ({action})"


def _at(host: str | None) -> str:
    return f" at {host}" if host else ""


class PbxError(Exception):
    """Base of every PBX failure.

    Happens: never directly; catch it to handle "the PBX action did not work" in one place.
    The user can: read ``str(error)``, which says what failed and what to try.
    ``action`` is the UserCRM action (``"get_cdr"``, ``"make_call"``, ...); ``host`` the PBX host
    (no scheme, path or query), when known.
    """

    def __init__(self, action: str, detail: str = "", *, host: str | None = None) -> None:
        self.action = action
        self.detail = _clean(detail)
        self.host = host
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"Could not {_label(self.action)}{detail}."

    def __str__(self) -> str:
        return self._sentence()

    # keep pickling (e.g. across process pools) working with our __init__
    def __reduce__(self) -> tuple[Callable[..., PbxError], tuple[type[PbxError], dict[str, Any]]]:
        return (_rebuild, (type(self), dict(self.__dict__)))


def _rebuild(cls: type[PbxError], state: dict[str, Any]) -> PbxError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._sentence())
    return error


class PbxUnreachable(PbxError):
    """The request never reached the PBX: connection refused, DNS lookup failed, TLS handshake failed
    or the connection could not be opened in time.

    Nothing happened on the PBX, so trying again is safe (even for make_call).
    The user can: check the PBX address in the settings, the network / VPN / proxy, and try again.
    ``reason`` is a short technical cause ("connection refused", "TLS handshake failed: ...").
    """

    def __init__(self, action: str, reason: str = "", *, host: str | None = None) -> None:
        self.reason = _clean(reason)
        super().__init__(action, reason, host=host)

    def _sentence(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"Could not {_label(self.action)}: the PBX{_at(self.host)} could not be reached{why}; "
            "check the PBX address and your network connection, then try again."
        )


class PbxKeyRefused(PbxError):
    """The PBX answered HTTP 401 or 403: it does not accept our PBX API key (wrong, revoked, or the
    integration is switched off in the PBX's "Custom integration" section).

    Retrying does not help. The user can: copy the PBX API key again from the PBX admin UI into the
    settings. ``status`` is the HTTP status (401 or 403).
    """

    def __init__(self, action: str, status: int = 401, *, host: str | None = None) -> None:
        self.status = status
        super().__init__(action, f"HTTP {status}", host=host)

    def _sentence(self) -> str:
        return (
            f"Could not {_label(self.action)}: the PBX{_at(self.host)} refused the API key "
            f"(HTTP {self.status}); check the PBX API key in the settings."
        )


class PbxRejected(PbxError):
    """The PBX understood the request and said no: an HTTP 4xx other than 401/403/429, an envelope
    whose ``code`` is not 200, or a reply body saying ``"success": false``. Typical causes: the CRM user
    is not added to the integration, the number is invalid, the call id is gone.

    Retrying the same request gives the same answer. The user can: read the PBX's ``message`` and fix
    the input (number, user mapping) or ask the PBX administrator. ``code`` is the PBX's code (envelope
    code or HTTP status; ``None`` when the PBX gave none), ``message`` its text.
    """

    def __init__(self, action: str, code: int | None = None, message: str = "", *, host: str | None = None) -> None:
        self.code = code
        self.message = _clean(message)
        super().__init__(action, message, host=host)

    def _sentence(self) -> str:
        parts = []
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.message:
            parts.append(f'"{self.message}"')
        why = f" ({', '.join(parts)})" if parts else ""
        hint = "; check the PBX address in the settings" if self.code in (404, 405) and not self.message else ""
        return f"The PBX refused to {_label(self.action)}{why}{hint}."


class PbxProtocolError(PbxError):
    """The PBX (or something in front of it) answered with something that is not the UserCRM JSON
    envelope: an HTML page (a login page, a proxy or captive portal), non-JSON bytes, JSON of the wrong
    shape, or records that do not validate.

    Usually the PBX address points to the wrong place, or the PBX changed its API. The user can: check
    the PBX address (it must be the PBX's v2 host), and report the problem if it persists.
    ``detail`` says what was wrong, without reproducing the body.
    """

    def _sentence(self) -> str:
        why = f" ({self.detail})" if self.detail else ""
        return (
            f"Could not {_label(self.action)}: the reply of the PBX{_at(self.host)} was not understood{why}; "
            "check the PBX address in the settings or report this to your administrator."
        )


class PbxReplyTooLarge(PbxProtocolError):
    """A reply larger than the client's bound (``max_reply_bytes``, setting ``pbx_max_reply_mb``) was
    refused before it was all in memory. ``detail`` names the bound; a paged read can ask for less."""


class PbxServerError(PbxError):
    """The PBX (or its gateway) failed: HTTP 5xx, or 429 "too many requests", still so after the
    retries this action is allowed (none for make_call and switch_call_hold).

    For make_call / switch_call_hold a 500 or 503 means the PBX did not carry the request out as far as
    it told us; a gateway timeout (502/504) is reported as :class:`PbxOutcomeUnknown` instead.
    The user can: wait a moment and try again; if it persists, tell the PBX administrator.
    ``status`` is the HTTP status.
    """

    def __init__(self, action: str, status: int = 500, *, host: str | None = None) -> None:
        self.status = status
        super().__init__(action, f"HTTP {status}", host=host)

    def _sentence(self) -> str:
        if self.status == 429:
            return (
                f"Could not {_label(self.action)}: the PBX{_at(self.host)} is receiving too many requests "
                "(HTTP 429); wait a moment and try again."
            )
        return (
            f"Could not {_label(self.action)}: the PBX{_at(self.host)} had a server error "
            f"(HTTP {self.status}); try again later or tell your PBX administrator."
        )


class PbxOutcomeUnknown(PbxError):
    """The request was sent but no answer came back: a read timeout, the connection dropped before the
    reply, or a gateway timeout (502/504) — the PBX may or may not have acted on it.

    For make_call this means "your phone may ring": do NOT retry blindly, or the agent's phone rings
    twice; wait a few seconds and check the phone / call history first. For read-only actions
    (get_cdr, get_domain_user_list) it simply means the PBX did not answer in time: try again later.
    ``reason`` is a short cause ("timed out after 10 s", "the connection was closed before the reply").
    """

    def __init__(self, action: str, reason: str = "", *, host: str | None = None) -> None:
        self.reason = _clean(reason)
        super().__init__(action, reason, host=host)

    @property
    def may_have_acted(self) -> bool:
        """True when the action changes something on the PBX (a call may have been placed)."""
        return self.action in NON_IDEMPOTENT_ACTIONS

    def _sentence(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        if self.action == "make_call":
            return (
                f"It is not known whether the PBX{_at(self.host)} placed the call (make_call), because no reply "
                f"came{why}: your phone may ring, so do not call again until you have checked."
            )
        if self.may_have_acted:
            return (
                f"It is not known whether the PBX{_at(self.host)} managed to {_label(self.action)}, because no "
                f"reply came{why}; check the call's state before trying again."
            )
        return f"Could not {_label(self.action)}: no reply from the PBX{_at(self.host)}{why}; try again later."
