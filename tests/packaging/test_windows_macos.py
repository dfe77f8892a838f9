"""Static checks of the Windows installer script and the macOS bundle metadata.

Neither can be built or run here (Inno Setup's ``iscc`` and ``codesign`` need their own OS), so these
tests read the files the way the tools will and check what a user would otherwise find out on a
Windows or Mac test machine: the names and ids match the Python code, every link scheme is
registered the same complete way, "start at login" writes exactly what the app's own setting writes,
and the uninstaller removes what the installer made and nothing that belongs to another program.
They need no bundle, so they are not marked ``packaging`` and run in ``make test-fast`` too.
"""

from __future__ import annotations

import plistlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import pytest

import app
from app.core import autostart

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ISS = PROJECT_ROOT / "packaging" / "windows" / "pbx-companion.iss"
MACOS = PROJECT_ROOT / "packaging" / "macos"
SCHEMES = ("tel", "callto", "sip")  # the links the OS hands to the app (issue: Windows, macOS, Linux)
EXE = app.APP_NAME + ".exe"
OPEN_COMMAND = f'"{{app}}\\{EXE}" "%1"'
ICON = f'"{{app}}\\{EXE}",0'


# -- reading an Inno Setup script -------------------------------------------------------------------

@dataclass
class InnoScript:
    """An .iss file after ISPP's ``#define``/``{#Name}`` substitution (enough for this script)."""

    defines: dict[str, str] = field(default_factory=dict)
    setup: dict[str, str] = field(default_factory=dict)
    entries: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    code: str = ""

    def section(self, name: str) -> list[dict[str, str]]:
        return self.entries.get(name, [])

    def registry(self, subkey: str, value_name: str | None = None) -> list[dict[str, str]]:
        """[Registry] entries for ``subkey`` (case-insensitive, like the registry), optionally one value."""
        return [e for e in self.section("Registry") if e["Subkey"].lower() == subkey.lower()
                and (value_name is None or e.get("ValueName", "").lower() == value_name.lower())]

    def value(self, subkey: str, value_name: str) -> dict[str, str]:
        found = [e for e in self.registry(subkey, value_name) if e.get("ValueType", "none") != "none"]
        assert len(found) == 1, f"expected one entry writing {subkey}\\{value_name or '(Default)'}, got {found}"
        return found[0]


def flags(entry: dict[str, str]) -> set[str]:
    return set(entry.get("Flags", "").split())


def parse_params(line: str) -> dict[str, str]:
    """An entry line (``Name: value; Name: "quoted value"``) as a dict; inside quotes Inno writes a
    quote as two."""
    params: dict[str, str] = {}
    i = 0
    while i < len(line):
        match = re.compile(r"\s*(\w+)\s*:\s*").match(line, i)
        assert match, f"cannot parse {line[i:]!r}"
        name, i = match[1], match.end()
        if line.startswith('"', i):
            parts, j = [], i + 1
            while True:
                end = line.index('"', j)
                if line.startswith('""', end):
                    parts.append(line[j:end] + '"')
                    j = end + 2
                else:
                    parts.append(line[j:end])
                    i = end + 1
                    break
            params[name] = "".join(parts)
        else:
            end = line.find(";", i)
            end = len(line) if end < 0 else end
            params[name] = line[i:end].strip()
            i = end
        i = re.compile(r"\s*;?\s*").match(line, i).end()  # type: ignore[union-attr]  # always matches
    return params


def load_inno(path: Path) -> InnoScript:
    script = InnoScript()
    section = ""
    code: list[str] = []

    def expand(text: str) -> str:
        return re.sub(r"\{#(\w+)\}", lambda m: script.defines[m[1]], text)  # KeyError: undefined name

    for line in path.read_text(encoding="utf-8-sig").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            define = re.fullmatch(r'#define\s+(\w+)\s+"([^"]*)"', stripped)
            if define:
                script.defines.setdefault(define[1], define[2])  # under #ifndef: the default
            continue
        header = re.fullmatch(r"\[(\w+)\]", stripped)
        if header:
            section = header[1]
            continue
        if section == "Code":
            code.append(expand(line))
        elif not stripped or stripped.startswith(";"):
            continue
        elif section in ("Setup", "CustomMessages"):
            key, _, value = stripped.partition("=")
            script.setup[key.strip()] = expand(value.strip()) if section == "Setup" else value
        else:
            script.entries.setdefault(section, []).append(parse_params(expand(stripped)))
    script.code = "\n".join(code)
    return script


@pytest.fixture(scope="module")
def iss() -> InnoScript:
    return load_inno(ISS)


def bundle_path(relative: str) -> Path:
    """A path the script gives relative to its own folder (Windows separators)."""
    return (ISS.parent / Path(*PureWindowsPath(relative).parts)).resolve()


# -- Windows: what is installed --------------------------------------------------------------------

def test_names_ids_and_version_are_the_apps(iss):
    assert iss.defines["APP_ID"] == app.APP_ID
    assert iss.defines["APP_NAME"] == app.APP_NAME
    assert iss.defines["AppExeName"] == EXE
    assert iss.defines["AppVersion"] == app.__version__, "the default when /DAppVersion= is not given"


def test_it_is_a_per_user_install_of_the_one_folder_bundle(iss):
    setup = iss.setup
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"] in (f"{{autopf}}\\{app.APP_NAME}", f"{{localappdata}}\\Programs\\{app.APP_NAME}")
    assert re.fullmatch(r"\{\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", setup["AppId"]), "a fixed GUID"
    assert setup["CloseApplications"] in ("yes", "force"), "a running tray app holds its files"
    assert setup["ChangesAssociations"] == "yes"
    assert bundle_path(iss.defines["BundleDir"]) == PROJECT_ROOT / "dist" / app.APP_NAME
    assert bundle_path(setup["SetupIconFile"]) == PROJECT_ROOT / "resources" / "icons" / f"{app.APP_NAME}.ico"
    assert bundle_path(setup["SetupIconFile"]).is_file()
    # the license page shows the project's MIT license
    assert bundle_path(setup["LicenseFile"]) == PROJECT_ROOT / "LICENSE"
    assert bundle_path(setup["LicenseFile"]).read_text(encoding="utf-8").startswith("MIT License\n")
    [files] = iss.section("Files")
    assert files["Source"] == iss.defines["BundleDir"] + "\\*"
    assert files["DestDir"] == "{app}"
    assert {"recursesubdirs", "createallsubdirs", "ignoreversion"} <= flags(files)
    # an upgrade must not leave the previous version's libraries for the new Qt to load
    assert {"Type": "filesandordirs", "Name": "{app}\\_internal"} in iss.section("InstallDelete")


def test_a_start_menu_entry_and_an_optional_desktop_icon(iss):
    icons = {e["Name"].split("\\")[0]: e for e in iss.section("Icons")}
    assert icons["{autoprograms}"]["Filename"] == f"{{app}}\\{EXE}" and "Tasks" not in icons["{autoprograms}"]
    assert icons["{autodesktop}"]["Tasks"] == "desktopicon"
    tasks = {t["Name"]: t for t in iss.section("Tasks")}
    assert "unchecked" in flags(tasks["desktopicon"])


# -- Windows: links --------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_each_scheme_has_our_progid_and_is_declared_for_default_apps(iss, scheme):
    progid = f"Software\\Classes\\{app.APP_NAME}.{scheme}"
    assert "uninsdeletekey" in flags(iss.value(progid, "")), "our ProgID goes at uninstall"
    assert iss.value(progid + "\\shell\\open\\command", "")["ValueData"] == OPEN_COMMAND
    assert iss.value(progid + "\\DefaultIcon", "")["ValueData"] == ICON
    capabilities = iss.defines["CapabilitiesKey"]
    assert iss.value(capabilities + "\\URLAssociations", scheme)["ValueData"] == f"{app.APP_NAME}.{scheme}"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_each_classic_scheme_key_is_written_only_where_no_other_handler_is(iss, scheme):
    key = f"Software\\Classes\\{scheme}"
    assert iss.value(key, "URL Protocol")["ValueData"] == ""
    assert iss.value(key + "\\shell\\open\\command", "")["ValueData"] == OPEN_COMMAND
    entries = [e for e in iss.section("Registry") if e["Subkey"].lower().startswith(key.lower() + "\\")
               or e["Subkey"].lower() == key.lower()]
    assert len(entries) == 4
    for entry in entries:
        assert entry.get("Check") == f"MayRegisterScheme('{scheme}')", entry
        assert not {f for f in flags(entry) if f.startswith("unins")}, "a shared key: the [Code] removes only ours"
    assert re.search(rf"Result\[\d\] := '{scheme}';", iss.code), "UnregisterSchemeIfOurs visits it at uninstall"


def test_the_app_is_listed_in_settings_default_apps(iss):
    capabilities = iss.defines["CapabilitiesKey"]
    assert capabilities == f"Software\\{app.APP_NAME}\\Capabilities"
    assert iss.value(capabilities, "ApplicationName")["ValueData"] == iss.defines["AppDisplayName"]
    assert iss.value(capabilities, "ApplicationDescription")["ValueData"]
    registered = iss.value("Software\\RegisteredApplications", app.APP_ID)
    assert registered["ValueData"] == capabilities
    assert "uninsdeletevalue" in flags(registered)
    [own_key] = iss.registry(f"Software\\{app.APP_NAME}")
    assert "uninsdeletekey" in flags(own_key)
    settings = [e for e in iss.section("Run") if e["Filename"].startswith("ms-settings:defaultapps")]
    assert [e["Filename"] for e in settings] == [f"ms-settings:defaultapps?registeredAppUser={app.APP_ID}"]
    assert {"shellexec", "postinstall", "unchecked"} <= flags(settings[0])


# -- Windows: start at login, uninstall ------------------------------------------------------------

def test_start_at_login_writes_exactly_what_the_apps_setting_writes(iss):
    written = [e for e in iss.registry(autostart.RUN_KEY, app.APP_ID) if e.get("ValueType") == "string"]
    assert [e.get("Tasks") for e in written] == ["startatlogin"]
    install_dir = r"C:\Users\agent\AppData\Local\Programs\pbx-companion"
    data = written[0]["ValueData"].replace("{app}", install_dir)
    assert data == autostart.windows_command_line([install_dir + "\\" + EXE])
    assert autostart.windows_command_line_split(data) == [install_dir + "\\" + EXE]


@pytest.mark.parametrize("key", [autostart.RUN_KEY, autostart.STARTUP_APPROVED_KEY])
def test_uninstall_removes_the_login_entry_however_it_was_made(iss, key):
    """Not tied to the task: the app's own setting may have written the value after installing."""
    [entry] = [e for e in iss.registry(key, app.APP_ID) if e.get("ValueType") == "none"]
    assert {"dontcreatekey", "uninsdeletevalue"} <= flags(entry)
    assert "Tasks" not in entry and "Check" not in entry


def test_the_uninstaller_deletes_whole_keys_only_where_they_are_ours(iss):
    shared = {"software\\registeredapplications", autostart.RUN_KEY.lower(), autostart.STARTUP_APPROVED_KEY.lower(),
              *(f"software\\classes\\{s}" for s in SCHEMES)}
    for entry in iss.section("Registry"):
        subkey = entry["Subkey"].lower()
        if flags(entry) & {"uninsdeletekey", "uninsdeletekeyifempty", "deletekey"}:
            assert not any(subkey == s or subkey.startswith(s + "\\") for s in shared), entry
            assert app.APP_NAME in subkey.split("\\")[-1] or app.APP_NAME + "." in subkey, entry


def test_the_check_and_uninstall_code_it_relies_on_exists(iss):
    for entry in iss.section("Registry"):
        if "Check" in entry:
            name = entry["Check"].split("(")[0]
            assert re.search(rf"^function {name}\(", iss.code, re.MULTILINE), name
    uninstall = iss.code[iss.code.index("procedure CurUninstallStepChanged"):]
    assert "UnregisterSchemeIfOurs(" in uninstall
    assert "UninstallSilent" in uninstall, "never ask about deleting user data in a silent uninstall"
    [stop] = iss.section("UninstallRun")
    assert stop["Filename"] == "{sys}\\taskkill.exe" and f"/IM {EXE}" in stop["Parameters"] and stop["RunOnceId"]


def test_the_script_is_utf8_with_a_byte_order_mark_for_its_russian_texts():
    raw = ISS.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "Запускать" in raw.decode("utf-8-sig")


# -- macOS ------------------------------------------------------------------------------------------

def load_plist(name: str) -> dict:
    with open(MACOS / name, "rb") as stream:
        return plistlib.load(stream)


def test_info_plist_declares_the_bundle_id_the_links_and_a_menu_bar_app():
    info = load_plist("Info.plist")
    assert info["CFBundleIdentifier"] == app.APP_ID
    assert info["CFBundleName"] and info["CFBundleDisplayName"]
    [url_type] = info["CFBundleURLTypes"]
    assert url_type["CFBundleURLName"].startswith(app.APP_ID)
    assert sorted(url_type["CFBundleURLSchemes"]) == sorted(SCHEMES)
    assert info["LSUIElement"] is True
    assert info["NSHighResolutionCapable"] is True
    assert tuple(int(p) for p in info["LSMinimumSystemVersion"].split(".")) >= (13, 0)
    # build.spec sets the version from app.__version__; a copy here would override it
    assert not {"CFBundleShortVersionString", "CFBundleVersion"} & info.keys()


def test_build_spec_merges_this_info_plist():
    spec = (PROJECT_ROOT / "build.spec").read_text(encoding="utf-8")
    assert re.search(r'os\.path\.join\(ROOT, "packaging", "macos", "Info\.plist"\)', spec)


def test_the_entitlements_keep_the_hardened_runtime_whole():
    entitlements = load_plist("entitlements.plist")
    assert isinstance(entitlements, dict)
    # the one exception the file documents for Pythons with their own libffi; nothing broader
    assert set(entitlements) <= {"com.apple.security.cs.allow-unsigned-executable-memory"}
