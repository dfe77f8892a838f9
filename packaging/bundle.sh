#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle dist/pbx-companion/pbx-companion (`make bundle`).
#
#   packaging/bundle.sh                  (from anywhere; PYTHON=python3.12 to build with another Python)
#   BUNDLE_CLEAN=1 packaging/bundle.sh   (from scratch: a new build venv and PyInstaller work dir)
#
# Why a separate, clean virtualenv (build/bundle-venv) and not .venv: PyInstaller copies whatever
# the building interpreter can import. .venv has the test tools (pytest, hypothesis, pillow, ...)
# and an editable install; a venv with system site-packages would add the build host's Python
# packages. This one holds the runtime dependencies of pyproject.toml, PyInstaller, and the app
# installed as a user would get it (`pip install .`, non-editable); build.spec bundles that copy.
#
# Build time matters (every CI run builds the bundle), so:
#   * the venv is reused while the runtime dependencies, build requirements and Python version
#     stay the same (a hash of them is kept in the venv); otherwise it is made again from scratch;
#   * the app itself is reinstalled on every build, from a fresh copy of the sources, so the bundle
#     always has the current code (and no module deleted since the last build);
#   * PyInstaller's work dir (build/pyinstaller) is kept. Its module analysis is redone on every
#     build anyway, and must be: PyInstaller reuses it only as long as the *entry script* is
#     unchanged, so a reused analysis would miss a module the changed code newly imports.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=build/bundle-venv
WORK=build/pyinstaller
SRC=build/bundle-src
DIST=dist
# PyInstaller 6.10 is the first with hooks for PySide6 6.8's module layout; 7 may change the spec API.
PYINSTALLER_PIN="pyinstaller>=6.10,<7"
# setuptools new enough for pyproject.toml's [build-system] (the one ensurepip brings is older; 77 for
# the SPDX `license` and `license-files`).
SETUPTOOLS_PIN="setuptools>=77"

started=$(date +%s)
[[ -f pyproject.toml && -f build.spec ]] || { echo "bundle.sh: run from a pbx-companion checkout" >&2; exit 1; }
"$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    { echo "bundle.sh: $PYTHON must be Python 3.11 or newer with venv (run packaging/bootstrap.sh)" >&2; exit 1; }
command -v objdump >/dev/null || { echo "bundle.sh: PyInstaller needs objdump (apt-get install binutils)" >&2; exit 1; }
NAME=$("$PYTHON" -c 'import ast; print(next(n.value.value for n in ast.parse(open("app/__init__.py").read()).body
    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "APP_NAME"))')

mkdir -p build
exec 9>build/.bundle.lock
flock 9  # one build at a time: two would share the venv, the work dir and dist/

# A fresh copy of the app's sources to install: setuptools builds in the source dir and would
# otherwise leave build/lib behind, from which a later wheel picks up modules deleted since.
rm -rf "$SRC"
mkdir -p "$SRC"
cp -r app pyproject.toml README.md LICENSE "$SRC/"
find "$SRC" -name __pycache__ -prune -exec rm -rf {} +

key=$( { "$PYTHON" -c 'import json, sys, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
print(json.dumps([p["project"]["dependencies"], p["build-system"]["requires"], sys.version]))'
         echo "$PYINSTALLER_PIN $SETUPTOOLS_PIN"; } | sha256sum | cut -c1-16)
if [[ "${BUNDLE_CLEAN:-0}" == 1 || ! -x "$VENV/bin/python" || "$(cat "$VENV/.key" 2>/dev/null)" != "$key" ]]; then
    echo "bundle.sh: creating the build environment $VENV"
    rm -rf "$VENV" "$WORK"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # the runtime dependencies only (no [test] extra), the build tools, and the app
    "$VENV/bin/python" -m pip install -q "$PYINSTALLER_PIN" "$SETUPTOOLS_PIN" "$SRC"
    echo "$key" >"$VENV/.key"
else
    # the app only: the bundle must have the current code
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation --force-reinstall "$SRC"
fi
rm -rf "$SRC"

# The `pyinstaller` script, not `python -m PyInstaller`: that would put the checkout on sys.path,
# and build.spec must see the installed app.
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN build.spec --distpath "$DIST" --workpath "$WORK"

exe="$DIST/$NAME/$NAME"
[[ -x "$exe" ]] || { echo "bundle.sh: PyInstaller did not produce $exe" >&2; exit 1; }
"$exe" --version >/dev/null || { echo "bundle.sh: $exe --version failed" >&2; exit 1; }
size=$(du -sh "$DIST/$NAME" | cut -f1)
files=$(find "$DIST/$NAME" -type f | wc -l)
echo "bundle.sh: $exe: $size in $files files, built in $(( $(date +%s) - started )) s"
