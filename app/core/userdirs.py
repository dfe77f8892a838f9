"""At start, the per-user settings, data and log directories are made owner-only again.

They hold the clients' data, their numbers and the recording links' tokens. New files and
directories are created owner-only (:mod:`app.storage.files`); this fixes those left by an older
version, a copied profile or a umask, before anything reads them (issue 13).
"""

from __future__ import annotations

from pathlib import Path

from app.storage.files import private_tree, tighten

from .settings import config_dir, default_data_dir, default_log_dir


def secure_user_dirs(data: Path) -> None:
    """Tighten what exists of this user's directories: the app's own (the platform's config, data and
    log dirs of ``pbx-companion``) with everything in them, and ``data`` (the settings' data dir) when
    it is a ``--data-dir`` chosen elsewhere, but not what else that holds (the database tightens its
    own files when it opens them, the instance lock is tightened when taken). Only what this user
    owns is changed. A ``--config`` file
    elsewhere is left alone: it holds no secret, and it may be ``/etc/pbx-companion/settings.toml``,
    which the service user must still be able to read when root ran a command on it."""
    for own in (config_dir(), default_data_dir(), default_log_dir()):
        private_tree(own)
    if data.resolve() != default_data_dir().resolve():
        tighten(data)

