"""A fake cloud PBX: a real aiohttp HTTP server on 127.0.0.1 speaking the UserCRM API.

It answers ``POST /integration/usercrm/`` (Bearer ``api_key``) the way the vendor documents, keeps
every JSON request it receives in :attr:`FakePbx.requests`, and can misbehave on demand through
:attr:`FakePbx.mode`. Use it from async tests (``await fake.start()`` / ``await fake.stop()``) or,
for a subprocess under test, in its own event loop on a daemon thread
(``fake.start_in_thread()`` / ``fake.stop_thread()``).

Modes:

``ok``         normal answers
``http500``    HTTP 500 with a small JSON error
``http504``    HTTP 504 from a "gateway" (an HTML error page, like nginx)
``html``       HTTP 200 with an HTML page (a login page / proxy)
``garbage``    HTTP 200, ``Content-Type: application/json``, bytes that are not JSON
``hang``       never answers (until the client gives up or the fake stops)
``reject``     HTTP 200 with the envelope ``code`` = :attr:`reject_code` (400) and :attr:`reject_message`
``http400``    HTTP 400 with a JSON error carrying :attr:`reject_message`
``flaky``      the first :attr:`flaky_failures` requests get HTTP 503, then ``ok``
``ratelimit``  the first :attr:`flaky_failures` requests get HTTP 429 with ``Retry-After: 0``, then ``ok``
``drop``       reads the request, then closes the connection without answering

Setting :attr:`mode` resets the flaky/ratelimit counter. Requests are recorded in every mode,
including ones with a wrong key (see :attr:`authorized`).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import zlib
from typing import Any

from aiohttp import web

PATH = "/integration/usercrm/"
MODES = frozenset(
    {"ok", "http500", "http504", "html", "garbage", "hang", "reject", "http400", "flaky", "ratelimit", "drop"}
)

_NON_DIGITS = re.compile(r"\D")


def refused_url() -> str:
    """``http://127.0.0.1:PORT`` where nothing listens: the port was bound, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def numbers_match(a: str | None, b: str | None) -> bool:
    """Same phone number by digits: equal, or equal in the last 10 digits (``+7…`` vs ``8…``)."""
    da, db = _NON_DIGITS.sub("", a or ""), _NON_DIGITS.sub("", b or "")
    if not da or not db:
        return False
    if da == db:
        return True
    return len(da) >= 10 and len(db) >= 10 and da[-10:] == db[-10:]


def make_cdr(uniqueid: str, dt: float, src: str = "9022", dst: str = "+74952523060", **extra: Any) -> dict[str, Any]:
    """A CDR dict shaped like the vendor's ``cdr_append`` example."""
    record: dict[str, Any] = {
        "id": zlib.crc32(uniqueid.encode()) % 1_000_000,
        "uniqueid": uniqueid,
        "dt": float(dt),
        "src": src,
        "dst": dst,
        "duration": 14,
        "billsec": 3,
        "cc_queue_waiting_time": 0,
        "lastapp": "bridge",
        "lastdata": "",
        "rec_path": "office.example.org/2021-10-04/",
        "gateway": "Test1",
        "gateway_number": "+74951343060",
        "dial_status": 0,
        "direction": 0,
        "project_id": 0,
        "project_name": "",
        "bridge_hangup_cause": "NORMAL_CLEARING",
        "hold_accum_seconds": 0,
        "geo_ids": "",
        "geo_names": "",
        "link": f"https://pbx.example.org/get_file?file={uniqueid}&token=secret-rec-token",
    }
    record.update(extra)
    return record


class FakePbx:
    """A fake PBX UserCRM endpoint on a real socket. See the module docstring for the modes."""

    def __init__(self, api_key: str = "pbx-test-key") -> None:
        self.api_key = api_key
        #: CDR dicts ``get_cdr`` answers from (filtered, sorted and paged like the PBX).
        self.cdrs: list[dict[str, Any]] = []
        #: Body of ``get_domain_user_list``.
        self.users: list[dict[str, Any]] = [
            {"user_name": "Иванов", "user_surname": "", "uid": "777", "id": 3103, "proto": 0},
            {"user_name": "Петров", "user_surname": "", "uid": "1111", "id": 1937, "proto": 0},
        ]
        #: Every JSON request received, in order (also unauthorized ones).
        self.requests: list[dict[str, Any]] = []
        #: For each entry of :attr:`requests`: did it carry the right ``Authorization``?
        self.authorized: list[bool] = []
        #: Raw ``Authorization`` header of each entry of :attr:`requests` (None when absent).
        self.auth_headers: list[str | None] = []
        #: Params of every accepted ``make_call`` / ``switch_call_hold``.
        self.calls: list[dict[str, Any]] = []
        self.holds: list[dict[str, Any]] = []
        #: How many failures ``flaky`` / ``ratelimit`` serve before answering normally.
        self.flaky_failures = 2
        #: Envelope code and message of ``reject`` (and the message of ``http400``).
        self.reject_code = 400
        self.reject_message = "User crm_user_id is not added to the integration"
        #: Shape of the ``get_cdr`` body: ``"list"`` (default), ``"dict_list"`` ({"list": [...]}),
        #: ``"dict_items"`` ({"items": [...]}) or ``"dict_other"`` ({"rows": [...]}, which a client should reject).
        self.cdr_body_shape = "list"
        #: Leave ``code`` out of successful replies (some PBX builds do).
        self.omit_code = False
        #: Body answered to make_call / switch_call_hold.
        self.action_body: Any = {"success": True}
        self.url = ""
        self._mode = "ok"
        self._failures_served = 0
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- configuration --------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown FakePbx mode {value!r}; one of {sorted(MODES)}")
        self._mode = value
        self._failures_served = 0

    def actions(self) -> list[str]:
        """The ``action`` of every recorded request, in order."""
        return [str(r.get("action")) for r in self.requests]

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port) in the running loop; returns :attr:`url`."""
        if self._runner is not None:
            raise RuntimeError("FakePbx is already running")
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a "hang" handler goes away as soon as the client hangs up.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening and close open connections (hanging handlers are released)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._release is not None:
            self._release.set()
        await runner.cleanup()

    def start_in_thread(self) -> str:
        """Run the server in its own event loop on a daemon thread; returns :attr:`url`."""
        if self._thread is not None:
            raise RuntimeError("FakePbx is already running in a thread")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # report to the starting thread
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name="FakePbx", daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("FakePbx did not start within 10 s")
        if failure:
            thread.join(5)
            raise failure[0]
        self._loop, self._thread = loop, thread
        return self.url

    def stop_thread(self) -> None:
        """Stop a server started with :meth:`start_in_thread` and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            self._loop = self._thread = None

    async def __aenter__(self) -> FakePbx:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST" or request.path != PATH:
            return web.json_response({"code": 404, "error": "not found"}, status=404)
        raw = await request.read()
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return web.json_response({"obj": "UserCRM", "code": 400, "error": "invalid JSON"}, status=400)
        if not isinstance(data, dict):
            return web.json_response({"obj": "UserCRM", "code": 400, "error": "expected an object"}, status=400)
        header = request.headers.get("Authorization")
        ok_key = header == f"Bearer {self.api_key}"
        self.requests.append(data)
        self.authorized.append(ok_key)
        self.auth_headers.append(header)
        if not ok_key:
            return web.json_response({"obj": "UserCRM", "code": 401, "error": "Unauthorized"}, status=401)

        mode = self._mode
        if mode in ("flaky", "ratelimit") and self._failures_served < self.flaky_failures:
            self._failures_served += 1
            if mode == "flaky":
                return web.json_response({"code": 503, "error": "Service Unavailable"}, status=503)
            return web.json_response({"code": 429, "error": "Too Many Requests"}, status=429,
                                     headers={"Retry-After": "0"})
        if mode == "http500":
            return web.json_response({"code": 500, "error": "Internal Server Error"}, status=500)
        if mode == "http504":
            return web.Response(text="<html><body><h1>504 Gateway Time-out</h1></body></html>",
                                status=504, content_type="text/html")
        if mode == "html":
            return web.Response(text="<!DOCTYPE html><html><body><h1>Login</h1></body></html>",
                                content_type="text/html")
        if mode == "garbage":
            return web.Response(body=b"\x00\xffnot json{{", content_type="application/json")
        if mode == "hang":
            assert self._release is not None
            await self._release.wait()
            return web.json_response({"code": 503, "error": "shutting down"}, status=503)
        if mode == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        if mode == "reject":
            return web.json_response(self._envelope(data, code=self.reject_code, message=self.reject_message))
        if mode == "http400":
            return web.json_response({"obj": "UserCRM", "code": 400, "message": self.reject_message}, status=400)
        return web.json_response(self._answer(data))

    # -- the API --------------------------------------------------------------------------------

    def _envelope(self, data: dict[str, Any], *, code: int = 200, body: Any = None, message: str | None = None) -> dict:
        reply: dict[str, Any] = {
            "action": data.get("action"),
            "action_id": data.get("action_id"),
            "obj": "UserCRM",
            "code": code,
            "notifies": [],
        }
        if code == 200 and self.omit_code:
            del reply["code"]
        if message is not None:
            reply["message"] = message
        if body is not None:
            reply["body"] = body
        return reply

    def _answer(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("obj") != "UserCRM":
            return self._envelope(data, code=400, message="obj must be UserCRM")
        params = data.get("params")
        if not isinstance(params, dict):
            return self._envelope(data, code=400, message="params must be an object")
        action = data.get("action")
        if action == "get_cdr":
            return self._get_cdr(data, params)
        if action == "make_call":
            if not params.get("crm_user_id") or not params.get("dst"):
                return self._envelope(data, code=400, message="crm_user_id and dst are required")
            self.calls.append(dict(params))
            return self._envelope(data, body=self.action_body)
        if action == "switch_call_hold":
            if not params.get("crm_user_id") or not params.get("call_id"):
                return self._envelope(data, code=400, message="crm_user_id and call_id are required")
            self.holds.append(dict(params))
            return self._envelope(data, body=self.action_body)
        if action == "get_domain_user_list":
            return self._envelope(data, body=list(self.users))
        return self._envelope(data, code=400, message=f"unknown action {action!r}")

    def _get_cdr(self, data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        sort = data.get("sort", {"dt": "+"})
        limit, offset = data.get("limit", 50), data.get("offset", 0)
        if (not isinstance(sort, dict) or sort.get("dt") not in ("+", "-")
                or not isinstance(limit, int) or not isinstance(offset, int) or limit < 0 or offset < 0):
            return self._envelope(data, code=400, message="bad sort/limit/offset")
        try:
            start = float(params["start_dt"]) if params.get("start_dt") is not None else None
            end = float(params["end_dt"]) if params.get("end_dt") is not None else None
        except (TypeError, ValueError):
            return self._envelope(data, code=400, message="start_dt/end_dt must be unix seconds")
        numbers = params.get("src_or_dst_list")
        if numbers is not None and not isinstance(numbers, list):
            return self._envelope(data, code=400, message="src_or_dst_list must be a list")

        def keep(cdr: dict[str, Any]) -> bool:
            dt = float(cdr.get("dt") or 0)
            if start is not None and dt < start:
                return False
            if end is not None and dt > end:
                return False
            if numbers:
                return any(numbers_match(n, cdr.get("src")) or numbers_match(n, cdr.get("dst")) for n in numbers)
            return True

        rows = sorted((c for c in self.cdrs if keep(c)), key=lambda c: float(c.get("dt") or 0),
                      reverse=sort["dt"] == "-")
        page = rows[offset: offset + limit]
        body: Any = page
        if self.cdr_body_shape == "dict_list":
            body = {"list": page, "total": len(rows)}
        elif self.cdr_body_shape == "dict_items":
            body = {"items": page, "total": len(rows)}
        elif self.cdr_body_shape == "dict_other":
            body = {"rows": page, "total": len(rows)}
        return self._envelope(data, body=body)
