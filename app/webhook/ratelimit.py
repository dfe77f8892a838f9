"""Slows key guessers down without ever locking the PBX out; finds the client behind a proxy.

Only failures are throttled: a request with the right key is let through whatever its address
did before, so an attacker who shares the PBX's source address (a reverse proxy, a NAT) cannot
keep the PBX out by guessing from there. Successes do not wash failures away either: guesses
interleaved with the PBX's own requests still add up. Memory is bounded whatever the number of
addresses: the oldest entries are forgotten first.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AuthFailureLimiter:
    """``max_failures`` within ``window`` seconds: the address's further failures get 429 for
    ``block_seconds`` (instead of 401). Ask :meth:`refuse` only for a request that failed."""

    MAX_TRACKED = 10_000

    def __init__(self, max_failures: int = 10, window: float = 60.0, block_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_tracked: int = MAX_TRACKED) -> None:
        self.max_failures = max_failures
        self.window = window
        self.block_seconds = block_seconds
        self.max_tracked = max_tracked
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked_until: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        """Addresses remembered (both maps): bounded by twice ``max_tracked``."""
        return len(self._failures) + len(self._blocked_until)

    def retry_after(self, address: str) -> float:
        """Seconds the address's failures are still answered with 429; 0 when they are not."""
        until = self._blocked_until.get(address)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._blocked_until[address]
            return 0.0
        return left

    def refuse(self, address: str) -> float:
        """A request from ``address`` failed: seconds to tell it to wait (answer 429), or 0 after
        counting the failure (answer 401)."""
        wait = self.retry_after(address)
        if not wait:
            self.failed(address)
        return wait

    def failed(self, address: str) -> None:
        """Count one failure (the one that reaches ``max_failures`` starts the block)."""
        now = self._clock()
        failures = self._failures.get(address)
        if failures is None:
            failures = self._failures[address] = deque(maxlen=self.max_failures)
            _trim(self._failures, self.max_tracked)
        else:
            self._failures.move_to_end(address)
        failures.append(now)
        if len(failures) >= self.max_failures and now - failures[0] <= self.window:
            self._blocked_until[address] = now + self.block_seconds
            self._blocked_until.move_to_end(address)
            _trim(self._blocked_until, self.max_tracked)
            failures.clear()


def _trim(entries: OrderedDict[str, Any], limit: int) -> None:
    while len(entries) > limit:
        entries.popitem(last=False)


def parse_networks(text: str | Iterable[str]) -> frozenset[IpNetwork]:
    """Trusted proxies from a setting: addresses or CIDR networks, comma- or space-separated."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    networks = set()
    for item in items:
        try:
            networks.add(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or network: {item!r}") from None
    return frozenset(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # 192.0.2.1:4711
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_chain(headers: Mapping[str, str]) -> list[str]:
    """The addresses a request passed through, client first (``Forwarded``, else ``X-Forwarded-For``)."""
    forwarded = headers.get("Forwarded")
    if forwarded:
        chain = []
        for element in forwarded.split(","):
            for pair in element.split(";"):
                name, _, value = pair.partition("=")
                if name.strip().lower() == "for":
                    chain.append(value)
        return chain
    return [part for part in headers.get("X-Forwarded-For", "").split(",") if part.strip()]


def client_address(peer: str | None, headers: Mapping[str, str], trusted: frozenset[IpNetwork]) -> str:
    """The address to throttle: the peer, or -- only when the peer is a trusted proxy -- the last
    address of the forwarding chain that is not a trusted proxy itself (a client can prepend
    anything to the chain; only what our proxies appended is believed)."""
    peer_address = _address(peer or "")
    if peer_address is None:
        return peer or "unknown"
    if not trusted or not any(peer_address in network for network in trusted):
        return str(peer_address)
    for hop in reversed(_forwarded_chain(headers)):
        address = _address(hop)
        if address is None:
            break
        if not any(address in network for network in trusted):
            return str(address)
    return str(peer_address)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the webhook refused (Diagnostics lists the latest): when, the HTTP status, the
    action it named (if any), who sent it, and the reason it was told."""

    at: float
    status: int
    action: str
    remote: str
    reason: str


#: how many refusals :attr:`RefusalLog.recent` keeps
RECENT_REFUSALS = 50


class RefusalLog:
    """One log line per kind of refusal per ``interval`` seconds, with how many were not logged
    (a flood of bad requests must not flood the log); the latest refusals, each of them, in
    :attr:`recent` (bounded) for Diagnostics."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}
        self.recent: deque[Refusal] = deque(maxlen=RECENT_REFUSALS)

    def refused(self, kind: str, message: str, *args: object, level: int = logging.WARNING,
                record: Refusal | None = None) -> None:
        if record is not None:
            self.recent.append(record)
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            return
        self._last[kind] = now
        skipped = self._quiet.pop(kind, 0)
        suffix = f" ({skipped} more like it in the last {self.interval:g} s not logged)" if skipped else ""
        self._log.log(level, message + suffix, *args)
