"""The .deb built from the real bundle: its metadata, its files, and a real install and purge.

The package is installed and purged with the real dpkg, into a private root directory with an
empty dpkg database of its own (``dpkg --root``), so the host system is never touched: its
dependencies are not there, hence ``--force-depends``; dpkg runs no script inside that root
(``--force-script-chrootless``; the package has no maintainer scripts anyway), and its log goes
to the private root too.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import app
from tests.packaging.test_linux_install import bundle_icons

pytestmark = pytest.mark.packaging

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LINUX_DIR = PROJECT_ROOT / "packaging" / "linux"
OPT = f"opt/{app.APP_NAME}"
DESKTOP_PATH = f"usr/share/applications/{app.APP_ID}.desktop"
METAINFO_PATH = f"usr/share/metainfo/{app.APP_ID}.metainfo.xml"
COPYRIGHT_PATH = f"usr/share/doc/{app.APP_NAME}/copyright"
# ELF files whose system libraries the app cannot start without (the executable, Qt's GUI and the
# X11 platform plugin it draws with): each such library's package must be in Depends.
ESSENTIAL_ELVES = (app.APP_NAME, "_internal/libQt6Gui.so.6", "_internal/libQt6Widgets.so.6",
                   "_internal/PySide6/Qt/plugins/platforms/libqxcb.so")


def _run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    return result


def _architecture() -> str:
    return _run("dpkg", "--print-architecture").stdout.strip()


@pytest.fixture(scope="session")
def deb_file(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The package of the bundle under test: the one `make deb` left beside the bundle when it is
    newer than the bundle and the packaging sources, else one built now by build-deb.sh."""
    made = bundle_dir.parent / f"{app.APP_NAME}_{app.__version__}_{_architecture()}.deb"
    sources = [bundle_dir / app.APP_NAME, *LINUX_DIR.iterdir(), PROJECT_ROOT / "LICENSE"]  # LICENSE: the copyright
    if made.exists() and made.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        yield made
        return
    out = tmp_path_factory.mktemp("deb")
    _run(LINUX_DIR / "build-deb.sh", bundle_dir, out)
    built = out / made.name
    yield built
    built.unlink()  # 60+ MB nobody needs once the session is over


@dataclass
class PackageTree:
    """The package's file tree: every member by path (without the leading ``./``), and the
    contents of the files outside the bundle (desktop entry, metainfo, icons)."""

    members: dict[str, tarfile.TarInfo]
    contents: dict[str, bytes]


@pytest.fixture(scope="session")
def tree(deb_file: Path) -> PackageTree:
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb_file)], capture_output=True, check=True).stdout
    members: dict[str, tarfile.TarInfo] = {}
    contents: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("./").rstrip("/")
            if not name or name == ".":
                continue
            members[name] = member
            if member.isfile() and not name.startswith(f"{OPT}/"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                contents[name] = extracted.read()
    return PackageTree(members, contents)


def _field(deb_file: Path, name: str) -> str:
    return _run("dpkg-deb", "--field", deb_file, name).stdout.strip()


def _bundle_files(bundle_dir: Path) -> set[str]:
    return {str(p.relative_to(bundle_dir)) for p in bundle_dir.rglob("*") if p.is_symlink() or not p.is_dir()}


def _system_packages_of(elf: Path, bundle_dir: Path) -> set[str]:
    """Debian packages of the libraries ``elf`` loads from the system rather than from the bundle."""
    library_dirs = sorted({str(p.parent) for p in bundle_dir.rglob("*.so*")})
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(library_dirs))
    packages = set()
    for line in _run("ldd", elf, env=env).stdout.splitlines():
        match = re.match(r"\s*\S+ => (/\S+)", line)
        if match and not match[1].startswith(str(bundle_dir)):
            path = os.path.realpath(match[1])
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            if owner.returncode != 0:  # merged /usr: dpkg knows /lib/... paths under their old name
                owner = subprocess.run(["dpkg", "-S", path.removeprefix("/usr")], capture_output=True, text=True)
            assert owner.returncode == 0, f"no package owns {path}"
            packages.add(owner.stdout.split(":")[0])
    return packages


def test_control_names_the_app_its_version_and_the_system_libraries_it_needs(deb_file: Path, bundle_dir: Path):
    assert deb_file.name == f"{app.APP_NAME}_{app.__version__}_{_architecture()}.deb"
    assert _field(deb_file, "Package") == app.APP_NAME
    assert _field(deb_file, "Version") == app.__version__
    assert _field(deb_file, "Architecture") == _architecture()
    assert re.fullmatch(r".+ <[^@\s]+@[^@\s]+>", _field(deb_file, "Maintainer"))
    if not os.environ.get("DEBEMAIL"):  # a real address, not a reserved .invalid one
        assert _field(deb_file, "Maintainer") == "pbx-companion developers <dev@pbx-companion.org>"
    assert _field(deb_file, "Section") and _field(deb_file, "Priority") == "optional"
    description = _field(deb_file, "Description").splitlines()
    assert description[0] and len(description) > 2 and all(len(line) <= 80 for line in description)

    bundle_kib = sum(p.stat().st_size for p in bundle_dir.rglob("*") if p.is_file() and not p.is_symlink()) // 1024
    assert bundle_kib <= int(_field(deb_file, "Installed-Size")) <= bundle_kib * 1.02 + 1024

    depends = {entry.split(" ")[0]: entry for entry in _field(deb_file, "Depends").split(", ")}
    assert re.fullmatch(r"libc6 \(>= 2\.\d+\)", depends["libc6"])
    assert "fontconfig-config" in depends  # fonts.conf: the bundled fontconfig reads the system's
    for elf in ESSENTIAL_ELVES:
        needed = _system_packages_of(bundle_dir / elf, bundle_dir)
        assert needed <= depends.keys(), f"{elf} loads libraries of {needed - depends.keys()}, not in Depends"


def test_the_files_are_where_desktops_and_the_shell_look_and_owned_by_root(deb_file: Path, bundle_dir: Path,
                                                                           tree: PackageTree, tmp_path: Path):
    members = tree.members
    executable = members[f"{OPT}/{app.APP_NAME}"]
    assert executable.isfile() and executable.mode == 0o755
    launcher = members[f"usr/bin/{app.APP_NAME}"]
    assert launcher.issym() and launcher.linkname == f"/{OPT}/{app.APP_NAME}"
    shipped = {name.removeprefix(f"{OPT}/") for name, m in members.items()
               if name.startswith(f"{OPT}/") and not m.isdir()}
    assert shipped == _bundle_files(bundle_dir)
    hicolor = "usr/share/icons/hicolor/"
    icons = {name.removeprefix(hicolor) for name in members
             if name.startswith(hicolor) and re.search(rf"/apps/{app.APP_NAME}\.\w+$", name)}
    assert icons == bundle_icons(bundle_dir)
    assert METAINFO_PATH in members and COPYRIGHT_PATH in members
    # root owns everything (dpkg-deb --root-owner-group), nothing is writable by others, no set-id bits
    for name, member in members.items():
        assert (member.uname, member.gname, member.uid, member.gid) == ("root", "root", 0, 0), name
        assert member.issym() or not member.mode & 0o7022, f"{name}: mode {member.mode:o}"
    assert not [name for name in members if not re.match(r"(opt|usr)(/|$)", name)]

    desktop = tmp_path / f"{app.APP_ID}.desktop"
    desktop.write_bytes(tree.contents[DESKTOP_PATH])
    result = _run("desktop-file-validate", desktop)
    assert not result.stdout.strip(), result.stdout
    text = desktop.read_text(encoding="utf-8")
    assert f"\nExec=/usr/bin/{app.APP_NAME} %u\n" in text
    assert "\nMimeType=x-scheme-handler/tel;x-scheme-handler/callto;x-scheme-handler/sip;\n" in text
    assert tree.contents[METAINFO_PATH] == (LINUX_DIR / f"{app.APP_ID}.metainfo.xml").read_bytes()
    info = _run("dpkg-deb", "--info", deb_file).stdout
    assert not re.search(r"\b(preinst|postinst|prerm|postrm)\b", info)  # the caches are refreshed by triggers


def dep5_paragraphs(text: str) -> list[dict[str, str]]:
    """A machine-readable debian/copyright (DEP-5) as its paragraphs: {field: value}, a value's
    continuation lines joined with newlines ("." lines are empty lines)."""
    paragraphs: list[dict[str, str]] = []
    for block in text.strip().split("\n\n"):
        paragraph: dict[str, str] = {}
        name = ""
        for line in block.splitlines():
            if line.startswith(" "):
                assert name, f"a continuation line before any field: {line!r}"
                paragraph[name] += "\n" + ("" if line.strip() == "." else line[1:])
            else:
                name, sep, value = line.partition(":")
                assert sep and re.fullmatch(r"[A-Za-z][A-Za-z-]*", name), f"not a field: {line!r}"
                paragraph[name] = value.strip()
        paragraphs.append(paragraph)
    return paragraphs


def test_the_copyright_file_says_the_app_is_mit_licensed(tree: PackageTree):
    """debian/copyright in the machine-readable format: the app's files are MIT with LICENSE's
    text, and it names where the bundled runtime's licenses come from."""
    assert tree.members[COPYRIGHT_PATH].mode == 0o644
    header, *paragraphs = dep5_paragraphs(tree.contents[COPYRIGHT_PATH].decode("utf-8"))
    assert header["Format"] == "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    assert header["Upstream-Name"] == app.APP_NAME
    files = {p["Files"]: p for p in paragraphs if "Files" in p}
    licenses = {p["License"].split("\n")[0]: p["License"] for p in paragraphs if "Files" not in p}
    assert files["*"]["License"] == "MIT" and files["*"]["Copyright"].endswith("pbx-companion developers")
    assert files[f"opt/{app.APP_NAME}/_internal/*"]["License"] in licenses  # every short name has its text
    license_text = (PROJECT_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licenses["MIT"].split("\n", 1)[1] == license_text.split("\n\n", 2)[2].strip()


def test_dpkg_installs_it_the_program_runs_from_there_and_purge_leaves_nothing(deb_file: Path, tmp_path: Path):
    root = tmp_path / "root"
    admin = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates"):
        (admin / sub).mkdir(parents=True)
    for name in ("status", "available"):
        (admin / name).touch()
    (root / "var" / "log").mkdir()
    dpkg = ["dpkg", f"--root={root}", f"--log={root / 'var' / 'log' / 'dpkg.log'}", "--force-depends",
            "--force-script-chrootless", *(["--force-not-root"] if os.geteuid() else [])]

    _run(*dpkg, "--install", deb_file)
    assert "Status: install ok installed" in _run(*dpkg, "--status", app.APP_NAME).stdout
    listed = set(_run(*dpkg, "--listfiles", app.APP_NAME).stdout.split())
    assert f"/{OPT}/{app.APP_NAME}" in listed and f"/{DESKTOP_PATH}" in listed

    installed = root / OPT / app.APP_NAME
    version = _run(installed, "--version", env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert version.stdout.strip() == f"{app.APP_NAME} {app.__version__}"
    assert "--data-dir" in _run(installed, "serve", "--help").stdout

    _run(*dpkg, "--purge", app.APP_NAME)
    status = subprocess.run([*dpkg, "--status", app.APP_NAME], capture_output=True, text=True)
    assert status.returncode == 1 and "is not installed" in status.stderr
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_relative_to(root / "var"))
    assert left == [], f"files left after purge: {left[:20]}"
