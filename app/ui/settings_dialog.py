"""The settings window: PBX connection, keys, this agent, the listener, dialing and pop-ups.

Non-modal (``show()``), because it runs beside the qasync loop: "Test connection" and the
webhook self-test are coroutines started through ``ctx.tasks`` while the window stays usable.

Keys are secrets, not settings: they go to the OS keyring (:func:`app.core.secrets.store_key`)
and are never shown again, not even masked in a pre-filled field -- the field stays empty and a
label says "•••••• (stored)". Without a usable keyring the agent reads why, and nothing is
written anywhere else.

Form values are turned into a :class:`Settings` by :func:`settings_from_form`, which holds every
rule and is tested without widgets; the dialog only collects, shows errors and saves.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import phonenumbers
from PySide6.QtCore import QCoreApplication, QLocale, QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.core.api import NotConfigured
from app.core.health import WebhookCheck, probe_pbx, webhook_self_test
from app.core.secrets import (
    AGENT_TOKEN,
    CRM_API_KEY,
    ENV_VARS,
    KEY_ENV_VARS,
    MIN_KEY_LENGTH,
    PBX_API_KEY,
    SecretsError,
    get_key,
    store_key,
    stored_key_names,
)
from app.core.settings import STANDALONE, TEAM, Settings, SettingsError
from app.core.settings import settings_path as default_settings_path
from app.protocol.phones import DIAL_FORMATS, PhoneNormalizer
from app.ui.context import UiContext, user_message
from app.ui.errors import connection_test_error_text
from app.ui.labels import PlainLabel

if TYPE_CHECKING:  # the team server's client loads only when it is used
    from app.core.team_api import ConnectionCheck

log = logging.getLogger("app.ui.settings")

__all__ = [
    "EXAMPLE_NUMBER",
    "FormValues",
    "KeyEdit",
    "SaveOutcome",
    "SettingsDialog",
    "changed_fields",
    "dial_example",
    "is_loopback_host",
    "key_source",
    "key_state_text",
    "keyring_error_text",
    "keys_not_stored_text",
    "settings_from_form",
    "store_keys",
    "url_error",
    "webhook_check_text",
    "webhook_url_for",
]

# The number the dial-format preview shows (the vendor's documentation uses it too).
EXAMPLE_NUMBER = "8 495 134-30-60"

# Settings whose change needs the listener to be restarted (a new socket or certificate).
LISTENER_FIELDS = frozenset({"host", "port", "tls_cert", "tls_key"})
# Settings that choose what the app talks to: itself as the webhook, or which team server.
TEAM_FIELDS = frozenset({"mode", "team_server", "team_cafile"})
# Settings the running core reads once at start (identity, number rules, database).
ENGINE_FIELDS = frozenset({"crm_user", "crm_user_name", "extension", "region", "dial_format", "data_dir"})

# (label, code) of the language choice; language names are written in their own language.
LANGUAGES = (("", ""), ("Русский", "ru"), ("English", "en"))


# -- rules shared by the dialog and the first-run wizard -----------------------------------------


#: how long one read of the keyring's key names answers for every key field (one read per window)
_STORED_KEYS_FOR_S = 5.0
_stored_keys: tuple[float, frozenset[str]] | None = None


def key_source(name: str, environ: Mapping[str, str] | None = None) -> str:
    """Where the running app would take a key from: "environment", "keyring" or "" (nowhere).

    The keyring is asked the way the start-up asks it, in a child process
    (:func:`app.core.secrets.stored_key_names`), so opening Settings or Diagnostics leaves no
    keyring machinery in the tray process; the fields of one window share one read.
    """
    global _stored_keys
    environ = os.environ if environ is None else environ
    if environ.get(KEY_ENV_VARS[name], "").strip():
        return "environment"
    now = time.monotonic()
    if "keyring" in sys.modules or _stored_keys is None or now - _stored_keys[0] > _STORED_KEYS_FOR_S:
        _stored_keys = (now, stored_key_names(environ=environ))
    return "keyring" if name in _stored_keys[1] else ""


def key_state_text(name: str, environ: Mapping[str, str] | None = None) -> str:
    """What a key field says about the stored key, without ever showing it."""
    source = key_source(name, environ)
    if source == "environment":
        return QCoreApplication.translate(
            "Settings", "•••••• (set by the environment variable {var}, which wins over the keyring)"
        ).format(var=KEY_ENV_VARS[name])
    if source == "keyring":
        return QCoreApplication.translate("Settings", "•••••• (stored)")
    return QCoreApplication.translate("Settings", "not set")


def url_error(text: str) -> str:
    """Why ``text`` is not a usable PBX address ("" when it is, or when it is empty)."""
    text = text.strip()
    if not text:
        return ""
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        return QCoreApplication.translate("Settings", "The PBX address has an invalid port.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return QCoreApplication.translate(
            "Settings", "Enter the PBX address as https://host, for example https://pbx.example.com.")
    if parts.username or parts.password or parts.query or parts.fragment:
        return QCoreApplication.translate(
            "Settings", "The PBX address must not contain a user name, password, “?…” or “#…”.")
    return ""


def team_url_error(text: str) -> str:
    """Why ``text`` is not a usable team server address ("" when it is)."""
    from app.core.team_api import server_base

    if not text.strip():
        return QCoreApplication.translate(
            "Settings", "Enter the team server's address the administrator gave you, e.g. https://team.example.com:8765.")
    try:
        server_base(text)
    except NotConfigured:
        return QCoreApplication.translate(
            "Settings", "The team server's address starts with https:// (or http://) and names its host, "
                        "with no user name, query or fragment.")
    return ""


class TeamCheckTexts(QObject):
    """The words of the team server's "Test connection" (a QObject so they are translatable)."""

    def connected(self, check: ConnectionCheck) -> str:
        agent = check.agent
        who = agent.name if agent is not None else ""
        facts = []
        if agent is not None and agent.crm_user:
            facts.append(self.tr("CRM user {id}").format(id=agent.crm_user))
        if agent is not None and agent.extension:
            facts.append(self.tr("extension {ext}").format(ext=agent.extension))
        if agent is not None and agent.supervisor:
            facts.append(self.tr("supervisor: every call of the team"))
        text = self.tr("Connected as {name}").format(name=who) + (f" ({', '.join(facts)})" if facts else "") + "."
        if check.setup_problem is not None:
            text += " " + self.tr("The team server itself lacks a setting ({setting}): tell the administrator.").format(
                setting=check.setup_problem.value)
        return text

    def failed(self, check: ConnectionCheck) -> str:
        lead = {
            "url": self.tr("The address does not work"),
            "tls": self.tr("The secure connection (TLS) failed"),
            "token": self.tr("The token was refused"),
            "server": self.tr("The team server failed"),
            "feed": self.tr("The live feed of calls failed"),
        }.get(check.step or "", self.tr("The connection failed"))
        return f"{lead}: {user_message(RuntimeError(check.message))}"


def team_check_text(check: ConnectionCheck) -> str:
    texts = TeamCheckTexts()
    return texts.connected(check) if check.ok else texts.failed(check)


def dial_example(region: str, dial_format: str) -> str:
    """How :data:`EXAMPLE_NUMBER` would be dialed; raises ``ValueError`` with a readable reason."""
    normalizer = PhoneNormalizer(region, dial_format)
    return normalizer.dial_string(normalizer.parse(EXAMPLE_NUMBER))


def dial_example_text(region: str, dial_format: str) -> str:
    try:
        dialed = dial_example(region, dial_format)
    except ValueError as exc:
        return QCoreApplication.translate("Settings", "{number} cannot be dialed with this region: {error}").format(
            number=EXAMPLE_NUMBER, error=exc)
    return QCoreApplication.translate("Settings", "{number} will be dialed as {dialed}").format(
        number=EXAMPLE_NUMBER, dialed=dialed)


def webhook_url_for(settings: Settings) -> str:
    """The URL the listener will have with these settings (port 0: chosen at start)."""
    scheme = "https" if settings.tls_cert else "http"
    host = settings.host or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{settings.port}/webhook"


def is_loopback_host(host: str) -> bool:
    return host in ("localhost", "::1", "") or host.startswith("127.")


class WebhookCheckTexts(QObject):
    """A translation context for a plural text: pyside6-lupdate recognises a plural (``%n``)
    message only in a ``self.tr`` call."""

    def webhook_ok(self, users: int) -> str:
        return self.tr("Webhook OK: the listener answered the test and listed %n CRM user(s).", "", users)


def webhook_check_text(check: WebhookCheck) -> str:
    if check.ok:
        return WebhookCheckTexts().webhook_ok(check.users)
    if not check.reachable:
        return QCoreApplication.translate("Settings", "The listener at {url} is unreachable: {detail}").format(
            url=check.url, detail=check.detail)
    if check.users_status == 401:
        return QCoreApplication.translate(
            "Settings", "The listener refused the CRM API key (HTTP 401): the key entered here differs from the one "
                        "the running listener uses. Enter the same key as in the PBX; after saving a new key, "
                        "restart the app.")
    return QCoreApplication.translate("Settings", "The listener at {url} answered with an error: {detail}").format(
        url=check.url, detail=check.detail)


def store_keys(keys: Mapping[str, str]) -> frozenset[str]:
    """Store each non-empty key in the OS keyring; returns the names stored.

    Raises :class:`SecretsError` (nothing is written anywhere else). The keyring check comes first,
    so a missing keyring fails before the first key rather than between the two.
    """
    stored: set[str] = set()
    for name, value in keys.items():
        if value.strip():
            store_key(name, value)
            stored.add(name)
    return frozenset(stored)


def keyring_error_text(exc: SecretsError) -> str:
    """The settings window's words for a keyring that refused the keys (its own, English, error goes to
    the log: the agent reads their language only)."""
    log.warning("the keys were not stored: %s", exc)
    return QCoreApplication.translate(
        "Settings", "The keys could not be stored in the OS keyring (there is none here, or it is locked), so "
                    "nothing was saved.")


def keys_not_stored_text(names: Sequence[str]) -> str:
    """What the agent does when the settings were saved but the keyring kept none of ``names``."""
    variables = ", ".join(KEY_ENV_VARS[name] for name in names) or ", ".join(ENV_VARS.values())
    return QCoreApplication.translate(
        "Settings", "The settings are saved, but this computer has no usable OS keyring (or it is locked), so the "
                    "keys were not stored. Unlock or install the desktop's keyring (GNOME Keyring, KWallet) and "
                    "enter them in Settings, or give them to the app as environment variables: {variables}."
    ).format(variables=variables)


@dataclass(frozen=True)
class FormValues:
    """What the form holds, as typed (text fields unparsed)."""

    pbx_url: str = ""
    crm_user: str = ""
    crm_user_name: str = ""
    extension: str = ""
    host: str = "127.0.0.1"
    port: str = "8765"
    tls_cert: str = ""
    tls_key: str = ""
    region: str = "RU"
    dial_format: str = "auto"
    see_all_calls: bool = False
    do_not_disturb: bool = False
    popup_linger_s: float = 4.0
    ring_sound: bool = False
    popup_outgoing: bool = True
    dial_repeat_window_s: float = 3.0
    start_at_login: bool = False
    language: str = ""
    mode: str = STANDALONE
    team_server: str = ""
    team_cafile: str = ""

    @classmethod
    def of(cls, settings: Settings) -> FormValues:
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)}
        values["port"] = str(settings.port)
        return cls(**values)


def settings_from_form(base: Settings, form: FormValues) -> tuple[Settings | None, dict[str, str]]:
    """The new settings (``base`` with the form applied), or None and the errors by field name.

    Field names are :class:`FormValues` names; "tls" covers the certificate pair and "general"
    whatever :meth:`Settings.validate` still refuses.
    """
    errors: dict[str, str] = {}
    if message := url_error(form.pbx_url):
        errors["pbx_url"] = message
    port_text = form.port.strip()
    port = -1
    if port_text.isdigit() and port_text.isascii():
        port = int(port_text)
    if not 0 <= port <= 65535:
        errors["port"] = QCoreApplication.translate("Settings", "The port must be a number from 0 to 65535.")
    if not form.host.strip():
        errors["host"] = QCoreApplication.translate(
            "Settings", "Enter the address to listen on (127.0.0.1: this computer only).")
    cert, key = form.tls_cert.strip(), form.tls_key.strip()
    if bool(cert) != bool(key):
        errors["tls"] = QCoreApplication.translate("Settings", "TLS needs both the certificate and its private key.")
    else:
        missing = [p for p in (cert, key) if p and not Path(p).expanduser().is_file()]
        if missing:
            errors["tls"] = QCoreApplication.translate("Settings", "File not found: {path}").format(path=missing[0])
    # the team server's fields count in team mode only (they are disabled otherwise): standalone keeps
    # the address saved before, for the day the agent switches back
    team_server, cafile = base.team_server, base.team_cafile
    if form.mode == TEAM:
        team_server, cafile = form.team_server.strip().rstrip("/"), form.team_cafile.strip()
        if message := team_url_error(team_server):
            errors["team_server"] = message
        if cafile and not Path(cafile).expanduser().is_file():
            errors["team_cafile"] = QCoreApplication.translate("Settings", "File not found: {path}").format(path=cafile)
    extension = form.extension.strip()
    if extension and not (extension.isdigit() and extension.isascii()):
        errors["extension"] = QCoreApplication.translate(
            "Settings", "The extension is the digits of your PBX number, for example 9022.")
    if errors:
        return None, errors
    settings = dataclasses.replace(
        base,
        pbx_url=form.pbx_url.strip().rstrip("/"),
        crm_user=form.crm_user.strip(),
        crm_user_name=form.crm_user_name.strip(),
        extension=extension,
        host=form.host.strip(),
        port=port,
        tls_cert=cert,
        tls_key=key,
        region=form.region,
        dial_format=form.dial_format,
        see_all_calls=form.see_all_calls,
        do_not_disturb=form.do_not_disturb,
        popup_linger_s=float(form.popup_linger_s),
        ring_sound=form.ring_sound,
        popup_outgoing=form.popup_outgoing,
        dial_repeat_window_s=float(form.dial_repeat_window_s),
        start_at_login=form.start_at_login,
        language=form.language,
        mode=form.mode,
        team_server=team_server,
        team_cafile=cafile,
        extra=dict(base.extra),
    )
    try:
        settings.validate()
    except SettingsError as exc:
        return None, {"general": str(exc)}
    return settings, {}


def changed_fields(before: Settings, after: Settings) -> frozenset[str]:
    old, new = dataclasses.asdict(before), dataclasses.asdict(after)
    return frozenset(name for name in new if old.get(name) != new[name])


@dataclass(frozen=True)
class SaveOutcome:
    """What a save changed compared with the settings the app is running with.

    The shell applies pop-up settings at once and tells the agent to restart for the rest.
    """

    settings: Settings
    path: Path
    changed: frozenset[str]
    keys_stored: frozenset[str]

    @property
    def restart_listener(self) -> bool:
        """A new address, port, certificate or CRM key: the listener must be restarted."""
        return bool(self.changed & LISTENER_FIELDS) or CRM_API_KEY in self.keys_stored

    @property
    def restart_language(self) -> bool:
        return "language" in self.changed

    @property
    def pbx_changed(self) -> bool:
        """The PBX address or key changed: the PBX client behind the service API must be rebuilt."""
        return "pbx_url" in self.changed or PBX_API_KEY in self.keys_stored

    @property
    def engine_changed(self) -> bool:
        return bool(self.changed & ENGINE_FIELDS)

    @property
    def team_changed(self) -> bool:
        """The mode, the team server or the agent token changed: the app connects anew at its restart."""
        return bool(self.changed & TEAM_FIELDS) or AGENT_TOKEN in self.keys_stored

    @property
    def restart_needed(self) -> bool:
        return (self.restart_listener or self.restart_language or self.pbx_changed or self.engine_changed
                or self.team_changed)


# -- widgets ---------------------------------------------------------------------------------------


class KeyEdit(QWidget):
    """A password field for one API key plus a line saying whether a key is stored.

    The field is never filled with the stored key: typing replaces it, leaving it empty keeps it.
    """

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.edit = QLineEdit(self)
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setObjectName(f"{name}_edit")
        self.state = PlainLabel(parent=self)
        self.state.setObjectName(f"{name}_state")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(self.state)
        self.refresh()

    def typed(self) -> str:
        return self.edit.text().strip()

    def refresh(self) -> None:
        stored = key_source(self.name) != ""
        self.state.setText(key_state_text(self.name))
        if stored:
            self.edit.setPlaceholderText(self.tr("•••••• (stored): type a new key to replace it"))
        else:
            self.edit.setPlaceholderText(self.tr("Paste the key here"))

    def clear(self) -> None:
        self.edit.clear()
        self.refresh()


def _error_label(parent: QWidget, name: str) -> QLabel:
    label = PlainLabel(parent=parent)
    label.setObjectName(f"{name}_error")
    label.setWordWrap(True)
    label.setStyleSheet("color: #c62828;")
    label.hide()
    return label


def _note(text: str, parent: QWidget) -> QLabel:
    label = PlainLabel(text, parent)
    label.setWordWrap(True)
    label.setEnabled(False)  # the palette's "disabled" colour: a hint, not a control
    return label


def region_items() -> list[tuple[str, str]]:
    """(label, ISO code) of every region libphonenumber knows, sorted by code."""
    items = []
    for code in sorted(phonenumbers.SUPPORTED_REGIONS):
        territory = QLocale.codeToTerritory(code)
        name = QLocale.territoryToString(territory) if territory != QLocale.Country.AnyCountry else ""
        items.append((f"{code} — {name}" if name else code, code))
    return items


class SettingsDialog(QDialog):
    """All settings in tabs, validated and saved together; keys go to the OS keyring.

    Show it with ``show()``/``open()``, never ``exec()`` (the asyncio loop must keep running).

    Signals:
        settings_saved(Settings): a save succeeded; the file is written and keys are stored.
            :attr:`last_outcome` tells what needs a restart.
    """

    settings_saved = Signal(object)

    def __init__(self, ctx: UiContext, parent: QWidget | None = None, *, settings_path: Path | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._path = settings_path
        self._running: Settings = ctx.settings
        self._keys_stored: frozenset[str] = frozenset()
        self.last_outcome: SaveOutcome | None = None
        self.setWindowTitle(self.tr("PBX Companion settings"))
        self.setModal(False)
        self._errors: dict[str, QLabel] = {}

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_connection_tab(), self.tr("Connection"))
        self.listener_page = self._build_listener_tab()
        self.tabs.addTab(self.listener_page, self.tr("Listener"))
        self.agent_page = self._build_agent_tab()
        self.tabs.addTab(self.agent_page, self.tr("Agent"))
        self.tabs.addTab(self._build_calls_tab(), self.tr("Calls"))
        self.tabs.addTab(self._build_general_tab(), self.tr("General"))

        self.status = PlainLabel(parent=self)
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close, self)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.load(ctx.settings)

    # -- building ----------------------------------------------------------------------------------

    def _add_error(self, form: QFormLayout, page: QWidget, name: str) -> None:
        label = _error_label(page, name)
        self._errors[name] = label
        form.addRow("", label)

    def _build_connection_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        self.mode_standalone = QRadioButton(self.tr("This computer is the webhook (standalone)"), page)
        self.mode_team = QRadioButton(self.tr("Connect to a team server"), page)
        self.mode_standalone.setToolTip(self.tr("The PBX posts to this app; it keeps its own contacts and calls."))
        self.mode_team.setToolTip(self.tr("The team server is the PBX's webhook for the whole call center and "
                                          "sends this app your calls; it keeps the keys and the contacts."))
        self.mode_team.toggled.connect(self._update_mode)
        layout.addWidget(self.mode_standalone)
        layout.addWidget(self.mode_team)
        self.team_box = QGroupBox(self.tr("Team server"), page)
        layout.addWidget(self.team_box)
        self._build_team_form(self.team_box)
        self.standalone_box = QGroupBox(self.tr("PBX"), page)
        layout.addWidget(self.standalone_box)
        layout.addStretch(1)
        self._build_pbx_form(self.standalone_box)
        return page

    def _build_team_form(self, box: QWidget) -> None:
        form = QFormLayout(box)
        self.team_server = QLineEdit(box)
        self.team_server.setObjectName("team_server")
        self.team_server.setPlaceholderText("https://team.example.com:8765")
        form.addRow(self.tr("Server address"), self.team_server)
        self._add_error(form, box, "team_server")
        self.agent_token = KeyEdit(AGENT_TOKEN, box)
        self.agent_token.setToolTip(self.tr("Your personal token, from the administrator (pbx-companion agents add). "
                                            "Stored in the OS keyring."))
        form.addRow(self.tr("Your token"), self.agent_token)
        self._add_error(form, box, "agent_token")
        self.team_cafile = QLineEdit(box)
        self.team_cafile.setPlaceholderText(self.tr("only for a certificate of the team's own CA"))
        form.addRow(self.tr("CA certificate"), self._with_browse(box, self.team_cafile))
        self._add_error(form, box, "team_cafile")
        self.team_test_button = QPushButton(self.tr("Test connection"), box)
        self.team_test_button.setObjectName("team_test_button")
        self.team_test_button.clicked.connect(self.test_team_connection)
        self.team_test_result = PlainLabel(parent=box)
        self.team_test_result.setObjectName("team_test_result")
        self.team_test_result.setWordWrap(True)
        self.team_test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.team_test_button, self.team_test_result)
        form.addRow("", _note(self.tr("The team server has the PBX's keys and address and tells this app who you "
                                      "are: nothing else to enter."), box))

    def _update_mode(self) -> None:
        """Only the chosen mode's fields (both would not fit a laptop's screen): team mode shows the
        team server's; the PBX, the listener and the agent are then the server's."""
        team = self.mode_team.isChecked()
        self.team_box.setVisible(team)
        self.standalone_box.setVisible(not team)
        for page in (self.listener_page, self.agent_page):
            self.tabs.setTabEnabled(self.tabs.indexOf(page), not team)

    def _build_pbx_form(self, page: QWidget) -> None:
        form = QFormLayout(page)
        self.pbx_url = QLineEdit(page)
        self.pbx_url.setPlaceholderText("https://pbx.example.com")
        form.addRow(self.tr("PBX address"), self.pbx_url)
        self._add_error(form, page, "pbx_url")
        self.pbx_key = KeyEdit(PBX_API_KEY, page)
        self.pbx_key.setToolTip(self.tr("The key from the PBX's “Custom integration” section; the app sends it "
                                        "to the PBX. Stored in the OS keyring."))
        form.addRow(self.tr("PBX API key"), self.pbx_key)
        self.crm_key = KeyEdit(CRM_API_KEY, page)
        self.crm_key.setToolTip(self.tr("The key the PBX sends to this app's webhook (“CRM key” in the PBX's "
                                        "“Custom integration” section). Stored in the OS keyring."))
        form.addRow(self.tr("CRM API key"), self.crm_key)
        self._add_error(form, page, "keys")
        self.test_button = QPushButton(self.tr("Test connection"), page)
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = PlainLabel(parent=page)
        self.test_result.setObjectName("test_result")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.test_button, self.test_result)

    def _build_listener_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.host = QLineEdit(page)
        form.addRow(self.tr("Listen on address"), self.host)
        self._add_error(form, page, "host")
        self.port = QLineEdit(page)
        form.addRow(self.tr("Port"), self.port)
        self._add_error(form, page, "port")
        self.tls_cert = QLineEdit(page)
        self.tls_key = QLineEdit(page)
        form.addRow(self.tr("TLS certificate"), self._with_browse(page, self.tls_cert))
        form.addRow(self.tr("TLS private key"), self._with_browse(page, self.tls_key))
        self._add_error(form, page, "tls")
        self.webhook_url = QLineEdit(page)
        self.webhook_url.setObjectName("webhook_url")
        self.webhook_url.setReadOnly(True)
        copy = QPushButton(self.tr("Copy"), page)
        copy.clicked.connect(self.copy_webhook_url)
        row = QHBoxLayout()
        row.addWidget(self.webhook_url)
        row.addWidget(copy)
        form.addRow(self.tr("Webhook URL for the PBX"), row)
        self.webhook_note = _note("", page)
        form.addRow("", self.webhook_note)
        self.selftest_button = QPushButton(self.tr("Webhook self-test"), page)
        self.selftest_button.clicked.connect(self.webhook_self_test)
        self.selftest_result = PlainLabel(parent=page)
        self.selftest_result.setObjectName("selftest_result")
        self.selftest_result.setWordWrap(True)
        form.addRow(self.selftest_button, self.selftest_result)
        for edit in (self.host, self.port, self.tls_cert, self.tls_key):
            edit.textChanged.connect(self._update_webhook_url)
        return page

    def _with_browse(self, page: QWidget, edit: QLineEdit) -> QHBoxLayout:
        button = QPushButton(self.tr("Browse…"), page)
        button.clicked.connect(lambda: self._browse(edit))
        row = QHBoxLayout()
        row.addWidget(edit)
        row.addWidget(button)
        return row

    def _browse(self, edit: QLineEdit) -> None:
        # A non-modal file dialog: the static getOpenFileName() would run a nested event loop.
        chooser = QFileDialog(self, self.tr("Choose a file"), edit.text() or str(Path.home()))
        chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        chooser.fileSelected.connect(edit.setText)
        chooser.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        chooser.open()

    def _build_agent_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.crm_user = QLineEdit(page)
        self.crm_user.setToolTip(self.tr("Your user id in the CRM, as mapped in the PBX's integration settings; "
                                         "click-to-dial calls are placed as this user."))
        form.addRow(self.tr("CRM user id"), self.crm_user)
        self.crm_user_name = QLineEdit(page)
        form.addRow(self.tr("CRM user name"), self.crm_user_name)
        self.extension = QLineEdit(page)
        self.extension.setPlaceholderText("9022")
        form.addRow(self.tr("PBX extension"), self.extension)
        self._add_error(form, page, "extension")
        return page

    def _build_calls_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.region = QComboBox(page)
        for label, code in region_items():
            self.region.addItem(label, code)
        form.addRow(self.tr("Default region"), self.region)
        self.dial_format = QComboBox(page)
        format_labels = {
            "auto": self.tr("Automatic (Russian numbers as 8…, others as +…)"),
            "e164": self.tr("International with + (+74951343060)"),
            "e164_digits": self.tr("International digits (74951343060)"),
            "national": self.tr("National format of the default region"),
        }
        for name in DIAL_FORMATS:
            self.dial_format.addItem(format_labels.get(name, name), name)
        form.addRow(self.tr("Dial format"), self.dial_format)
        self.dial_preview = PlainLabel(parent=page)
        self.dial_preview.setObjectName("dial_preview")
        form.addRow("", self.dial_preview)
        self.region.currentIndexChanged.connect(self._update_dial_preview)
        self.dial_format.currentIndexChanged.connect(self._update_dial_preview)

        self.see_all_calls = QCheckBox(self.tr("Pop up for every call of the team (supervisors)"), page)
        self.do_not_disturb = QCheckBox(self.tr("Do not disturb: no pop-ups, only the tray badge"), page)
        self.ring_sound = QCheckBox(self.tr("Play a ring sound with the pop-up"), page)
        self.linger = QDoubleSpinBox(page)
        self.linger.setRange(0.0, 120.0)
        self.linger.setSingleStep(0.5)
        self.linger.setDecimals(1)
        self.linger.setSuffix(self.tr(" s"))
        form.addRow(self.see_all_calls)
        form.addRow(self.do_not_disturb)
        form.addRow(self.ring_sound)
        form.addRow(self.tr("Keep the pop-up after the call ends for"), self.linger)
        self.popup_outgoing = QCheckBox(self.tr("Show the in-call window for my outgoing calls too"), page)
        form.addRow(self.popup_outgoing)
        self.dial_repeat = QDoubleSpinBox(page)
        self.dial_repeat.setRange(0.0, 60.0)
        self.dial_repeat.setSingleStep(1.0)
        self.dial_repeat.setDecimals(0)
        self.dial_repeat.setSuffix(self.tr(" s"))
        self.dial_repeat.setToolTip(self.tr("A number asked for again within this time (a double-clicked link) is "
                                            "dialed once; 0 dials every time."))
        form.addRow(self.tr("Dial the same number once within"), self.dial_repeat)
        return page

    def _build_general_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.start_at_login = QCheckBox(self.tr("Start at login"), page)
        # Saving a change writes or removes the OS's autostart entry (CompanionApp.apply_settings);
        # the box shows that entry's state as the app found it at start (app.core.autostart).
        self.start_at_login.setToolTip(self.tr("Start {app} when you log in to this computer. Saving adds it to "
                                               "or removes it from the system's startup applications.")
                                       .format(app=APP_NAME))
        form.addRow(self.start_at_login)
        self.language = QComboBox(page)
        for label, code in LANGUAGES:
            self.language.addItem(label or self.tr("System language"), code)
        form.addRow(self.tr("Language"), self.language)
        form.addRow("", _note(self.tr("A new language takes effect after a restart."), page))
        form.addRow(self.tr("Theme"), _note(self.tr("The app follows the system's light or dark theme; "
                                                    "there is nothing to set."), page))
        self._add_error(form, page, "general")
        return page

    # -- form <-> settings -------------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        """Show ``settings`` in the form (keys only as their stored/not-set state)."""
        self.pbx_url.setText(settings.pbx_url)
        self.crm_user.setText(settings.crm_user)
        self.crm_user_name.setText(settings.crm_user_name)
        self.extension.setText(settings.extension)
        self.host.setText(settings.host)
        self.port.setText(str(settings.port))
        self.tls_cert.setText(settings.tls_cert)
        self.tls_key.setText(settings.tls_key)
        index = self.region.findData(settings.region.upper())
        self.region.setCurrentIndex(max(index, 0))
        self.dial_format.setCurrentIndex(max(self.dial_format.findData(settings.dial_format), 0))
        self.see_all_calls.setChecked(settings.see_all_calls)
        self.do_not_disturb.setChecked(settings.do_not_disturb)
        self.ring_sound.setChecked(settings.ring_sound)
        self.linger.setValue(settings.popup_linger_s)
        self.popup_outgoing.setChecked(settings.popup_outgoing)
        self.dial_repeat.setValue(settings.dial_repeat_window_s)
        self.start_at_login.setChecked(settings.start_at_login)
        self.language.setCurrentIndex(max(self.language.findData(settings.language), 0))
        (self.mode_team if settings.team_mode else self.mode_standalone).setChecked(True)
        self.team_server.setText(settings.team_server)
        self.team_cafile.setText(settings.team_cafile)
        self.pbx_key.clear()
        self.crm_key.clear()
        self.agent_token.clear()
        self._update_mode()
        self._update_dial_preview()
        self._update_webhook_url()

    def follow_settings(self, settings: Settings) -> None:
        """The app applied saved settings (the shell's ``settings_changed``): show what it really
        did where that differs from the form, e.g. "Start at login" when the OS refused the entry."""
        self.start_at_login.setChecked(settings.start_at_login)
        self.do_not_disturb.setChecked(settings.do_not_disturb)

    def form_values(self) -> FormValues:
        return FormValues(
            pbx_url=self.pbx_url.text(), crm_user=self.crm_user.text(), crm_user_name=self.crm_user_name.text(),
            extension=self.extension.text(), host=self.host.text(), port=self.port.text(),
            tls_cert=self.tls_cert.text(), tls_key=self.tls_key.text(),
            region=str(self.region.currentData()), dial_format=str(self.dial_format.currentData()),
            see_all_calls=self.see_all_calls.isChecked(), do_not_disturb=self.do_not_disturb.isChecked(),
            popup_linger_s=self.linger.value(), ring_sound=self.ring_sound.isChecked(),
            popup_outgoing=self.popup_outgoing.isChecked(), dial_repeat_window_s=self.dial_repeat.value(),
            start_at_login=self.start_at_login.isChecked(), language=str(self.language.currentData()),
            mode=TEAM if self.mode_team.isChecked() else STANDALONE, team_server=self.team_server.text(),
            team_cafile=self.team_cafile.text(),
        )

    def field_error(self, name: str) -> str:
        """The inline error shown under field ``name`` ("" when none)."""
        label = self._errors.get(name)
        return label.text() if label is not None and not label.isHidden() else ""

    def _show_errors(self, errors: Mapping[str, str]) -> None:
        for name, label in self._errors.items():
            text = errors.get(name, "")
            label.setText(text)
            label.setVisible(bool(text))
        for name in errors:  # bring the first tab with an error to the front
            first = self._errors.get(name)
            if first is not None:
                for i in range(self.tabs.count()):
                    if self.tabs.widget(i).isAncestorOf(first):  # type: ignore[union-attr]
                        self.tabs.setCurrentIndex(i)
                        return

    def save(self) -> bool:
        """Validate, store typed keys in the keyring, write the TOML; False (nothing written) on error."""
        settings, errors = settings_from_form(self._running_base(), self.form_values())
        if settings is None:
            self._show_errors(errors)
            self.status.setText(self.tr("Nothing was saved: correct the marked fields."))
            return False
        typed = {PBX_API_KEY: self.pbx_key.typed(), CRM_API_KEY: self.crm_key.typed(),
                 AGENT_TOKEN: self.agent_token.typed()}
        if any(0 < len(value.strip()) < MIN_KEY_LENGTH for value in typed.values()):
            self._show_errors({"keys": self.tr("A key has at least {count} characters: paste the whole key.").format(
                count=MIN_KEY_LENGTH)})
            self.status.setText(self.tr("Nothing was saved: correct the marked fields."))
            return False
        try:
            stored = store_keys(typed)
        except SecretsError as exc:
            self._show_errors({"keys": keyring_error_text(exc)})
            self.status.setText(self.tr("Nothing was saved: the keys cannot be kept safely here. Clear the key "
                                        "fields to save the other settings, and set the keys in the environment "
                                        "({variables}).").format(variables=", ".join(ENV_VARS.values())))
            return False
        try:
            path = settings.save(self._path or default_settings_path())
        except OSError as exc:
            self._show_errors({"general": user_message(exc)})
            self.status.setText(self.tr("The settings file could not be written."))
            return False
        self._show_errors({})
        self._keys_stored |= stored
        self.pbx_key.clear()
        self.crm_key.clear()
        self.agent_token.clear()
        outcome = SaveOutcome(settings, path, changed_fields(self._running, settings), self._keys_stored)
        self.last_outcome = outcome
        self.status.setText(self._saved_text(outcome))
        self.settings_saved.emit(settings)
        return True

    def _running_base(self) -> Settings:
        return self.last_outcome.settings if self.last_outcome is not None else self._running

    def _saved_text(self, outcome: SaveOutcome) -> str:
        parts = [self.tr("Saved to {path}.").format(path=outcome.path)]
        if outcome.restart_listener:
            parts.append(self.tr("Restart the app to apply the new listener settings; update the webhook URL in the "
                                 "PBX if it changed."))
        if outcome.restart_language:
            parts.append(self.tr("The new language takes effect after a restart."))
        if outcome.team_changed:
            parts.append(self.tr("Restart the app to connect with the new mode, team server or token."))
        elif outcome.pbx_changed or outcome.engine_changed:
            parts.append(self.tr("Restart the app to use the new connection and agent settings."))
        return " ".join(parts)

    # -- live parts ------------------------------------------------------------------------------

    def _update_dial_preview(self) -> None:
        region = self.region.currentData() or "RU"
        fmt = self.dial_format.currentData() or "auto"
        self.dial_preview.setText(dial_example_text(str(region), str(fmt)))

    def current_webhook_url(self) -> str:
        """The running listener's URL while the form matches it, else the URL after a restart."""
        form = self.form_values()
        listening = self.ctx.api.webhook_url
        running = self._running
        listening_port = urlsplit(listening).port if listening is not None else None
        ports = {str(running.port), str(listening_port) if listening_port is not None else ""}
        same = (form.host.strip() == running.host and form.port.strip() in ports
                and form.tls_cert.strip() == running.tls_cert and form.tls_key.strip() == running.tls_key)
        if listening is not None and same:
            return listening
        port = form.port.strip()
        probe = dataclasses.replace(running, host=form.host.strip(), port=int(port) if port.isdigit() else 0,
                                    tls_cert=form.tls_cert.strip(), tls_key=form.tls_key.strip())
        return webhook_url_for(probe)

    def _update_webhook_url(self) -> None:
        url = self.current_webhook_url()
        self.webhook_url.setText(url)
        notes = []
        if url != self.ctx.api.webhook_url:
            notes.append(self.tr("This URL applies after the app restarts."))
        host = urlsplit(url).hostname or ""
        if is_loopback_host(host):
            notes.append(self.tr("A PBX in the cloud cannot reach {host}: publish the listener through a tunnel or "
                                 "a reverse proxy with TLS and paste that public address into the PBX instead.")
                         .format(host=host))
        self.webhook_note.setText(" ".join(notes))
        self.webhook_note.setVisible(bool(notes))

    def copy_webhook_url(self) -> None:
        QGuiApplication.clipboard().setText(self.webhook_url.text())

    # -- probes ------------------------------------------------------------------------------------

    def _pbx_key_for_test(self) -> str | None:
        return self.pbx_key.typed() or get_key(PBX_API_KEY)

    def _crm_key_for_test(self) -> str | None:
        return self.crm_key.typed() or get_key(CRM_API_KEY)

    def test_connection(self) -> None:
        """``get_domain_user_list`` with the URL and key in the form (a temporary client)."""
        url = self.pbx_url.text().strip()
        if message := (url_error(url) if url else self.tr("Enter the PBX address first.")):
            self.test_result.setText(message)
            return
        key = self._pbx_key_for_test()
        if not key:
            self.test_result.setText(self.tr("Enter the PBX API key first."))
            return
        self.test_button.setEnabled(False)
        self.test_result.setText(self.tr("Connecting…"))

        def done(users: list[Any]) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(self.tr("Connected: %n PBX user(s)", "", len(users)))

        def failed(exc: BaseException) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(connection_test_error_text(exc))

        self.ctx.tasks.start(probe_pbx(url, key), on_done=done, on_error=failed)

    def test_team_connection(self) -> None:
        """Try the team server in the form: its address, TLS, the token and the live feed, in turn;
        the result names the first that failed."""
        from app.core.team_api import check_connection, team_ssl_context

        url = self.team_server.text().strip()
        if message := team_url_error(url):
            self.team_test_result.setText(message)
            return
        token = self.agent_token.typed() or get_key(AGENT_TOKEN)
        if not token:
            self.team_test_result.setText(self.tr("Enter your token first."))
            return
        try:
            context = team_ssl_context(self.team_cafile.text().strip())
        except NotConfigured as exc:
            self.team_test_result.setText(user_message(exc))
            return
        self.team_test_button.setEnabled(False)
        self.team_test_result.setText(self.tr("Connecting…"))

        def done(check: ConnectionCheck) -> None:
            self.team_test_button.setEnabled(True)
            self.team_test_result.setText(team_check_text(check))

        def failed(exc: BaseException) -> None:
            self.team_test_button.setEnabled(True)
            self.team_test_result.setText(user_message(exc))

        self.ctx.tasks.start(check_connection(url, token, ssl_context=context), on_done=done, on_error=failed)

    def webhook_self_test(self) -> None:
        """Post ``test`` and an authenticated ``get_users`` to the running listener."""
        listening = self.ctx.api.webhook_url
        if listening is None:
            self.selftest_result.setText(self.tr("The listener is not running."))
            return
        self.selftest_button.setEnabled(False)
        self.selftest_result.setText(self.tr("Testing…"))

        def done(check: WebhookCheck) -> None:
            self.selftest_button.setEnabled(True)
            self.selftest_result.setText(webhook_check_text(check))

        def failed(exc: BaseException) -> None:
            self.selftest_button.setEnabled(True)
            self.selftest_result.setText(user_message(exc))

        self.ctx.tasks.start(webhook_self_test(listening, self._crm_key_for_test()), on_done=done, on_error=failed)
