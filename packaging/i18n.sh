#!/usr/bin/env bash
# Update the translation sources from the code, then compile them.
#
#   packaging/i18n.sh            (from anywhere; VENV=... to use another virtualenv)
#
# pyside6-lupdate extracts every self.tr(...) / QCoreApplication.translate(...) string of app/ui/*.py
# and app/main.py into resources/translations/pbx_companion_ru.ts (all strings, three plural forms)
# and pbx_companion_en.ts (plural messages only: English needs them for "%n missed call(s)").
# Existing translations are kept; strings that left the code are marked "vanished" (not compiled).
# Then pyside6-lrelease writes the .qm files the app loads (app/ui/i18n.py). Running it twice in a
# row changes nothing. Translate new strings with pyside6-linguist (or by editing the .ts), then rerun.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
LUPDATE="$VENV/bin/pyside6-lupdate"
LRELEASE="$VENV/bin/pyside6-lrelease"
for tool in "$LUPDATE" "$LRELEASE"; do
    if [[ ! -x "$tool" ]]; then
        echo "i18n.sh: $tool not found; it comes with PySide6-Essentials (run make test or packaging/bootstrap.sh)" >&2
        exit 1
    fi
done

OUT=resources/translations
mkdir -p "$OUT"
shopt -s nullglob
sources=(app/ui/*.py)
[[ -f app/main.py ]] && sources+=(app/main.py)
if (( ${#sources[@]} == 0 )); then
    echo "i18n.sh: no sources under app/ui" >&2
    exit 1
fi

"$LUPDATE" -silent -locations relative -source-language en -target-language ru \
    "${sources[@]}" -ts "$OUT/pbx_companion_ru.ts"
"$LUPDATE" -silent -locations relative -source-language en -target-language en -pluralonly \
    "${sources[@]}" -ts "$OUT/pbx_companion_en.ts"

for lang in ru en; do
    "$LRELEASE" -silent "$OUT/pbx_companion_$lang.ts" -qm "$OUT/pbx_companion_$lang.qm"
done

# Untranslated messages ship as English: say how many are left so nobody forgets.
for lang in ru en; do
    left=$(grep -c 'type="unfinished"' "$OUT/pbx_companion_$lang.ts" || true)
    if (( left > 0 )); then
        echo "i18n.sh: $OUT/pbx_companion_$lang.ts has $left unfinished translation(s)"
    fi
done
