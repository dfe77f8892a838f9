"""Driving the qasync loop from tests: pytest-qt's ``waitUntil`` runs Qt events but no asyncio tasks.

Shared by every UI test module (and the conftest's fixtures), so it lives here, not in a conftest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run(loop: asyncio.AbstractEventLoop, coro: Awaitable[T], timeout: float = 10.0) -> T:
    """Run a coroutine to completion on the qasync loop (Qt events are processed meanwhile)."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def wait_until(loop: asyncio.AbstractEventLoop, predicate: Callable[[], Any], timeout: float = 3.0) -> None:
    """Run the loop (asyncio tasks and Qt events) until ``predicate()`` is true."""
    async def poll() -> None:
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.005)

    loop.run_until_complete(poll())


def settle(loop: asyncio.AbstractEventLoop, seconds: float = 0.05) -> None:
    """Let the loop run briefly (pending callbacks and repaints) before looking."""
    loop.run_until_complete(asyncio.sleep(seconds))
