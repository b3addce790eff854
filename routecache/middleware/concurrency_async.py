"""Waiting primitives for asyncio code (the engine's single flight).

``concurrency_sync.py`` offers the same names for threads; the async engine imports
this module and its generated sync twin imports that one.
"""

from __future__ import annotations

import asyncio

__all__ = ["Signal"]


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
