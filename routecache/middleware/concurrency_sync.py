"""Waiting primitives for threads (see ``concurrency_async.py`` for the asyncio twin)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Background", "Signal", "sleep"]


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


class Background:
    """Work started off the request path (an invalidation's batch deletion, the retry
    of a failed invalidation) in daemon
    threads, which :meth:`wait` can wait for (tests, shutdown)."""

    __slots__ = ("_lock", "_threads")

    def __init__(self) -> None:
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def start(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in a daemon thread."""

        def run() -> None:
            try:
                fn(*args)
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name="routecache-background", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` for the work to finish; True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            threads[0].join(left)

    def __len__(self) -> int:
        return len(self._threads)


def sleep(seconds: float) -> None:
    """Sleep in this thread."""
    time.sleep(seconds)
