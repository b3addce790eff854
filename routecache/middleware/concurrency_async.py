"""Waiting primitives for asyncio code (the engine's single flight).

``concurrency_sync.py`` offers the same names for threads; the async engine imports
this module and its generated sync twin imports that one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Background", "Signal", "sleep"]


class Signal:
    """A one-shot event carrying a value: set once by the worker, awaited by others."""

    __slots__ = ("_event", "value")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.value: bytes | None = None

    def set(self, value: bytes | None) -> None:
        """Wake every waiter with ``value`` (``None``: nothing to share)."""
        self.value = value
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True if the signal was set."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            return False
        return True


class Background:
    """Work started off the request path (an invalidation's batch deletion, the retry
    of a failed invalidation), which
    :meth:`wait` can wait for (tests, shutdown)."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run ``fn(*args)`` as a task of the running loop."""
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` for this loop's work to finish; True when none is left."""
        loop = asyncio.get_running_loop()
        pending = [task for task in self._tasks if task.get_loop() is loop]
        if not pending:
            return True
        _, left = await asyncio.wait(pending, timeout=timeout)
        return not left

    def __len__(self) -> int:
        return len(self._tasks)


async def sleep(seconds: float) -> None:
    """Sleep without blocking the event loop."""
    await asyncio.sleep(seconds)
