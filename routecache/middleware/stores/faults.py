"""Fault accounting for stores: a circuit breaker and a log that does not flood.

When Redis is down, slow or full, every request would otherwise wait for a timeout
and log a traceback. The :class:`CircuitBreaker` opens after ``threshold`` failures in
a row and lets one trial call through every ``cooldown`` seconds; while it is open the
store fails at once without touching the network. :class:`FaultLog` counts every fault
and logs the first, then at most one summary line per interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

__all__ = ["CircuitBreaker", "FaultLog"]

logger = logging.getLogger("routecache.store")


class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures -> half-open after
    ``cooldown`` seconds (one trial call) -> closed on success, open again on failure."""

    __slots__ = ("_failures", "_lock", "_open_until", "_trial", "cooldown", "threshold")

    def __init__(self, threshold: int = 5, cooldown: float = 5.0) -> None:
        if threshold < 1:
            raise ValueError("breaker threshold must be at least 1")
        self.threshold = threshold
        self.cooldown = cooldown
        self._failures = 0
        self._open_until = 0.0
        self._trial = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """True while calls are being refused."""
        return self._failures >= self.threshold and time.monotonic() < self._open_until

    def allow(self) -> bool:
        """Whether a call may go to the store now."""
        if self._failures < self.threshold:
            return True
        with self._lock:
            if time.monotonic() < self._open_until or self._trial:
                return False
            self._trial = True  # half-open: this caller is the trial
            return True

    def success(self) -> None:
        """Record a call that worked."""
        if self._failures:
            with self._lock:
                self._failures = 0
                self._trial = False

    def abandon(self) -> None:
        """Record a call that ended without an answer (cancelled, or a bug): neither
        success nor failure, but a half-open trial slot it held is free again."""
        if self._trial:
            with self._lock:
                self._trial = False

    def failure(self) -> None:
        """Record a call that failed."""
        with self._lock:
            self._failures += 1
            self._trial = False
            if self._failures >= self.threshold:
                self._open_until = time.monotonic() + self.cooldown


class FaultLog:
    """Counts faults by kind; logs the first and then one summary per ``interval``."""

    __slots__ = ("_last", "_lock", "_suppressed", "counts", "interval", "name", "quiet")

    def __init__(self, name: str, interval: float = 10.0) -> None:
        self.name = name
        self.interval = interval
        #: Count without logging: the command line reports its errors itself (the
        #: log's "serving from the app" is meant for the middleware).
        self.quiet = False
        self.counts: Counter[str] = Counter()
        self._last = float("-inf")
        self._suppressed = 0
        self._lock = threading.Lock()

    def record(
        self,
        operation: str,
        exc: BaseException,
        kind: str | None = None,
        *,
        traceback: bool = False,
    ) -> None:
        """Count a fault of ``operation`` (under ``kind``, by default the exception's
        class name) and maybe log it (with its ``traceback`` for errors that are not
        Redis faults: they may be bugs)."""
        kind = kind or type(exc).__name__
        with self._lock:
            self.counts[kind] += 1
            self.counts["total"] += 1
            if self.quiet:
                return
            now = time.monotonic()
            if now - self._last < self.interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._last = now
        logger.warning(
            "%s: %s failed (%s: %s); serving from the app%s",
            self.name,
            operation,
            kind,
            exc,
            f" ({suppressed} similar faults not logged)" if suppressed else "",
            exc_info=exc if traceback else None,
        )
