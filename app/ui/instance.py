"""One running instance per user and data dir: later launches hand their arguments over.

A second ``pbx-companion tel:...`` (the OS calls us for every clicked phone link) must not start
a second listener on the same port and database: it sends its arguments to the running
instance over a local socket and exits at once. A lock left by a crash (kill -9) is taken
over: ``QLockFile`` recognises a lock whose owner process is gone.

The local socket is a Unix socket on Linux and macOS (Python's ``socket`` watched by a
``QSocketNotifier``) and a ``QLocalServer`` (a named pipe) on Windows. Qt's local server would do
on every platform, but QtNetwork and the Kerberos libraries it links cost every tray app ~2.6 MiB
of RSS all day for one message per clicked link (docs/performance.md, "Tray app in team mode").
The message is the same on both: the arguments as one JSON list and a newline.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import socket
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QByteArray, QLockFile, QObject, QSocketNotifier, Signal

import app.ui.pyside  # noqa: F401 - may be the process's first PySide6 import (cli's fast forward)

if TYPE_CHECKING:
    from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_TIMEOUT_MS = 2000
#: the socket file in the data dir (owner-only, as the data dir is)
SOCKET_NAME = "instance.sock"
#: a socket's path must fit ``sockaddr_un.sun_path`` (104 bytes on macOS, 108 on Linux, with its NUL)
MAX_SOCKET_PATH = 100
#: a launch's arguments are a few links; anything longer is not from us and is dropped
MAX_MESSAGE = 64 * 1024

UNIX_SOCKETS = hasattr(socket, "AF_UNIX") and os.name == "posix"


def _data_dir_digest(data_dir: Path) -> str:
    return hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:10]


def instance_name(data_dir: Path) -> str:
    user = "".join(c for c in getpass.getuser() if c.isalnum()) or "user"
    return f"pbx-companion-{user}-{_data_dir_digest(data_dir)}"


def parse_message(data: bytes) -> list[str] | None:
    """A forwarded launch's arguments, or None for anything that is not a JSON list of strings."""
    try:
        arguments = json.loads(data)
    except ValueError:
        return None
    if isinstance(arguments, list) and all(isinstance(a, str) for a in arguments):
        return arguments
    return None


class Transport(Protocol):
    """How launches reach the running instance: its address, listening, and sending one message."""

    def address(self, data_dir: Path) -> str: ...

    def listen(self, address: str, deliver: Callable[[bytes], None], parent: QObject) -> Listener | None: ...

    def send(self, address: str, message: bytes, timeout_ms: int) -> bool: ...


class Listener(Protocol):
    def close(self) -> None: ...


# -- Linux and macOS: a Unix socket in the data dir ------------------------------------------------

class UnixSocketTransport:
    """A Unix socket in the data dir, which is the user's alone (0700), so no other user can reach
    it or put one of theirs in its place. A data dir whose path is too long for a socket gets one
    in a directory of this user's own under the temporary directory."""

    def address(self, data_dir: Path) -> str:
        path = data_dir.resolve() / SOCKET_NAME
        if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
            return str(path)
        for temporary in (tempfile.gettempdir(), "/tmp"):  # a $TMPDIR too deep itself: /tmp
            path = Path(temporary, f"pbx-companion-{os.getuid()}", _data_dir_digest(data_dir))
            if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
                break
        return str(path)

    def listen(self, address: str, deliver: Callable[[bytes], None], parent: QObject) -> Listener | None:
        path = Path(address)
        try:
            if path.name != SOCKET_NAME:  # the temporary directory's fallback; the data dir is made private
                _own_private_dir(path.parent)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a socket left by a crash: we hold the lock, so it is no one's
        except OSError:
            return None
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)  # the socket file is created owner-only (0600)
        try:
            server.bind(address)
            server.listen(8)
            server.setblocking(False)
        except OSError:
            server.close()
            return None
        finally:
            os.umask(previous)
        return _UnixListener(server, path, deliver, parent)

    def send(self, address: str, message: bytes, timeout_ms: int) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(timeout_ms / 1000)
                client.connect(address)
                client.sendall(message)
        except OSError:  # no socket, no one listening (a crash), a timeout
            return False
        return True


def _own_private_dir(path: Path) -> None:
    """``path`` exists, is owner-only (:func:`~app.storage.files.private_dir`) and is a directory
    (not a link) of this user's; OSError if not."""
    from app.storage.files import private_dir

    private_dir(path)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a directory of this user's")


class _UnixListener(QObject):
    """Accepts launches on a listening Unix socket; each sends one message and closes."""

    def __init__(self, server: socket.socket, path: Path, deliver: Callable[[bytes], None],
                 parent: QObject) -> None:
        super().__init__(parent)
        self._server = server
        self._path = path
        self._deliver = deliver
        self._clients: dict[socket.socket, tuple[QSocketNotifier, bytearray]] = {}
        self._notifier = QSocketNotifier(server.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._accept)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # BlockingIOError: no one more waiting
                return
            client.setblocking(False)
            notifier = QSocketNotifier(client.fileno(), QSocketNotifier.Type.Read, self)
            self._clients[client] = (notifier, bytearray())
            notifier.activated.connect(lambda *_, c=client: self._read(c))

    def _read(self, client: socket.socket) -> None:
        if client not in self._clients:
            return
        buffer = self._clients[client][1]
        try:
            chunk = client.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        buffer += chunk
        if chunk and not buffer.endswith(b"\n") and len(buffer) <= MAX_MESSAGE:
            return
        self._drop(client)
        if len(buffer) <= MAX_MESSAGE:
            self._deliver(bytes(buffer))

    def _drop(self, client: socket.socket) -> None:
        notifier, _ = self._clients.pop(client)
        notifier.setEnabled(False)
        notifier.deleteLater()
        client.close()

    def close(self) -> None:
        for client in list(self._clients):
            self._drop(client)
        self._notifier.setEnabled(False)
        self._server.close()
        with contextlib.suppress(OSError):
            self._path.unlink()


# -- Windows: Qt's local server (a named pipe) ------------------------------------------------------

class QtLocalTransport:
    """``QLocalServer``/``QLocalSocket`` under the instance's name, restricted to this user.
    QtNetwork is imported on first use only (the tray app on Windows; tests elsewhere)."""

    def address(self, data_dir: Path) -> str:
        return instance_name(data_dir)

    def listen(self, address: str, deliver: Callable[[bytes], None], parent: QObject) -> Listener | None:
        from PySide6.QtNetwork import QLocalServer

        QLocalServer.removeServer(address)  # a socket file left by a crash
        server = QLocalServer(parent)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(address):
            server.deleteLater()
            return None
        return _QtLocalListener(server, deliver)

    def send(self, address: str, message: bytes, timeout_ms: int) -> bool:
        from PySide6.QtNetwork import QLocalSocket

        client = QLocalSocket()
        client.connectToServer(address)
        if not client.waitForConnected(timeout_ms):
            return False
        client.write(QByteArray(message))
        ok = client.waitForBytesWritten(timeout_ms)
        client.disconnectFromServer()
        if client.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            client.waitForDisconnected(timeout_ms)
        return bool(ok)


class _QtLocalListener:
    def __init__(self, server: QLocalServer, deliver: Callable[[bytes], None]) -> None:
        self._server = server
        self._deliver = deliver
        self._buffers: dict[QLocalSocket, bytes] = {}
        server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            client = self._server.nextPendingConnection()
            self._buffers[client] = b""
            client.readyRead.connect(lambda c=client: self._read(c))
            client.disconnected.connect(lambda c=client: self._finish(c))

    def _read(self, client: QLocalSocket) -> None:
        data = self._buffers.get(client, b"") + bytes(client.readAll().data())
        self._buffers[client] = data
        if data.endswith(b"\n") or len(data) > MAX_MESSAGE:
            self._finish(client)

    def _finish(self, client: QLocalSocket) -> None:
        data = self._buffers.pop(client, None)
        client.deleteLater()
        if data is not None and len(data) <= MAX_MESSAGE:
            self._deliver(data)

    def close(self) -> None:
        self._server.close()


#: this platform's way
TRANSPORT: Transport = UnixSocketTransport() if UNIX_SOCKETS else QtLocalTransport()


def forward(address: str, arguments: list[str], timeout_ms: int = CONNECT_TIMEOUT_MS,
            transport: Transport = TRANSPORT) -> bool:
    """Send ``arguments`` to the instance listening at ``address``; False when none answers."""
    return transport.send(address, json.dumps(arguments).encode() + b"\n", timeout_ms)


def forward_to_running(data_dir: Path, arguments: list[str]) -> bool:
    """Hand ``arguments`` to an instance already running on ``data_dir``; False if there is none.

    The command line tries this before it loads the app (aiohttp, pydantic, Qt widgets: ~0.5 s), so
    a clicked phone link reaches the running instance at once. With no instance running the
    connection is refused at once and the app starts as usual; it then takes the lock, and a launch
    that races it still forwards from there (:meth:`SingleInstance.acquire`).
    """
    if not (data_dir / "instance.lock").exists():
        return False
    return forward(TRANSPORT.address(data_dir), arguments)


class SingleInstance(QObject):
    """Holds the per-user lock and listens for the arguments of later launches.

    Signals:
        arguments_received(list): the command-line arguments a later launch forwarded.
    """

    arguments_received = Signal(list)

    def __init__(self, data_dir: Path, parent: QObject | None = None, *, transport: Transport = TRANSPORT) -> None:
        super().__init__(parent)
        self._transport = transport
        self.address = transport.address(data_dir)
        self._lock_path = data_dir / "instance.lock"
        # here, not at the top: a clicked link's fast path imports this module and must stay lean
        from app.core.userdirs import secure_user_dirs
        from app.storage.files import private_dir

        secure_user_dirs(data_dir)  # the tray app's start: what an older version left readable, owner-only
        private_dir(data_dir)
        self._lock = QLockFile(str(self._lock_path))
        self._lock.setStaleLockTime(0)
        self._listener: Listener | None = None

    def acquire(self) -> bool:
        """Become the running instance; False when another one holds the lock."""
        if not self._lock.tryLock(0):
            return False
        from app.storage.files import tighten

        tighten(self._lock_path)  # QLockFile creates it with the umask's mode
        self._listener = self._transport.listen(self.address, self._received, self)
        if self._listener is None:
            self._lock.unlock()
            return False
        return True

    def _received(self, data: bytes) -> None:
        arguments = parse_message(data)
        if arguments is not None:
            self.arguments_received.emit(arguments)

    def forward(self, arguments: list[str], timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
        """Hand ``arguments`` to the instance that holds the lock (:meth:`acquire` returned False).

        That instance may have taken the lock a moment ago and not be listening yet (two links
        clicked at once start two launches): it is tried again until ``timeout_ms`` is over.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if forward(self.address, arguments, timeout_ms, transport=self._transport):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def release(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._lock.unlock()
