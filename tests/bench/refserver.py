"""Reference servers the real one is compared with, each run as its own process.

``python -m tests.bench.refserver bare --port 0``
    aiohttp with one handler that reads the body and returns a constant reply: the floor
    of what any aiohttp webhook can do on this machine.

``python -m tests.bench.refserver sqlite --port 0 --db FILE``
    the minimal real ``get_contact``: parse the JSON, one indexed SQLite lookup run
    synchronously in the handler (no auth, no validation, no thread hop), JSON reply.

Both print ``listening on http://HOST:PORT/webhook`` once the socket is bound and stop on
SIGTERM/SIGINT. Like ``serve``, they use ``web.AppRunner`` with the access log off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import sys

from aiohttp import web

CONSTANT = json.dumps({"action": "get_contact", "obj": "UserCRM", "code": 200, "list": []}).encode()

LOOKUP = (
    "SELECT c.id, c.name, c.company_id, co.name, co.owner_id, c.owner_id"
    " FROM phones p JOIN contacts c ON c.id = p.contact_id"
    " LEFT JOIN companies co ON co.id = c.company_id"
    " WHERE p.key = ? ORDER BY c.id"
)


def bare_app() -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=CONSTANT, content_type="application/json")

    app = web.Application()
    app.router.add_post("/webhook", handle)
    return app


def sqlite_app(db: str) -> web.Application:
    conn = sqlite3.connect(db, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")

    async def handle(request: web.Request) -> web.Response:
        data = json.loads(await request.read())
        key = str(data["params"]["e164_phone"]).lstrip("+")
        found = []
        for contact_id, name, company_id, company_name, company_owner, owner in conn.execute(LOOKUP, (key,)):
            if company_id is not None:
                found.append({"name": company_name, "id": company_id, "type": "company", "owner_id": company_owner})
            found.append({"name": name, "id": contact_id, "type": "contact", "company_id": company_id,
                          "company_name": company_name, "owner_id": owner})
        reply = {"action": "get_contact", "obj": "UserCRM", "code": 200, "list": found}
        return web.Response(body=json.dumps(reply, ensure_ascii=False).encode(), content_type="application/json")

    app = web.Application()
    app.router.add_post("/webhook", handle)

    async def close(_: web.Application) -> None:
        conn.close()

    app.on_cleanup.append(close)
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"listening on http://{host}:{bound}/webhook", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("bare", "sqlite"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db")
    args = parser.parse_args()
    app = bare_app() if args.kind == "bare" else sqlite_app(args.db)
    asyncio.run(serve(app, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
