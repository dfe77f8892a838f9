# Shared by install.sh, uninstall.sh and build-deb.sh (sourced, not run): the names every Linux
# integration uses, where the desktop entry and AppStream file come from, how a desktop entry gets
# its Exec line, where the icons are in a bundle, and which processes run from an installation.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file

# The same strings as app.APP_ID / app.APP_NAME (tests/packaging checks they agree): the scripts
# must work from an unpacked bundle without the Python sources.
APP_ID=org.pbxcompanion.PbxCompanion
APP_NAME=pbx-companion
# The URL schemes the desktop entry declares (MimeType=x-scheme-handler/...).
SCHEMES=(tel callto sip)

LINUX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DESKTOP_TEMPLATE=$LINUX_DIR/$APP_ID.desktop
METAINFO_FILE=$LINUX_DIR/$APP_ID.metainfo.xml

# What both release builders (build-deb.sh, build-tarball.sh) start from, given "BUNDLE_DIR OUT_DIR":
# sets bundle (absolute), out_dir, checkout, version and SOURCE_DATE_EPOCH (exported; default: the
# last commit's time). The version is app/__init__.py's __version__, which the bundle must report
# too: a bundle older than the sources is an error, not a release.
release_inputs() {
    (($# == 2)) || { echo "usage: ${0##*/} BUNDLE_DIR OUT_DIR" >&2; exit 2; }
    check_bundle "$1"
    bundle=$(cd "$1" && pwd -P)
    out_dir=$2
    checkout=$(cd "$LINUX_DIR/../.." && pwd)
    version=$(sed -n 's/^__version__ *= *"\([^"]*\)".*/\1/p' "$checkout/app/__init__.py")
    [[ $version =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "no usable __version__ in $checkout/app/__init__.py"
    local reported
    reported=$("$bundle/$APP_NAME" --version 2>&1) || die "$bundle/$APP_NAME --version failed: $reported"
    [[ $reported == "$APP_NAME $version" ]] ||
        die "the bundle says \"$reported\" but app/__init__.py is at $version: rebuild it (make bundle)"
    if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
        SOURCE_DATE_EPOCH=$(git -C "$checkout" log -1 --format=%ct 2>/dev/null || date +%s)
    fi
    export SOURCE_DATE_EPOCH
}

die() {
    echo "${0##*/}: error: $*" >&2
    exit 1
}

note() {
    echo "${0##*/}: $*"
}

# An XDG base directory: the variable's value when it is an absolute path (the Base Directory spec
# says relative ones are to be ignored), else the default.
xdg_dir() {
    local value=$1 default=$2
    if [[ $value == /* ]]; then printf '%s\n' "$value"; else printf '%s\n' "$default"; fi
}

# One argument of a desktop entry's Exec key, as the Desktop Entry spec wants it: in double quotes
# (with ", `, $ and \ backslash-escaped) when it holds a reserved character, then escaped as a
# string value (\ doubled) with literal % written as %%.
desktop_exec_arg() {
    local arg=$1
    local reserved='[[:space:]"\\><~|&;$*?#()`'"'"']'
    [[ $arg != *$'\n'* ]] || die "a path with a newline cannot go into a desktop entry: $arg"
    if [[ $arg =~ $reserved ]]; then
        arg=${arg//\\/\\\\}
        arg=${arg//\"/\\\"}
        arg=${arg//\`/\\\`}
        arg=${arg//\$/\\\$}
        arg="\"$arg\""
    fi
    arg=${arg//\\/\\\\}
    arg=${arg//%/%%}
    printf '%s' "$arg"
}

# Print the desktop entry with Exec and TryExec pointing at EXECUTABLE (an absolute path); the
# template's own values (`pbx-companion %u`) assume the command is on PATH.
render_desktop_entry() {
    local executable=$1 exec_arg
    exec_arg=$(desktop_exec_arg "$executable")
    DESKTOP_EXEC=$exec_arg DESKTOP_TRYEXEC=${executable//\\/\\\\} awk '
        /^\[/ { in_entry = ($0 == "[Desktop Entry]") }
        in_entry && /^Exec=/ {
            rest = substr($0, 6)
            space = index(rest, " ")
            print "Exec=" ENVIRON["DESKTOP_EXEC"] (space ? substr(rest, space) : "")
            exec_lines++
            next
        }
        in_entry && /^TryExec=/ { print "TryExec=" ENVIRON["DESKTOP_TRYEXEC"]; tryexec_lines++; next }
        { print }
        END { exit !(exec_lines == 1 && tryexec_lines == 1) }
    ' "$DESKTOP_TEMPLATE" || die "$DESKTOP_TEMPLATE must have exactly one Exec= and one TryExec= line"
}

# The icons directory inside a PyInstaller one-folder bundle: PyInstaller 6 puts data files under
# _internal/, older versions beside the executable.
bundle_icons_dir() {
    local bundle=$1 dir
    for dir in "$bundle/_internal/resources/icons" "$bundle/resources/icons"; do
        if [[ -d $dir/hicolor ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

# Copy the app icon into a hicolor theme directory (DEST/<N>x<N>/apps, DEST/scalable/apps).
install_icons() {
    local icons=$1 dest=$2 png size count=0
    for png in "$icons"/hicolor/*/apps/"$APP_NAME".png; do
        [[ -f $png ]] || continue
        size=${png#"$icons"/hicolor/}
        size=${size%%/*}
        install -D -m 644 "$png" "$dest/$size/apps/$APP_NAME.png"
        count=$((count + 1))
    done
    ((count > 0)) || die "no $APP_NAME.png icons under $icons/hicolor"
    if [[ -f $icons/$APP_NAME.svg ]]; then
        install -D -m 644 "$icons/$APP_NAME.svg" "$dest/scalable/apps/$APP_NAME.svg"
    fi
}

# The bundle's executable, checked: a directory holding an executable named pbx-companion.
check_bundle() {
    local bundle=$1
    [[ -d $bundle ]] || die "no such bundle directory: $bundle"
    [[ -f $bundle/$APP_NAME && -x $bundle/$APP_NAME ]] ||
        die "$bundle is not a $APP_NAME bundle: it has no executable $APP_NAME (build one with \`make bundle\`)"
}

# PIDs of this user's processes whose executable is EXECUTABLE (an absolute path without symlinks),
# also when the file has been replaced or deleted meanwhile.
pids_running() {
    local executable=$1 proc target
    for proc in /proc/[0-9]*; do
        [[ -O $proc ]] || continue
        target=$(readlink "$proc/exe" 2>/dev/null) || continue
        target=${target% (deleted)}
        if [[ $target == "$executable" ]]; then
            printf '%s\n' "${proc#/proc/}"
        fi
    done
}

# Stop the processes running EXECUTABLE the way the tray menu's Quit does (SIGTERM: the app closes
# its windows and its listener and exits); die if one is still there after 10 s.
stop_running() {
    local executable=$1 pids waited=0
    mapfile -t pids < <(pids_running "$executable")
    ((${#pids[@]} > 0)) || return 0
    note "stopping the running $APP_NAME (pid ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    while (( waited < 100 )); do
        mapfile -t pids < <(pids_running "$executable")
        ((${#pids[@]} > 0)) || return 0
        sleep 0.1
        waited=$((waited + 1))
    done
    die "$APP_NAME (pid ${pids[*]}) did not stop within 10 s"
}

# The canonical path of the executable inside an installed app directory ("" when not installed).
installed_executable() {
    local app_dir=$1
    [[ -d $app_dir ]] || return 0
    printf '%s/%s\n' "$(cd "$app_dir" && pwd -P)" "$APP_NAME"
}

# Refuse to go on while the installed app runs, unless STOP is "yes" (then stop it first and set
# STOPPED=yes, so the caller can say to start it again).
# Replacing or deleting a running bundle is not safe: the app loads modules and Qt plugins from it
# lazily (the first settings window, the first recording played), so it would fail later.
handle_running() {
    local app_dir=$1 stop=$2 executable pids
    executable=$(installed_executable "$app_dir")
    [[ -n $executable ]] || return 0
    mapfile -t pids < <(pids_running "$executable")
    ((${#pids[@]} > 0)) || return 0
    if [[ $stop == yes ]]; then
        stop_running "$executable"
        STOPPED=yes
    else
        die "$APP_NAME is running from $app_dir (pid ${pids[*]}): quit it first (tray menu → Quit)," \
            "or run again with --stop to stop it"
    fi
}

# Refresh the per-user or system caches of desktop entries and icons; each tool is optional.
refresh_desktop_caches() {
    local applications=$1 hicolor=$2
    if command -v update-desktop-database >/dev/null; then
        update-desktop-database -q "$applications" ||
            note "warning: update-desktop-database $applications failed"
    else
        note "warning: update-desktop-database is missing (Debian package desktop-file-utils):" \
             "some desktops will not list $APP_NAME as a tel:/callto:/sip: handler until they rescan"
    fi
    # Icon themes notice a changed directory by its mtime. A cache is only refreshed, never created
    # (like xdg-icon-resource): a cache nobody else keeps up to date would hide other apps' icons.
    if [[ -d $hicolor ]]; then
        touch "$hicolor"
        if [[ -f $hicolor/icon-theme.cache ]] && command -v gtk-update-icon-cache >/dev/null; then
            gtk-update-icon-cache --force --ignore-theme-index --quiet "$hicolor" 2>/dev/null || true
        fi
    fi
}
