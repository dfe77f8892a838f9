"""Helpers to talk to a running webhook over real HTTP."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import aiohttp

from . import canary

_ids = itertools.count(1)


def envelope(action: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
             action_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"action": action, "obj": "UserCRM", "action_id": action_id or str(uuid.uuid4())}
    if body is not None:
        message.update(code=200, notifies=[], body=body)
    else:
        message["params"] = params or {}
    return message


def call_body(call_id: str, *, session_id: str | None = None, crm_user: str = "3", domain_user: str = "9022",
              other_leg: str = "+74952523060", direction: int = 0, **rt_vars: Any) -> dict[str, Any]:
    return {"call_id": call_id, "session_id": session_id or f"s-{call_id}", "crm_user": crm_user,
            "domain_user": domain_user, "other_leg": other_leg, "rt_vars": rt_vars or {"gateway_number": "74951343060"},
            "direction": direction}


def cdr_body(uniqueid: str, *, src: str = "+74952523060", dst: str = "9022", dt: float = 1633333012.0,
             direction: int = 0, **extra: Any) -> dict[str, Any]:
    body = {"id": next(_ids), "uniqueid": uniqueid, "dt": dt, "src": src, "dst": dst, "duration": 14, "billsec": 3,
            "cc_queue_waiting_time": 0, "lastapp": "bridge", "lastdata": "", "rec_path": "office/2021-10-04/",
            "gateway": "Test1", "gateway_number": "+74951343060", "dial_status": 0, "direction": direction,
            "project_id": 0, "project_name": "", "bridge_hangup_cause": "NORMAL_CLEARING", "hold_accum_seconds": 0,
            "geo_ids": "...", "geo_names": "...", "link": canary.RECORDING_LINK}
    body.update(extra)
    return body


AUTH = {"Authorization": f"Bearer {canary.CRM_KEY}"}


async def post(session: aiohttp.ClientSession, url: str, message: Any, *, auth: bool = True,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    all_headers = dict(AUTH) if auth else {}
    all_headers.update(headers or {})
    kwargs: dict[str, Any] = {"data": message} if isinstance(message, (bytes, str)) else {"json": message}
    async with session.post(url, headers=all_headers, **kwargs) as response:
        text = await response.text()
        try:
            import json

            return response.status, json.loads(text)
        except ValueError:
            return response.status, text
