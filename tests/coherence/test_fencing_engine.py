"""Fencing at the engine and store level (issue 9): a fetch that began before an
invalidation never stores what it fetched, and a request that arrives after an
invalidation never collapses onto a fetch that began before it.

Every race is driven step by step (the fetch's lookup and lock, then the invalidation,
then the fetch's write), on the memory store, a private Redis and a private 3-node
Redis Cluster, through the async and the sync engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis

from routecache.middleware.engine_async import AsyncEngine
from routecache.middleware.engine_sync import SyncEngine
from routecache.middleware.entry import decode_entry
from routecache.middleware.policy import CachePolicy, Invalidation, VerdictKind
from routecache.middleware.rules import Rule
from routecache.middleware.stores import AsyncRedisStore, LockState, MemoryStore, RedisStore
from routecache.middleware.stores.base import Fence
from tests._redis_servers import RedisCluster
from tests.middleware._support import facts

RULE = Rule("/items/{id}", ttl=60, tags=["item:{id}"])
HEADERS = [(b"content-type", b"text/plain")]
KINDS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("cluster", marks=pytest.mark.cluster),
]
#: How the write is invalidated: its path, or a tag its response carries.
HOW = {
    "path": Invalidation(paths=["/items/5"]),
    "tag": Invalidation(tags=["item:5"]),
}


def _url(kind: str, request: pytest.FixtureRequest) -> str | None:
    if kind == "redis":
        url: str = request.getfixturevalue("redis_clean_url")
        return url
    if kind == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster_clean")
        return f"redis+cluster://127.0.0.1:{cluster.nodes[0].port}"
    return None


@asynccontextmanager
async def async_stores(kind: str, url: str | None, count: int = 1) -> AsyncIterator[list[Any]]:
    """``count`` async stores on the same data (one memory store, or one Redis each)."""
    if url is None:
        shared = MemoryStore().as_async()
        yield [shared] * count
        return
    stores = [AsyncRedisStore(url, timeout=2.0) for _ in range(count)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


def _body(data: bytes | None) -> bytes | None:
    entry = decode_entry(data) if data is not None else None
    return None if entry is None else entry.body


async def _fetch(engine: AsyncEngine, body: bytes) -> tuple[str, bool]:
    """One GET of /items/5 through the engine, its view answering ``body``."""
    plan = engine.policy.plan(facts("/items/5"))
    verdict = await engine.lookup(plan)
    if verdict.kind == VerdictKind.FRESH:
        return ("hit" if not verdict.collapsed else "collapsed"), verdict.collapsed
    exchange = engine.exchange(plan, verdict)
    await exchange.start(200, list(HEADERS))
    await exchange.finish(body)
    return "miss", False


async def _served(engine: AsyncEngine) -> bytes | None:
    plan = engine.policy.plan(facts("/items/5"))
    verdict = await engine.lookup(plan)
    if verdict.kind != VerdictKind.FRESH:
        if verdict.flight is not None:  # release the lock we just took
            await engine.exchange(plan, verdict).finish(None)
        return None
    return engine.serve(plan, verdict).body


@pytest.mark.parametrize("how", sorted(HOW))
@pytest.mark.parametrize("kind", KINDS)
def test_a_write_begun_before_an_invalidation_is_refused(
    kind: str, how: str, request: pytest.FixtureRequest
) -> None:
    url = _url(kind, request)

    async def main() -> None:
        async with async_stores(kind, url) as (store,):
            engine = AsyncEngine(CachePolicy([RULE]), store)
            plan = engine.policy.plan(facts("/items/5"))
            verdict = await engine.lookup(plan)  # the fetch begins: miss, lock taken
            assert verdict.kind == VerdictKind.FORWARD
            assert verdict.flight is not None
            exchange = engine.exchange(plan, verdict)
            # The view has read the old row; now the write commits and invalidates.
            await engine.invalidate(HOW[how])
            start = await exchange.start(200, list(HEADERS))
            assert start.keep
            await exchange.finish(b"old")
            assert engine.counts["fenced"] == 1
            assert engine.counts["stored"] == 0
            assert await _served(engine) is None  # nothing servable
            # The next GET misses, stores the new body, and the one after hits it.
            assert await _fetch(engine, b"new") == ("miss", False)
            assert engine.counts["stored"] == 1
            assert await _served(engine) == b"new"

    asyncio.run(main())


@pytest.mark.parametrize("how", sorted(HOW))
@pytest.mark.parametrize("kind", KINDS)
def test_sync_engine_refuses_the_write_too(
    kind: str, how: str, request: pytest.FixtureRequest
) -> None:
    url = _url(kind, request)
    store: Any = MemoryStore() if url is None else RedisStore(url, timeout=2.0)
    try:
        engine = SyncEngine(CachePolicy([RULE]), store)
        plan = engine.policy.plan(facts("/items/5"))
        verdict = engine.lookup(plan)
        assert verdict.kind == VerdictKind.FORWARD
        exchange = engine.exchange(plan, verdict)
        engine.invalidate(HOW[how])
        exchange.start(200, list(HEADERS))
        exchange.finish(b"old")
        assert engine.counts["fenced"] == 1
        again = engine.policy.plan(facts("/items/5"))
        fresh = engine.lookup(again)
        assert fresh.kind == VerdictKind.FORWARD
        exchange = engine.exchange(again, fresh)
        exchange.start(200, list(HEADERS))
        exchange.finish(b"new")
        hit = engine.policy.plan(facts("/items/5"))
        served = engine.lookup(hit)
        assert served.kind == VerdictKind.FRESH
        assert engine.serve(hit, served).body == b"new"
    finally:
        store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_store_fence_paths_tags_and_already_indexed_entries(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """The store rule itself: a ``set`` carrying a fence read before an invalidation
    is refused, whether the path or a tag was invalidated, and whether the entry was
    already in the tag index (older version) or not; a fence read after it is not."""
    url = _url(kind, request)
    key = CachePolicy([RULE]).plan(facts("/items/5")).key
    other = CachePolicy([RULE]).plan(facts("/items/6")).key
    assert key is not None
    assert other is not None

    async def main() -> None:
        async with async_stores(kind, url) as (store,):
            for invalidation in (
                {"path": "/items/5"},
                {"tags": ["item:5"]},  # not yet indexed under the tag
                {"tags": ["item:5"]},  # indexed (stored below before the fence)
            ):
                fence = Fence()
                await store.get(key, fence=fence)  # the lookup of the fetch
                assert fence.gen is not None
                await store.invalidate(**invalidation)
                assert await store.set(key, b"old", 60.0, tags=["item:5"], fence=fence) is False
                assert await store.get(key) is None
                after = Fence()
                await store.get(key, fence=after)
                assert await store.set(key, b"new", 60.0, tags=["item:5"], fence=after) is True
                assert await store.get(key) == b"new"
            # An unrelated path keeps its entry; a fence-less write is unconditional.
            assert await store.set(other, b"6", 60.0, tags=["item:6"]) is True
            await store.invalidate(tags=["item:5"])
            assert await store.get(other) == b"6"
            assert await store.get(key) is None

    asyncio.run(main())


class _Watched:
    """A store proxy announcing when a fetch finds another worker's lock busy."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.busy = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_or_lock(self, *args: Any, **kwargs: Any) -> tuple[str, bytes | None]:
        result: tuple[str, bytes | None] = await self.inner.get_or_lock(*args, **kwargs)
        if result[0] == LockState.BUSY:
            self.busy.set()
        return result


Scenario = Callable[[AsyncEngine, AsyncEngine], Awaitable[None]]


@pytest.mark.parametrize("engines", ["one process", "two processes"])
@pytest.mark.parametrize("how", sorted(HOW))
@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_request_after_the_invalidation_never_collapses_onto_an_older_fetch(
    kind: str, how: str, engines: str, request: pytest.FixtureRequest
) -> None:
    if kind == "memory" and engines == "two processes":
        pytest.skip("a memory store is per process")
    url = _url(kind, request)

    async def main() -> None:
        async with async_stores(kind, url, count=2) as (first, second):
            leader = AsyncEngine(CachePolicy([RULE]), first)
            watched = _Watched(second if engines == "two processes" else first)
            if engines == "one process":
                # The same engine: its in-process single flight is what is tested.
                leader.store = watched  # type: ignore[assignment]
                follower = leader
            else:
                follower = AsyncEngine(CachePolicy([RULE]), watched)  # type: ignore[arg-type]
            plan = leader.policy.plan(facts("/items/5"))
            verdict = await leader.lookup(plan)  # the old fetch begins (lock taken)
            assert verdict.flight is not None
            exchange = leader.exchange(plan, verdict)
            await follower.invalidate(HOW[how])  # the write, in the follower's process
            later = asyncio.create_task(_fetch(follower, b"new"))
            await watched.busy.wait()  # it found the old fetch's lock and waits
            await exchange.start(200, list(HEADERS))
            await exchange.finish(b"old")  # refused; the waiter is let go
            assert await later == ("miss", False)  # its own fetch, not the old body
            assert leader.counts["fenced"] == 1
            assert follower.counts["collapsed"] == 0
            assert await _served(leader) == b"new"
            assert await _served(follower) == b"new"

    asyncio.run(main())


@pytest.mark.redis
def test_a_fenced_entry_is_a_miss_for_every_reader(redis_clean_url: str) -> None:
    """Readers other than the engine's lookup (the lock script, a variant read) see a
    fenced entry as absent too, while the keys are still in Redis."""
    key = CachePolicy([RULE]).plan(facts("/items/5")).key
    assert key is not None
    raw = redis.Redis.from_url(redis_clean_url)
    store = RedisStore(redis_clean_url, timeout=2.0)
    try:
        store.set(key, b"old", 60.0, variant="v")
        gen = store.keys.path_gen(key.path_hash)
        raw.set(gen, b"i-replaced")  # what an invalidation does first
        assert raw.exists(store.keys.entry(key), store.keys.entry(key, "v")) == 2
        assert store.get(key) is None
        assert store.get(key, "v") is None
        assert store.get_or_lock(key, "t", 5.0) == (LockState.ACQUIRED, None)
    finally:
        store.close()
        raw.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_write_leaves_no_pass_mark(kind: str, request: pytest.FixtureRequest) -> None:
    """The response was storable, only too old: the lock is released plainly, so the
    next miss (any process) leads a fetch the others collapse onto, instead of every
    request fetching alone for the pass mark's lifetime."""
    url = _url(kind, request)

    async def main() -> None:
        async with async_stores(kind, url) as (store,):
            engine = AsyncEngine(CachePolicy([RULE]), store)
            plan = engine.policy.plan(facts("/items/5"))
            verdict = await engine.lookup(plan)
            exchange = engine.exchange(plan, verdict)
            await engine.invalidate(HOW["path"])
            await exchange.start(200, list(HEADERS))
            await exchange.finish(b"old")
            assert engine.counts["fenced"] == 1
            assert plan.key is not None
            state, _ = await store.get_or_lock(plan.key, "probe", 5.0)
            assert state == LockState.ACQUIRED

    asyncio.run(main())
