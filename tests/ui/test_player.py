"""The recording player plays and opens web addresses only (issue 11).

A CDR's ``link`` is whatever was posted to the webhook: ``file://`` would make QMediaPlayer read
a local file and the desktop open it, ``smb://`` would hand the user's credentials to a stranger's
share. What the system would open is seen through Qt's own hook, ``QDesktopServices.setUrlHandler``
(the handler is called instead of the desktop for its scheme).
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from app.ui.player import RecordingPlayer, web_url

SCHEMES = ("file", "smb", "ftp", "data", "javascript", "http", "https")


class Opened(QObject):
    """Receives every URL QDesktopServices.openUrl would hand to the desktop."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


@pytest.fixture
def opened(qapp) -> Iterator[Opened]:
    receiver = Opened()
    for scheme in SCHEMES:
        QDesktopServices.setUrlHandler(scheme, receiver, "open")
    yield receiver
    for scheme in SCHEMES:
        QDesktopServices.unsetUrlHandler(scheme)


@pytest.fixture
def player(qtbot, english) -> RecordingPlayer:
    widget = RecordingPlayer()
    qtbot.addWidget(widget)
    widget.show()
    return widget


@pytest.fixture
def local_wav(tmp_path: Path) -> Path:
    path = tmp_path / "secret.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    return path


def hostile_links(wav: Path) -> list[str]:
    return [
        wav.as_uri(),
        f"FILE://{wav}",
        "smb://10.6.6.6/share/rec.wav",
        "ftp://pbx.example.com/rec.wav",
        "data:audio/wav;base64,UklGRg==",
        "javascript:alert(1)",
        str(wav),  # a bare path is a local file to Qt
        "pbx.example.com/get_file?file=abc",  # no scheme
        "http:///etc/passwd",  # no host
    ]


def test_a_link_that_is_not_http_or_https_is_neither_played_nor_opened(player, opened, local_wav):
    for link in hostile_links(local_wav):
        states: list[str] = []
        player.state_changed.connect(states.append)
        player.set_recording(link)
        assert player.state == RecordingPlayer.REFUSED, link
        assert "not a web address" in player.status_label.text()
        assert not player.play_button.isEnabled() and not player.open_button.isEnabled()
        assert not player.retry_button.isVisible()

        # Called directly too (a shortcut, autoplay): refused, never handed to QtMultimedia or the desktop.
        player.play()
        player.open_link()
        player.set_recording(link, autoplay=True)
        assert player.state == RecordingPlayer.REFUSED, link
        assert RecordingPlayer.LOADING not in states and RecordingPlayer.PLAYING not in states, link
        assert player.duration_ms == 0
        player.state_changed.disconnect(states.append)
        player.clear()
    assert opened.urls == []


def test_http_and_https_links_are_still_opened(player, opened):
    for link in ("https://pbx.example.com/get_file?file=tok", "http://127.0.0.1:8080/agent/api/recordings/7"):
        player.set_recording(link)
        assert player.state == RecordingPlayer.READY
        assert player.play_button.isEnabled() and player.open_button.isEnabled()
        player.open_button.click()
    assert opened.urls == ["https://pbx.example.com/get_file?file=tok", "http://127.0.0.1:8080/agent/api/recordings/7"]


def test_a_refused_link_followed_by_a_web_link_is_ready_again(player, local_wav):
    player.set_recording(local_wav.as_uri())
    assert player.state == RecordingPlayer.REFUSED
    player.set_recording("https://pbx.example.com/rec.wav")
    assert player.state == RecordingPlayer.READY
    player.stop()
    assert player.state == RecordingPlayer.READY


def test_web_url_is_the_one_rule():
    assert web_url("HTTPS://pbx.example.com/a.wav") is not None
    assert web_url("https://pbx.example.com/a.wav?file=x").scheme() == "https"  # type: ignore[union-attr]
    assert web_url("https://pbx.example.com/get file?file=a b") is not None  # read as tolerantly as the player does
    for link in (None, "", "file:///etc/passwd", "smb://h/s", "https://", "//pbx.example.com/a.wav"):
        assert web_url(link) is None, link
