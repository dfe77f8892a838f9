#!/usr/bin/env bash
# Install the pbx-companion bundle for the current user, without root, and make it the handler of
# tel:, callto: and sip: links.
#
#   packaging/linux/install.sh [--prefix DIR] [--stop] [BUNDLE_DIR]
#
# BUNDLE_DIR is the PyInstaller one-folder bundle (`make bundle` makes dist/pbx-companion); without
# it, the bundle beside this script (the release archive of `make tarball`). It goes to
#   PREFIX/lib/pbx-companion/         the program (PREFIX defaults to ~/.local)
#   PREFIX/bin/pbx-companion          a symlink to it, for the command line
# and the desktop integration to $XDG_DATA_HOME (default ~/.local/share), where desktops look for it:
#   applications/org.pbxcompanion.PbxCompanion.desktop     (Exec = the absolute program path)
#   icons/hicolor/<N>x<N>/apps/pbx-companion.png, icons/hicolor/scalable/apps/pbx-companion.svg
#   metainfo/org.pbxcompanion.PbxCompanion.metainfo.xml
# then refreshes the desktop-entry and icon caches and runs `xdg-mime default` for the three schemes,
# which records the choice in $XDG_CONFIG_HOME/mimeapps.list (default ~/.config).
#
# Running it again upgrades: the program directory is replaced as a whole, everything else is
# rewritten. Your data (database, settings, keys) is not touched. A running pbx-companion from the
# same place is not replaced under its feet: the script stops with an error (quit the app first),
# or with --stop it stops the app (like tray menu → Quit) and goes on; start the new version then.
#
# packaging/linux/uninstall.sh (with the same --prefix) removes it all again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    echo "usage: ${0##*/} [--prefix DIR] [--stop] [BUNDLE_DIR]" >&2
    exit 2
}

prefix=
stop=no
bundle=
while (($# > 0)); do
    case $1 in
        --prefix) (($# >= 2)) || usage; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --stop) stop=yes; shift ;;
        -h | --help) usage ;;
        -*) echo "${0##*/}: unknown option $1" >&2; usage ;;
        *) [[ -z $bundle ]] || usage; bundle=$1; shift ;;
    esac
done
if [[ -z $bundle ]]; then
    [[ -x $LINUX_DIR/$APP_NAME/$APP_NAME ]] || usage  # not the release archive: name the bundle
    bundle=$LINUX_DIR/$APP_NAME
fi
[[ -n ${HOME:-} ]] || die "HOME is not set"
prefix=${prefix:-$HOME/.local}
[[ $prefix == /* ]] || prefix=$PWD/$prefix

check_bundle "$bundle"
bundle=$(cd "$bundle" && pwd -P)
icons=$(bundle_icons_dir "$bundle") ||
    die "$bundle has no icons (expected _internal/resources/icons/hicolor): was it built with build.spec?"
[[ -f $DESKTOP_TEMPLATE && -f $METAINFO_FILE ]] ||
    die "$DESKTOP_TEMPLATE or $METAINFO_FILE is missing beside this script"
if [[ $(id -u) == 0 ]]; then
    note "note: running as root installs for root only; the .deb (\`make deb\`) installs for every user"
fi

data_home=$(xdg_dir "${XDG_DATA_HOME:-}" "$HOME/.local/share")
app_dir=$prefix/lib/$APP_NAME
bin_link=$prefix/bin/$APP_NAME
applications=$data_home/applications
hicolor=$data_home/icons/hicolor
desktop_file=$applications/$APP_ID.desktop

case $app_dir/ in
    "$bundle"/*) die "the bundle $bundle cannot be installed into itself ($app_dir)" ;;
esac
if [[ -e $app_dir && ! -x $app_dir/$APP_NAME ]]; then
    die "$app_dir exists and is not a $APP_NAME installation: not replacing it"
fi
handle_running "$app_dir" "$stop"

# The program: copied beside the old one, then swapped in, so an interrupted copy leaves the old
# installation working.
mkdir -p "$prefix/lib"
staging=$(mktemp -d "$prefix/lib/.$APP_NAME.new.XXXXXX")
trap 'rm -rf "$staging"' EXIT
cp -a "$bundle/." "$staging/"
chmod 755 "$staging"
if [[ -e $app_dir ]]; then
    old=$(mktemp -d "$prefix/lib/.$APP_NAME.old.XXXXXX")
    mv "$app_dir" "$old/"
    mv "$staging" "$app_dir"
    rm -rf "$old"
    action=upgraded
else
    mv "$staging" "$app_dir"
    action=installed
fi
trap - EXIT
executable=$(installed_executable "$app_dir")

# The command: a symlink, never over a file someone else put there (a pip-installed script).
mkdir -p "$prefix/bin"
if [[ -e $bin_link && ! -L $bin_link ]]; then
    note "warning: $bin_link exists and is not ours: left alone (the menu entry and links still work)"
else
    ln -sfn "$executable" "$bin_link"
fi

# The desktop integration.
mkdir -p "$applications" "$data_home/metainfo"
render_desktop_entry "$executable" >"$desktop_file.tmp"
chmod 644 "$desktop_file.tmp"
mv "$desktop_file.tmp" "$desktop_file"
install -m 644 "$METAINFO_FILE" "$data_home/metainfo/$APP_ID.metainfo.xml"
install_icons "$icons" "$hicolor"
refresh_desktop_caches "$applications" "$hicolor"

mimetypes=()
for scheme in "${SCHEMES[@]}"; do
    mimetypes+=("x-scheme-handler/$scheme")
done
if command -v xdg-mime >/dev/null; then
    xdg-mime default "$APP_ID.desktop" "${mimetypes[@]}"
    note "$APP_NAME now opens ${SCHEMES[*]/%/:} links"
else
    note "warning: xdg-mime is missing (Debian package xdg-utils): choose $APP_NAME for tel:, callto:" \
         "and sip: links in your desktop's default-applications settings"
fi

note "$action $APP_NAME in $app_dir"
note "menu entry: $desktop_file"
if [[ ${STOPPED:-no} == yes ]]; then
    note "$APP_NAME was stopped for the upgrade: start it again from the menu or with $bin_link"
fi
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) note "note: $prefix/bin is not on your PATH; the command is $bin_link" ;;
esac
