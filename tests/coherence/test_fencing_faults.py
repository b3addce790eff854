"""Invalidation inside the stores under faults (issue 9): never refused by an open
circuit breaker, and bounded by the store's operation timeout (not the admin limit)
when Redis stalls; a failure raises ``StoreError`` (the engine-level retry builds on
that). On a private Redis, sync and async stores."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis

from routecache import StoreError
from routecache.middleware.policy import CachePolicy
from routecache.middleware.rules import Rule
from routecache.middleware.stores import AsyncRedisStore, RedisStore
from tests.middleware._support import facts

pytestmark = pytest.mark.redis

RULE = Rule("/items/{id}", ttl=60, tags=["item:{id}"])
TIMEOUT = 0.2


def _key() -> Any:
    key = CachePolicy([RULE]).plan(facts("/items/5")).key
    assert key is not None
    return key


def _open(store: Any) -> None:
    for _ in range(store.breaker.threshold):
        store.breaker.failure()
    assert store.breaker.is_open


@pytest.mark.parametrize("how", [{"path": "/items/5"}, {"tags": ["item:5"]}])
def test_an_open_breaker_refuses_lookups_not_invalidations(
    redis_clean_url: str, how: dict[str, Any]
) -> None:
    store = RedisStore(redis_clean_url, timeout=TIMEOUT, breaker_cooldown=60.0)
    try:
        store.set(_key(), b"old", 60.0, tags=["item:5"])
        _open(store)
        with pytest.raises(StoreError, match="circuit open"):
            store.get(_key())
        assert store.invalidate(**how) == 1
        assert store.faults.counts["refused"] == 1  # the lookup only
    finally:
        store.close()
    fresh = RedisStore(redis_clean_url)
    try:
        assert fresh.get(_key()) is None
    finally:
        fresh.close()


def test_async_open_breaker_does_not_refuse_invalidations(redis_clean_url: str) -> None:
    async def main() -> None:
        store = AsyncRedisStore(redis_clean_url, timeout=TIMEOUT, breaker_cooldown=60.0)
        try:
            await store.set(_key(), b"old", 60.0, tags=["item:5"])
            _open(store)
            assert await store.invalidate(tags=["item:5"]) == 1
            store.breaker.success()
            assert await store.get(_key()) is None
        finally:
            await store.close()

    asyncio.run(main())


def _until_answering(url: str) -> None:
    """Block until the pause is over (a command from a new client waits for it)."""
    client = redis.Redis.from_url(url, socket_timeout=10)
    client.ping()
    client.close()


def _pause(url: str, ms: int, paused: threading.Event) -> None:
    other = redis.Redis.from_url(url)
    other.execute_command("CLIENT", "PAUSE", str(ms), "ALL")
    other.close()
    paused.set()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_stalled_redis_fails_the_invalidation_within_the_timeout(
    redis_clean_url: str, flavour: str
) -> None:
    """Redis stops answering (all clients paused for 1.5 s): the invalidation gives
    up after the store's timeout with a StoreError, not after the 10 s admin limit."""
    paused = threading.Event()

    async def main() -> float:
        store = AsyncRedisStore(redis_clean_url, timeout=TIMEOUT, multiplex=False)
        try:
            await store.set(_key(), b"old", 60.0)
            threading.Thread(target=_pause, args=(redis_clean_url, 1500, paused)).start()
            assert await asyncio.to_thread(paused.wait, 5)
            started = time.monotonic()
            with pytest.raises(StoreError, match="invalidate failed"):
                await store.invalidate("/items/5")
            return time.monotonic() - started
        finally:
            await asyncio.to_thread(_until_answering, redis_clean_url)
            await store.close()

    if flavour == "async":
        took = asyncio.run(main())
    else:
        store = RedisStore(redis_clean_url, timeout=TIMEOUT)
        try:
            store.set(_key(), b"old", 60.0)
            threading.Thread(target=_pause, args=(redis_clean_url, 1500, paused)).start()
            assert paused.wait(5)
            started = time.monotonic()
            with pytest.raises(StoreError, match="invalidate failed"):
                store.invalidate("/items/5")
            took = time.monotonic() - started
        finally:
            _until_answering(redis_clean_url)
            store.close()
    assert took < 1.0  # the timeout (0.2 s) plus scheduling, not 10 s
