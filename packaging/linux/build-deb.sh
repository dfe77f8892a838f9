#!/usr/bin/env bash
# Build a Debian package from the PyInstaller bundle (`make deb`):
#
#   packaging/linux/build-deb.sh BUNDLE_DIR OUT_DIR     ->  OUT_DIR/pbx-companion_<version>_<arch>.deb
#
# The package holds
#   /opt/pbx-companion/                       the bundle as it is
#   /usr/bin/pbx-companion                    a symlink to /opt/pbx-companion/pbx-companion
#   /usr/share/applications/org.pbxcompanion.PbxCompanion.desktop   (Exec=/usr/bin/pbx-companion %u)
#   /usr/share/icons/hicolor/*/apps/pbx-companion.{png,svg}
#   /usr/share/metainfo/org.pbxcompanion.PbxCompanion.metainfo.xml
#   /usr/share/doc/pbx-companion/copyright    machine-readable (DEP-5): the app is MIT (LICENSE)
# and no maintainer scripts: dpkg triggers of desktop-file-utils and hicolor-icon-theme refresh the
# desktop-entry and icon caches, and every user's default handler for tel:/callto:/sip: stays their
# own choice (the desktop entry makes pbx-companion one of the candidates).
#
# Depends lists the Debian packages of the system libraries the bundle loads but does not carry
# (found with ldd, mapped with dpkg -S, so build on the Debian/Ubuntu release you ship for); the
# libc6 version is the newest GLIBC symbol version the bundle needs. Libraries only Qt plugins that
# the app can do without need (Wayland, EGL/GLX integrations, image formats, multimedia back-ends)
# go to Recommends.
#
# Version: app/__init__.py's __version__, which the bundle must report too (a stale bundle is an
# error). The package is reproducible: file times are clamped to SOURCE_DATE_EPOCH (default: the
# last commit's time), owners are root, permissions normalised; dpkg-deb sorts the file list.
# Maintainer: DEBFULLNAME and DEBEMAIL when set, else the project's own address.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for tool in dpkg-deb dpkg ldd objdump; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian packages dpkg, libc-bin, binutils)"
done
release_inputs "$@"
arch=$(dpkg --print-architecture)
icons=$(bundle_icons_dir "$bundle") || die "$bundle has no icons (expected _internal/resources/icons/hicolor)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
opt=/opt/$APP_NAME
upstream="pbx-companion developers <dev@pbx-companion.org>"
maintainer="${DEBFULLNAME:-pbx-companion developers} <${DEBEMAIL:-dev@pbx-companion.org}>"

# debian/copyright in the machine-readable format (DEP-5): the app's files are MIT, with the text of
# the checkout's LICENSE (one source); the bundled runtime keeps its components' own licenses.
render_copyright() {
    local license=$checkout/LICENSE holder
    [[ -f $license ]] || die "$license is missing"
    holder=$(sed -n 's/^Copyright (c) //p' "$license")
    [[ -n $holder ]] || die "$license has no \"Copyright (c) ...\" line"
    cat <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $APP_NAME
Upstream-Contact: $upstream

Files: *
Copyright: $holder
License: MIT

Files: opt/$APP_NAME/_internal/*
Copyright: the authors of each bundled component
License: bundled-components

License: MIT
COPYRIGHT
    # the permission notice and disclaimer: LICENSE after its copyright line, as a DEP-5 text block
    sed -n '/^Copyright (c) /,$p' "$license" | tail -n +2 | sed '/./,$!d' | sed 's/^$/./; s/^/ /'
    cat <<COPYRIGHT

License: bundled-components
 The self-contained bundle carries the Python interpreter (PSF-2.0), Qt and
 PySide6 (LGPL-3.0-only) and the Python packages the app requires (listed in
 its pyproject.toml), each under its own license.
COPYRIGHT
}

# -- the file tree ------------------------------------------------------------------------------
mkdir -p "$root$opt" "$root/usr/bin" "$root/usr/share/applications" "$root/usr/share/metainfo"
cp -a "$bundle/." "$root$opt/"
ln -s "$opt/$APP_NAME" "$root/usr/bin/$APP_NAME"
render_desktop_entry "/usr/bin/$APP_NAME" >"$root/usr/share/applications/$APP_ID.desktop"
install -m 644 "$METAINFO_FILE" "$root/usr/share/metainfo/$APP_ID.metainfo.xml"
install_icons "$icons" "$root/usr/share/icons/hicolor"
mkdir -p "$root/usr/share/doc/$APP_NAME"
render_copyright >"$root/usr/share/doc/$APP_NAME/copyright"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$root/usr/share/applications/$APP_ID.desktop" ||
        die "the desktop entry does not validate"
fi
# Whatever the build user's umask and the bundle's modes: directories and programs 755, data 644.
find "$root" -type d -exec chmod 755 {} +
find "$root" -type f -perm /111 -exec chmod 755 {} +
find "$root" -type f ! -perm /111 -exec chmod 644 {} +

# -- dependencies -------------------------------------------------------------------------------
# ELF files of the bundle: the executable and every shared object.
mapfile -t elves < <(find "$root$opt" -type f \( -name '*.so' -o -name '*.so.*' -o -path "$root$opt/$APP_NAME" \) |
                     LC_ALL=C sort)
((${#elves[@]} > 0)) || die "no ELF files in the bundle"
# Qt plugins the app starts without: libraries only they need are recommended, not required.
optional_plugin='/plugins/(wayland-|platforms/libq(wayland|eglfs|linuxfb|minimal|vnc|vkkhrdisplay|offscreen)|egldeviceintegrations|xcbglintegrations|imageformats|multimedia|platformthemes|platforminputcontexts|generic|iconengines|tls|networkinformation|sqldrivers|position|sensors)'
# Every directory of the bundle with a shared object: where the bundled libraries resolve.
bundle_path=$(printf '%s\n' "${elves[@]}" | xargs -n1 dirname | LC_ALL=C sort -u | paste -sd:)

declare -A required=() recommended=()
missing=()
for elf in "${elves[@]}"; do
    objdump -p "$elf" >/dev/null 2>&1 || continue  # not ELF (a linker script named .so)
    if [[ $elf =~ $optional_plugin ]]; then kind=optional; else kind=required; fi
    while read -r name arrow path _; do
        [[ $arrow == "=>" ]] || continue
        if [[ $path == "not" ]]; then
            [[ $kind == required ]] && missing+=("$name (needed by ${elf#"$root$opt"/})")
            continue
        fi
        [[ $path == "$root"* ]] && continue  # carried by the bundle
        if [[ $kind == required ]]; then required[$path]=1; else recommended[$path]=1; fi
    done < <(LD_LIBRARY_PATH=$bundle_path ldd "$elf" 2>/dev/null || true)
done
((${#missing[@]} == 0)) || die "libraries missing on this build machine: ${missing[*]}"

# The Debian package owning a library (through symlinks: dpkg knows the real file's path, and on
# merged-/usr systems /lib paths are /usr/lib paths).
package_of() {
    local path=$1 candidate owner
    for candidate in "$path" "$(readlink -f "$path")" "/usr${path}" "${path#/usr}" "/usr$(readlink -f "$path")"; do
        owner=$(dpkg -S "$candidate" 2>/dev/null | head -n 1) || continue
        [[ -n $owner ]] && { printf '%s\n' "${owner%%:*}"; return 0; }
    done
    die "no Debian package owns $path: install its package or bundle it"
}
packages_of() {
    local path
    for path in "$@"; do package_of "$path"; done | LC_ALL=C sort -u
}
# (command substitutions, not process substitutions: a failure must stop the build)
required_packages=$(packages_of "${!required[@]}")
recommended_packages=$(packages_of "${!recommended[@]}")
mapfile -t depends <<<"$required_packages"
glibc=$(for elf in "${elves[@]}"; do objdump -T "$elf" 2>/dev/null; done |
        grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
[[ -n $glibc ]] || die "found no GLIBC symbol versions in the bundle"
# Data the bundled libraries read from the system, invisible to ldd: fontconfig's configuration
# (/etc/fonts, which also pulls in a font) -- without it Qt draws no text.
depends+=(fontconfig-config)
mapfile -t depends < <(printf '%s\n' "${depends[@]}" | grep . | LC_ALL=C sort -u)
mapfile -t recommends < <(LC_ALL=C comm -23 <(printf '%s\n' "$recommended_packages" | grep . || true) \
                                            <(printf '%s\n' "${depends[@]}"))
depends_field=""
for package in "${depends[@]}"; do
    if [[ $package == libc6 ]]; then package="libc6 (>= $glibc)"; fi
    depends_field+="${depends_field:+, }$package"
done
recommends_field=$(printf '%s\n' "${recommends[@]}" | paste -sd, | sed 's/,/, /g')

# -- control --------------------------------------------------------------------------------------
installed_size=$(du -s -k --apparent-size "$root" | cut -f1)
mkdir -p "$root/DEBIAN"
{
    echo "Package: $APP_NAME"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $installed_size"
    echo "Depends: $depends_field"
    [[ -z $recommends_field ]] || echo "Recommends: $recommends_field"
    echo "Suggests: xdg-utils"
    echo "Section: net"
    echo "Priority: optional"
    echo "Description: call pop-ups and click-to-dial for call-center agents on a cloud PBX"
    echo " PBX Companion sits in the system tray and connects a cloud PBX (the UserCRM"
    echo " integration API) with the agent's desktop: an incoming call pops up the"
    echo " client's card, tel:, callto: and sip: links are dialled through the PBX, and"
    echo " the client's call history with recordings, missed calls and the team's"
    echo " presence are a click away. In Russian and English."
    echo " ."
    echo " The program is a self-contained bundle, Python and Qt included, in"
    echo " $opt."
} >"$root/DEBIAN/control"
chmod 644 "$root/DEBIAN/control"

find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out_dir"
deb=$out_dir/${APP_NAME}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb.tmp" >/dev/null
mv "$deb.tmp" "$deb"
note "$deb: $(du -h "$deb" | cut -f1) (installed $((installed_size / 1024)) MiB)"
note "Depends: $depends_field"
[[ -z $recommends_field ]] || note "Recommends: $recommends_field"
