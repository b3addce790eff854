"""The embedded store: in-process, bounded by bytes, LRU plus TTL.

No Redis needed: the quickstart demo and tests run on it. It is per process, so with
several workers each has its own cache (use Redis to share one). Thread- and task-safe:
every operation holds one lock for a few dictionary operations and never awaits.

Fencing works as in Redis: each path has a generation (a token) that an invalidation
replaces, an entry is served only while the generation it was written under is its
path's, and a write carrying a :class:`~routecache.middleware.stores.base.Fence` is
refused when the path's generation changed, or one of its tags was invalidated, since
the fence was read.
Single-flight records (locks and pass markers) count against ``max_bytes`` too: each
URL whose response is not storable leaves one, and clients choose URLs. They are
dropped when they expire (swept oldest first on every new record) and, past a quarter
of ``max_bytes``, oldest first: losing one only costs a collapse, never correctness.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from time import monotonic
from typing import Any, Final

from ..errors import CheckedOptions, ConfigurationError
from ..keys import CacheKey, path_hash
from .base import FENCE_TTL, Fence, KeySpace, LockState, as_paths

__all__ = ["AsyncMemoryStore", "MemoryStore"]

_PASS = "\x00pass"
#: Bytes a lock record costs besides its name and token: the dict slot, the tuple, the
#: float and the string headers (measured with tracemalloc on CPython 3.11: ~250).
_RECORD_OVERHEAD: Final = 256


def _record_size(name: str, token: str) -> int:
    return _RECORD_OVERHEAD + len(name) + (0 if token is _PASS else len(token))


class _Item:
    __slots__ = ("data", "expires", "gen", "phash", "tags")

    def __init__(
        self, data: bytes, expires: float, phash: str, tags: tuple[str, ...], gen: bytes
    ) -> None:
        self.data = data
        self.expires = expires
        self.phash = phash
        self.tags = tags
        self.gen = gen


def _wall_clock() -> float:
    # ``time.time`` looked up at each call: a test patching it (freezegun) still works.
    return time.time()


class MemoryStore(CheckedOptions):
    """An in-process LRU store holding at most ``max_bytes`` of entries.

    Offers the sync :class:`~routecache.middleware.stores.base.Store` methods, and the
    async ones through :meth:`as_async` (the drivers call it for you). ``clock`` is the
    wall clock entries expire by (``time.time()``; tests pass a clock they move).
    """

    is_async = False

    def __init__(
        self,
        max_bytes: int = 64 * 1024 * 1024,
        *,
        prefix: str = "routecache",
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ConfigurationError(
                f"max_bytes must be a positive number of bytes, got {max_bytes!r}"
            )
        self.max_bytes = max_bytes
        self.keys = KeySpace(prefix)
        self.prefix = prefix
        self._data: OrderedDict[str, _Item] = OrderedDict()
        self._paths: dict[str, set[str]] = {}
        self._tags: dict[str, set[str]] = {}
        #: Lock and pass records, oldest first: name -> (token, expiry).
        self._locks: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock_bytes = 0
        #: path hash -> (generation, wall-clock expiry); tag -> monotonic invalidation time
        self._gens: dict[str, tuple[bytes, float]] = {}
        self._marks: dict[str, float] = {}
        self._size = 0
        self._lock = threading.Lock()
        self._async: AsyncMemoryStore | None = None
        self.evictions = 0
        #: The wall clock entries and locks expire by (``routecache.testing`` moves it).
        self.clock: Callable[[], float] = clock or _wall_clock

    def as_async(self) -> AsyncMemoryStore:
        """The async face of this store (same data)."""
        if self._async is None:
            self._async = AsyncMemoryStore(self)
        return self._async

    def as_sync(self) -> MemoryStore:
        """This store (it is already sync)."""
        return self

    @property
    def size(self) -> int:
        """Bytes held (entry data only)."""
        return self._size

    def __len__(self) -> int:
        return len(self._data)

    # -- internals (caller holds self._lock) --------------------------------------

    def _drop(self, name: str) -> bool:
        item = self._data.pop(name, None)
        if item is None:
            return False
        self._size -= len(item.data)
        keys = self._paths.get(item.phash)
        if keys is not None:
            keys.discard(name)
            if not keys:
                del self._paths[item.phash]
        for tag in item.tags:
            tagged = self._tags.get(tag)
            if tagged is not None:
                tagged.discard(name)
                if not tagged:
                    del self._tags[tag]
        return True

    def _gen(self, phash: str, now: float) -> bytes | None:
        held = self._gens.get(phash)
        if held is None:
            return None
        if held[1] <= now:
            del self._gens[phash]
            return None
        return held[0]

    def _live(self, name: str, now: float) -> _Item | None:
        item = self._data.get(name)
        if item is None:
            return None
        if item.expires <= now:
            self._drop(name)
            return None
        if item.gen != self._gen(item.phash, now):  # fenced by an invalidation
            self._drop(name)
            return None
        self._data.move_to_end(name)
        return item

    def _bump(self, phash: str, now: float) -> None:
        held = self._gens.get(phash)
        until = max(now + FENCE_TTL, held[1] if held is not None else now)
        self._gens[phash] = (b"i" + uuid.uuid4().bytes, until)

    def _prune(self, now: float, monotonic: float) -> None:
        # Generations and marks outlive their entries; drop the expired ones now and
        # then, so that they stay bounded by what was stored or invalidated lately.
        if len(self._gens) > 2 * len(self._data) + 1024:
            for phash in [p for p, (_, until) in self._gens.items() if until <= now]:
                del self._gens[phash]
        if len(self._marks) > 1024:
            for tag in [t for t, at in self._marks.items() if at + FENCE_TTL <= monotonic]:
                del self._marks[tag]

    def _put(
        self,
        name: str,
        data: bytes,
        expires: float,
        phash: str,
        tags: tuple[str, ...],
        gen: bytes,
    ) -> None:
        self._drop(name)
        self._data[name] = _Item(data, expires, phash, tags, gen)
        self._size += len(data)
        self._paths.setdefault(phash, set()).add(name)
        for tag in tags:
            self._tags.setdefault(tag, set()).add(name)
        self._evict()

    def _evict(self) -> None:
        while self._size + self._lock_bytes > self.max_bytes and self._data:
            oldest = next(iter(self._data))
            self._drop(oldest)
            self.evictions += 1

    def _hold(self, name: str, token: str, expires: float, now: float) -> None:
        """Record a lock (or pass marker); sweep expired and over-budget records."""
        self._unhold(name)
        self._locks[name] = (token, expires)
        self._lock_bytes += _record_size(name, token)
        locks, budget = self._locks, self.max_bytes // 4
        while locks:
            oldest, (held, until) = next(iter(locks.items()))
            if until > now and self._lock_bytes <= budget:
                break
            del locks[oldest]
            self._lock_bytes -= _record_size(oldest, held)
        self._evict()

    def _unhold(self, name: str) -> None:
        held = self._locks.pop(name, None)
        if held is not None:
            self._lock_bytes -= _record_size(name, held[0])

    # -- the Store protocol ---------------------------------------------------------

    def get(
        self, key: CacheKey, variant: str | None = None, *, fence: Fence | None = None
    ) -> bytes | None:
        """The encoded entry, or ``None`` when absent, expired or fenced."""
        name = self.keys.entry(key, variant)
        now = self.clock()
        with self._lock:
            if fence is not None:
                fence.gen = self._gen(key.path_hash, now) or b""
            item = self._live(name, now)
            return None if item is None else item.data

    def set(
        self,
        key: CacheKey,
        data: bytes,
        ttl: float,
        *,
        variant: str | None = None,
        tags: Sequence[str] = (),
        fence: Fence | None = None,
    ) -> bool:
        """Store ``data`` for ``ttl`` seconds (entries larger than the store are
        skipped); with a ``fence``, refused (False) when the path or a tag was
        invalidated since the fence was read. False means refused, nothing else."""
        if ttl <= 0 or len(data) > self.max_bytes:
            return True  # skipped, as any LRU would evict it at once: not refused
        now = self.clock()
        expires = now + ttl
        tag_tuple = tuple(tags)
        phash = key.path_hash
        with self._lock:
            gen = self._gen(phash, now)
            if fence is not None and fence.gen is not None:
                if fence.gen == b"":
                    # Nothing was stored for the path when the fetch began: only a
                    # generation set by an invalidation (not by a write) refuses it.
                    if gen is not None and not gen.startswith(b"w"):
                        return False
                elif gen != fence.gen:
                    return False
                if fence.elapsed() >= FENCE_TTL:
                    return False
                if any(self._marks.get(tag, -1.0) >= fence.started for tag in tag_tuple):
                    return False
            if gen is None:
                gen = b"w" + uuid.uuid4().bytes
                self._gens[phash] = (gen, expires)
            if self._gens[phash][1] < expires:
                self._gens[phash] = (gen, expires)
            self._put(self.keys.entry(key), data, expires, phash, tag_tuple, gen)
            if variant is not None:
                self._put(self.keys.entry(key, variant), data, expires, phash, tag_tuple, gen)
            self._prune(now, monotonic())
        return True

    def delete(self, key: CacheKey) -> None:
        """Remove one entry."""
        with self._lock:
            self._drop(self.keys.entry(key))

    def get_or_lock(
        self,
        key: CacheKey,
        token: str,
        ttl: float,
        *,
        check_entry: bool = True,
        fence: Fence | None = None,
    ) -> tuple[str, bytes | None]:
        """The entry if stored (unless ``check_entry`` is False); else take the fetch
        lock if it is free. Fills ``fence`` with the path generation."""
        now = self.clock()
        with self._lock:
            if fence is not None:
                fence.gen = self._gen(key.path_hash, now) or b""
            item = self._live(self.keys.entry(key), now) if check_entry else None
            if item is not None:
                return LockState.FOUND, item.data
            name = self.keys.lock(key)
            held = self._locks.get(name)
            if held is not None and held[1] > now:
                return (LockState.PASS if held[0] == _PASS else LockState.BUSY), None
            self._hold(name, token, now + ttl, now)
            return LockState.ACQUIRED, None

    def lock(self, key: CacheKey, token: str, ttl: float, *, fence: Fence | None = None) -> bool:
        """Take the entry's lock if it is free; True when taken. Fills ``fence``."""
        now = self.clock()
        name = self.keys.lock(key)
        with self._lock:
            held = self._locks.get(name)
            if held is not None and held[1] > now:
                return False
            self._hold(name, token, now + ttl, now)
            if fence is not None:
                fence.gen = self._gen(key.path_hash, now) or b""
            return True

    def release(self, key: CacheKey, token: str, *, passed: bool = False) -> None:
        """Drop the lock if ``token`` holds it; ``passed`` leaves a short pass marker."""
        name = self.keys.lock(key)
        with self._lock:
            held = self._locks.get(name)
            if held is None or held[0] != token:
                return
            if passed:
                now = self.clock()
                self._hold(name, _PASS, now + 5.0, now)
            else:
                self._unhold(name)

    def wait_stored(self, key: CacheKey, timeout: float) -> bool:
        """Sleep ``timeout`` (in one process, waiters are woken by the engine itself)."""
        time.sleep(timeout)
        return False

    def invalidate(
        self,
        path: str | Iterable[str] | None = None,
        tags: Iterable[str] = (),
        everything: bool = False,
    ) -> int:
        """Remove every entry of the given paths and tags, or all of them; writes of
        fetches that began before are refused (their paths' generations replaced,
        their tags marked)."""
        removed = 0
        now = self.clock()
        with self._lock:
            if everything:
                removed = len(self._data)
                for phash in list(self._paths):
                    self._bump(phash, now)
                self._data.clear()
                self._paths.clear()
                self._tags.clear()
                self._locks.clear()
                self._lock_bytes = 0
                self._size = 0
                return removed
            for p in as_paths(path):
                phash = path_hash(p)
                self._bump(phash, now)
                for name in list(self._paths.get(phash, ())):
                    removed += self._drop(name)
            for tag in tags:
                self._marks[tag] = monotonic()
                for name in list(self._tags.get(tag, ())):
                    item = self._data.get(name)
                    if item is not None:
                        self._bump(item.phash, now)
                    removed += self._drop(name)
        return removed

    def stats(self) -> dict[str, Any]:
        """Entry count, bytes held (entries; lock and pass records), capacity, evictions."""
        with self._lock:
            return {
                "store": "memory",
                "prefix": self.prefix,
                "entries": len(self._data),
                "bytes": self._size,
                "locks": len(self._locks),
                "lock_bytes": self._lock_bytes,
                "max_bytes": self.max_bytes,
                "evictions": self.evictions,
                "paths": len(self._paths),
                "tags": len(self._tags),
            }

    def inspect(
        self,
        *,
        path: str | None = None,
        tag: str | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[tuple[str, bytes | None, float | None]]:
        """For the command line: stored entries as ``(key, data, seconds left)``, sorted
        by key (see :meth:`RedisStore.inspect <routecache.RedisStore.inspect>`)."""
        now = self.clock()
        with self._lock:
            if key is not None:
                names = [key] if key in self._data else []
            elif path is not None:
                names = sorted(self._paths.get(path_hash(path), ()))[:limit]
            elif tag is not None:
                names = sorted(self._tags.get(tag, ()))[:limit]
            else:
                names = sorted(self._data)[:limit]
            items = [(name, self._data[name]) for name in names]
        return [(name, item.data, item.expires - now) for name, item in items if item.expires > now]

    def close(self) -> None:
        """Nothing to release."""


class AsyncMemoryStore:
    """The async face of a :class:`MemoryStore`; every call runs inline (no I/O)."""

    is_async = True

    def __init__(self, store: MemoryStore) -> None:
        self.sync = store
        self.prefix = store.prefix
        self.keys = store.keys

    def as_async(self) -> AsyncMemoryStore:
        """This object."""
        return self

    def as_sync(self) -> MemoryStore:
        """The underlying sync store."""
        return self.sync

    async def get(
        self, key: CacheKey, variant: str | None = None, *, fence: Fence | None = None
    ) -> bytes | None:
        """See :meth:`MemoryStore.get`."""
        return self.sync.get(key, variant, fence=fence)

    async def set(
        self,
        key: CacheKey,
        data: bytes,
        ttl: float,
        *,
        variant: str | None = None,
        tags: Sequence[str] = (),
        fence: Fence | None = None,
    ) -> bool:
        """See :meth:`MemoryStore.set`."""
        return self.sync.set(key, data, ttl, variant=variant, tags=tags, fence=fence)

    async def delete(self, key: CacheKey) -> None:
        """See :meth:`MemoryStore.delete`."""
        self.sync.delete(key)

    async def get_or_lock(
        self,
        key: CacheKey,
        token: str,
        ttl: float,
        *,
        check_entry: bool = True,
        fence: Fence | None = None,
    ) -> tuple[str, bytes | None]:
        """See :meth:`MemoryStore.get_or_lock`."""
        return self.sync.get_or_lock(key, token, ttl, check_entry=check_entry, fence=fence)

    async def lock(
        self, key: CacheKey, token: str, ttl: float, *, fence: Fence | None = None
    ) -> bool:
        """See :meth:`MemoryStore.lock`."""
        return self.sync.lock(key, token, ttl, fence=fence)

    async def release(self, key: CacheKey, token: str, *, passed: bool = False) -> None:
        """See :meth:`MemoryStore.release`."""
        self.sync.release(key, token, passed=passed)

    async def wait_stored(self, key: CacheKey, timeout: float) -> bool:
        """Sleep ``timeout`` without blocking the loop."""
        await asyncio.sleep(timeout)
        return False

    async def invalidate(
        self,
        path: str | Iterable[str] | None = None,
        tags: Iterable[str] = (),
        everything: bool = False,
    ) -> int:
        """See :meth:`MemoryStore.invalidate`."""
        return self.sync.invalidate(path, tags, everything)

    async def stats(self) -> dict[str, Any]:
        """See :meth:`MemoryStore.stats`."""
        return self.sync.stats()

    async def close(self) -> None:
        """Nothing to release."""
