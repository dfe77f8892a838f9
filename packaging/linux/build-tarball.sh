#!/usr/bin/env bash
# Build the Linux release archive for any distribution (`make tarball`):
#
#   packaging/linux/build-tarball.sh BUNDLE_DIR OUT_DIR  ->  OUT_DIR/pbx-companion-<version>-linux-<arch>.tar.gz
#
# It unpacks to pbx-companion-<version>/ holding the bundle (pbx-companion/) and what installs it for
# one user without root: install.sh, uninstall.sh, common.sh, the desktop entry and the AppStream
# file, and the LICENSE (MIT). An agent or admin runs
#
#   tar xzf pbx-companion-0.1.0-linux-x86_64.tar.gz && pbx-companion-0.1.0/install.sh
#
# (install.sh takes the bundle beside it when given none). Reproducible like the .deb: times clamped
# to SOURCE_DATE_EPOCH (default: the last commit's time), owners root, names sorted.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

release_inputs "$@"
arch=$(uname -m)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
top=$APP_NAME-$version
mkdir -p "$work/$top"
cp -a "$bundle" "$work/$top/$APP_NAME"
cp "$LINUX_DIR/install.sh" "$LINUX_DIR/uninstall.sh" "$LINUX_DIR/common.sh" "$DESKTOP_TEMPLATE" "$METAINFO_FILE" \
    "$checkout/LICENSE" "$work/$top/"

mkdir -p "$out_dir"
archive=$(cd "$out_dir" && pwd)/$top-linux-$arch.tar.gz
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$work" -cf - "$top" | gzip -n -6 >"$archive.part"
mv "$archive.part" "$archive"
note "built $archive ($(du -h "$archive" | cut -f1))"
