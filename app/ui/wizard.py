"""The first-run wizard: from nothing configured to a working workstation.

0. how this computer gets its calls: it is the PBX's webhook itself (standalone: the pages
   below), or it connects to the call center's team server (one page: the server's address
   and the agent's personal token, with "Test connection"; the server has the rest);
1. the PBX: its address and the PBX API key, with "Test connection";
2. the CRM key the PBX will send, and the webhook URL to paste into the PBX's
   "Custom integration" section;
3. this agent: CRM user id and name, and the PBX extension -- picked from the PBX's own user
   list (``get_domain_user_list``) so that nobody has to guess it;
4. done: a summary; Finish writes the settings file and stores the keys in the OS keyring. On a
   desktop without a usable keyring the settings are saved all the same and the page says, in
   the agent's language, which keys were not kept and how to give them to the app instead.

Non-modal like every window here (``show()``): the probes run on the asyncio loop meanwhile.
The rules (URL check, key storage, webhook URL) are the settings dialog's, shared.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.core.api import NotConfigured
from app.core.health import probe_pbx
from app.core.secrets import AGENT_TOKEN, CRM_API_KEY, PBX_API_KEY, SecretsError, get_key
from app.core.settings import STANDALONE, TEAM, Settings, SettingsError
from app.core.settings import settings_path as default_settings_path
from app.protocol.pbx_actions import DomainUser
from app.ui.context import UiContext, user_message
from app.ui.errors import connection_test_error_text
from app.ui.format import plain_text
from app.ui.labels import PlainLabel
from app.ui.settings_dialog import (
    KeyEdit,
    is_loopback_host,
    keys_not_stored_text,
    store_keys,
    team_check_text,
    team_url_error,
    url_error,
    webhook_url_for,
)

if TYPE_CHECKING:
    from app.core.team_api import ConnectionCheck

log = logging.getLogger("app.ui.wizard")

ModelIndex = QModelIndex | QPersistentModelIndex


class PbxUserListModel(QAbstractListModel):
    """The PBX's users for picking this agent's extension: "9022 — Иванов".

    ``Qt.UserRole`` gives the extension (``uid``), :data:`NAME_ROLE` the user's name.
    """

    NAME_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._users: list[DomainUser] = []

    def set_users(self, users: list[DomainUser]) -> None:
        self.beginResetModel()
        self._users = sorted(users, key=lambda u: (len(u.uid), u.uid))
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._users)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._users):
            return None
        user = self._users[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            name = user.display_name
            return plain_text(f"{user.uid} — {name}" if name != user.uid else user.uid)
        if role == Qt.ItemDataRole.UserRole:
            return user.uid
        if role == self.NAME_ROLE:
            return user.display_name if user.display_name != user.uid else ""
        return None

    def row_of(self, extension: str) -> int:
        for row, user in enumerate(self._users):
            if user.uid == extension:
                return row
        return -1


def _note_label(parent: QWidget, text: str) -> QLabel:
    label = PlainLabel(text, parent)
    label.setWordWrap(True)
    label.setIndent(24)
    return label


def _label(parent: QWidget, name: str, *, error: bool = False) -> QLabel:
    label = PlainLabel(parent=parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if error:
        label.setStyleSheet("color: #c62828;")
    return label


# page ids: the standalone pages in order, the team page beside them (QWizard follows nextId())
MODE_PAGE, TEAM_PAGE, PBX_PAGE, CRM_PAGE, AGENT_PAGE, DONE_PAGE = range(6)


class ModePage(QWizardPage):
    """Page 0: standalone (this computer is the webhook) or a team server's client."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__(wizard)
        self.setTitle(self.tr("How does this computer get its calls?"))
        layout = QVBoxLayout(self)
        self.standalone = QRadioButton(self.tr("This computer is the webhook (standalone)"), self)
        layout.addWidget(self.standalone)
        layout.addWidget(_note_label(self, self.tr(
            "The PBX posts to this app directly; it keeps its own contacts and calls. For one agent, or to try "
            "the app out. You need the PBX's two keys.")))
        self.team = QRadioButton(self.tr("Connect to a team server"), self)
        layout.addWidget(self.team)
        layout.addWidget(_note_label(self, self.tr(
            "The call center's team server is the PBX's webhook and sends this app your calls. You need its "
            "address and your personal token from the administrator.")))
        layout.addStretch(1)
        (self.team if wizard.ctx.settings.team_mode else self.standalone).setChecked(True)

    def nextId(self) -> int:
        return TEAM_PAGE if self.team.isChecked() else PBX_PAGE


class TeamPage(QWizardPage):
    """The team server: its address, the agent's token and (rarely) a CA certificate."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle(self.tr("Connect to the team server"))
        self.setSubTitle(self.tr("The address and your personal token, both from the administrator. The server "
                                 "has the PBX's keys and tells this app who you are."))
        form = QFormLayout(self)
        self.url = QLineEdit(self)
        self.url.setPlaceholderText("https://team.example.com:8765")
        self.url.setText(wizard.ctx.settings.team_server)
        form.addRow(self.tr("Server address"), self.url)
        self.token = KeyEdit(AGENT_TOKEN, self)
        form.addRow(self.tr("Your token"), self.token)
        self.cafile = QLineEdit(self)
        self.cafile.setPlaceholderText(self.tr("only for a certificate of the team's own CA"))
        self.cafile.setText(wizard.ctx.settings.team_cafile)
        form.addRow(self.tr("CA certificate"), self.cafile)
        self.test_button = QPushButton(self.tr("Test connection"), self)
        self.test_button.clicked.connect(self.test_connection)
        self.result = _label(self, "team_test_result")
        form.addRow(self.test_button, self.result)
        self.error = _label(self, "team_page_error", error=True)
        form.addRow(self.error)

    def token_value(self) -> str | None:
        return self.token.typed() or get_key(AGENT_TOKEN)

    def nextId(self) -> int:
        return DONE_PAGE

    def validatePage(self) -> bool:
        message = team_url_error(self.url.text())
        cafile = self.cafile.text().strip()
        if not message and cafile and not Path(cafile).expanduser().is_file():
            message = self.tr("File not found: {path}").format(path=cafile)
        if not message and not self.token_value():
            message = self.tr("Enter your token.")
        self.error.setText(message)
        return not message

    def test_connection(self) -> None:
        from app.core.team_api import check_connection, team_ssl_context

        if not self.validatePage():
            return
        try:
            context = team_ssl_context(self.cafile.text().strip())
        except NotConfigured as exc:
            self.error.setText(user_message(exc))
            return
        self.test_button.setEnabled(False)
        self.result.setText(self.tr("Connecting…"))

        def done(check: ConnectionCheck) -> None:
            self.test_button.setEnabled(True)
            self.result.setText(team_check_text(check))

        def failed(exc: BaseException) -> None:
            self.test_button.setEnabled(True)
            self.result.setText(user_message(exc))

        self._wizard.ctx.tasks.start(check_connection(self.url.text().strip(), self.token_value() or "",
                                                      ssl_context=context), on_done=done, on_error=failed)


class PbxPage(QWizardPage):
    """Page 1: the PBX address and the PBX API key, with "Test connection"."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle(self.tr("Connect to the PBX"))
        self.setSubTitle(self.tr("The address of your cloud PBX and the API key from its “Custom integration” "
                                 "section."))
        form = QFormLayout(self)
        self.url = QLineEdit(self)
        self.url.setPlaceholderText("https://pbx.example.com")
        form.addRow(self.tr("PBX address"), self.url)
        self.key = KeyEdit(PBX_API_KEY, self)
        form.addRow(self.tr("PBX API key"), self.key)
        self.test_button = QPushButton(self.tr("Test connection"), self)
        self.test_button.clicked.connect(self.test_connection)
        self.result = _label(self, "pbx_test_result")
        form.addRow(self.test_button, self.result)
        self.error = _label(self, "pbx_page_error", error=True)
        form.addRow(self.error)

    def api_key(self) -> str | None:
        return self.key.typed() or get_key(PBX_API_KEY)

    def validatePage(self) -> bool:
        url = self.url.text().strip()
        message = url_error(url) if url else self.tr("Enter the PBX address.")
        if not message and not self.api_key():
            message = self.tr("Enter the PBX API key.")
        self.error.setText(message)
        return not message

    def test_connection(self) -> None:
        if not self.validatePage():
            return
        self.test_button.setEnabled(False)
        self.result.setText(self.tr("Connecting…"))

        def done(users: list[DomainUser]) -> None:
            self.test_button.setEnabled(True)
            self._wizard.pbx_users.set_users(users)
            self.result.setText(self.tr("Connected: %n PBX user(s)", "", len(users)))

        def failed(exc: BaseException) -> None:
            self.test_button.setEnabled(True)
            self.result.setText(connection_test_error_text(exc))

        self._wizard.ctx.tasks.start(probe_pbx(self.url.text().strip(), self.api_key() or ""),
                                     on_done=done, on_error=failed)


class CrmPage(QWizardPage):
    """Page 2: the CRM key and the webhook URL, both to be entered in the PBX."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle(self.tr("Let the PBX reach this app"))
        self.setSubTitle(self.tr("In the PBX's “Custom integration” section, paste the webhook URL below. The CRM "
                                 "key is a secret the PBX and this app share: enter the same value there and here "
                                 "(the one the PBX shows, or a long random one: Generate)."))
        form = QFormLayout(self)
        self.key = KeyEdit(CRM_API_KEY, self)
        self.generate = QPushButton(self.tr("Generate"), self)
        self.generate.clicked.connect(self.generate_key)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key, 1)
        key_row.addWidget(self.generate)
        form.addRow(self.tr("CRM API key"), key_row)
        self.url = QLineEdit(self)
        self.url.setObjectName("wizard_webhook_url")
        self.url.setReadOnly(True)
        copy = QPushButton(self.tr("Copy"), self)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.url.text()))
        row = QHBoxLayout()
        row.addWidget(self.url)
        row.addWidget(copy)
        form.addRow(self.tr("Webhook URL for the PBX"), row)
        self.note = _label(self, "wizard_webhook_note")
        self.note.setEnabled(False)
        form.addRow(self.note)
        self.error = _label(self, "crm_page_error", error=True)
        form.addRow(self.error)

    def initializePage(self) -> None:
        listening = self._wizard.ctx.api.webhook_url
        settings = self._wizard.ctx.settings
        if listening is not None:
            url = listening
            host = urlsplit(listening).hostname or ""
        else:
            url, host = webhook_url_for(settings), settings.host
        self.url.setText(url)
        if is_loopback_host(host):
            self.note.setText(self.tr("A PBX in the cloud cannot reach {host}: publish the listener through a "
                                      "tunnel or a reverse proxy with TLS and paste that public address into the "
                                      "PBX instead; the listener settings are in Settings → Listener.")
                              .format(host=host))
        else:
            self.note.setText("")

    def generate_key(self) -> None:
        """A new random CRM key (256 bits), shown so it can be copied into the PBX."""
        import secrets

        self.key.edit.setText(secrets.token_urlsafe(32))
        self.key.edit.setEchoMode(QLineEdit.EchoMode.Normal)

    def api_key(self) -> str | None:
        return self.key.typed() or get_key(CRM_API_KEY)

    def validatePage(self) -> bool:
        message = "" if self.api_key() else self.tr("Enter the CRM API key from the PBX.")
        self.error.setText(message)
        return not message


class AgentPage(QWizardPage):
    """Page 3: this agent's CRM user and PBX extension (picked from the PBX's users)."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle(self.tr("Who works at this computer"))
        self.setSubTitle(self.tr("Your user in the CRM and your PBX extension: pop-ups show your calls, and "
                                 "click-to-dial rings your phone."))
        form = QFormLayout(self)
        self.crm_user = QLineEdit(self)
        form.addRow(self.tr("CRM user id"), self.crm_user)
        self.crm_user_name = QLineEdit(self)
        form.addRow(self.tr("CRM user name"), self.crm_user_name)
        self.users = QComboBox(self)
        self.users.setObjectName("pbx_users")
        self.users.setModel(wizard.pbx_users)
        self.users.setPlaceholderText(self.tr("Load the PBX users to pick your extension"))
        self.users.setCurrentIndex(-1)
        self.users.activated.connect(self._pick)
        self.load_button = QPushButton(self.tr("Load PBX users"), self)
        self.load_button.clicked.connect(self.load_users)
        row = QHBoxLayout()
        row.addWidget(self.users, 1)
        row.addWidget(self.load_button)
        form.addRow(self.tr("PBX user"), row)
        self.extension = QLineEdit(self)
        self.extension.setPlaceholderText("9022")
        form.addRow(self.tr("PBX extension"), self.extension)
        self.result = _label(self, "users_result")
        form.addRow(self.result)
        self.error = _label(self, "agent_page_error", error=True)
        form.addRow(self.error)

    def initializePage(self) -> None:
        settings = self._wizard.ctx.settings
        if not self.crm_user.text():
            self.crm_user.setText(settings.crm_user)
        if not self.crm_user_name.text():
            self.crm_user_name.setText(settings.crm_user_name)
        if not self.extension.text():
            self.extension.setText(settings.extension)
        if self._wizard.pbx_users.rowCount() == 0:
            self.load_users()

    def load_users(self) -> None:
        """Ask the PBX for its users with the address and key of page 1."""
        pbx = self._wizard.pbx_page
        url, key = pbx.url.text().strip(), pbx.api_key()
        if url_error(url) or not url or not key:
            self.result.setText(self.tr("Enter the PBX address and key on the first page to load its users."))
            return
        self.load_button.setEnabled(False)
        self.result.setText(self.tr("Loading the PBX users…"))

        def done(users: list[DomainUser]) -> None:
            self.load_button.setEnabled(True)
            self._wizard.pbx_users.set_users(users)
            self.result.setText(self.tr("%n PBX user(s) loaded: pick yours.", "", len(users)))
            row = self._wizard.pbx_users.row_of(self.extension.text().strip())
            self.users.setCurrentIndex(row)

        def failed(exc: BaseException) -> None:
            self.load_button.setEnabled(True)
            self.result.setText(connection_test_error_text(exc))

        self._wizard.ctx.tasks.start(probe_pbx(url, key), on_done=done, on_error=failed)

    def pick(self, row: int) -> None:
        """Take the extension (and, if empty, the name) of the PBX user in ``row``."""
        self.users.setCurrentIndex(row)
        self._pick(row)

    def _pick(self, row: int) -> None:
        model = self._wizard.pbx_users
        index = model.index(row, 0)
        if not index.isValid():
            return
        self.extension.setText(str(model.data(index, Qt.ItemDataRole.UserRole)))
        if not self.crm_user_name.text().strip():
            self.crm_user_name.setText(str(model.data(index, PbxUserListModel.NAME_ROLE) or ""))

    def validatePage(self) -> bool:
        extension = self.extension.text().strip()
        message = ""
        if not self.crm_user.text().strip():
            message = self.tr("Enter your CRM user id.")
        elif extension and not (extension.isdigit() and extension.isascii()):
            message = self.tr("The extension is the digits of your PBX number, for example 9022.")
        self.error.setText(message)
        return not message


class DonePage(QWizardPage):
    """Page 4: a summary; Finish saves."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle(self.tr("Ready"))
        layout = QVBoxLayout(self)
        self.summary = _label(self, "summary")
        self.error = _label(self, "done_page_error", error=True)
        layout.addWidget(self.summary)
        layout.addWidget(self.error)
        layout.addStretch(1)

    def initializePage(self) -> None:
        w = self._wizard
        self.setTitle(self.tr("Ready"))
        if w.team_mode:
            self.summary.setText(self.tr(
                "Team server: {url}\n\nFinish saves the settings and stores your token in the OS keyring. "
                "Everything can be changed later in Settings.").format(url=w.team_page.url.text().strip()))
        else:
            self.summary.setText(self.tr(
                "PBX: {url}\nCRM user: {user} {name}\nExtension: {extension}\n\n"
                "Finish stores both keys in the OS keyring and saves the settings. Everything can be changed later "
                "in Settings.").format(url=w.pbx_page.url.text().strip(), user=w.agent_page.crm_user.text().strip(),
                                       name=w.agent_page.crm_user_name.text().strip(),
                                       extension=w.agent_page.extension.text().strip() or "—"))
        self.error.setText("")


class FirstRunWizard(QWizard):
    """Four pages to a configured workstation; shown when :meth:`Keys.need_first_run` is true.

    Show it with ``show()``, never ``exec()``. Cancel leaves everything as it was.

    Signals:
        finished_setup(Settings): Finish succeeded: keys are in the keyring, the file is written.
    """

    finished_setup = Signal(object)

    def __init__(self, ctx: UiContext, parent: QWidget | None = None, *, settings_path: Path | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._path = settings_path
        self.saved: Settings | None = None
        self.setWindowTitle(self.tr("PBX Companion setup"))
        self.setModal(False)
        self.pbx_users = PbxUserListModel(self)
        self.mode_page = ModePage(self)
        self.team_page = TeamPage(self)
        self.pbx_page = PbxPage(self)
        self.crm_page = CrmPage(self)
        self.agent_page = AgentPage(self)
        self.done_page = DonePage(self)
        for page_id, page in ((MODE_PAGE, self.mode_page), (TEAM_PAGE, self.team_page), (PBX_PAGE, self.pbx_page),
                              (CRM_PAGE, self.crm_page), (AGENT_PAGE, self.agent_page), (DONE_PAGE, self.done_page)):
            self.setPage(page_id, page)
        self.setStartId(MODE_PAGE)
        self.pbx_page.url.setText(ctx.settings.pbx_url)
        # a Finish whose settings were saved but whose keys the keyring refused: the next Finish closes
        self._saved_without_keys = False

    @property
    def team_mode(self) -> bool:
        return self.mode_page.team.isChecked()

    def settings(self) -> Settings:
        """The settings the pages describe (the rest unchanged)."""
        base = self.ctx.settings
        if self.team_mode:
            return dataclasses.replace(base, mode=TEAM, team_server=self.team_page.url.text().strip().rstrip("/"),
                                       team_cafile=self.team_page.cafile.text().strip(), extra=dict(base.extra))
        agent = self.agent_page
        return dataclasses.replace(
            base,
            mode=STANDALONE,
            pbx_url=self.pbx_page.url.text().strip().rstrip("/"),
            crm_user=agent.crm_user.text().strip(),
            crm_user_name=agent.crm_user_name.text().strip(),
            extension=agent.extension.text().strip(),
            extra=dict(base.extra),
        )

    def typed_keys(self) -> dict[str, str]:
        if self.team_mode:
            return {AGENT_TOKEN: self.team_page.token.typed()}
        return {PBX_API_KEY: self.pbx_page.key.typed(), CRM_API_KEY: self.crm_page.key.typed()}

    def finish(self) -> bool:
        """Write the settings, store the typed keys and emit :attr:`finished_setup`; False when something
        could not be kept (the page says what, and what to do).

        The settings go first: a desktop without a usable keyring still keeps the PBX address, the
        CRM user and the extension (or the team server), and the page tells how to give the keys
        to the app instead (environment variables) -- a second Finish then closes the wizard.
        """
        settings = self.settings()
        try:
            settings.validate()
        except SettingsError as exc:
            self.done_page.error.setText(str(exc))
            return False
        try:
            settings.save(self._path or default_settings_path())
        except OSError as exc:
            self.done_page.error.setText(user_message(exc))
            return False
        self.saved = settings
        typed = self.typed_keys()
        try:
            store_keys(typed)
        except SecretsError as exc:
            log.warning("first-run wizard: the keys were not stored: %s", exc)
            self.done_page.setTitle(self.tr("Saved, but the keys were not"))
            self.done_page.error.setText(keys_not_stored_text([name for name, value in typed.items() if value.strip()]))
            self.button(QWizard.WizardButton.FinishButton).setText(self.tr("Close"))
            self._saved_without_keys = True
            self.finished_setup.emit(settings)
            return False
        finally:
            for edit in (self.pbx_page.key, self.crm_page.key, self.team_page.token):
                edit.clear()
        self.finished_setup.emit(settings)
        return True

    def accept(self) -> None:
        """Finish: closes when everything was stored, or on the second Finish after the keyring refused."""
        if self._saved_without_keys or self.finish():
            super().accept()
