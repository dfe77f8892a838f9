"""Translations: our ``pbx_companion_<lang>.qm`` plus Qt's own ``qtbase_<lang>.qm``.

Source strings are English. Russian needs the full catalogue with three plural forms
(1 пропущенный звонок, 2 пропущенных звонка, 5 пропущенных звонков); English needs a catalogue
too, holding only the plural messages -- without it "%n missed call(s)" would be shown as is.
Qt's catalogue translates its own widgets (QWizard's Back/Next, standard dialog buttons).

The .ts sources live in ``resources/translations``; ``packaging/i18n.sh`` updates them from the
code (pyside6-lupdate) and compiles the .qm files (pyside6-lrelease).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from app.resources import resource_path

# Languages we ship a catalogue for; anything else falls back to English.
SUPPORTED = ("ru", "en")
FALLBACK = "en"
CATALOGUE = "pbx_companion"

# Translators currently installed, per application object (kept alive and removable), and the language.
_installed: dict[int, list[QTranslator]] = {}
_languages: dict[int, str] = {}


def translations_dir() -> Path:
    """``resources/translations`` of this installation (a checkout or the bundle)."""
    return resource_path("translations")


def resolve_language(language: str, system: QLocale | None = None) -> str:
    """"ru"/"en" for a setting value; "" follows the system locale, falling back to English."""
    if language in SUPPORTED:
        return language
    if language:
        return FALLBACK
    locale = system if system is not None else QLocale.system()
    for name in [locale.name(), *locale.uiLanguages()]:
        code = name.replace("-", "_").split("_")[0].lower()
        if code in SUPPORTED:
            return code
        if code and code != "c":
            break  # the user's first language is one we do not have: English, not their second choice
    return FALLBACK


def remove_translators(app: QCoreApplication) -> None:
    """Uninstall what :func:`install_translators` installed on ``app``."""
    _languages.pop(id(app), None)
    for translator in _installed.pop(id(app), []):
        app.removeTranslator(translator)


def installed_language(app: QCoreApplication) -> str | None:
    """The language :func:`install_translators` last chose for ``app``; None when none is installed."""
    return _languages.get(id(app))


def install_translators(app: QCoreApplication, language: str, *, system: QLocale | None = None) -> str:
    """Install our catalogue and Qt's for ``language`` ("" = the system's); returns the language used.

    Calling it again replaces the previous translators. A missing catalogue is not an error (the
    English source strings show); the return value still names the language that was chosen.
    """
    remove_translators(app)
    chosen = resolve_language(language, system)
    translators: list[QTranslator] = []
    ours = QTranslator(app)
    if ours.load(f"{CATALOGUE}_{chosen}", str(translations_dir())):
        translators.append(ours)
    qt = QTranslator(app)
    if qt.load(f"qtbase_{chosen}", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        translators.append(qt)
    for translator in translators:
        app.installTranslator(translator)
    _installed[id(app)] = translators
    _languages[id(app)] = chosen
    return chosen


def missed_calls_text(count: int) -> str:
    """"3 missed calls" / "3 пропущенных звонка": the tray tooltip and the missed-calls list share it."""
    from .format import missed_count_text

    return missed_count_text(count)
