"""Directories and files only their owner may read: the data holds clients, numbers, recording links.

Created 0700/0600, and existing ones from before this rule are tightened when they are opened
(as the OS keyring's own files are). Not on Windows, where the per-user profile already is.
"""

from __future__ import annotations

import contextlib
import os
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
