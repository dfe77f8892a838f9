"""Translations: Russian with its three plural forms, English plurals, the system-locale fallback.

The catalogues are the compiled files in resources/translations; the system-locale cases run
in a subprocess with LANG set, since QLocale.system() is read from the environment at start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QLocale

from app.ui.i18n import (
    install_translators,
    installed_language,
    missed_calls_text,
    remove_translators,
    translations_dir,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def install(qapp) -> Iterator[Callable[..., str]]:
    """install_translators on the test QApplication, removed afterwards (other tests expect English)."""
    before = installed_language(qapp)
    yield lambda language, **kw: install_translators(qapp, language, **kw)
    remove_translators(qapp)
    if before is not None:
        install_translators(qapp, before)


def test_the_catalogues_are_found_beside_the_app_package() -> None:
    assert translations_dir() == ROOT / "resources" / "translations"
    for lang in ("ru", "en"):
        assert (translations_dir() / f"pbx_companion_{lang}.qm").stat().st_size > 100


def test_russian_strings_and_plurals(install) -> None:
    assert install("ru") == "ru"
    assert QCoreApplication.translate("SettingsDialog", "Test connection") == "Проверить подключение"
    assert QCoreApplication.translate("DiagnosticsPanel", "Copy diagnostics") == "Скопировать диагностику"
    assert missed_calls_text(1) == "1 пропущенный звонок"
    assert missed_calls_text(2) == "2 пропущенных звонка"
    assert missed_calls_text(5) == "5 пропущенных звонков"
    assert missed_calls_text(11) == "11 пропущенных звонков"
    assert missed_calls_text(21) == "21 пропущенный звонок"
    assert missed_calls_text(22) == "22 пропущенных звонка"
    # Qt's own catalogue is loaded too: the wizard's buttons speak Russian
    assert QCoreApplication.translate("QWizard", "&Next >") == "&Далее >"


def test_a_window_built_after_installing_speaks_russian(install, qtbot) -> None:
    from PySide6.QtWidgets import QLabel

    from app.ui.diagnostics import EventLogModel

    install("ru")
    model = EventLogModel()
    from PySide6.QtCore import Qt

    assert model.headerData(EventLogModel.ACTION, Qt.Orientation.Horizontal) == "Событие"
    label = QLabel(QCoreApplication.translate("Settings", "•••••• (stored)"))
    qtbot.addWidget(label)
    assert label.text() == "•••••• (сохранён)"


def test_english_plurals(install) -> None:
    assert install("en") == "en"
    assert missed_calls_text(1) == "1 missed call"
    assert missed_calls_text(5) == "5 missed calls"
    assert missed_calls_text(21) == "21 missed calls"
    assert QCoreApplication.translate("SettingsDialog", "Connected: %n PBX user(s)", "", 1) == "Connected: 1 PBX user"
    assert QCoreApplication.translate("SettingsDialog", "Test connection") == "Test connection"


def test_without_a_catalogue_plurals_show_raw(install, qapp) -> None:
    """Why English needs its own .qm: the source text alone is not a sentence."""
    remove_translators(qapp)
    assert missed_calls_text(5) == "5 missed call(s)"


def test_switching_language_replaces_the_translators(install) -> None:
    install("ru")
    install("en")
    assert missed_calls_text(2) == "2 missed calls"
    assert QCoreApplication.translate("QWizard", "&Next >") == "&Next >"


@pytest.mark.parametrize(("system", "expected"), [("ru_RU", "ru"), ("en_GB", "en"), ("de_DE", "en"), ("C", "en"),
                                                  ("uk_UA", "en")])
def test_follow_the_system_locale(install, system, expected) -> None:
    assert install("", system=QLocale(system)) == expected


def _run_with_locale(lang: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.update(LANG=lang, LANGUAGE="", QT_QPA_PLATFORM="offscreen")
    code = (
        "from PySide6.QtCore import QCoreApplication\n"
        "from app.ui.i18n import install_translators, missed_calls_text\n"
        "app = QCoreApplication([])\n"
        "print(install_translators(app, ''))\n"
        "print(missed_calls_text(3))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    return result.stdout.splitlines()


def test_the_system_language_decides_in_a_real_process() -> None:
    assert _run_with_locale("ru_RU.UTF-8") == ["ru", "3 пропущенных звонка"]
    assert _run_with_locale("de_DE.UTF-8") == ["en", "3 missed calls"]  # unknown: English


def _messages(lang: str) -> Iterator[tuple[str, ET.Element, str]]:
    """(context name, message, file of the last location seen) of each live message in a catalogue."""
    root = ET.parse(translations_dir() / f"pbx_companion_{lang}.ts").getroot()
    for context in root.iter("context"):
        where = ""
        for message in context.iter("message"):
            location = message.find("location")
            if location is not None and location.get("filename"):
                where = location.get("filename", "")
            translation = message.find("translation")
            if translation is not None and translation.get("type") in ("vanished", "obsolete"):
                continue
            yield context.findtext("name") or "", message, where


def test_every_string_has_a_context() -> None:
    """lupdate reads ``tr(a, b)`` through an alias (``tr = QCoreApplication.translate``) as source a with
    comment b, under no context: such strings can never be looked up. Call QCoreApplication.translate
    ("Context", "text") literally."""
    aliased = sorted({f"{where}: {message.findtext('comment')!r}" for name, message, where in _messages("ru")
                      if not name})
    assert aliased == [], f"strings lupdate could not read (translate through an alias?): {aliased}"


def test_every_message_is_translated() -> None:
    """Each string in the catalogues has its translation (Russian: three plural forms, English: two).

    After adding strings: run packaging/i18n.sh, translate what it reports, run it again.
    """
    expected_forms = {"ru": 3, "en": 2}
    for lang, forms in expected_forms.items():
        missing = []
        for name, message, _where in _messages(lang):
            if not name:
                continue  # test_every_string_has_a_context
            translation = message.find("translation")
            assert translation is not None
            if message.get("numerus") == "yes":
                values = [f.text or "" for f in translation.iter("numerusform")]
                ok = len(values) == forms and all("%n" in v for v in values)
            else:
                ok = bool(translation.text)
            if translation.get("type") == "unfinished" or not ok:
                missing.append(f"{name}: {message.findtext('source')!r}")
        assert missing == [], f"untranslated in pbx_companion_{lang}.ts: {missing[:20]}"
