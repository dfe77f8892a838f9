"""The recording player of the client card: play/pause, seek, speed, and "Open link".

A call's recording is a link from its CDR (``link``), and the PBX publishes the file a while
after the call: right after hang-up the link may be missing or answer 404. Both read the
same to the agent: "Recording not ready yet", with Retry.

The link's query string is an access token. It is never shown (the tooltip of "Open link"
shows host and path only) and never logged: what we log goes through :func:`redact`, and Qt's
FFmpeg backend, which prints the full URL of every file it opens at info level, is told not
to (:func:`quiet_media_url_logging`).

A link is only ever played or opened when it is a web address (:func:`web_url`: http or https).
The link comes from the PBX's CDR, that is from whoever can post to the webhook: a ``file://``
link would make QMediaPlayer read a local file and ``QDesktopServices.openUrl`` hand it to the
file manager, ``smb://`` would send the user's credentials to a stranger's share. Such a link
is refused with a message (state ``refused``). The team server streams recordings over http(s)
too, so its links pass the same rule.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QLoggingCategory, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.core.api import RecordingMedia
from app.protocol.redact import redact

from .format import duration_text, plain_tooltip
from .labels import PlainLabel
from .timeline import link_location

if TYPE_CHECKING:
    from .context import TaskRunner

log = logging.getLogger("app.ui.player")

# Playback speeds offered (agents skim long calls at 1.5x or 2x speed).
SPEEDS = (1.0, 1.5, 2.0)

# Qt's FFmpeg backend dumps "Input #0, wav, from 'https://…?token=…'" at info level.
MEDIA_LOG_RULES = "qt.multimedia.ffmpeg.mediadataholder.info=false"

#: the only schemes a recording link may have (what the PBX and the team server serve)
WEB_SCHEMES = frozenset({"http", "https"})

_quieted = False


def web_url(link: str | None) -> QUrl | None:
    """The link as a URL when it is a web address (http or https, with a host); else None.

    The one rule for what the player may play or hand to the system (see the module docstring).
    """
    if not link:
        return None
    url = QUrl(link.strip())  # tolerant, as QMediaPlayer reads it: a PBX link may carry an unencoded space
    if not url.isValid() or url.scheme().lower() not in WEB_SCHEMES or not url.host():
        return None
    return url


def audio_output_available() -> bool:
    """Whether the system has a sound output: without one QtMultimedia plays a recording silently."""
    from PySide6.QtMultimedia import QMediaDevices

    return bool(QMediaDevices.audioOutputs())


def quiet_media_url_logging() -> None:
    """Keep recording URLs (with their tokens) out of stderr.

    ``QLoggingCategory.setFilterRules`` replaces the rules set earlier the same way: code that
    sets its own rules must include :data:`MEDIA_LOG_RULES`.
    """
    global _quieted
    if not _quieted:
        QLoggingCategory.setFilterRules(MEDIA_LOG_RULES)
        _quieted = True


class RecordingPlayer(QWidget):
    """Plays one call's recording inside the app; QtMultimedia is loaded on the first Play.

    States (:attr:`state`): ``none`` (no call selected), ``not_ready`` (no link, or the
    player could not open it), ``refused`` (a link that is not http or https: never played or
    opened), ``ready`` (a link, not loaded yet), ``loading``, ``playing``, ``paused``, ``finished``.

    Signals:
        retry_requested(): the agent pressed Retry on a recording that was not ready; the
            owner may look for a fresh link, then calls :meth:`set_recording` again.
        state_changed(str): :attr:`state` changed.
    """

    retry_requested = Signal()
    state_changed = Signal(str)

    NONE, NOT_READY, REFUSED, READY, LOADING, PLAYING, PAUSED, FINISHED = (
        "none", "not_ready", "refused", "ready", "loading", "playing", "paused", "finished",
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._link: str | None = None
        # how a link becomes something to play (the service API's history.recording), and the task runner
        self._loader: Callable[[str], Awaitable[RecordingMedia]] | None = None
        self._tasks: TaskRunner | None = None
        self._media: RecordingMedia | None = None  # what the loader answered for the current link
        self._buffer: Any = None  # QBuffer with the audio when the loader fetched it
        self._player: Any = None  # QMediaPlayer, created on the first Play (QtMultimedia loads then)
        self._audio: Any = None
        self._source_loaded = False
        self._seeking = False
        self._state = self.NONE

        self.play_button = QPushButton(self.tr("Play"))
        self.play_button.clicked.connect(self.toggle)
        self.seek_slider = QSlider(Qt.Orientation.Horizontal)
        self.seek_slider.setRange(0, 0)
        self.seek_slider.sliderPressed.connect(self._seek_started)
        self.seek_slider.sliderReleased.connect(self._seek_finished)
        self.seek_slider.setAccessibleName(self.tr("Position"))
        self.time_label = PlainLabel("0:00 / 0:00")
        self.speed_combo = QComboBox()
        for speed in SPEEDS:
            self.speed_combo.addItem(f"{speed:g}\u00d7", speed)  # the multiplication sign: "1.5x"
        self.speed_combo.setToolTip(self.tr("Playback speed"))
        self.speed_combo.currentIndexChanged.connect(self._speed_changed)
        self.open_button = QPushButton(self.tr("Open link"))
        self.open_button.clicked.connect(self.open_link)
        self.status_label = PlainLabel()
        self.status_label.setWordWrap(True)
        self.retry_button = QPushButton(self.tr("Retry"))
        self.retry_button.clicked.connect(self.retry)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.play_button)
        controls.addWidget(self.seek_slider, 1)
        controls.addWidget(self.time_label)
        controls.addWidget(self.speed_combo)
        controls.addWidget(self.open_button)
        status = QHBoxLayout()
        status.setContentsMargins(0, 0, 0, 0)
        status.addWidget(self.status_label, 1)
        status.addWidget(self.retry_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(status)
        self._set_state(self.NONE)

    # -- what the owner calls -------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def link(self) -> str | None:
        return self._link

    @property
    def position_ms(self) -> int:
        return 0 if self._player is None else int(self._player.position())

    @property
    def duration_ms(self) -> int:
        return 0 if self._player is None else int(self._player.duration())

    def set_loader(self, loader: Callable[[str], Awaitable[RecordingMedia]], tasks: TaskRunner) -> None:
        """Ask ``loader`` (the service API's ``history.recording``) what to play for a link, on the
        first Play: the link itself, or the audio it fetched (a team server's recordings need the
        agent's token, which the media player cannot send). Without a loader the link is played."""
        self._loader, self._tasks = loader, tasks

    def clear(self) -> None:
        """No call selected."""
        self._unload()
        self._link = None
        self._set_state(self.NONE)

    def set_recording(self, link: str | None, *, autoplay: bool = False) -> None:
        """Show this call's recording (``None``: the PBX has given no link yet)."""
        link = link or None
        if link != self._link or self._state in (self.NONE, self.NOT_READY, self.REFUSED):
            self._unload()
            self._media = None
            self._link = link
            self._set_state(self._idle_state())
        if autoplay and link:
            self.play()

    def play(self) -> None:
        if not self._link:
            self._set_state(self.NOT_READY)
            return
        url = web_url(self._link)
        if url is None:
            self._refuse()
            return
        player = self._ensure_player()
        if not self._source_loaded:
            self._source_loaded = True
            self._set_state(self.LOADING)
            if self._loader is not None and self._tasks is not None and self._media is None:
                link = self._link
                self._tasks.start(self._loader(link), on_done=lambda media: self._loaded(link, media),
                                  on_error=lambda exc: self._load_failed(link, exc))
                return
            self._set_source(player)
        player.play()

    def _loaded(self, link: str, media: RecordingMedia) -> None:
        if link != self._link or not self._source_loaded:
            return  # another call was selected, or the card stopped the player meanwhile
        self._media = media
        if media.url is not None and web_url(media.url) is None:
            self._refuse()
            return
        player = self._ensure_player()
        self._set_source(player)
        player.play()

    def _load_failed(self, link: str, exc: BaseException) -> None:
        if link == self._link and self._source_loaded:
            self._not_ready(str(exc))

    def _set_source(self, player: Any) -> None:
        """The link itself, or the audio the loader fetched (kept in memory only)."""
        media = self._media
        if media is None or media.data is None:
            url = web_url(media.url if media is not None and media.url else self._link)
            player.setSource(url if url is not None else QUrl())
            return
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice

        self._buffer = QBuffer(self)
        self._buffer.setData(QByteArray(media.data))
        self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        # the name's extension helps the decoder guess the format; the path is never read
        suffix = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/ogg": ".ogg"}.get(media.content_type, ".mp3")
        player.setSourceDevice(self._buffer, QUrl("recording" + suffix))

    def pause(self) -> None:
        if self._player is not None:
            self._player.pause()

    def toggle(self) -> None:
        if self._state == self.PLAYING:
            self.pause()
        else:
            self.play()

    def retry(self) -> None:
        """Forget the failed attempt; the owner answers :attr:`retry_requested` with a fresh link."""
        self._unload()
        self._media = None
        self._set_state(self._idle_state())
        self.retry_requested.emit()

    def seek(self, position_ms: int) -> None:
        if self._player is not None:
            self._player.setPosition(max(0, int(position_ms)))

    def set_speed(self, speed: float) -> None:
        index = self.speed_combo.findData(speed)
        if index >= 0:
            self.speed_combo.setCurrentIndex(index)

    def open_link(self) -> None:
        """Hand the link to the system (browser or media player); the token goes only there.

        Only a web address is handed over (:func:`web_url`); any other link is refused."""
        if not self._link:
            return
        url = web_url(self._link)
        if url is None:
            self._refuse()
            return
        if self._media is not None and self._media.data is not None:
            # the link needs the agent's token: a browser could not open it
            self.status_label.setText(self.tr("This recording comes through the team server: play it here."))
            return
        QDesktopServices.openUrl(url)

    def stop(self) -> None:
        """Stop playing and let go of the file (the card closes); Play starts again from the top."""
        self._unload()
        if self._state not in (self.NONE, self.NOT_READY, self.REFUSED):
            self._set_state(self.READY)

    def _idle_state(self) -> str:
        """What a link shows before Play: ready, refused (not a web address) or not ready (none)."""
        if not self._link:
            return self.NOT_READY
        return self.READY if web_url(self._link) is not None else self.REFUSED

    def _refuse(self) -> None:
        scheme = QUrl(self._link or "").scheme()[:20]
        log.warning("recording link refused: scheme %r is not http or https", scheme)
        self._unload()
        self._set_state(self.REFUSED)

    # -- QtMultimedia ---------------------------------------------------------------------

    def _ensure_player(self):
        if self._player is None:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

            quiet_media_url_logging()
            self._audio = QAudioOutput(self)
            player = QMediaPlayer(self)
            player.setAudioOutput(self._audio)
            player.setPlaybackRate(float(self.speed_combo.currentData() or 1.0))
            player.positionChanged.connect(self._position_changed)
            player.durationChanged.connect(self._duration_changed)
            player.playbackStateChanged.connect(self._playback_changed)
            player.mediaStatusChanged.connect(self._media_status_changed)
            player.errorOccurred.connect(self._error)
            self._player = player
        return self._player

    def _unload(self) -> None:
        if self._player is not None and self._source_loaded:
            self._player.stop()
            self._player.setSource(QUrl())
        if self._buffer is not None:
            self._buffer.close()
            self._buffer.deleteLater()
            self._buffer = None
        self._source_loaded = False
        self.seek_slider.setRange(0, 0)
        self.time_label.setText("0:00 / 0:00")

    def _position_changed(self, position: int) -> None:
        if not self._seeking:
            self.seek_slider.setValue(position)
        self._show_time(position)

    def _duration_changed(self, duration: int) -> None:
        self.seek_slider.setRange(0, max(0, duration))
        self._show_time(self._player.position() if self._player is not None else 0)

    def _show_time(self, position: int) -> None:
        duration = self._player.duration() if self._player is not None else 0
        self.time_label.setText(f"{duration_text(position / 1000)} / {duration_text(duration / 1000)}")

    def _seek_started(self) -> None:
        self._seeking = True

    def _seek_finished(self) -> None:
        self._seeking = False
        self.seek(self.seek_slider.value())

    def _speed_changed(self) -> None:
        if self._player is not None:
            self._player.setPlaybackRate(float(self.speed_combo.currentData() or 1.0))

    def _playback_changed(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if self._state == self.NOT_READY or not self._source_loaded:
            return
        if state == QMediaPlayer.PlaybackState.PlayingState:
            self._set_state(self.PLAYING)
        elif state == QMediaPlayer.PlaybackState.PausedState:
            self._set_state(self.PAUSED)

    def _media_status_changed(self, status) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if not self._source_loaded:
            return
        if status == QMediaPlayer.MediaStatus.InvalidMedia:
            self._not_ready("invalid media")
        elif status == QMediaPlayer.MediaStatus.EndOfMedia:
            self._set_state(self.FINISHED)

    def _error(self, error, text: str) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if error == QMediaPlayer.Error.NoError or not self._source_loaded:
            return
        self._not_ready(f"{getattr(error, 'name', error)}: {text}")

    def _not_ready(self, reason: str) -> None:
        log.info("recording %s not playable: %s", link_location(self._link), redact(reason))
        if self._player is not None:
            self._player.stop()
        self._set_state(self.NOT_READY)

    # -- what the agent sees --------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        changed = state != self._state
        self._state = state
        has_link = bool(self._link)
        self.play_button.setText(self.tr("Pause") if state == self.PLAYING else self.tr("Play"))
        self.play_button.setEnabled(has_link and state not in (self.NOT_READY, self.REFUSED))
        self.seek_slider.setEnabled(state in (self.PLAYING, self.PAUSED, self.FINISHED))
        self.open_button.setEnabled(has_link and state != self.REFUSED)
        self.open_button.setToolTip(plain_tooltip(link_location(self._link)))  # the CDR's text
        self.retry_button.setVisible(state == self.NOT_READY)
        if state == self.NONE:
            text = self.tr("Select a call to hear its recording.")
        elif state == self.NOT_READY:
            text = self.tr("Recording not ready yet. The PBX publishes it a little after the call.")
        elif state == self.REFUSED:
            text = self.tr("This recording link is not a web address (http or https), so it is neither played "
                           "nor opened.")
        elif state == self.LOADING:
            text = self.tr("Loading the recording…")
        elif state == self.FINISHED:
            text = self.tr("Finished.")
        elif state == self.PLAYING and not audio_output_available():
            text = self.tr("No audio device: the recording plays without sound. Connect speakers or a headset.")
        else:
            text = ""
        self.status_label.setText(text)
        if changed:
            self.state_changed.emit(state)
