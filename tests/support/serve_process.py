"""Run ``python -m app serve`` as a real subprocess and talk to it.

The process inherits the test environment (conftest puts the XDG dirs under pytest's temp dir
and sets the canary keys), listens on a free loopback port (``--port 0``) and announces
``... webhook listening on URL`` on stdout once it is ready; :meth:`ServeProcess.start` waits
for that line and returns the URL. stderr (the log) goes to a file so a chatty server can
never block on a full pipe; :meth:`ServeProcess.log` reads it.

Use it as a context manager (or call :meth:`close`): whatever happens in the test, the
process is killed and reaped and its pipes are closed.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

READY_MARK = "webhook listening on "
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ServeFailed(RuntimeError):
    """The server exited or stayed silent instead of announcing its URL."""


class ServeProcess:
    def __init__(self, data_dir: Path | str, log_path: Path | str, *, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.extra_args = list(extra_args or [])
        self.env = dict(os.environ if env is None else env)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.proc: subprocess.Popen[str] | None = None
        self.url: str | None = None
        self.stdout_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def database_path(self) -> Path:
        return self.data_dir / "pbx-companion.sqlite3"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and wait until it prints its URL; returns the URL."""
        assert self.proc is None, "a ServeProcess runs once; make a new one to restart"
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--data-dir", str(self.data_dir), "--port", "0",
             *self.extra_args],
            cwd=PROJECT_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._log_file, text=True, encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise ServeFailed(f"serve did not announce its URL within {timeout} s; log:\n{self.log()}") from None
            if line is None:
                self.close()
                raise ServeFailed(f"serve exited before it was ready; log:\n{self.log()}")
            if READY_MARK in line:
                self.url = line.split(READY_MARK, 1)[1].strip()
                return self.url

    async def astart(self, timeout: float = 15.0) -> str:
        return await asyncio.to_thread(self.start, timeout)

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def send_signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill(self) -> int:
        """SIGKILL, then reap; returns the exit status (``-SIGKILL``)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(10)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; raises ``subprocess.TimeoutExpired`` when it does not."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    async def await_exit(self, timeout: float) -> int:
        return await asyncio.to_thread(self.wait, timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Ask the server to stop with ``signum`` and wait for it; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Kill the process if it still runs, reap it, and close every pipe and file."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            if self._reader is not None:
                self._reader.join(5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
