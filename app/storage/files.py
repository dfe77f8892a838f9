"""Directories and files only their owner may read: the data holds clients, numbers, recording links.

Created 0700/0600, and existing ones from before this rule are tightened when they are opened
(as the OS keyring's own files are). Not on Windows, where the per-user profile already is.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; tighten it when it exists. Returns it."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if os.name == "posix":
        with contextlib.suppress(PermissionError):  # not ours (a shared --data-dir): leave it to its owner
            os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only unless it exists; tighten it when it does."""
    if os.name != "posix":
        return
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))  # the mode applies when it is new
    with contextlib.suppress(PermissionError, FileNotFoundError):
        os.chmod(path, PRIVATE_FILE)


def private_tree(path: Path) -> None:
    """Tighten an existing directory and everything below it: directories 0700, files without group
    and other bits (0644 → 0600). Only what this user owns is touched; symbolic links are not
    followed; nothing is created."""
    if os.name != "posix" or not path.is_dir() or path.is_symlink():
        return
    tighten(path)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            tighten(Path(root, name))


def tighten(path: Path) -> None:
    """One existing directory (0700) or file (group and other bits off), if this user owns it;
    links, sockets and FIFOs are left as they are."""
    if os.name != "posix":
        return
    try:
        info = path.lstat()
    except OSError:
        return
    if info.st_uid != os.getuid():  # a shared directory's other files are their owners' business
        return
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISDIR(info.st_mode):
        wanted = PRIVATE_DIR
    elif stat.S_ISREG(info.st_mode):
        wanted = mode & 0o700
    else:  # links, sockets, FIFOs
        return
    if mode != wanted:
        with contextlib.suppress(OSError):
            os.chmod(path, wanted)
