#!/usr/bin/env bash
# Remove what packaging/linux/install.sh installed for the current user.
#
#   packaging/linux/uninstall.sh [--prefix DIR] [--stop] [--purge]
#
# Removes the program (PREFIX/lib/pbx-companion, PREFIX/bin/pbx-companion; PREFIX as given to
# install.sh, default ~/.local), the menu entry, icons and AppStream file under $XDG_DATA_HOME, the
# tel:/callto:/sip: defaults that point at pbx-companion in mimeapps.list (other applications'
# lines stay as they are) and the "start at login" entry in $XDG_CONFIG_HOME/autostart.
#
# Your data stays: the database and call journal ($XDG_DATA_HOME/pbx-companion), the settings
# ($XDG_CONFIG_HOME/pbx-companion), the logs and the cache. --purge deletes those too. API keys
# kept in the OS keyring are never touched (remove them with your keyring's tool, e.g. Seahorse).
#
# Like install.sh it will not pull the program out from under a running pbx-companion: quit it
# first, or pass --stop.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    echo "usage: ${0##*/} [--prefix DIR] [--stop] [--purge]" >&2
    exit 2
}

prefix=
stop=no
purge=no
while (($# > 0)); do
    case $1 in
        --prefix) (($# >= 2)) || usage; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --stop) stop=yes; shift ;;
        --purge) purge=yes; shift ;;
        -h | --help) usage ;;
        *) echo "${0##*/}: unknown argument $1" >&2; usage ;;
    esac
done
[[ -n ${HOME:-} ]] || die "HOME is not set"
prefix=${prefix:-$HOME/.local}
[[ $prefix == /* ]] || prefix=$PWD/$prefix

data_home=$(xdg_dir "${XDG_DATA_HOME:-}" "$HOME/.local/share")
config_home=$(xdg_dir "${XDG_CONFIG_HOME:-}" "$HOME/.config")
state_home=$(xdg_dir "${XDG_STATE_HOME:-}" "$HOME/.local/state")
cache_home=$(xdg_dir "${XDG_CACHE_HOME:-}" "$HOME/.cache")
app_dir=$prefix/lib/$APP_NAME
bin_link=$prefix/bin/$APP_NAME
applications=$data_home/applications
hicolor=$data_home/icons/hicolor
desktop_file=$applications/$APP_ID.desktop

# An installation elsewhere (another --prefix) is named in our desktop entry's TryExec.
if [[ ! -e $app_dir && -f $desktop_file ]]; then
    installed=$(sed -n 's/^TryExec=//p' "$desktop_file" | head -n 1)
    if [[ $installed == */lib/$APP_NAME/$APP_NAME ]]; then
        die "$APP_NAME is installed in ${installed%/lib/"$APP_NAME"/"$APP_NAME"}, not $prefix:" \
            "run again with --prefix ${installed%/lib/"$APP_NAME"/"$APP_NAME"}"
    fi
fi
handle_running "$app_dir" "$stop"

removed=()
remove() {
    local path
    for path in "$@"; do
        if [[ -e $path || -L $path ]]; then
            rm -rf -- "$path"
            removed+=("$path")
        fi
    done
}

# The program. A directory of that name that is not a bundle is somebody else's: leave it.
if [[ -e $app_dir ]]; then
    [[ -x $app_dir/$APP_NAME ]] || die "$app_dir is not a $APP_NAME installation: not removing it"
    executable=$(installed_executable "$app_dir")
    if [[ -L $bin_link && $(readlink "$bin_link") == "$executable" ]]; then
        remove "$bin_link"
    fi
    remove "$app_dir"
fi
# a launcher left dangling by an installation removed by hand
if [[ -L $bin_link && ! -e $bin_link && $(readlink "$bin_link") == */lib/$APP_NAME/$APP_NAME ]]; then
    remove "$bin_link"
fi

# The desktop integration.
remove "$desktop_file" "$data_home/metainfo/$APP_ID.metainfo.xml" "$config_home/autostart/$APP_ID.desktop"
for icon in "$hicolor"/*/apps/"$APP_NAME".png "$hicolor"/*/apps/"$APP_NAME".svg; do
    [[ -e $icon ]] || continue
    remove "$icon"
    rmdir "${icon%/*}" "${icon%/*/*}" 2>/dev/null || true  # size dirs we created, when now empty
done

# Our desktop entry out of every mimeapps.list that names it (defaults set by install.sh or by the
# user in a settings dialog, in any section): the entry is dropped from each `type=a;b;` list, and
# a line left with no entry goes. Every other line is kept byte for byte.
forget_associations() {
    local list=$1 tmp
    [[ -f $list ]] && grep -qF "$APP_ID.desktop" "$list" || return 0
    tmp=$(mktemp "$list.XXXXXX")
    DESKTOP_ID="$APP_ID.desktop" awk '
        /^[^#[][^=]*=/ {
            key = substr($0, 1, index($0, "=") - 1)
            count = split(substr($0, index($0, "=") + 1), apps, ";")
            kept = ""
            dropped = 0
            for (i = 1; i <= count; i++) {
                gsub(/^[ \t]+|[ \t]+$/, "", apps[i])
                if (apps[i] == ENVIRON["DESKTOP_ID"]) dropped = 1
                else if (apps[i] != "") kept = kept apps[i] ";"
            }
            if (dropped) {
                if (kept != "") print key "=" kept
                next
            }
        }
        { print }
    ' "$list" >"$tmp"
    chmod --reference="$list" "$tmp"
    mv "$tmp" "$list"
    removed+=("$APP_ID.desktop from $list")
}
for list in "$config_home"/mimeapps.list "$config_home"/*-mimeapps.list \
            "$applications"/mimeapps.list "$applications"/*-mimeapps.list; do
    forget_associations "$list"
done

refresh_desktop_caches "$applications" "$hicolor"

if ((${#removed[@]} == 0)); then
    note "$APP_NAME was not installed for $(id -un) in $prefix: nothing to remove"
else
    note "removed:"
    printf '  %s\n' "${removed[@]}"
fi

user_data=("$data_home/$APP_NAME" "$config_home/$APP_NAME" "$state_home/$APP_NAME" "$cache_home/$APP_NAME")
if [[ $purge == yes ]]; then
    removed=()
    remove "${user_data[@]}"
    if ((${#removed[@]} > 0)); then
        note "purged your data:"
        printf '  %s\n' "${removed[@]}"
    fi
    note "API keys in the OS keyring were not touched"
else
    kept=()
    for path in "${user_data[@]}"; do
        [[ -e $path ]] && kept+=("$path")
    done
    if ((${#kept[@]} > 0)); then
        note "kept your data (database, settings, logs); run with --purge to delete it too:"
        printf '  %s\n' "${kept[@]}"
    fi
fi
