"""Waiting primitives for threads (see ``concurrency_async.py`` for the asyncio twin)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Signal", "sleep", "spawn"]


class Signal:
    """A one-shot event carrying a value: set once by the worker, awaited by others."""

    __slots__ = ("_event", "value")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.value: bytes | None = None

    def set(self, value: bytes | None) -> None:
        """Wake every waiter with ``value`` (``None``: nothing to share)."""
        self.value = value
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True if the signal was set."""
        return self._event.wait(timeout)


def sleep(seconds: float) -> None:
    """Sleep in this thread."""
    time.sleep(seconds)


def spawn(work: Callable[[], None]) -> None:
    """Run ``work()`` in a daemon thread (the caller keeps at most one running)."""
    threading.Thread(target=work, name="routecache-background", daemon=True).start()
