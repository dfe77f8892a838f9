"""Runtime hook: programs the bundled app starts get the user's library path, not the bundle's.

On Linux the PyInstaller bootloader puts the bundle's ``_internal`` first on ``LD_LIBRARY_PATH``
(keeping the user's value in ``LD_LIBRARY_PATH_ORIG``) so that the app finds its libraries. Every
program the app starts would inherit that: ``QDesktopServices.openUrl`` runs xdg-open, which
starts the browser or file manager -- and those would load our copies of GLib, PulseAudio or Qt
instead of their own, and may crash. The dynamic loader reads ``LD_LIBRARY_PATH`` once, at
process start, so restoring the user's value here changes nothing for this process (Qt's plugins
are found through their RUNPATH, and through the directories already searched) and fixes it for
its children.
"""

import os
import sys

if sys.platform.startswith("linux") and getattr(sys, "frozen", False):
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = original
