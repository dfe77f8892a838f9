"""Health probes for the settings, the first-run wizard and the diagnostics view.

The UI never speaks HTTP itself: these functions do, with a client that lives only for the
probe. Each returns a plain result (or raises the PBX client's typed error) so that a window
can tell the agent in one sentence what works and what to fix.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from app.pbx import PbxClient
from app.protocol.pbx_actions import DomainUser
from app.protocol.redact import redact

#: Wildcard listen addresses are not addresses to connect to: a self-test uses loopback instead.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


async def probe_pbx(pbx_url: str, api_key: str, *, timeout: float = 10.0) -> list[DomainUser]:
    """``get_domain_user_list`` with a temporary client (closed afterwards).

    For "Test connection" before anything is saved: the URL and key are the ones typed, not the
    running engine's. Raises :class:`app.pbx.errors.PbxError` (or ``ValueError`` for a malformed
    URL or key), whose text is meant for the user.
    """
    async with PbxClient(pbx_url, api_key, timeout=timeout, connect_timeout=min(timeout, 5.0), retries=1) as client:
        return await client.get_domain_user_list()


@dataclass(frozen=True)
class WebhookCheck:
    """What the webhook self-test found.

    ``reachable``: something answered HTTP at the URL. ``test_ok``: the unauthenticated ``test``
    action answered 200. ``users_status``: the HTTP status of the authenticated ``get_users``
    (401: the CRM key differs from the listener's; None when not reached). ``users``: how many
    CRM users ``get_users`` listed. ``detail``: a short, redacted reason when something failed.
    """

    url: str
    reachable: bool
    test_ok: bool = False
    users_status: int | None = None
    users: int = 0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reachable and self.test_ok and self.users_status == 200


def connectable_url(url: str) -> str:
    """The URL with a wildcard listen host (0.0.0.0, ::) replaced by loopback."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in _WILDCARDS:
        new_host = _WILDCARDS[host]
        netloc = f"[{new_host}]" if ":" in new_host else new_host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


async def webhook_self_test(url: str, crm_api_key: str | None, *, timeout: float = 5.0) -> WebhookCheck:
    """Post ``test`` and an authenticated ``get_users`` to our own listener, as the PBX would.

    A TLS listener on loopback usually has a self-signed certificate: it is not verified there
    (the request never leaves this machine); on any other host it is, like the PBX would.
    """
    target = connectable_url(url)
    host = urlsplit(target).hostname or ""
    verify = not (target.startswith("https:") and _is_loopback(host))
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            test = {"action": "test", "obj": "UserCRM", "action_id": str(uuid.uuid4()), "params": {}}
            async with session.post(target, json=test, ssl=verify) as response:
                test_ok = response.status == 200
                await response.read()
            if not test_ok:
                return WebhookCheck(url, True, False, detail=f"test answered HTTP {response.status}")
            headers = {"Authorization": f"Bearer {crm_api_key}"} if crm_api_key else {}
            users = {"action": "get_users", "obj": "UserCRM", "action_id": str(uuid.uuid4()), "params": {}}
            async with session.post(target, json=users, headers=headers, ssl=verify) as response:
                status = response.status
                count = 0
                if status == 200:
                    data = await response.json(content_type=None)
                    listed = data.get("list") if isinstance(data, dict) else None
                    if listed is None and isinstance(data, dict):
                        listed = data.get("body")
                    count = len(listed) if isinstance(listed, list) else 0
                else:
                    await response.read()
            return WebhookCheck(url, True, True, status, count,
                                "" if status == 200 else f"get_users answered HTTP {status}")
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        reason = redact(str(exc)) or type(exc).__name__
        return WebhookCheck(url, False, detail=reason)


async def listener_up(url: str, *, timeout: float = 2.0) -> bool:
    """True when the listener answers its ``/health`` endpoint."""
    parts = urlsplit(connectable_url(url))
    health = urlunsplit((parts.scheme, parts.netloc, "/health", "", ""))
    verify = not (parts.scheme == "https" and _is_loopback(parts.hostname or ""))
    try:
        async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                    session.get(health, ssl=verify) as response):
            await response.read()
            return response.status == 200
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
        return False
