"""The ring a new pop-up plays when the agent turned the sound on (generated here, no asset to ship)."""

from __future__ import annotations

import logging
import math
import os
import struct
import wave
from pathlib import Path
from typing import Any

import platformdirs
from PySide6.QtCore import QObject, QUrl

from app.core.settings import APP_NAME

log = logging.getLogger("app.ui.popup")

__all__ = ["RingSound", "ring_wav_path", "write_ring_wav"]


def write_ring_wav(path: Path, *, rate: int = 22050, seconds: float = 0.6) -> Path:
    """A short two-tone chirp (~26 KB) generated here: no binary asset to ship or license."""
    frames = bytearray()
    count = int(rate * seconds)
    for i in range(count):
        t = i / rate
        tone = 880.0 if (t * 8) % 2 < 1 else 660.0   # alternate every 1/8 s
        fade = min(1.0, (count - i) / (rate * 0.05), i / (rate * 0.01))  # no clicks at the ends
        frames += struct.pack("<h", int(0.35 * 32767 * fade * math.sin(2 * math.pi * tone * t)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


def ring_wav_path() -> Path:
    """The ring in this user's cache dir (written once, atomically): no /tmp name to race for."""
    path = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "ring.wav"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"ring.{os.getpid()}.tmp")
        write_ring_wav(partial)
        partial.replace(path)
    return path


class RingSound(QObject):
    """Plays the ring once per new pop-up, when the agent turned the sound on.

    QtMultimedia (and its FFmpeg libraries) is loaded only on first use, so agents without
    the sound pay nothing for it. A machine without audio, a missing backend or a broken
    file only costs the sound: every failure is logged and swallowed.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.effect: Any = None
        self.requested = 0        # how many times a ring was asked for (diagnostics, tests)
        self._broken = False

    def prepare(self) -> None:
        """Load the sound ahead of the first call (loading is asynchronous in QSoundEffect)."""
        if self.effect is not None or self._broken:
            return
        try:
            from PySide6.QtMultimedia import QSoundEffect

            effect = QSoundEffect(self)
            effect.setSource(QUrl.fromLocalFile(str(ring_wav_path())))
            effect.setVolume(0.6)
            self.effect = effect
        except Exception as exc:  # no QtMultimedia, a read-only cache dir: no sound, never a crash
            self._broken = True
            log.warning("the ring sound is not available: %s", exc)

    def play(self) -> None:
        self.requested += 1
        try:
            self.prepare()
            if self.effect is not None:
                self.effect.play()
        except Exception as exc:
            log.warning("could not play the ring sound: %s", exc)

    def stop(self) -> None:
        try:
            if self.effect is not None:
                self.effect.stop()
        except Exception as exc:
            log.warning("could not stop the ring sound: %s", exc)
