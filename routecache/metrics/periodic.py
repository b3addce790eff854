"""A daemon thread that calls ``flush()`` every few seconds, restarted after a fork:
the shape of both the fleet flusher and the Prometheus multiprocess mirror."""

from __future__ import annotations

import threading
from typing import TypeVar

_P = TypeVar("_P", bound="Periodic")


class Periodic:
    """Calls :meth:`flush` every ``interval`` seconds on a daemon thread named ``name``;
    a failed flush goes to :meth:`failed` and the next one is tried on time."""

    def __init__(self, interval: float, name: str) -> None:
        self.interval = interval
        self.name = name
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush(self) -> None:
        """One round of work (overridden)."""
        raise NotImplementedError

    def failed(self, exc: Exception) -> None:
        """Report a failed :meth:`flush` (overridden; it must not raise)."""

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception as exc:  # never let the exporter take anything down
                self.failed(exc)

    def start(self: _P) -> _P:
        """Start the daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (waits at most one interval and a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)

    def _after_fork(self) -> None:
        # Only the forking thread survives a fork: the lock may be held by nobody.
        self._lock = threading.Lock()
        self.start()
