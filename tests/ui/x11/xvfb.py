"""A private X server for the focus tests, the screenshots and the tray benchmarks."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path

XVFB = shutil.which("Xvfb") or ("/usr/bin/Xvfb" if Path("/usr/bin/Xvfb").exists() else None)


class Xvfb:
    """Xvfb on a free display: ``-displayfd`` lets the server pick it and report it."""

    def __init__(self, *screen_args: str) -> None:
        if XVFB is None:
            raise RuntimeError("Xvfb is not installed (Debian package xvfb; `make test` installs it)")
        read_fd, write_fd = os.pipe()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop(); a pipe could fill up
        try:
            self.process = subprocess.Popen(
                [XVFB, "-displayfd", str(write_fd), *(screen_args or ("-screen", "0", "1280x800x24")),
                 "-nolisten", "tcp", "-noreset"],
                pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
            )
        finally:
            os.close(write_fd)
        # The read end stays open while the server runs: Xvfb may write to it again, and a
        # closed pipe makes that write fail fatally ("Cannot write display number").
        self._read_fd = read_fd
        ready, _, _ = select.select([read_fd], [], [], 15)
        number = os.read(read_fd, 64).decode().strip() if ready else ""
        if not number:
            self.stop()
            raise RuntimeError(f"Xvfb did not start: {self.errors()}")
        self.display = f":{number}"

    def errors(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1
        self.log.close()
