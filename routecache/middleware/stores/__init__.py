"""Stores: where encoded entries live.

:class:`RedisStore` (sync) and :class:`AsyncRedisStore` keep them in Redis or Redis
Cluster, optionally with a :class:`NearCache` in process; :class:`MemoryStore` is the
embedded default (in-process, sync and async).
"""

from .base import AsyncStore, KeySpace, LockState, Store
from .memory import AsyncMemoryStore, MemoryStore
from .near import NearCache
from .redis_async import AsyncRedisStore
from .redis_sync import RedisStore

__all__ = [
    "AsyncMemoryStore",
    "AsyncRedisStore",
    "AsyncStore",
    "KeySpace",
    "LockState",
    "MemoryStore",
    "NearCache",
    "RedisStore",
    "Store",
]
