"""Data from the PBX and the directory is shown as the text it is, never rendered as markup.

Qt guesses rich text (``Qt::mightBeRichText``) for labels, tooltips and message boxes. A CRM user
named ``<img src="/path/to/a/fifo">`` froze the whole process, webhook included, when the team
panel's tooltip showed it: Qt opened the FIFO to load the image. Here every field the PBX or the
directory fills holds such an ``<img>`` pointing at a real FIFO, ``<b>x</b>`` markup and a bidi
override; the real app (:class:`app.main.CompanionApp`, the fake PBX, webhook posts over HTTP)
opens every window it has, and every label, tooltip and table cell is laid out and painted:
labels grabbed, each widget's tooltip and each cell's tooltip shown through a real tooltip event.

Another process watches the FIFO: when something here opens it for reading, the watcher lets the
reader see EOF and counts it, and the test fails instead of hanging. (Nothing in this process could
end that hang: Qt blocked in ``open()`` holds the GIL, and retries the call when a signal
interrupts it; the timeout is the last resort for waits that never end.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtGui
from PySide6.QtCore import QAbstractListModel, QEvent, QModelIndex, QPoint, Qt
from PySide6.QtGui import QHelpEvent, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLabel,
    QStatusBar,
    QToolTip,
    QWidget,
)

from app.core.secrets import Keys
from app.storage import ContactRecord, CrmUser, PhoneRecord
from tests.support import canary
from tests.support.companion import start_companion
from tests.support.qtloop import run, settle, wait_until
from tests.support.webhook import call_body, cdr_body, envelope

#: Offscreen Qt cannot raise windows (tooltips, pop-ups) or pass size hints; harmless.
pytestmark = [pytest.mark.usefixtures("english"),
              pytest.mark.qt_log_ignore("This plugin does not support (raise|propagateSizeHints)")]

#: A last resort for a wait that never ends (a Qt blocked opening the FIFO is unblocked by FifoWatch).
TIMEOUT = pytest.mark.timeout(60)

CLIENT = "+74952523060"
RLO = "\u202e"
MARK = "<b>x</b>"  # what must be read as these eight characters wherever data is shown


#: The watcher: opens the FIFO's write end without blocking, which works only while a reader holds it
#: open (ENXIO otherwise), then closes it at once, so that the reader reads EOF and carries on. Each
#: time, it appends a line to the log file. It ends when the FIFO is gone.
_WATCH = """
import errno, os, sys, time
path, log = sys.argv[1:]
print("ready", flush=True)
while True:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        break
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise
        time.sleep(0.002)
        continue
    os.close(fd)
    with open(log, "a") as out:
        out.write("opened\\n")
"""


class FifoWatch:
    """A FIFO nobody may open, and a process that notices when something does.

    Not a thread: Qt blocked in ``open()`` holds the GIL, so no Python thread of this process (nor
    pytest-timeout's) would ever run again; another process unblocks the reader and counts it. It
    watches until :meth:`stop`, after the app has shut down (its last repaints may open it too).
    """

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = str(path)
        self._log = path.with_name(path.name + ".opened")
        self._log.touch()
        self._process = subprocess.Popen([sys.executable, "-c", _WATCH, self.path, str(self._log)],
                                         stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None and self._process.stdout.readline() == "ready\n"

    @property
    def opened(self) -> int:
        """How many times a reader has opened the FIFO so far."""
        return self._log.read_text().count("opened")

    def stop(self) -> None:
        os.unlink(self.path)  # from now on opening it fails at once; the watcher ends
        try:
            self._process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate(timeout=10)


@dataclass
class Hostile:
    """The texts the PBX and the directory send, each with an image pointing at the FIFO."""

    img: str

    @property
    def name(self) -> str:
        return f"{self.img}Иван {MARK}"

    @property
    def company(self) -> str:
        return f"{self.img}ООО {RLO}Ромашка {MARK}"

    @property
    def company_shown(self) -> str:
        return self.company.replace(RLO, "")

    @property
    def contact_note(self) -> str:
        return f"<b>note</b>\n{self.img}"

    @property
    def crm_id(self) -> str:
        return self.img

    @property
    def crm_name(self) -> str:
        return f"{self.img}Мария {MARK}"

    @property
    def crm_id_from_event(self) -> str:
        return f"{self.img}55"

    @property
    def status_name(self) -> str:
        return f"{self.img}Обед {MARK}"

    @property
    def pbx_name(self) -> str:
        return f"{self.img}Петров {MARK}"

    @property
    def call_note(self) -> str:
        return f"{MARK} call note\n{self.img}"

    @property
    def outcome(self) -> str:
        return f"{self.img}{MARK}"

    @property
    def refusal(self) -> str:
        return f"{self.img}{MARK} refused"

    @property
    def pbx_problem(self) -> str:
        return f"{self.img}{MARK} problem"

    @property
    def link(self) -> str:
        return f"https://pbx.example.com/{self.img}/rec.wav?token=1"


@dataclass
class Shown:
    """One text as the agent reads it on screen."""

    where: str
    text: str
    tooltip: bool = False


@dataclass
class Opened:
    app: Any
    data: Hostile
    fifo: FifoWatch
    contact_id: int
    windows: dict[str, QWidget] = field(default_factory=dict)
    tray: Any = None


# -- building the app with hostile data ----------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[FifoWatch]:
    watch = FifoWatch(tmp_path / "fifo")
    yield watch
    watch.stop()


@pytest.fixture
def companion(qapp, qloop, settings, fake_pbx):

    settings.pbx_url = fake_pbx.url
    settings.popup_linger_s = 0.0

    app = start_companion(qloop, qapp, settings, Keys(canary.CRM_KEY, canary.PBX_KEY))
    yield app
    if not app.engine.store._closed:
        run(qloop, app.shutdown())


def _post(qloop, app: Any, action: str, body: dict[str, Any]) -> None:
    import aiohttp

    from tests.support.webhook import post

    async def go() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session:
            return await post(session, app.engine.server.url, envelope(action, body))

    status, reply = run(qloop, go())
    assert status == 200, reply


@pytest.fixture
def opened(fifo, companion, qloop, fake_pbx) -> Iterator[Opened]:  # fifo first: it outlives the app
    """The app with hostile data everywhere and every window open."""
    from app.ui.shell import TEAM_PANEL
    from app.ui.tray import Status, TrayController

    app = companion
    data = Hostile(f'<img src="{fifo.path}">')
    shell = app.shell
    fake_pbx.users.append({"user_name": data.pbx_name, "user_surname": "", "uid": "9077", "id": 7, "proto": 0})

    def write(session: Any) -> int:
        session.users.upsert(CrmUser(data.crm_id, data.crm_name, "9077"))
        company_id = session.contacts.company_id(data.company)
        phones = [PhoneRecord(app.ctx.normalizer.key(CLIENT), CLIENT, MARK)]
        return session.contacts.save(ContactRecord(None, data.name, company_id=company_id, owner_id=data.crm_id,
                                                   note=data.contact_note, phones=phones))

    contact_id = run(qloop, app.engine.store.write(write))
    result = Opened(app, data, fifo, contact_id)

    # the PBX's events: statuses, calls from the contact and from a "number" that is markup, a CDR
    _post(qloop, app, "agent_change", {"user_uid": "9022", "crm_user": "3", "base_status": -1, "extra_status": 0,
                                       "status_name": data.status_name})
    _post(qloop, app, "agent_change", {"user_uid": "9055", "crm_user": data.crm_id_from_event, "base_status": -3,
                                       "extra_status": 0, "status_name": data.status_name})
    for call_id in ("missed", "missed-anon"):
        anonymous = call_id.endswith("anon")
        body = call_body(call_id, other_leg=data.img if anonymous else CLIENT, gateway_number=data.img)
        _post(qloop, app, "call_ringing", body)
        _post(qloop, app, "call_hangup", body)
    _post(qloop, app, "call_ringing", call_body("ring", other_leg=CLIENT, gateway_number=data.img))
    _post(qloop, app, "call_ringing", call_body("ring-anon", other_leg=data.img, gateway_number=data.img))
    _post(qloop, app, "cdr_append", cdr_body("u-1", src=CLIENT, link=data.link))
    run(qloop, app.api.calls.set_note("u-1", data.call_note, data.outcome))
    wait_until(qloop, lambda: all(app.popups.popup(c) is not None and app.popups.popup(c).info is not None
                                  for c in ("ring", "ring-anon")))
    wait_until(qloop, lambda: app.missed_model.count == 2)

    # the face of the app: status (quoting the PBX's error) in the main window and the tray, a notice
    settle(qloop, 0.2)  # the start-up PBX check has answered
    app.status.pbx_problem = data.pbx_problem
    shell.publish_status()
    shell.notify(data.refusal)
    shell.show_main_window(TEAM_PANEL)
    panel = shell.presence_panel
    wait_until(qloop, lambda: panel.model.user("9077") is not None and bool(panel.model.user("9077").pbx_name)
               and not panel.model.loading)
    result.windows["main"] = shell.main_window
    tray = TrayController(app.actions)
    tray.update(Status(listener_up=False, listener_error=data.refusal, pbx_problem=data.pbx_problem, missed=2))
    tray.menu.aboutToShow.emit()
    result.tray = tray
    result.windows["tray menu"] = tray.menu

    # the client card, with the CDR selected (its recording link in the player)
    card = shell.open_card(contact_id, CLIENT, "ring")
    wait_until(qloop, lambda: not card.is_loading and card.timeline_model.find("u-1") is not None)
    assert card.select_call("u-1")
    result.windows["card"] = card

    # the PBX refuses with a message that is markup: the dialer, diagnostics and settings quote it
    fake_pbx.mode = "reject"
    fake_pbx.reject_message = data.refusal
    dialer = shell.open_dialer()
    dialer.set_number(CLIENT)
    dialer.call()
    wait_until(qloop, lambda: "refused" in dialer.status_label.text())
    diagnostics = shell.open_diagnostics()
    diagnostics.check_pbx()
    wait_until(qloop, lambda: "refused" in diagnostics.pbx_label.text())
    settings = shell.open_settings()
    settings.test_connection()
    wait_until(qloop, lambda: "refused" in settings.test_result.text())
    team = panel.proxy.index(next(r for r in range(panel.proxy.rowCount()) if panel.extension_at(r) == "9077"), 0)
    panel._dial_index(team)  # a double-click on the colleague
    wait_until(qloop, lambda: "refused" in panel.message_label.text())
    missed = shell.missed_panel
    missed.view.selectRow(next(r for r, entry in enumerate(missed.model.rows()) if entry.can_call_back))
    missed.call_back_selected()
    wait_until(qloop, lambda: "refused" in missed.message_label.text())
    fake_pbx.mode = "ok"
    dialer.set_number("Иван")
    wait_until(qloop, lambda: dialer.model.rowCount() > 0)
    diagnostics.refresh_events()
    wait_until(qloop, lambda: diagnostics.model.rowCount() >= 8)
    result.windows.update(dialer=dialer, diagnostics=diagnostics, settings=settings)

    # the client directory, listing the contact
    directory = shell.open_directory()
    wait_until(qloop, lambda: directory.model.rowCount() > 0)
    directory.view.selectRow(0)
    result.windows["directory"] = directory

    # the first-run wizard, with the PBX's users to pick from
    wizard = shell.open_first_run()
    wizard.agent_page.load_users()
    wait_until(qloop, lambda: wizard.pbx_users.rowCount() == 3)
    result.windows["wizard"] = wizard

    for number, popup in enumerate(app.popups.popups()):
        result.windows[f"pop-up {number}"] = popup
    yield result
    QToolTip.hideText()
    tray.hide()
    tray.menu.deleteLater()


# -- showing everything ---------------------------------------------------------------------------


def _interpreted(text: str) -> QTextDocument:
    document = QTextDocument()
    document.setHtml(text)
    return document


def _markup_used(document: QTextDocument) -> list[str]:
    """Images and links in a rich text: none of ours has any (data inside ours is escaped)."""
    found = []
    block = document.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.isValid():
                fmt = fragment.charFormat()
                if fmt.isImageFormat():
                    found.append(f"image {fmt.toImageFormat().name()!r}")
                if fmt.isAnchor():
                    found.append(f"link {fmt.anchorHref()!r}")
            it += 1
        block = block.next()
    return found


def _as_read(text: str, text_format: Qt.TextFormat) -> str:
    """What the agent reads of a label or tooltip text shown in ``text_format``."""
    if text_format == Qt.TextFormat.PlainText or (
            text_format == Qt.TextFormat.AutoText and not QtGui.Qt.mightBeRichText(text)):
        return text
    document = _interpreted(text)
    used = _markup_used(document)
    assert not used, f"rich text with {used}: {text!r}"
    return document.toPlainText()


def _tip_label() -> QLabel | None:
    for widget in QApplication.topLevelWidgets():
        if widget.metaObject().className() == "QTipLabel" and widget.isVisible():
            assert isinstance(widget, QLabel)
            return widget
    return None


def _show_tooltip(target: QWidget, text: str, where: str, pos: QPoint | None = None) -> Shown | None:
    """Show a tooltip the way Qt does (a tooltip event) and paint it; what it says."""
    QToolTip.hideText()
    if target.isVisible():
        at = pos if pos is not None else target.rect().center()
        QApplication.sendEvent(target, QHelpEvent(QEvent.Type.ToolTip, at, target.mapToGlobal(at)))
    else:
        QToolTip.showText(target.mapToGlobal(QPoint(4, 4)), text, target)
    label = _tip_label()
    if label is None:
        return None
    label.grab()  # laid out and painted: an image would be loaded now
    return Shown(where, _as_read(label.text(), label.textFormat()), tooltip=True)


def _cells(view: QAbstractItemView, where: str) -> list[Shown]:
    model = view.model()
    shown: list[Shown] = []
    columns = 1 if isinstance(model, QAbstractListModel) else model.columnCount(QModelIndex())
    for row in range(model.rowCount(QModelIndex())):
        for column in range(columns):
            index = model.index(row, column)
            display = model.data(index, Qt.ItemDataRole.DisplayRole)
            if display is not None:  # the item delegate paints it as plain text
                shown.append(Shown(f"{where} cell {row},{column}", str(display)))
            tip = model.data(index, Qt.ItemDataRole.ToolTipRole)
            if not tip:
                continue
            view.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
            rect = view.visualRect(index)
            visible = view.isVisible() and rect.isValid() and view.viewport().rect().intersects(rect)
            target = view.viewport() if visible else view
            tooltip = _show_tooltip(target, str(tip), f"{where} tooltip {row},{column}",
                                    rect.center() if visible else None)
            assert tooltip is not None, f"no tooltip for {where} {row},{column}"
            shown.append(tooltip)
    return shown


def show_everything(opened: Opened) -> list[Shown]:
    """Lay out and paint every window, label, tooltip and cell; every text the agent can read."""
    shown: list[Shown] = []
    windows = dict(opened.windows)
    main = windows.pop("main")
    tabs = main.tabs
    passes = [(f"main [{tabs.tabText(i)}]", main, i) for i in range(tabs.count())]
    passes += [(name, window, None) for name, window in windows.items()]
    for name, window, tab in passes:
        if tab is not None:
            tabs.setCurrentIndex(tab)
        window.grab()
        shown.append(Shown(f"{name} title", window.windowTitle()))
        for widget in [window, *window.findChildren(QWidget)]:
            what = f"{name} {type(widget).__name__} {widget.objectName()}".rstrip()
            if isinstance(widget, QLabel) and widget.metaObject().className() != "QTipLabel":
                widget.sizeHint()
                widget.grab()
                shown.append(Shown(what, _as_read(widget.text(), widget.textFormat())))
            if isinstance(widget, QStatusBar):  # its messages are painted as plain text
                shown.append(Shown(f"{what} message", widget.currentMessage()))
            if isinstance(widget, QComboBox):
                shown += [Shown(f"{what} item", widget.itemText(i)) for i in range(widget.count())]
            if widget.toolTip():
                tooltip = _show_tooltip(widget, widget.toolTip(), f"{what} tooltip")
                assert tooltip is not None, f"no tooltip for {what}"
                shown.append(tooltip)
            if isinstance(widget, QAbstractItemView) and widget.model() is not None:
                shown += _cells(widget, what)
    # the X11 tray (XEmbed) shows the icon's tooltip as a QToolTip, like a widget's
    QToolTip.hideText()
    QToolTip.showText(main.mapToGlobal(QPoint(4, 4)), opened.tray.icon.toolTip(), main)
    label = _tip_label()
    assert label is not None
    label.grab()
    shown.append(Shown("tray icon tooltip", _as_read(label.text(), label.textFormat()), tooltip=True))
    QToolTip.hideText()
    return shown


def _labels(opened: Opened) -> list[tuple[str, QLabel]]:
    found = []
    for name, window in opened.windows.items():
        for label in window.findChildren(QLabel):
            if label.metaObject().className() != "QTipLabel":  # checked as each tooltip is shown
                found.append((f"{name} {label.objectName()}", label))
    return found


# -- the tests ------------------------------------------------------------------------------------


@TIMEOUT
def test_no_window_loads_an_image_named_by_the_data(opened):
    try:
        shown = show_everything(opened)
    except AssertionError:  # rich text found on the way: say first what it did
        assert opened.fifo.opened == 0, "Qt opened the FIFO named in the data: markup was rendered"
        raise
    assert opened.fifo.opened == 0, "Qt opened the FIFO named in the data: markup was rendered"
    assert len([s for s in shown if s.tooltip]) >= 8  # the tooltips were really shown
    assert sum(MARK in s.text for s in shown) >= 20


@TIMEOUT
def test_markup_in_the_data_reads_as_text_everywhere(opened):
    data = opened.data
    shown = show_everything(opened)
    assert opened.fifo.opened == 0

    # no label holding data guesses the format
    for where, label in _labels(opened):
        if "<" in label.text() or "&" in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, where
    # no control or bidi-override character reaches the screen
    for item in shown:
        assert RLO not in item.text and "\x00" not in item.text, item

    def texts(prefix: str, *, tooltip: bool | None = None) -> str:
        return "\n".join(s.text for s in shown
                         if s.where.startswith(prefix) and (tooltip is None or s.tooltip == tooltip))

    # the pop-ups: the contact (elided names keep their full text in the tooltip) and the "number"
    popups = texts("pop-up")
    assert data.name in popups or (data.name in texts("pop-up", tooltip=True))
    assert data.company_shown in popups
    assert f"Responsible: {data.crm_name}" in popups
    assert data.img in popups  # the anonymous caller's "number", as sent

    card = opened.windows["card"]
    assert card.title_label.text() == data.name
    assert card.subtitle_label.text() == data.company_shown
    assert card.windowTitle() == f"Client card — {data.name}"
    in_card = texts("card")
    assert data.crm_name in in_card  # the responsible one, from the team list
    assert f"{data.outcome} · {data.call_note.replace(chr(10), ' ')}" in in_card  # the timeline's note cell
    assert data.call_note in texts("card", tooltip=True)  # the note's tooltip, line break kept
    assert "pbx.example.com/" + data.img + "/rec.wav" in texts("card", tooltip=True)  # the recording link

    team = texts("main [Team]")
    assert data.pbx_name in team and data.crm_name in team
    assert f"available \u2014 {data.status_name}" in team and f"on break \u2014 {data.status_name}" in team
    assert f"CRM user id {data.crm_id}" in texts("main [Team]", tooltip=True)
    assert f"CRM user id {data.crm_id_from_event}" in texts("main [Team]", tooltip=True)
    missed = texts("main [Missed calls]")
    assert f"{data.name} ({data.company_shown})" in missed
    assert f"Called line: {data.img}" in texts("main [Missed calls]", tooltip=True)
    assert data.refusal in team and data.refusal in missed  # what the PBX said to their dials
    assert f"PBX problem: {data.pbx_problem}" in texts("main")
    assert data.refusal in texts("main")  # the notice in the status bar
    assert f"PBX problem: {data.pbx_problem}" in texts("tray icon tooltip")

    dialer = texts("dialer")
    assert data.name in dialer and data.company_shown in dialer
    assert data.refusal in texts("dialer")
    assert data.refusal in texts("diagnostics") and data.refusal in texts("settings")
    in_directory = texts("directory")
    assert data.name in in_directory and data.company_shown in in_directory
    assert data.name in texts("directory", tooltip=True)
    assert MARK in texts("diagnostics", tooltip=True)  # a payload, in its cell's tooltip
    assert f"9077 — {data.pbx_name}" in texts("wizard")


def test_plain_tooltip_escapes_only_what_qt_would_take_for_markup(qapp):
    from app.ui.format import plain_text, plain_tooltip

    assert plain_tooltip("Called line: +7 495 134-30-60") == "Called line: +7 495 134-30-60"
    assert plain_tooltip("first line\nsecond <b>line</b>") == "first line\nsecond <b>line</b>"  # Qt: plain
    tip = plain_tooltip('<img src="/dev/zero">Иван <b>x</b>\nline 2')
    assert QtGui.Qt.mightBeRichText(tip)
    document = _interpreted(tip)
    assert not _markup_used(document)
    assert document.toPlainText() == '<img src="/dev/zero">Иван <b>x</b>\nline 2'
    assert plain_tooltip("a &lt; b") != "a &lt; b" and _interpreted(plain_tooltip("a &lt; b")).toPlainText() == \
        "a &lt; b"
    assert plain_tooltip(f"{RLO}evil\x00\tname") == "evil name"
    assert plain_tooltip(None) == plain_tooltip("") == ""
    assert plain_text(f"one\n{RLO}two\u2028three") == "one two three"
    assert plain_text("one\r\ntwo\x1b[2J", multiline=True) == "one\ntwo[2J"


def test_every_label_of_the_windows_is_a_plain_label(qapp):
    """New labels must not slip back to Qt's guessing: app/ui builds them through PlainLabel."""
    from app.ui.labels import PlainLabel

    root = Path(__file__).resolve().parents[2] / "app" / "ui"
    offenders = []
    for path in sorted(root.glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if "QLabel(" in code or "QMessageBox" in code:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == [], "build labels with app.ui.labels.PlainLabel"
    label = PlainLabel(f"{RLO}<b>x</b>\tnext\nline")
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.text() == "<b>x</b> next\nline"
    label.setText("<img src='/dev/zero'>")
    assert label.textFormat() == Qt.TextFormat.PlainText
    label.deleteLater()
