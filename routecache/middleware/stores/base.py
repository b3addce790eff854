"""The store protocols and the key layout every store shares.

A store keeps encoded entries by :class:`~routecache.middleware.keys.CacheKey`, indexes
them by path and by tag for invalidation, and offers a short lock for single-flight
misses. The sync protocol (:class:`Store`) serves WSGI and sync Django; the async one
(:class:`AsyncStore`) serves ASGI and async Django. ``MemoryStore`` implements both.

Key layout under a prefix ``P`` (the ``{...}`` part is the Redis Cluster hash tag, so
every key of one path lives on one slot)::

    P:{<path hash>}:<digest>            the entry (the latest variant when it varies)
    P:{<path hash>}:<digest>:<variant>  one variant of a response with Vary
    P:{<path hash>}:idx                 sorted set: the path's keys, scored by expiry
    P:{<path hash>}:<digest>:lock       single-flight lock
    P:{t<tag hash>}                     sorted set: the tag's keys, scored by expiry

Every key starts with ``P:{``, and a prefix cannot contain ``{``: so ``SCAN MATCH P:{*``
finds exactly this store's keys, never those of a store whose prefix merely starts
with ``P:``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from hashlib import blake2b
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError
from ..keys import CacheKey, path_hash

__all__ = ["AsyncStore", "KeySpace", "LockState", "Store", "validate_prefix"]

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

    def lock(self, key: CacheKey) -> str:
        """The single-flight lock of an entry."""
        return f"{self.prefix}:{{{key.path_hash}}}:{key.digest}:lock"

    def tag_index(self, tag: str) -> str:
        """The sorted set of a tag's keys."""
        digest = blake2b(tag.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
        return f"{self.tag_prefix}{digest}}}"

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

    def get(self, key: CacheKey, variant: str | None = None) -> bytes | None:
        """The encoded entry stored under ``key`` (and ``variant``), or ``None``."""

    def set(
        self,
        key: CacheKey,
        data: bytes,
        ttl: float,
        *,
        variant: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        """Store ``data`` for ``ttl`` seconds; with ``variant``, under both keys."""

    def delete(self, key: CacheKey) -> None:
        """Remove one entry (its primary key)."""

    def get_or_lock(
        self, key: CacheKey, token: str, ttl: float, *, check_entry: bool = True
    ) -> tuple[str, bytes | None]:
        """In one step: the entry if stored (unless ``check_entry`` is False), else try
        to take the fetch lock."""

    def lock(self, key: CacheKey, token: str, ttl: float) -> bool:
        """Take the entry's lock if it is free (``SET NX PX``); True when taken."""

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
        """Remove every entry of the paths and tags (or all); return how many."""

    def stats(self) -> dict[str, Any]:
        """Counts of what the store holds under its prefix, and its faults."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class AsyncStore(Protocol):
    """An asynchronous cache store (same operations as :class:`Store`)."""

    prefix: str

    async def get(self, key: CacheKey, variant: str | None = None) -> bytes | None:
        """The encoded entry stored under ``key`` (and ``variant``), or ``None``."""

    async def set(
        self,
        key: CacheKey,
        data: bytes,
        ttl: float,
        *,
        variant: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        """Store ``data`` for ``ttl`` seconds; with ``variant``, under both keys."""

    async def delete(self, key: CacheKey) -> None:
        """Remove one entry (its primary key)."""

    async def get_or_lock(
        self, key: CacheKey, token: str, ttl: float, *, check_entry: bool = True
    ) -> tuple[str, bytes | None]:
        """In one step: the entry if stored (unless ``check_entry`` is False), else try
        to take the fetch lock."""

    async def lock(self, key: CacheKey, token: str, ttl: float) -> bool:
        """Take the entry's lock if it is free (``SET NX PX``); True when taken."""

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
        """Remove every entry of the paths and tags (or all); return how many."""

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
