"""A keyring backend for tests that crosses processes: the tray app reads its keys in a child
process (app.core.secrets.start_key_read), which an in-memory backend cannot reach.

Selected with ``PYTHON_KEYRING_BACKEND=tests.support.file_keyring.FileKeyring``; the passwords
live in the JSON file ``$PBX_TEST_KEYRING_FILE`` under pytest's temporary directory. Only tests
use it, with keys that are not the canary keys (the canary scan would find them in that file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend

FILE_VARIABLE = "PBX_TEST_KEYRING_FILE"


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @staticmethod
    def _path() -> Path:
        return Path(os.environ[FILE_VARIABLE])

    def _load(self) -> dict[str, str]:
        path = self._path()
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._path().write_text(json.dumps(data), encoding="utf-8")

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}/{username}", None)
        self._path().write_text(json.dumps(data), encoding="utf-8")
