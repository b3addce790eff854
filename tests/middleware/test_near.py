"""The near cache (L1): hits with no round trip, coherent with Redis across processes.

Every test runs on the private ``redis-server``; "another process" is a second store
with a NearCache of its own (its own tracking connection), or a plain client. What is
in Redis and which commands reached it are read with a plain client of our own.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from routecache import NearCache
from routecache.middleware.errors import ConfigurationError
from routecache.middleware.keys import CacheKey, request_key
from routecache.middleware.stores import AsyncRedisStore, RedisStore
from routecache.middleware.stores.base import Fence
from routecache.middleware.stores.near import ENTRY_OVERHEAD

_prefixes = itertools.count()


def k(path: str = "/items/1") -> CacheKey:
    return request_key(
        method="GET",
        scheme="https",
        host="example.com",
        path=path,
        query=b"",
        headers={},
        rule=None,
    )


def tracked(store: Any) -> Any:
    """Start the store's near cache and wait until Redis tracks for it."""
    store.near.start()
    assert store.near.tracking.wait(10)
    return store


@pytest.fixture
def plain(redis_clean_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_clean_url)
    yield client
    client.close()


@pytest.fixture
def make_store(redis_clean_url: str) -> Iterator[Any]:
    prefix = f"near{next(_prefixes)}"
    made: list[Any] = []

    def make(max_bytes: int = 2**20, *, near: bool = True) -> RedisStore:
        store = RedisStore(
            redis_clean_url,
            prefix=prefix,
            timeout=1.0,
            near_cache=NearCache(max_bytes=max_bytes) if near else None,
        )
        made.append(store)
        return tracked(store) if near else store

    yield make
    for store in made:
        store.close()


def mget_calls(plain: redis.Redis) -> int:
    stats = plain.info("commandstats").get("cmdstat_mget")
    return int(stats["calls"]) if stats else 0


def test_a_hit_read_once_is_served_from_the_near_cache_with_no_command(
    make_store: Any, plain: redis.Redis
) -> None:
    store = make_store()
    assert store.set(k(), b"v1", 60)
    assert store.get(k()) == b"v1"  # from Redis, admitted
    before = mget_calls(plain)
    fence = Fence()
    for _ in range(5):
        assert store.get(k(), fence=fence) == b"v1"
    assert mget_calls(plain) == before
    assert store.near.counts["served"] == 5
    # The fence holds the path generation the entry was read with, as for a Redis hit.
    assert fence.gen == plain.get(store.keys.path_gen(k().path_hash))


def test_a_write_or_an_invalidation_in_another_process_evicts_at_once(
    make_store: Any, plain: redis.Redis
) -> None:
    reader, writer = make_store(), make_store()
    assert writer.set(k(), b"v1", 60)
    assert reader.get(k()) == b"v1"
    assert reader.get(k()) == b"v1"
    assert reader.near.counts["served"] == 1
    # A write elsewhere: the very next lookup sees it (pending pushes are applied first).
    assert writer.set(k(), b"v2", 60)
    assert reader.get(k()) == b"v2"
    assert reader.get(k()) == b"v2"
    # An invalidation elsewhere replaces only the path generation: evicted all the same.
    writer.invalidate(path="/items/1")
    assert reader.get(k()) is None
    # A tag invalidation (generations bumped through the tag index) too.
    assert writer.set(k(), b"v3", 60, tags=["items"])
    assert reader.get(k()) == b"v3"
    assert reader.get(k()) == b"v3"
    writer.invalidate(tags=["items"])
    assert reader.get(k()) is None
    # A foreign write of the entry's key, and a FLUSHALL.
    assert writer.set(k(), b"v4", 60)
    assert reader.get(k()) == b"v4"
    plain.set(reader.keys.entry(k()), b"junk")
    assert reader.get(k()) == b"junk"  # what Redis holds now (the engine rejects it)
    assert writer.set(k(), b"v5", 60)
    assert reader.get(k()) == b"v5"
    # FLUSHALL's null message is not batched with the keys' (Redis sends it during the
    # command, so it may be written after the reply): wait until it was applied.
    flushed = threading.Event()
    original_flush = reader.near._flush

    def flush() -> None:
        original_flush()
        flushed.set()

    reader.near._flush = flush
    plain.flushall()
    assert flushed.wait(10)
    assert reader.get(k()) is None


def test_the_read_invalidation_race_never_admits_the_old_value(
    make_store: Any, plain: redis.Redis
) -> None:
    """The reply of a read that returned v1 is processed only after the invalidation
    message of the write that replaced it: the reply must not be admitted."""
    reader, writer = make_store(), make_store()
    assert writer.set(k(), b"v1", 60)
    near = reader.near
    entry = reader.keys.entry(k()).encode()
    applied = threading.Event()
    original_invalidate = near._invalidate

    def invalidate(keys: list[bytes]) -> None:
        original_invalidate(keys)
        if entry in keys:
            applied.set()

    near._invalidate = invalidate
    original_pipeline = reader.client.pipeline

    class Delayed:
        """The reader's pipeline: its reply (v1) is held back until the write of v2
        happened and its invalidation message was processed."""

        def __init__(self, pipe: Any) -> None:
            self.pipe = pipe

        def __getattr__(self, name: str) -> Any:
            return getattr(self.pipe, name)

        def execute(self) -> Any:
            replies = self.pipe.execute()
            assert writer.set(k(), b"v2", 60)
            assert applied.wait(10)
            return replies

    reader.client.pipeline = lambda **kw: Delayed(original_pipeline(**kw))
    try:
        assert reader.get(k()) == b"v1"  # the answer of that read, not kept
    finally:
        del reader.client.pipeline
    assert near.counts["refused"] == 1
    assert near.counts["admitted"] == 0
    assert reader.get(k()) == b"v2"


def applied_events(near: NearCache) -> dict[bytes, threading.Event]:
    """Events set when the near cache has applied an invalidation of a key name."""
    events: dict[bytes, threading.Event] = {}
    original = near._invalidate

    def invalidate(keys: list[bytes]) -> None:
        original(keys)
        for key in keys:
            events.setdefault(key, threading.Event()).set()

    near._invalidate = invalidate  # type: ignore[method-assign]
    return events


def wait_applied(events: dict[bytes, threading.Event], name: str) -> None:
    event = events.setdefault(name.encode(), threading.Event())
    assert event.wait(10)


def test_a_read_whose_keys_were_not_invalidated_is_admitted_despite_other_traffic(
    make_store: Any,
) -> None:
    reader, writer = make_store(), make_store()
    near = reader.near
    events = applied_events(near)
    name = reader.keys.entry(k("/a"))
    assert writer.set(k("/a"), b"a", 60)
    wait_applied(events, name)
    token = near.token()
    assert writer.set(k("/b"), b"b", 60)  # other keys change meanwhile
    wait_applied(events, reader.keys.entry(k("/b")))
    assert near._seq != token
    keys = (name, name + ":g", reader.keys.path_gen(k("/a").path_hash))
    assert near.admit(name, keys, b"a", b"g", time.monotonic() + 60, token)


def test_killing_the_tracking_connection_serves_nothing_stale_and_l1_resumes(
    make_store: Any, plain: redis.Redis
) -> None:
    reader, writer = make_store(), make_store()
    near = reader.near
    assert writer.set(k(), b"v1", 60)
    assert reader.get(k()) == b"v1"
    assert reader.get(k()) == b"v1"
    assert near.counts["served"] == 1
    tracking = [
        client
        for client in plain.client_list(_type="pubsub")
        if "t" in client["flags"] and "B" in client["flags"]
    ]
    assert len(tracking) == 2  # the reader's and the writer's
    for client in tracking:
        plain.execute_command("CLIENT", "KILL", "ID", client["id"])
    # The gap: no process is told of this write.
    assert writer.set(k(), b"v2", 60)
    assert reader.get(k()) == b"v2"  # not the L1's v1
    assert not near.ready or near.counts["flushes"] >= 2
    # Tracking comes back (the thread reconnects); L1 fills and serves again.
    assert near.tracking.wait(10)
    assert reader.get(k()) == b"v2"
    served, before = near.counts["served"], mget_calls(plain)
    assert reader.get(k()) == b"v2"
    assert near.counts["served"] == served + 1
    assert mget_calls(plain) == before
    # And it is coherent again.
    assert writer.set(k(), b"v3", 60)
    assert reader.get(k()) == b"v3"


def test_a_lost_tracking_connection_flushes_and_bypasses_until_back(make_store: Any) -> None:
    store = make_store()
    near = store.near
    assert store.set(k(), b"v1", 60)
    assert store.get(k()) == b"v1"
    with near._lock:
        near._lost()
    assert near.size == 0
    assert near.token() is None  # a read sent now is never admitted
    assert near.tracking.wait(10)
    assert store.get(k()) == b"v1"
    assert store.get(k()) == b"v1"
    assert near.counts["served"] == 1


def test_the_near_cache_never_holds_more_than_max_bytes(make_store: Any) -> None:
    max_bytes = 32 * 1024
    store = make_store(max_bytes)
    near = store.near
    body = b"x" * 1024
    for i in range(100):
        assert store.set(k(f"/p/{i}"), body, 60)
        assert store.get(k(f"/p/{i}")) == body
        assert near.size <= max_bytes
        assert near.size == sum(item.size for item in near._items.values())
        # Touch the first one: the least recently used go first, not it.
        assert store.get(k("/p/0")) == body
    assert 10 < len(near._items) < 100
    assert store.keys.entry(k("/p/0")) in near._items
    assert store.keys.entry(k("/p/1")) not in near._items
    # An entry larger than the whole near cache is never admitted.
    big = b"y" * max_bytes
    assert store.set(k("/big"), big, 60)
    assert store.get(k("/big")) == big
    assert store.keys.entry(k("/big")) not in near._items
    assert near.size <= max_bytes
    # Every index entry belongs to a kept entry.
    names = {name for names in near._by_key.values() for name in names}
    assert names == set(near._items)
    assert ENTRY_OVERHEAD > 0


def test_an_entry_is_kept_only_until_its_redis_ttl(make_store: Any, plain: redis.Redis) -> None:
    store = make_store()
    near = store.near
    before = time.monotonic()
    assert store.set(k(), b"v1", 30)
    assert store.get(k()) == b"v1"
    item = near._items[store.keys.entry(k())]
    assert before + 29 < item.deadline <= time.monotonic() + 30
    # Past its deadline it is a Redis read again, never an L1 hit.
    item.deadline = time.monotonic() - 0.001
    before_calls = mget_calls(plain)
    assert store.get(k()) == b"v1"
    assert mget_calls(plain) == before_calls + 1


def test_the_async_store_shares_the_behaviour(redis_clean_url: str, plain: redis.Redis) -> None:
    async def main() -> None:
        prefix = f"near{next(_prefixes)}"
        reader = AsyncRedisStore(redis_clean_url, prefix=prefix, near_cache={"max_bytes": 2**20})
        writer = AsyncRedisStore(redis_clean_url, prefix=prefix, near_cache=NearCache())
        tracked(reader)
        tracked(writer)
        try:
            assert await writer.set(k(), b"v1", 60)
            assert await reader.get(k()) == b"v1"
            before = mget_calls(plain)
            assert await reader.get(k()) == b"v1"
            assert mget_calls(plain) == before
            assert await writer.set(k(), b"v2", 60)
            assert await reader.get(k()) == b"v2"
            await writer.invalidate(path="/items/1")
            assert await reader.get(k()) is None
        finally:
            await reader.close()
            await writer.close()

    asyncio.run(main())


def test_the_sync_and_async_twins_share_one_near_cache(redis_clean_url: str) -> None:
    near = NearCache()
    store = RedisStore(redis_clean_url, prefix="twins", near_cache=near)
    try:
        assert store.as_async().near is near
    finally:
        store.close()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"near_cache": 5}, "near_cache must be a NearCache"),
        ({"near_cache": {"max_bytes": 0}}, "max_bytes must be a positive"),
        ({"near_cache": {"max_bites": 1}}, "NearCache"),
    ],
)
def test_bad_near_cache_settings_fail_at_construction(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        RedisStore("redis://127.0.0.1:1/0", **options)


def test_cluster_sentinel_and_tls_are_refused_for_now(redis_cluster: Any) -> None:
    with pytest.raises(ConfigurationError, match="not supported with Redis Cluster"):
        RedisStore(redis_cluster.url, cluster=True, near_cache={})
    with pytest.raises(ConfigurationError, match="Sentinel"):
        RedisStore("redis+sentinel://127.0.0.1:1/mymaster", near_cache={})
    with pytest.raises(ConfigurationError, match="plain TCP"):
        RedisStore("rediss://127.0.0.1:1/0", near_cache={})


def test_one_near_cache_serves_one_server_and_prefix(redis_clean_url: str) -> None:
    near = NearCache()
    RedisStore(redis_clean_url, prefix="a", near_cache=near)
    with pytest.raises(ConfigurationError, match="already bound"):
        RedisStore(redis_clean_url, prefix="b", near_cache=near)


def test_the_flask_settings_reach_the_near_cache(redis_clean_url: str) -> None:
    flask = pytest.importorskip("flask")
    from routecache.adapters.flask import RouteCache

    app = flask.Flask("near")
    app.config["ROUTECACHE_REDIS_URL"] = redis_clean_url
    app.config["ROUTECACHE_REDIS_OPTIONS"] = {"near_cache": {"max_bytes": 2**20}}
    RouteCache(app)
    store = app.extensions["routecache"].store
    assert isinstance(store.near, NearCache)
    assert store.near.max_bytes == 2**20
    store.close()
