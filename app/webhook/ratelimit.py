"""Blocks an address for a while after repeated authentication failures (key guessing)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class AuthFailureLimiter:
    """``max_failures`` within ``window`` seconds blocks the address for ``block_seconds``."""

    MAX_TRACKED = 10_000

    def __init__(self, max_failures: int = 10, window: float = 60.0, block_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.block_seconds = block_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def retry_after(self, address: str) -> float:
        """Seconds the address must still wait, 0 when it may try."""
        until = self._blocked_until.get(address)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._blocked_until[address]
            return 0.0
        return left

    def failed(self, address: str) -> None:
        now = self._clock()
        if len(self._failures) >= self.MAX_TRACKED and address not in self._failures:
            self._forget_stale(now)
        failures = self._failures.setdefault(address, deque(maxlen=self.max_failures))
        failures.append(now)
        if len(failures) >= self.max_failures and now - failures[0] <= self.window:
            self._blocked_until[address] = now + self.block_seconds
            failures.clear()

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _forget_stale(self, now: float) -> None:
        for address in [a for a, f in self._failures.items() if not f or now - f[-1] > self.window]:
            del self._failures[address]
        if len(self._failures) >= self.MAX_TRACKED:  # still full of live attackers: drop the oldest half
            for address in list(self._failures)[: self.MAX_TRACKED // 2]:
                del self._failures[address]
