"""The hit path through the engine against a private Redis: microseconds per lookup.

Run from the repository root (starts its own ``redis-server`` on a free loopback port)::

    python -m benchmarks.hit_path

Each figure is the best of several rounds of ``engine.lookup`` on a stored entry (the
asyncio engine over the multiplexed ``GET``, and the sync engine over redis-py), so a
change of the hit path's round trip shows up while load on the machine mostly does not.
The same with a near cache (L1): the lookup is served from the process, no round trip.
"""

from __future__ import annotations

import asyncio
import time

from routecache.middleware.engine_async import AsyncEngine
from routecache.middleware.engine_sync import SyncEngine
from routecache.middleware.policy import CachePolicy, RequestFacts, VerdictKind
from routecache.middleware.rules import Rule
from routecache.middleware.stores import AsyncRedisStore, NearCache, RedisStore
from tests._redis_servers import RedisServer

ROUNDS = 7
LOOKUPS = 3000


def _facts() -> RequestFacts:
    return RequestFacts(
        method="GET", scheme="http", host="bench", path="/items/1", query=b"", headers={}
    )


async def _async_round(engine: AsyncEngine) -> float:
    policy = engine.policy
    start = time.perf_counter()
    for _ in range(LOOKUPS):
        verdict = await engine.lookup(policy.plan(_facts()))
        assert verdict.kind == VerdictKind.FRESH
    return (time.perf_counter() - start) / LOOKUPS * 1e6


def _sync_round(engine: SyncEngine) -> float:
    policy = engine.policy
    start = time.perf_counter()
    for _ in range(LOOKUPS):
        verdict = engine.lookup(policy.plan(_facts()))
        assert verdict.kind == VerdictKind.FRESH
    return (time.perf_counter() - start) / LOOKUPS * 1e6


def _prime(engine: SyncEngine) -> None:
    plan = engine.policy.plan(_facts())
    exchange = engine.exchange(plan, engine.lookup(plan))
    exchange.start(200, [(b"content-type", b"text/plain")])
    exchange.finish(b"x" * 512)


def _near(near: bool) -> NearCache | None:
    return NearCache() if near else None


def _tracking(store: AsyncRedisStore | RedisStore) -> None:
    if store.near is not None:
        store.near.start()
        assert store.near.tracking.wait(10)


async def _async_best(url: str, policy: CachePolicy, near: bool = False) -> float:
    store = AsyncRedisStore(url, near_cache=_near(near))
    _tracking(store)
    try:
        engine = AsyncEngine(policy, store)
        await _async_round(engine)  # warm up (connection, memo)
        return min([await _async_round(engine) for _ in range(ROUNDS)])
    finally:
        await store.close()


def main() -> None:
    """Print the asyncio and sync hit-path costs."""
    policy = CachePolicy([Rule("/items/{id}", ttl=600, tags=["item:{id}"])])
    with RedisServer() as server:
        figures = {}
        for near in (False, True):
            store = RedisStore(server.url, near_cache=_near(near))
            _tracking(store)
            try:
                engine = SyncEngine(policy, store)
                _prime(engine)
                _sync_round(engine)
                figures["sync", near] = min(_sync_round(engine) for _ in range(ROUNDS))
            finally:
                store.close()
            figures["async", near] = asyncio.run(_async_best(server.url, policy, near))
    print(f"async engine.lookup hit (multiplexed): {figures['async', False]:7.1f} us")
    print(f"sync  engine.lookup hit (redis-py):    {figures['sync', False]:7.1f} us")
    print(f"async engine.lookup hit (near cache):  {figures['async', True]:7.1f} us")
    print(f"sync  engine.lookup hit (near cache):  {figures['sync', True]:7.1f} us")


if __name__ == "__main__":
    main()
