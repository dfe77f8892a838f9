"""The running instance's local socket, in one process: what a later launch sends arrives, what is
not a launch's message is dropped, the socket is the user's alone and goes away with the app.

Both transports run here: the Unix socket the app uses on Linux and macOS, and Qt's local
server that it uses on Windows (on Linux a Unix socket too, so its code path is exercised).
tests/ui/test_single_instance.py runs real second launches against a real tray app.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from app.ui.instance import (
    MAX_MESSAGE,
    SOCKET_NAME,
    QtLocalTransport,
    SingleInstance,
    Transport,
    UnixSocketTransport,
    forward,
)

TRANSPORTS = [pytest.param(UnixSocketTransport(), id="unix"), pytest.param(QtLocalTransport(), id="qt-local")]


@pytest.fixture
def received(qtbot):
    """An instance holding the lock on a fresh data dir, and the argument lists it received."""
    got: list[list[str]] = []
    made: list[SingleInstance] = []

    def start(data_dir: Path, transport: Transport) -> SingleInstance:
        instance = SingleInstance(data_dir, transport=transport)
        assert instance.acquire()
        instance.arguments_received.connect(got.append)
        made.append(instance)
        return instance

    yield start, got
    for instance in made:
        instance.release()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_later_launchs_links_reach_the_running_instance(tmp_path, qtbot, received, transport):
    start, got = received
    instance = start(tmp_path / "data", transport)
    assert forward(instance.address, ["tel:+74951343060"], transport=transport)
    assert forward(instance.address, ["callto:+79066800404", "sip:101@pbx"], transport=transport)
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert got == [["tel:+74951343060"], ["callto:+79066800404", "sip:101@pbx"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_what_is_not_a_list_of_arguments_is_dropped_and_the_next_launch_still_gets_through(
        tmp_path, qtbot, received, transport):
    start, got = received
    instance = start(tmp_path / "data", transport)
    for junk in (b"not json\n", b'{"tel": "+7495"}\n', b"[1, 2]\n", b"\n", b"[" + b'"x",' * MAX_MESSAGE + b'"x"]\n'):
        transport.send(instance.address, junk, 2000)
    assert forward(instance.address, ["tel:101"], transport=transport)
    qtbot.waitUntil(lambda: got == [["tel:101"]], timeout=5000)
    qtbot.wait(200)
    assert got == [["tel:101"]]


def test_the_unix_socket_is_the_users_alone_and_leaves_with_the_app(tmp_path, qtbot, received):
    start, _ = received
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    (data_dir / SOCKET_NAME).write_text("left by a crash")  # the lock is ours, so this is stale
    instance = start(data_dir, UnixSocketTransport())
    path = Path(instance.address)
    assert path == data_dir.resolve() / SOCKET_NAME
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    instance.release()
    assert not path.exists()
    assert not forward(str(path), ["tel:101"])  # no one listening: the launch starts its own app


def test_a_data_dir_too_deep_for_a_socket_path_gets_one_in_a_private_temporary_directory(
        tmp_path, qtbot, received, monkeypatch):
    import shutil
    import tempfile

    short_tmp = Path(tempfile.mkdtemp(prefix="pc-", dir="/tmp"))  # pytest's own tmp_path is itself too deep
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(short_tmp))
        deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 5, "data")
        start, got = received
        instance = start(deep, UnixSocketTransport())
        path = Path(instance.address)
        assert path.parent.parent == short_tmp
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert forward(instance.address, ["tel:102"])
        qtbot.waitUntil(lambda: got == [["tel:102"]], timeout=5000)
        instance.release()
        assert not path.exists()
    finally:
        shutil.rmtree(short_tmp)


def test_a_second_instance_on_the_same_data_dir_does_not_take_the_lock(tmp_path, qtbot, received):
    start, _ = received
    start(tmp_path / "data", UnixSocketTransport())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.connect(str(tmp_path / "data" / SOCKET_NAME))  # listening
    second = SingleInstance(tmp_path / "data", transport=UnixSocketTransport())
    assert not second.acquire()


def test_a_launch_racing_the_first_waits_until_it_listens(tmp_path, qtbot):
    """Two links clicked at once: the second launch finds the lock taken by a first that does not
    listen yet, and hands its link over once it does instead of giving up."""
    import threading
    import time

    from PySide6.QtCore import QLockFile

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    first_lock = QLockFile(str(data_dir / "instance.lock"))
    assert first_lock.tryLock(0)
    address = UnixSocketTransport().address(data_dir)
    got: list[bytes] = []

    def first_starts_listening_late() -> None:
        time.sleep(0.4)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(address)
            server.listen(1)
            client, _ = server.accept()
            with client:
                got.append(client.recv(4096))

    thread = threading.Thread(target=first_starts_listening_late)
    thread.start()
    try:
        second = SingleInstance(data_dir, transport=UnixSocketTransport())
        assert not second.acquire()
        assert second.forward(["tel:103"])
    finally:
        thread.join(5)
        first_lock.unlock()
    assert got == [b'["tel:103"]\n']


def test_a_socket_that_cannot_be_made_leaves_the_lock_free(tmp_path, qtbot):
    """The data dir's socket path is taken by a directory (nothing can be bound there): the app
    does not hold a lock it cannot serve, so the launch reports it instead of waiting on no one."""
    data_dir = tmp_path / "data"
    (data_dir / SOCKET_NAME).mkdir(parents=True)
    instance = SingleInstance(data_dir, transport=UnixSocketTransport())
    assert not instance.acquire()
    again = SingleInstance(data_dir, transport=UnixSocketTransport())
    (data_dir / SOCKET_NAME).rmdir()
    assert again.acquire()
    again.release()


def test_a_temporary_directory_too_deep_itself_falls_back_to_tmp(tmp_path, qtbot, received, monkeypatch):
    import tempfile

    deep_tmp = tmp_path.joinpath(*["a-rather-long-directory-name"] * 4)
    deep_tmp.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep_tmp))
    start, got = received
    instance = start(tmp_path.joinpath(*["another-long-directory-name"] * 4, "data"), UnixSocketTransport())
    assert Path(instance.address).parent.parent == Path("/tmp")
    assert forward(instance.address, ["tel:104"])
    qtbot.waitUntil(lambda: got == [["tel:104"]], timeout=5000)
