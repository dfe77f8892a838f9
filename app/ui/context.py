"""What every window needs from the application: the service API, its Qt signals, and a task runner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.core.agent import AgentIdentity
from app.core.api import CompanionApi
from app.core.settings import Settings
from app.protocol.phones import PhoneNormalizer

from .qt_bridge import QtBridge

log = logging.getLogger("app.ui")
T = TypeVar("T")


def user_message(exc: BaseException) -> str:
    """One readable sentence for an error shown in the UI (our errors already are)."""
    from app.protocol.redact import redact

    text = str(exc) or type(exc).__name__
    return redact(text)


class TaskRunner(QObject):
    """Runs coroutines started from slots, keeps a reference to each, and reports failures.

    ``@asyncSlot`` would swallow exceptions into ``sys.excepthook`` and keep no reference; every
    window starts its async work here instead, so nothing is garbage-collected mid-flight and
    every failure reaches the user as a message.

    Signals:
        failed(str): a task ended with an error; the text is meant for the user.
    """

    failed = Signal(str)

    def __init__(self, loop: asyncio.AbstractEventLoop, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loop = loop
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Awaitable[T], *, on_done: Callable[[T], Any] | None = None,
              on_error: Callable[[BaseException], Any] | None = None) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(coro, loop=self._loop)
        self._tasks.add(task)

        def finished(t: asyncio.Task[T]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                if on_error is not None:
                    on_error(exc)
                else:
                    log.warning("background task failed: %s", user_message(exc))
                    self.failed.emit(user_message(exc))
            elif on_done is not None:
                on_done(t.result())

        task.add_done_callback(finished)
        return task

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class UiContext:
    """Handed to every window: the service API, its change signals, background tasks, the settings.

    Windows read data and act only through ``api`` (standalone or a team server's client: they
    cannot tell). ``settings`` are this computer's own preferences (language, pop-up behaviour,
    the number rules shown in the settings window).
    """

    api: CompanionApi
    bridge: QtBridge
    tasks: TaskRunner
    settings: Settings

    @property
    def identity(self) -> AgentIdentity:
        """Who this agent is, as the API says now (it follows saved settings at once)."""
        return self.api.identity

    @property
    def normalizer(self) -> PhoneNormalizer:
        return self.api.normalizer
