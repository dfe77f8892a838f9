"""``make screenshots``: every window of the tray app, rendered under a private Xvfb, as PNG files.

    .venv/bin/python -m tests.ui.x11.screenshots [--out docs/screenshots] [--lang ru|en] [--only NAME,...]

Nothing here is staged by hand: the script runs the real application object
(:class:`app.main.CompanionApp`: the engine with its webhook on loopback, the pop-up manager,
the panels, the dialer, the card, the settings, the wizard, the diagnostics) against a
:class:`tests.fakes.fake_pbx.FakePbx`, fills the directory through the store's repositories and
then plays an agent's morning as real HTTP posts to the webhook: registrations and agent
statuses, answered and missed calls with their CDRs, a colleague on a call, and finally two
calls ringing at once (a known client and an unknown number) so that two pop-ups stack.

The team-mode pictures come from a second scene in the same process: a
:class:`app.team.server.TeamServer` on the same loop (SQLite in the temp dir, the same fake PBX)
gets the same directory and morning, Anna is added as its agent
(:class:`app.team.agents.AgentAdmin`), and a team-mode ``CompanionApp`` (no engine: a
:class:`app.core.team_api.TeamApi` with her token) follows it: Settings → Connection with a real
"Test connection", the wizard's team page, then the server is stopped and the main window shows
"Offline: team server unreachable".

How it is run:

* The parent process starts one Xvfb (``-displayfd`` picks a free display; 1366x768x24) and
  runs each language in a child process of its own (a fresh QApplication, fresh translators):
  the full set in ``--lang`` (Russian by default: agents are Russian-speaking), then, when
  that is Russian, the main window, the pop-ups and the two team-mode pictures in English with
  an ``-en`` suffix. ``--only NAME,...`` renders just those pictures (each in the languages that
  have it).
* Each child uses its own temporary data, config, cache and log directories (the XDG
  variables point into a temp dir), an in-memory keyring and made-up keys: the user's
  settings, keyring and data are never read or written. The ``PBX_COMPANION_*`` variables of
  the calling shell are dropped for the same reason.
* Events carry no timestamps, so the engine stamps them on arrival. To spread the morning's
  calls over the morning, the script sets the ingestor's clock (``EventIngestor.clock``, the
  seam its constructor takes) to the moment each call happened while it posts that call's
  events, and back to the real clock before the two calls that ring now.
* Single windows are grabbed with ``QWidget.grab()``; the stacked pop-ups are grabbed from the
  screen (``QScreen.grabWindow``) over a plain desktop with the main window open.

Exit status 0 when every picture was written; on failure the child's output is shown. The
engine, the fake PBX, the children and Xvfb are stopped in every case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.ui.x11.xvfb import Xvfb

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT = ROOT / "docs" / "screenshots"
SCREEN = (1366, 768)
CHILD_TIMEOUT = 180

#: Made-up keys for the demo (not the test suite's canaries: those must never reach a file).
CRM_KEY = "demo-crm-key-for-screenshots-7d41"
PBX_KEY = "demo-pbx-key-for-screenshots-2c98"

#: The pictures of the team-mode app (a second scene: a team server on the same loop, the app its client).
TEAM_SHOTS = ("settings-team", "wizard-team", "team-offline")
#: What each job writes: the full set, or the English extras.
FULL_SET = ("popup-known", "popup-unknown", "popups-stacked", "main-window", "missed", "presence", "card",
            "dialer", "settings", "settings-listener", "wizard", "diagnostics", *TEAM_SHOTS)
EXTRAS = ("popup-known", "popup-unknown", "main-window", "settings-team", "team-offline")


# -- the X server (parent process) -------------------------------------------------------------


def run_child(display: str, out: Path, lang: str, shots: tuple[str, ...], suffix: str) -> list[str]:
    """One language in a fresh process; returns the files it wrote."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_COMPANION_")}
    env.pop("WAYLAND_DISPLAY", None)
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", QT_API="pyside6")
    command = [sys.executable, "-m", "tests.ui.x11.screenshots", "--child", "--out", str(out), "--lang", lang,
               "--shots", ",".join(shots), f"--suffix={suffix}"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise RuntimeError(f"the {lang} screenshots took longer than {CHILD_TIMEOUT} s:\n{stderr[-3000:]}") from None
    except BaseException:  # Ctrl-C: the child is in its own session and would not get it
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    lines = stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"the {lang} screenshots failed ({process.returncode}):\n{stdout[-2000:]}\n{stderr[-4000:]}")
    if stderr.strip():
        sys.stderr.write(stderr)
    return list(json.loads(lines[-1])["written"])


def parent(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(args.lang, FULL_SET, "")]
    if args.lang == "ru":
        jobs.append(("en", EXTRAS, "-en"))
    if args.only:
        only = set(args.only.split(","))
        if unknown := only - set(FULL_SET):
            raise RuntimeError(f"no such screenshot: {', '.join(sorted(unknown))} (there are {', '.join(FULL_SET)})")
        jobs = [(lang, tuple(s for s in shots if s in only), suffix) for lang, shots, suffix in jobs]
        jobs = [job for job in jobs if job[1]]
    server = Xvfb("-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-dpi", "96")
    written: list[str] = []
    try:
        for lang, shots, suffix in jobs:
            started = time.monotonic()
            files = run_child(server.display, out, lang, shots, suffix)
            written += files
            print(f"{lang}: {len(files)} screenshots in {time.monotonic() - started:.1f} s", file=sys.stderr)
    finally:
        server.stop()
    total = 0
    for name in written:
        size = (out / name).stat().st_size
        total += size
        print(f"{out / name}  {size // 1024} KiB")
    print(f"{len(written)} files, {total / 1024 / 1024:.2f} MiB in {out}")
    return 0


# -- the scene (child process) -----------------------------------------------------------------

#: The team: (CRM user id, name, extension). Anna is this workstation's agent.
TEAM = [("3", "Анна Смирнова", "9022"), ("4", "Игорь Петров", "9023"), ("5", "Мария Кузнецова", "9024"),
        ("6", "Дмитрий Соколов", "9025"), ("7", "Ольга Новикова", "9026")]
ME = TEAM[0]
#: The PBX's own user list (get_domain_user_list); the reception's extension has no CRM user.
PBX_USERS = [
    {"user_name": "Анна", "user_surname": "Смирнова", "uid": "9022", "id": 3101, "proto": 0},
    {"user_name": "Игорь", "user_surname": "Петров", "uid": "9023", "id": 3102, "proto": 0},
    {"user_name": "Мария", "user_surname": "Кузнецова", "uid": "9024", "id": 3103, "proto": 0},
    {"user_name": "Дмитрий", "user_surname": "Соколов", "uid": "9025", "id": 3104, "proto": 0},
    {"user_name": "Ольга", "user_surname": "Новикова", "uid": "9026", "id": 3105, "proto": 0},
    {"user_name": "Ресепшн", "user_surname": "", "uid": "9030", "id": 3110, "proto": 0},
]
#: The company's line the clients call (rt_vars.gateway_number).
LINE = "74951343060"

VORONOV_MOBILE = "+79162041877"
OFFICE = "+74952523060"
KRYLOVA = "+79165551234"
MOROZOV = "+79037778899"
UNKNOWN = "+79856401290"
BELOVA = "+79261112233"
EGOROV = "+74993210045"

#: (name, company, company owner, contact owner, e-mail, note, [(number, label)])
CONTACTS = [
    ("Алексей Воронов", "ООО «Северный ветер»", "3", "3", "a.voronov@sever-veter.ru",
     "Закупки. Звонить после 11:00, по пятницам до 16:00. Договор № 2024/117.",
     [(VORONOV_MOBILE, "mobile"), (OFFICE, "work")]),
    ("Марина Лебедева", "ООО «Северный ветер»", "3", None, "buh@sever-veter.ru", "Бухгалтерия: счета и акты.",
     [(OFFICE, "work"), ("+79034105521", "mobile")]),
    ("Елена Крылова", "АО «Техностиль»", "4", None, "krylova@technostyle.ru", "", [(KRYLOVA, "mobile")]),
    ("Сергей Морозов", "ИП Морозов С. А.", None, "5", "", "Розница, два магазина.", [(MOROZOV, "mobile")]),
    ("Наталья Белова", "", None, None, "", "", [(BELOVA, "mobile")]),
    ("Павел Егоров", "ООО «Горизонт Логистик»", "6", None, "p.egorov@gorizont-log.ru", "", [(EGOROV, "work")]),
]


def free_port() -> int:
    """A port free right now on loopback, so that the settings show the port the listener uses."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SceneClock:
    """The ingestor's clock: a chosen moment while a past call is posted, else the real time."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self) -> float:
        return time.time() if self.at is None else self.at


def child(args: argparse.Namespace) -> int:
    """Set up a private environment, then build and photograph the scene on a qasync loop."""
    if os.environ.get("QT_QPA_PLATFORM") != "xcb" or not os.environ.get("DISPLAY"):
        print("run through `python -m tests.ui.x11.screenshots` (it starts Xvfb)", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="pbx-companion-screens-"))
    try:
        for name in ("CONFIG", "DATA", "STATE", "CACHE"):
            os.environ[f"XDG_{name}_HOME"] = str(scratch / name.lower())
        runtime = scratch / "runtime"
        runtime.mkdir(mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        for name in [k for k in os.environ if k.startswith("PBX_COMPANION_")]:
            del os.environ[name]
        written = run_scene(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"written": written}))
    return 0


def run_scene(args: argparse.Namespace, scratch: Path) -> list[str]:
    import keyring
    import PySide6.QtWidgets  # noqa: F401  - PySide6 before qasync
    import qasync
    from PySide6.QtCore import QLocale, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from app.core.secrets import CRM_API_KEY, PBX_API_KEY, SERVICE
    from app.ui.i18n import install_translators
    from tests.support.memory_keyring import MemoryKeyring

    messages: list[str] = []

    def record_message(kind: QtMsgType, context: Any, text: str) -> None:
        if kind != QtMsgType.QtDebugMsg:
            messages.append(text)

    qInstallMessageHandler(record_message)
    memory = MemoryKeyring()
    memory.set_password(SERVICE, PBX_API_KEY, PBX_KEY)
    memory.set_password(SERVICE, CRM_API_KEY, CRM_KEY)
    keyring.set_keyring(memory)

    qapp = QApplication(["pbx-companion"])
    qapp.setApplicationName("pbx-companion")
    qapp.setQuitOnLastWindowClosed(False)
    if args.lang == "ru":
        QLocale.setDefault(QLocale(QLocale.Language.Russian, QLocale.Country.Russia))
    else:
        QLocale.setDefault(QLocale(QLocale.Language.English, QLocale.Country.UnitedStates))
    install_translators(qapp, args.lang)
    loop = qasync.QEventLoop(qapp)
    try:
        scene = Scene(args, scratch, memory)
        written = loop.run_until_complete(scene.run())
    finally:
        loop.close()
    for text in messages:
        print(f"qt: {text}", file=sys.stderr)
    return written


def client_cards() -> list[Any]:
    """The open client cards (the shell opens one per "Open card")."""
    from PySide6.QtWidgets import QApplication

    from app.ui.card import ClientCard

    return [w for w in QApplication.topLevelWidgets() if isinstance(w, ClientCard) and w.isVisible()]


class Scene:
    """The application, the fake PBX, the events, and the pictures."""

    def __init__(self, args: argparse.Namespace, scratch: Path, memory: Any) -> None:
        self.out = Path(args.out)
        self.lang = args.lang
        self.shots = tuple(args.shots.split(",")) if args.shots else FULL_SET
        self.suffix = args.suffix
        self.scratch = scratch
        self.memory = memory
        self.written: list[str] = []
        self.clock = SceneClock()
        self.app: Any = None
        self.engine: Any = None  # the engine the webhook events go to: the app's, or the team server's
        self.fake: Any = None
        self.session: Any = None
        self.url = ""
        self.team_server: Any = None

    # -- helpers ---------------------------------------------------------------------------

    def wanted(self, name: str) -> bool:
        return name in self.shots

    def save(self, name: str, pixmap: Any) -> None:
        if pixmap.isNull():
            raise RuntimeError(f"{name}: the grab is empty")
        file_name = f"{name}{self.suffix}.png"
        target = self.out / file_name
        partial = target.with_suffix(".tmp.png")
        if not pixmap.save(str(partial), "PNG", 0):  # quality 0: the strongest compression
            raise RuntimeError(f"could not write {partial}")
        partial.replace(target)
        self.written.append(file_name)

    async def grab(self, name: str, widget: Any) -> None:
        """Save ``widget`` as it looks now (after a paint: pending layouts and loads settle first)."""
        if not self.wanted(name):
            return
        await self.settle()
        self.save(name, widget.grab())

    @staticmethod
    async def settle(seconds: float = 0.25) -> None:
        from PySide6.QtWidgets import QApplication

        await asyncio.sleep(seconds)
        QApplication.processEvents()

    @staticmethod
    async def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def post(self, action: str, body: dict[str, Any]) -> None:
        """One PBX event, as the PBX sends it: a real HTTP POST with the CRM key."""
        import uuid

        message = {"action": action, "obj": "UserCRM", "action_id": str(uuid.uuid4()), "code": 200,
                   "notifies": [], "body": body}
        async with self.session.post(self.url, json=message,
                                     headers={"Authorization": f"Bearer {CRM_KEY}"}) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"{action}: HTTP {response.status}: {text[:200]}")

    # -- the events ------------------------------------------------------------------------

    @staticmethod
    def call_body(call_id: str, other: str, *, user: tuple[str, str, str] = ME, direction: int = 0,
                  **extra: Any) -> dict[str, Any]:
        """A call event's body; the caller's number is ``other_leg``, our line is ``gateway_number``."""
        rt_vars = {"gateway_number": LINE}
        cause = extra.pop("hangup_cause", None)
        if cause:
            rt_vars["hangup_cause"] = cause
        body = {"call_id": call_id, "session_id": f"s-{call_id}", "crm_user": user[0],
                "domain_user": user[2], "other_leg": other, "rt_vars": rt_vars, "direction": direction}
        body.update(extra)
        return body

    @staticmethod
    def cdr(uniqueid: str, dt: float, other: str, *, direction: int = 0, billsec: int = 0, wait: int = 12,
            extension: str = ME[2], recorded: bool = True) -> dict[str, Any]:
        """A CDR shaped like the vendor's ``cdr_append`` example; an answered call has a recording link."""
        incoming = direction == 0
        dial_other = "8" + other[2:] if other.startswith("+7") else other
        day = time.strftime("%Y-%m-%d", time.localtime(dt))
        return {
            "id": zlib.crc32(uniqueid.encode()) % 1_000_000, "uniqueid": uniqueid, "dt": float(dt),
            "src": other if incoming else extension, "dst": extension if incoming else dial_other,
            "duration": billsec + wait, "billsec": billsec, "cc_queue_waiting_time": 0,
            "lastapp": "bridge", "lastdata": "", "rec_path": f"office.example.org/{day}/",
            "gateway": "Городская линия", "gateway_number": "+" + LINE, "dial_status": 0 if billsec else 1,
            "direction": direction, "project_id": 0, "project_name": "",
            "bridge_hangup_cause": "NORMAL_CLEARING" if billsec else "NO_ANSWER",
            "hold_accum_seconds": 0, "geo_ids": "", "geo_names": "Москва",
            "link": (f"https://office.example.org/get_file?file={uniqueid}.mp3&token=demo-{uniqueid}"
                     if recorded and billsec else ""),
        }

    async def past_call(self, call_id: str, at: float, other: str, *, answered_for: int = 0,
                        direction: int = 0, user: tuple[str, str, str] = ME, note: tuple[str, str] | None = None,
                        ring: int = 12) -> None:
        """One finished call (ringing → answer → hangup, then its CDR), as it happened at ``at``."""
        self.clock.at = at
        await self.post("call_ringing", self.call_body(call_id, other, user=user, direction=direction))
        if answered_for:
            self.clock.at = at + ring
            await self.post("call_answer", self.call_body(call_id, other, user=user, direction=direction))
        self.clock.at = at + ring + answered_for
        await self.post("call_hangup", self.call_body(
            call_id, other, user=user, direction=direction, variable_answersec=str(answered_for),
            hangup_cause="NORMAL_CLEARING" if answered_for else "NO_ANSWER"))
        self.clock.at = at + ring + answered_for + 2
        await self.post("cdr_append", self.cdr(call_id, at, other, direction=direction, billsec=answered_for,
                                               wait=ring, extension=user[2]))
        self.clock.at = None
        if note is not None:
            outcome, text = note
            await self.engine.store.write(lambda s: s.notes.set(call_id, text, outcome, at + ring + answered_for))

    async def fill_directory(self) -> None:
        from app.storage import ContactRecord, CrmUser, PhoneRecord

        normalizer = self.engine.normalizer
        tr = self.tr_label

        def write(session: Any) -> None:
            for user_id, name, extension in TEAM:
                session.users.upsert(CrmUser(user_id, name, extension))
            for name, company, company_owner, owner, email, note, phones in CONTACTS:
                company_id = session.contacts.company_id(company, company_owner) if company else None
                records = [PhoneRecord(normalizer.key(number), normalizer.display(normalizer.parse(number)),
                                       tr(label)) for number, label in phones]
                session.contacts.save(ContactRecord(None, name, company_id, owner_id=owner, email=email or None,
                                                    note=note or None, phones=records))

        await self.engine.store.write(write)

    def tr_label(self, label: str) -> str:
        """Phone labels as the card's editor offers them, in the scene's language."""
        from PySide6.QtCore import QCoreApplication

        return QCoreApplication.translate("PhoneRow", label)

    async def morning(self) -> None:
        """Presence, then this morning's calls, spread over the last hours."""
        now = time.time()
        for (_user_id, _name, extension), status in zip(TEAM, (1, 1, 1, 1, 0), strict=True):
            await self.post("user_change", {"user_uid": extension, "status": status, "protocol": 0})
        await self.post("user_change", {"user_uid": "9030", "status": 1, "protocol": 0})
        statuses = [("9022", -1, "Доступен"), ("9023", -3, "Обед"), ("9024", -1, "Доступен"),
                    ("9025", -2, "Обучение"), ("9026", -4, "")]
        for extension, base, name in statuses:
            body: dict[str, Any] = {"user_uid": extension, "base_status": base, "extra_status": 0}
            if name:
                body["status_name"] = name
            await self.post("agent_change", body)

        # These calls are long over: their pop-ups went away when they ended.
        settings = self.engine.settings
        linger, settings.popup_linger_s = settings.popup_linger_s, 0.0
        minute = 60
        await self.past_call("c-0901", now - 262 * minute, VORONOV_MOBILE, answered_for=205,
                             note=(self.tr_outcome("Call back"),
                                   "Уточнил сроки поставки; пришлёт заявку на 40 позиций, перезвонить в пятницу."))
        await self.past_call("c-0934", now - 229 * minute, EGOROV, answered_for=94)
        await self.past_call("c-1012", now - 191 * minute, KRYLOVA)                   # missed
        await self.past_call("c-1047", now - 156 * minute, UNKNOWN, ring=21)          # missed, unknown number
        await self.past_call("c-1120", now - 123 * minute, MOROZOV, direction=1, answered_for=312)
        await self.past_call("c-1138", now - 95 * minute, VORONOV_MOBILE, answered_for=48,
                             note=(self.tr_outcome("Resolved"), "Счёт № 583 выставлен, отправлен на почту."))
        await self.past_call("c-1206", now - 31 * minute, MOROZOV, ring=18)           # missed
        # A colleague's call still going on (the team panel shows her "on a call").
        maria = TEAM[2]
        self.clock.at = now - 4 * minute
        await self.post("call_ringing", self.call_body("c-1251", BELOVA, user=maria))
        self.clock.at = now - 4 * minute + 9
        await self.post("call_answer", self.call_body("c-1251", BELOVA, user=maria))
        self.clock.at = None
        settings.popup_linger_s = linger

    def tr_outcome(self, text: str) -> str:
        from PySide6.QtCore import QCoreApplication

        return QCoreApplication.translate("ClientCard", text)

    def older_cdrs(self) -> list[dict[str, Any]]:
        """Alexey's calls of the last weeks, which only the PBX has ("Load older calls from PBX")."""
        day = 86400
        now = time.time()
        plan = [(2, VORONOV_MOBILE, 0, 186), (5, OFFICE, 1, 412), (8, VORONOV_MOBILE, 0, 0), (9, VORONOV_MOBILE, 1, 75),
                (15, OFFICE, 0, 264), (22, VORONOV_MOBILE, 1, 0), (29, VORONOV_MOBILE, 0, 530), (41, OFFICE, 1, 133)]
        records = []
        for n, (days, number, direction, billsec) in enumerate(plan):
            at = now - days * day - (n * 3517) % 20000
            records.append(self.cdr(f"old-{n:02d}", at, number, direction=direction, billsec=billsec,
                                    wait=9 + n, recorded=n % 3 != 2))
        return records

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> list[str]:
        import aiohttp

        from tests.fakes.fake_pbx import FakePbx

        fake = self.fake = FakePbx(api_key=PBX_KEY)
        fake.users = [dict(u) for u in PBX_USERS]
        fake.cdrs = self.older_cdrs()
        await fake.start()
        self.session = aiohttp.ClientSession()
        try:
            if any(self.wanted(name) for name in FULL_SET if name not in TEAM_SHOTS):
                await self.standalone()
            if any(self.wanted(name) for name in TEAM_SHOTS):
                await self.team()
        finally:
            await self.session.close()
            await fake.stop()
        return self.written

    async def standalone(self) -> None:
        """This computer is the webhook: the app with its engine, the morning posted to its listener."""
        from PySide6.QtWidgets import QApplication

        from app.core.secrets import Keys
        from app.core.settings import Settings
        from app.main import CompanionApp

        app = None
        try:
            settings = Settings(data_dir=str(self.scratch / "data"), port=free_port(), pbx_url=self.fake.url,
                                crm_user=ME[0], crm_user_name=ME[1], extension=ME[2], popup_linger_s=4.0,
                                language=self.lang).validate()
            qapp = QApplication.instance()
            app = self.app = CompanionApp(qapp, settings, Keys(CRM_KEY, PBX_KEY))
            self.engine = app.engine
            app.engine.ingestor.clock = self.clock
            await app.start()
            assert app.engine.server is not None
            self.url = app.engine.server.url
            await self.fill_directory()
            await self.morning()
            await self.photograph()
        finally:
            if app is not None:
                await self.close_app(app)  # windows, tasks, then the engine: listener, PBX client, store

    async def team(self) -> None:
        """Team mode: a team server on this loop (SQLite in the scratch directory, the fake PBX) gets
        the same directory and morning; Anna is its agent, and her app is its client (no engine)."""
        from PySide6.QtWidgets import QApplication

        from app.core.secrets import AGENT_TOKEN, CRM_API_KEY, PBX_API_KEY, SERVICE, Keys
        from app.core.settings import Settings
        from app.main import CompanionApp
        from app.team.agents import AgentAdmin
        from app.team.server import TeamServer

        server_settings = Settings(data_dir=str(self.scratch / "team-server"), port=0,
                                   pbx_url=self.fake.url).validate()
        server = self.team_server = TeamServer(server_settings, Keys(CRM_KEY, PBX_KEY))
        self.url = await server.start()
        app = None
        # an agent's workstation in team mode has no PBX or CRM key: the server has them
        pbx_keys = {name: self.memory.store.pop((SERVICE, name), None) for name in (PBX_API_KEY, CRM_API_KEY)}
        try:
            self.engine = server.engine
            server.engine.ingestor.clock = self.clock
            await self.fill_directory()
            await self.morning()
            token = AgentAdmin(server.engine.store).add(ME[1], ME[0], ME[2]).token
            self.memory.set_password(SERVICE, AGENT_TOKEN, token)
            settings = Settings(data_dir=str(self.scratch / "team-app"), mode="team",
                                team_server=self.url.removesuffix("/webhook"), popup_linger_s=4.0,
                                language=self.lang).validate()
            app = self.app = CompanionApp(QApplication.instance(), settings, Keys(None, None, token))
            await app.start()
            await self.wait_for(lambda: app.status.team == "live", "the team server's feed", timeout=30)
            await self.photograph_team(token)
        finally:
            if app is not None:
                await self.close_app(app)  # windows, tasks, then the feed
            await self.stop_team_server()
            self.memory.store.pop((SERVICE, AGENT_TOKEN), None)
            for name, value in pbx_keys.items():
                if value is not None:
                    self.memory.set_password(SERVICE, name, value)

    async def stop_team_server(self) -> None:
        server, self.team_server = self.team_server, None
        if server is not None:
            await server.stop()

    @staticmethod
    async def close_app(app: Any) -> None:
        for card in client_cards():
            card.close()
        if hasattr(app, "popups"):
            app.popups.shutdown()
        await app.shutdown()

    async def photograph(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QCursor, QGuiApplication

        app = self.app
        screen = QGuiApplication.primaryScreen()
        area = screen.availableGeometry()
        QCursor.setPos(area.center())

        # -- the main window (no tray under Xvfb): missed calls and the team ---------------------
        from app.ui.shell import MISSED_PANEL, TEAM_PANEL

        main = app.shell.main_window
        main.move(area.x() + 40, area.y() + 40)
        missed = app.shell.missed_panel
        await self.wait_for(lambda: missed.model.count == 3, "three missed calls")
        app.shell.show_main_window(TEAM_PANEL)
        await self.wait_for(lambda: app.shell.presence_panel.model.rowCount() == len(PBX_USERS)
                            and not app.shell.presence_panel.model.loading, "the team panel")
        await self.grab("presence", app.shell.presence_panel)
        app.shell.show_main_window(MISSED_PANEL)
        missed.view.selectRow(0)
        await self.grab("missed", missed)

        # -- two calls ring: a known client, then an unknown number -----------------------------
        desktop = self.desktop(screen)
        main.raise_()
        await self.post("call_ringing", self.call_body("c-1302", VORONOV_MOBILE))
        await self.wait_for(lambda: app.popups.popup("c-1302") is not None
                            and app.popups.popup("c-1302").info is not None, "the first pop-up")
        await self.settle(0.3)
        await self.post("call_ringing", self.call_body("c-1303", UNKNOWN))
        await self.wait_for(lambda: app.popups.popup("c-1303") is not None
                            and app.popups.popup("c-1303").info is not None, "the second pop-up")
        for popup in app.popups.popups():
            await self.wait_for(lambda p=popup: p.windowHandle() is not None and p.windowHandle().isExposed(),
                                "the pop-ups on screen")
        known, unknown = app.popups.popup("c-1302"), app.popups.popup("c-1303")
        await self.grab("popup-known", known)
        await self.grab("popup-unknown", unknown)
        await self.grab("main-window", main)
        if self.wanted("popups-stacked"):
            await self.settle(0.5)
            self.save("popups-stacked", screen.grabWindow(0))
        desktop.hide()
        desktop.deleteLater()

        # -- the client card, opened from the pop-up ----------------------------------------------
        if self.wanted("card"):
            known.open_card_button.click()
            await self.wait_for(lambda: bool(client_cards()) and not client_cards()[0].is_loading, "the client card")
            card = client_cards()[0]
            card.move(area.x() + 20, area.y() + 20)
            finished: list[tuple[int, int]] = []
            card.pbx_finished.connect(lambda fetched, added: finished.append((fetched, added)))
            card.load_older_calls()
            await self.wait_for(lambda: bool(finished), "older calls from the PBX")
            if not card.select_call("c-0901"):
                raise RuntimeError("the card does not list this morning's first call")
            card.timeline_view.setFocus(Qt.FocusReason.OtherFocusReason)
            await self.grab("card", card)
            card.close()

        # -- the dialer: a typed number, its preview, the contacts with it, the notice -----------
        if self.wanted("dialer"):
            dialer = app.shell.open_dialer()
            dialer.move(area.x() + 60, area.y() + 60)
            dialer.number_edit.setText("8 (495) 252-30-60")
            await self.wait_for(lambda: dialer.model.rowCount() == 2, "the dialer's search results")
            dialer.call()
            await self.wait_for(lambda: bool(self.fake.calls) and not app.dial_service.busy, "the dialer's notice")
            await self.grab("dialer", dialer)
            dialer.hide()

        # -- settings: "Test connection", then the listener's tab with the webhook self-test -----
        if self.wanted("settings") or self.wanted("settings-listener"):
            dialog = app.shell.open_settings()
            dialog.move(area.x() + 80, area.y() + 40)
            dialog.test_connection()
            await self.wait_for(lambda: dialog.test_button.isEnabled(), "the connection test")
            await self.grab("settings", dialog)
            dialog.tabs.setCurrentIndex(1)
            dialog.webhook_self_test()
            await self.wait_for(lambda: dialog.selftest_button.isEnabled(), "the webhook self-test")
            await self.grab("settings-listener", dialog)
            dialog.hide()

        # -- diagnostics: PBX checked, the newest CDR's payload (its link token masked) ----------
        if self.wanted("diagnostics"):
            panel = app.shell.open_diagnostics()
            panel.move(area.x() + 40, area.y() + 40)
            await self.wait_for(lambda: panel.events_loaded > 0 and panel.health.listener_up is not None,
                                "the diagnostics")
            await self.settle(0.4)  # the event list refreshes itself once more after the last events
            panel.check_pbx()
            await self.wait_for(lambda: panel.check_pbx_button.isEnabled(), "the PBX check")
            model = panel.model
            events = model.events()
            row = next((n for n, e in enumerate(events) if e.action == "cdr_append" and "get_file" in e.payload), 0)
            panel.table.selectRow(row)
            await self.settle(0.1)
            found = panel.payload.document().find('"link"')  # the recording link, its token masked
            if not found.isNull():
                found.clearSelection()
                panel.payload.setTextCursor(found)
                panel.payload.centerCursor()
            await self.grab("diagnostics", panel)
            panel.hide()

        # -- the first-run wizard as a new workstation sees it: its first page, the mode ------------
        if self.wanted("wizard"):
            from app.ui.wizard import FirstRunWizard

            wizard = FirstRunWizard(app.ctx)
            wizard.move(area.x() + 100, area.y() + 60)
            wizard.show()
            await self.grab("wizard", wizard)
            wizard.hide()
            wizard.deleteLater()

    async def photograph_team(self, token: str) -> None:
        """The team-mode app: settings with "Test connection" against the running server, the
        wizard's team page, then the main window after the server went away."""
        from PySide6.QtGui import QCursor, QGuiApplication

        from app.core.secrets import AGENT_TOKEN, SERVICE
        from app.ui.shell import MISSED_PANEL

        app = self.app
        area = QGuiApplication.primaryScreen().availableGeometry()
        QCursor.setPos(area.center())
        missed = app.shell.missed_panel
        await self.wait_for(lambda: missed.model.count == 3, "three missed calls from the team server")

        # -- settings, Connection: team mode, the stored token, "Test connection" says who it is --
        if self.wanted("settings-team"):
            dialog = app.shell.open_settings()
            dialog.move(area.x() + 80, area.y() + 40)
            if not dialog.mode_team.isChecked():
                raise RuntimeError("the settings window does not show team mode")
            dialog.test_team_connection()
            await self.wait_for(lambda: dialog.team_test_button.isEnabled(), "the team connection test", 20)
            await self.grab("settings-team", dialog)
            dialog.hide()

        # -- the wizard's team page on a workstation with no token yet: typed, then tested ---------
        if self.wanted("wizard-team"):
            from app.ui.wizard import FirstRunWizard

            self.memory.delete_password(SERVICE, AGENT_TOKEN)
            try:
                wizard = FirstRunWizard(app.ctx)
                wizard.move(area.x() + 100, area.y() + 60)
                wizard.show()
                wizard.mode_page.team.setChecked(True)
                wizard.next()
                page = wizard.team_page
                if wizard.currentPage() is not page:
                    raise RuntimeError("the wizard did not go on to its team page")
                page.token.edit.setText(token)
                page.token.edit.setCursorPosition(0)
                page.test_connection()
                await self.wait_for(lambda: page.test_button.isEnabled(), "the wizard's team connection test", 20)
                await self.grab("wizard-team", wizard)
                wizard.hide()
                wizard.deleteLater()
            finally:
                self.memory.set_password(SERVICE, AGENT_TOKEN, token)

        # -- the team server goes away: the main window (no tray under Xvfb) says so -------------
        if self.wanted("team-offline"):
            await self.stop_team_server()
            await self.wait_for(lambda: app.status.team == "unreachable", "the app to notice the server is gone",
                                timeout=45)
            main = app.shell.main_window
            main.move(area.x() + 40, area.y() + 40)
            app.shell.show_main_window(MISSED_PANEL)
            await self.grab("team-offline", main)

    def desktop(self, screen: Any) -> Any:
        """A plain desktop behind the windows for the screen grab (Xvfb's root is black)."""
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QWidget

        desktop = QWidget(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnBottomHint)
        desktop.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        desktop.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        desktop.setStyleSheet("background: qlineargradient(x1:0, y1:0, x2:1, y2:1, stop:0 #35597d, stop:1 #1d3147);")
        desktop.setGeometry(screen.geometry())
        desktop.show()
        desktop.lower()
        return desktop


# -- entry point -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render every window of the tray app under Xvfb to PNG files.")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for the PNG files (default: docs/screenshots)")
    parser.add_argument("--lang", choices=("ru", "en"), default="ru",
                        help="UI language (default ru; with ru the main window and pop-ups are also made in English)")
    parser.add_argument("--only", default="", metavar="NAME,...",
                        help="only these pictures (e.g. settings-team,team-offline), in each language that has them")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shots", default="", help=argparse.SUPPRESS)
    parser.add_argument("--suffix", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    try:
        return parent(args)
    except RuntimeError as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
