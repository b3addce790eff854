"""The store protocols and the key layout every store shares.

A store keeps encoded entries by :class:`~routecache.middleware.keys.CacheKey`, indexes
them by path and by tag for invalidation, and offers a short lock for single-flight
misses. The sync protocol (:class:`Store`) serves WSGI and sync Django; the async one
(:class:`AsyncStore`) serves ASGI and async Django. ``MemoryStore`` implements both.

Key layout under a prefix ``P`` (the ``{...}`` part is the Redis Cluster hash tag, so
every key of one path lives on one slot)::

    P:{<path hash>}:<digest>            the entry (the latest variant when it varies)
    P:{<path hash>}:<digest>:<variant>  one variant of a response with Vary
    P:{<path hash>}:<digest>:g          the path generation the entry was written under
    P:{<path hash>}:<digest>:<variant>:g  the same for a variant
    P:{<path hash>}:idx                 sorted set: the path's keys, scored by expiry
    P:{<path hash>}:gen                 the path's generation (a token; invalidation replaces it)
    P:{<path hash>}:<digest>:lock       single-flight lock
    P:{t<tag hash>}                     sorted set: the tag's keys, scored by expiry
    P:{t<tag hash>}:inv                 the tag was invalidated (its age is the key's age)

An entry is servable only while its ``:g`` equals the path's ``:gen`` (both read with
the entry, in the same round trip): replacing the generation fences every entry of the
path at once, and a write carries the generation read before its fetch began
(:class:`Fence`) and is refused when it changed.

Every key starts with ``P:{``, and a prefix cannot contain ``{``: so ``SCAN MATCH P:{*``
finds exactly this store's keys, never those of a store whose prefix merely starts
with ``P:``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from hashlib import blake2b
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError
from ..keys import CacheKey, path_hash

__all__ = ["FENCE_TTL", "AsyncStore", "Fence", "KeySpace", "LockState", "Store", "validate_prefix"]

#: Seconds a generation replaced by an invalidation, and a tag's invalidation mark, are
#: kept: a fetch that began before an invalidation is refused for this long (a fetch
#: lasting longer is refused whatever happened).
FENCE_TTL = 3600.0

_PREFIX = re.compile(r"^[A-Za-z0-9_.:\-]+$")


def validate_prefix(prefix: str) -> str:
    """Check a key prefix: non-empty, no glob or hash-tag characters."""
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigurationError(
            f"prefix must be letters, digits, '_', '.', ':' or '-', got {prefix!r}"
        )
    return prefix


class LockState:
    """Outcome of :meth:`Store.get_or_lock`: the entry, or who fetches it."""

    #: Nothing stored and the lock is ours: call the app.
    ACQUIRED = "acquired"
    #: Nothing stored and another worker holds the lock: wait.
    BUSY = "busy"
    #: Another worker found the response not storable: call the app, do not wait.
    PASS = "pass"
    #: The entry is stored (returned with it).
    FOUND = "found"


class Fence:
    """What a fetch must prove at write time: no invalidation of its path, or of any
    tag its response carries, since it began.

    The engine makes one per lookup (``started`` is when the lookup began); the store
    fills ``gen`` with the path generation it read in the same round trip as the entry
    (or the lock), ``b""`` when the path had none. A ``set`` given a fence whose ``gen``
    is ``None`` (never read) writes unconditionally.
    """

    __slots__ = ("gen", "refused", "started")

    def __init__(self) -> None:
        self.gen: bytes | None = None
        self.started = time.monotonic()
        #: Set by the engine when the store refused the write this fence guarded.
        self.refused = False

    def elapsed(self) -> float:
        """Seconds since the fetch began (to compare with a tag mark's age)."""
        return time.monotonic() - self.started

    def __repr__(self) -> str:
        return f"<Fence gen={self.gen!r}>"


class KeySpace:
    """Formats the Redis key names of one prefix."""

    __slots__ = ("channel", "match", "prefix", "tag_prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = validate_prefix(prefix)
        self.tag_prefix = f"{prefix}:{{t"
        self.match = f"{prefix}:{{*"
        #: Pub/sub channel announcing stored entries (single-flight wake-ups).
        self.channel = f"{prefix}:stored"

    def entry(self, key: CacheKey, variant: str | None = None) -> str:
        """The key of an entry (or of one of its variants)."""
        if variant is None:
            return f"{self.prefix}:{{{key.path_hash}}}:{key.digest}"
        return f"{self.prefix}:{{{key.path_hash}}}:{key.digest}:{variant}"

    def path_index(self, phash: str) -> str:
        """The sorted set of a path's keys."""
        return f"{self.prefix}:{{{phash}}}:idx"

    def path_index_for(self, path: str) -> str:
        """The path index of a URL path."""
        return self.path_index(path_hash(path))

    def path_gen(self, phash: str) -> str:
        """The generation key of a path."""
        return f"{self.prefix}:{{{phash}}}:gen"

    @staticmethod
    def entry_gen(entry: str) -> str:
        """The key holding the generation an entry (or variant) was written under."""
        return f"{entry}:g"

    def path_gen_of(self, entry: str | bytes) -> str:
        """The path generation key of an entry key (its hash tag is the path hash)."""
        name = entry.decode("utf-8", "surrogateescape") if isinstance(entry, bytes) else entry
        return self.path_gen(self.hash_tag(name))

    def lock(self, key: CacheKey) -> str:
        """The single-flight lock of an entry."""
        return f"{self.prefix}:{{{key.path_hash}}}:{key.digest}:lock"

    def tag_index(self, tag: str) -> str:
        """The sorted set of a tag's keys."""
        digest = blake2b(tag.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
        return f"{self.tag_prefix}{digest}}}"

    def tag_mark(self, tag: str) -> str:
        """The key saying when ``tag`` was last invalidated (by its age)."""
        return f"{self.tag_index(tag)}:inv"

    @staticmethod
    def flight(key: CacheKey) -> str:
        """The name announced on the channel when ``key``'s entry is stored."""
        return f"{key.path_hash}:{key.digest}"

    @staticmethod
    def hash_tag(key: str) -> str:
        """The ``{...}`` part of a key (what Redis Cluster hashes)."""
        start = key.find("{")
        end = key.find("}", start + 1)
        return key[start + 1 : end] if start >= 0 and end > start + 1 else key


@runtime_checkable
class Store(Protocol):
    """A synchronous cache store."""

    prefix: str

    def get(
        self, key: CacheKey, variant: str | None = None, *, fence: Fence | None = None
    ) -> bytes | None:
        """The encoded entry stored under ``key`` (and ``variant``), or ``None`` (also
        when it was fenced); fills ``fence`` with the path generation read with it."""

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
        """Store ``data`` for ``ttl`` seconds; with ``variant``, under both keys. With a
        ``fence``, only if neither the path nor any of ``tags`` was invalidated since
        the fence was read; False when refused."""

    def delete(self, key: CacheKey) -> None:
        """Remove one entry (its primary key)."""

    def get_or_lock(
        self,
        key: CacheKey,
        token: str,
        ttl: float,
        *,
        check_entry: bool = True,
        fence: Fence | None = None,
    ) -> tuple[str, bytes | None]:
        """In one step: the entry if stored (unless ``check_entry`` is False), else try
        to take the fetch lock; fills ``fence`` with the path generation."""

    def lock(self, key: CacheKey, token: str, ttl: float, *, fence: Fence | None = None) -> bool:
        """Take the entry's lock if it is free (``SET NX PX``); True when taken. Fills
        ``fence`` with the path generation."""

    def release(self, key: CacheKey, token: str, *, passed: bool = False) -> None:
        """Drop the lock if ``token`` still holds it (``passed``: mark not storable)."""

    def wait_stored(self, key: CacheKey, timeout: float) -> bool:
        """Wait up to ``timeout`` for another worker to store ``key``; True if told."""

    def invalidate(
        self,
        path: str | Iterable[str] | None = None,
        tags: Iterable[str] = (),
        everything: bool = False,
    ) -> int:
        """Fence (make unservable) every entry of the paths and tags before returning,
        and remove them (large ones in the background); return how many."""

    def stats(self) -> dict[str, Any]:
        """Counts of what the store holds under its prefix, and its faults."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class AsyncStore(Protocol):
    """An asynchronous cache store (same operations as :class:`Store`)."""

    prefix: str

    async def get(
        self, key: CacheKey, variant: str | None = None, *, fence: Fence | None = None
    ) -> bytes | None:
        """The encoded entry stored under ``key`` (and ``variant``), or ``None`` (also
        when it was fenced); fills ``fence`` with the path generation read with it."""

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
        """Store ``data`` for ``ttl`` seconds; with ``variant``, under both keys. With a
        ``fence``, only if neither the path nor any of ``tags`` was invalidated since
        the fence was read; False when refused."""

    async def delete(self, key: CacheKey) -> None:
        """Remove one entry (its primary key)."""

    async def get_or_lock(
        self,
        key: CacheKey,
        token: str,
        ttl: float,
        *,
        check_entry: bool = True,
        fence: Fence | None = None,
    ) -> tuple[str, bytes | None]:
        """In one step: the entry if stored (unless ``check_entry`` is False), else try
        to take the fetch lock; fills ``fence`` with the path generation."""

    async def lock(
        self, key: CacheKey, token: str, ttl: float, *, fence: Fence | None = None
    ) -> bool:
        """Take the entry's lock if it is free (``SET NX PX``); True when taken. Fills
        ``fence`` with the path generation."""

    async def release(self, key: CacheKey, token: str, *, passed: bool = False) -> None:
        """Drop the lock if ``token`` still holds it (``passed``: mark not storable)."""

    async def wait_stored(self, key: CacheKey, timeout: float) -> bool:
        """Wait up to ``timeout`` for another worker to store ``key``; True if told."""

    async def invalidate(
        self,
        path: str | Iterable[str] | None = None,
        tags: Iterable[str] = (),
        everything: bool = False,
    ) -> int:
        """Fence (make unservable) every entry of the paths and tags before returning,
        and remove them (large ones in the background); return how many."""

    async def stats(self) -> dict[str, Any]:
        """Counts of what the store holds under its prefix, and its faults."""

    async def close(self) -> None:
        """Release connections."""


def as_paths(path: str | Iterable[str] | None) -> list[str]:
    """Normalise the ``path`` argument of ``invalidate`` into a list."""
    if path is None:
        return []
    if isinstance(path, str):
        return [path]
    return list(path)
