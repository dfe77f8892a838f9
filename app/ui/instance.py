"""One running instance per user and data dir: later launches hand their arguments over.

A second ``pbx-companion tel:...`` (the OS calls us for every clicked phone link) must not start
a second listener on the same port and database: it sends its arguments to the running
instance over a ``QLocalSocket`` and exits at once. A lock left by a crash (kill -9) is taken
over: ``QLockFile`` recognises a lock whose owner process is gone.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

import app.ui.pyside  # noqa: F401 - may be the process's first PySide6 import (cli's fast forward)

CONNECT_TIMEOUT_MS = 2000


def instance_name(data_dir: Path) -> str:
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:10]
    user = "".join(c for c in getpass.getuser() if c.isalnum()) or "user"
    return f"pbx-companion-{user}-{digest}"


def forward(name: str, arguments: list[str], timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
    """Send ``arguments`` to the running instance; False when none answers."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(QByteArray(json.dumps(arguments).encode() + b"\n"))
    ok = socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
        socket.waitForDisconnected(timeout_ms)
    return ok


def forward_to_running(data_dir: Path, arguments: list[str]) -> bool:
    """Hand ``arguments`` to an instance already running on ``data_dir``; False if there is none.

    The command line tries this before it loads the app (aiohttp, pydantic, Qt widgets: ~0.5 s), so
    a clicked phone link reaches the running instance in the time it takes to load QtNetwork. With
    no instance running the connection is refused at once and the app starts as usual; it then takes
    the lock, and a launch that races it still forwards from there (:meth:`SingleInstance.acquire`).
    """
    if not (data_dir / "instance.lock").exists():
        return False
    return forward(instance_name(data_dir), arguments)


class SingleInstance(QObject):
    """Holds the per-user lock and listens for the arguments of later launches.

    Signals:
        arguments_received(list): the command-line arguments a later launch forwarded.
    """

    arguments_received = Signal(list)

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = instance_name(data_dir)
        self._lock_path = data_dir / "instance.lock"
        # here, not at the top: a clicked link's fast path imports this module and must stay lean
        from app.core.userdirs import secure_user_dirs
        from app.storage.files import private_dir

        secure_user_dirs(data_dir)  # the tray app's start: what an older version left readable, owner-only
        private_dir(data_dir)
        self._lock = QLockFile(str(self._lock_path))
        self._lock.setStaleLockTime(0)
        self._server: QLocalServer | None = None
        self._buffers: dict[QLocalSocket, bytes] = {}

    def acquire(self) -> bool:
        """Become the running instance; False when another one holds the lock."""
        if not self._lock.tryLock(0):
            return False
        from app.storage.files import tighten

        tighten(self._lock_path)  # QLockFile creates it with the umask's mode
        QLocalServer.removeServer(self.name)  # a socket file left by a crash
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            self._lock.unlock()
            return False
        server.newConnection.connect(self._accept)
        self._server = server
        return True

    def _accept(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._buffers[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._finish(s))

    def _read(self, socket: QLocalSocket) -> None:
        self._buffers[socket] = self._buffers.get(socket, b"") + bytes(socket.readAll().data())
        if self._buffers[socket].endswith(b"\n"):
            self._finish(socket)

    def _finish(self, socket: QLocalSocket) -> None:
        data = self._buffers.pop(socket, b"")
        socket.deleteLater()
        if not data.strip():
            return
        try:
            arguments = json.loads(data)
        except ValueError:
            return
        if isinstance(arguments, list) and all(isinstance(a, str) for a in arguments):
            self.arguments_received.emit(arguments)

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._lock.unlock()
