"""Invalidations that failed (Redis down, slow, refusing) and are being retried.

When a store invalidation raises :class:`~routecache.middleware.errors.StoreError`, the
write's response still goes out; the engine records what it could not invalidate here
and retries it in the background with exponential backoff until it lands (or until
the longest lifetime an entry can have, ``RETRY_FOR``, has passed). Meanwhile the
process bypasses the cache for those paths, and for entries carrying those tags:
``Cache-Status: ...; fwd=bypass; detail=invalidation-pending``.

Other processes do not know about this process's failure. They bypass their lookups
for ``unsure_window`` seconds after their own store's circuit breaker was open (see
``AsyncEngine``): a fault that opened every worker's breaker is then covered until the
retry has landed. The state is per engine (per process, per event loop for Django's
async engines), thread-safe for the sync engine's retry thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Final

from .cache_control import DELTA_MAX
from .policy import Invalidation

__all__ = ["RETRY_FIRST", "RETRY_FOR", "RETRY_MAX", "Batch", "PendingInvalidations"]

logger = logging.getLogger("routecache.invalidation")

#: First retry delay (seconds); doubled after each failed retry...
RETRY_FIRST: Final = 0.05
#: ...up to this (seconds): after Redis is back, a retry lands within this much.
RETRY_MAX: Final = 1.0
#: How long a failed invalidation is retried (seconds): the longest lifetime an entry
#: can be given (RFC 9111 delta-seconds cap, plus a day kept for revalidation), so
#: nothing it should have removed can still be served when the retry gives up.
RETRY_FOR: Final = float(DELTA_MAX) + 86400.0
#: At most one ERROR line per this many seconds (the others are counted in the next).
LOG_INTERVAL: Final = 1.0


class Batch:
    """A snapshot of the pending targets, taken for one retry."""

    __slots__ = ("invalidation", "seq")

    def __init__(self, invalidation: Invalidation, seq: int) -> None:
        self.invalidation = invalidation
        self.seq = seq


class PendingInvalidations:
    """Paths and tags whose invalidation failed, with when to give up on each."""

    __slots__ = (
        "_last_log",
        "_lock",
        "_seq",
        "_suppressed",
        "paths",
        "retrying",
        "tags",
    )

    def __init__(self) -> None:
        #: path -> (sequence number of its latest failure, monotonic give-up time)
        self.paths: dict[str, tuple[int, float]] = {}
        #: tag -> (sequence number of its latest failure, monotonic give-up time)
        self.tags: dict[str, tuple[int, float]] = {}
        #: Whether a retry loop is running (at most one per engine).
        self.retrying = False
        self._seq = 0
        self._lock = threading.Lock()
        self._last_log = float("-inf")
        self._suppressed = 0

    def __bool__(self) -> bool:
        return bool(self.paths or self.tags)

    def mark(self) -> int:
        """A sequence number to pass to :meth:`landed` after an invalidation worked:
        only what failed before it started is settled by it."""
        with self._lock:
            self._seq += 1
            return self._seq

    def add(self, invalidation: Invalidation, exc: BaseException) -> bool:
        """Record a failed invalidation; True when the caller must start the retry loop."""
        until = time.monotonic() + RETRY_FOR
        new: list[str] = []
        with self._lock:
            self._seq += 1
            for table, targets in (
                (self.paths, invalidation.paths),
                (self.tags, invalidation.tags),
            ):
                for target in targets:
                    if target not in table:
                        new.append(target)
                    table[target] = (self._seq, until)
            start = not self.retrying
            self.retrying = True
        if new:
            self._log(new, exc)
        return start

    def _log(self, targets: list[str], exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_log < LOG_INTERVAL:
                self._suppressed += len(targets)
                return
            self._last_log = now
            suppressed, self._suppressed = self._suppressed, 0
        logger.error(
            "routecache: invalidation of %s failed (%s: %s); retrying in the background "
            "and bypassing the cache for it meanwhile%s",
            ", ".join(targets),
            type(exc).__name__,
            exc,
            f" ({suppressed} more paths or tags not logged)" if suppressed else "",
        )

    def blocks_path(self, path: str) -> bool:
        """Whether lookups of ``path`` must bypass the cache."""
        pending = self.paths.get(path)
        return pending is not None and time.monotonic() < pending[1]

    def blocks_tags(self, tags: Iterable[str]) -> bool:
        """Whether an entry with ``tags`` must not be served."""
        now = time.monotonic()
        for tag in tags:
            pending = self.tags.get(tag)
            if pending is not None and now < pending[1]:
                return True
        return False

    def due(self) -> Batch | None:
        """What to retry now; ``None`` (and the retry loop ends) when nothing is left."""
        now = time.monotonic()
        with self._lock:
            for table in (self.paths, self.tags):
                for target in [t for t, (_, until) in table.items() if until <= now]:
                    del table[target]
            if not self.paths and not self.tags:
                self.retrying = False
                return None
            return Batch(Invalidation(self.paths, self.tags), self._seq)

    def landed(self, invalidation: Invalidation, seq: int) -> list[str]:
        """An invalidation of these targets worked after ``seq`` was taken: forget the
        failures it covers (not those recorded since). Returns the settled targets."""
        settled: list[str] = []
        with self._lock:
            for table, targets in (
                (self.paths, invalidation.paths),
                (self.tags, invalidation.tags),
            ):
                for target in targets:
                    pending = table.get(target)
                    if pending is not None and pending[0] <= seq:
                        del table[target]
                        settled.append(target)
        return settled
