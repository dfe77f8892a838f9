"""PySide6.QtGui without the Qt plugins pbx-companion leaves out (build.spec's ``UNWANTED_PLUGINS``).

Replaces PyInstaller's own hook for this module (hooks on ``hookspath`` take precedence): it
collects exactly what that hook collects -- ``add_qt6_dependencies`` -- minus the plugins whose
path under Qt's plugin directory matches a pattern in
``hooksconfig["PySide6.QtGui"]["unwanted_plugins"]``. Filtering here, before PyInstaller's binary
dependency analysis, and not in the spec afterwards, matters: the analysis would otherwise also
collect what those plugins link to -- the build host's GTK stack for the GTK3 platform theme,
QtQuick/QtQml for the virtual keyboard, QtPdf for the PDF image format, QtWaylandClient -- and
dropping a plugin afterwards leaves its dependencies behind.
"""

import os
from fnmatch import fnmatch

from PyInstaller.utils.hooks import get_hook_config
from PyInstaller.utils.hooks.qt import add_qt6_dependencies, pyside6_library_info

# PySide6/Qt/plugins in the bundle on Linux and macOS, PySide6/plugins on Windows.
PLUGINS_DIR = os.path.join(pyside6_library_info.qt_rel_dir, "plugins")


def plugin_path(src, dest_dir):
    """``platforms/libqxcb.so`` (``platforms/qwindows.dll``) for a plugin binary, None for anything else."""
    relative = os.path.relpath(dest_dir, PLUGINS_DIR)
    if relative.startswith(".."):
        return None
    return f"{relative.replace(os.sep, '/')}/{os.path.basename(src)}"


def hook(hook_api):
    hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
    unwanted = get_hook_config(hook_api, "PySide6.QtGui", "unwanted_plugins") or []

    def wanted(entry):
        path = plugin_path(*entry)
        return path is None or not any(fnmatch(path, pattern) for pattern in unwanted)

    hook_api.add_imports(*hiddenimports)
    hook_api.add_binaries([entry for entry in binaries if wanted(entry)])
    hook_api.add_datas(datas)
