#!/usr/bin/env bash
# Bootstrap a development/run environment on Debian or Ubuntu:
#   1. the Debian packages the program needs (apt-get when root, else print the line to run);
#   2. a virtual environment in .venv with the project and its test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# Debian packages needed by `make run` / `make test`: Python for the core; the Qt runtime libraries
# (offscreen and xcb), Xvfb for the focus/placement tests and screenshots, PulseAudio's client
# library for QtMultimedia (recordings), D-Bus for the tray and keyring; xdg-utils and
# desktop-file-utils for the per-user install and its tel: test, appstream to validate the AppStream
# metainfo, binutils for PyInstaller; postgresql for the team server's database (the tests start
# throw-away servers of their own from its binaries, tests/support/postgres.py: no system cluster).
DEBS=(python3 python3-venv python3-pip ca-certificates
      libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libx11-6 libxcb1 libxkbcommon0 fonts-dejavu-core
      xvfb xauth libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
      libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxtst6 libxrandr2 libpulse0 libdbus-1-3
      xdg-utils desktop-file-utils appstream libglib2.0-bin binutils postgresql)

missing_debs() {
    command -v dpkg-query >/dev/null 2>&1 || return 0
    local pkg
    for pkg in "${DEBS[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

python_ok() {
    command -v "$PYTHON" >/dev/null 2>&1 &&
        "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

mapfile -t need < <(missing_debs)
if ! python_ok || [ "${#need[@]}" -gt 0 ]; then
    if [ "${#need[@]}" -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "bootstrap: installing Debian packages: ${need[*]}"
            # Installing postgresql makes a default cluster and starts it with invoke-rc.d. Without
            # systemd (a container) that runs the init script, whose failure would fail the whole
            # install, and nothing here needs that server. So unless the machine already has a
            # policy, deny service starts for this install (policy-rc.d exit 101, as Docker's
            # Debian images do) and remove the policy again afterwards.
            policy=/usr/sbin/policy-rc.d
            if [ ! -d /run/systemd/system ] && [ ! -e "$policy" ]; then
                printf '#!/bin/sh\n# bootstrap.sh: no service starts during its apt-get install\nexit 101\n' >"$policy"
                chmod 755 "$policy"
                trap 'rm -f "$policy"' EXIT
            fi
            DEBIAN_FRONTEND=noninteractive apt-get update -q
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
            if [ "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
        else
            echo "bootstrap: missing Debian packages. Run this, then try again:" >&2
            echo "    sudo apt-get install -y ${need[*]}" >&2
            exit 1
        fi
    fi
    python_ok || { echo "bootstrap: $PYTHON must be Python 3.11 or newer with venv and ensurepip" >&2; exit 1; }
fi

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "bootstrap: installing Python dependencies into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
