"""Waiting primitives for threads (see ``concurrency_async.py`` for the asyncio twin)."""

from __future__ import annotations

import threading

__all__ = ["Signal"]


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
