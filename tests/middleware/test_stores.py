"""The stores: MemoryStore (sync and async face), RedisStore and AsyncRedisStore on a
private server and on a private 3-node cluster; the circuit breaker, the fault log and
the guard that turns Redis errors into StoreError.

Every behaviour runs against every store through one async facade; Redis contents are
checked with a plain client of our own (PTTL, ZCARD, foreign keys).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.cluster

from routecache.middleware.errors import ConfigurationError, StoreError
from routecache.middleware.keys import CacheKey, path_hash, request_key
from routecache.middleware.stores import (
    AsyncRedisStore,
    KeySpace,
    LockState,
    MemoryStore,
    RedisStore,
)
from routecache.middleware.stores import faults as faults_module
from routecache.middleware.stores import memory as memory_module
from routecache.middleware.stores.base import validate_prefix
from routecache.middleware.stores.faults import CircuitBreaker, FaultLog
from routecache.middleware.stores.redis_common import StoreGuard, group_by_slot
from tests._redis_servers import RedisCluster, free_port


def opened(breaker: CircuitBreaker) -> bool:
    """``breaker.is_open``, read through a call so that type checkers do not narrow it."""
    return breaker.is_open


def k(path: str = "/items/1", query: bytes = b"") -> CacheKey:
    return request_key(
        method="GET",
        scheme="https",
        host="example.com",
        path=path,
        query=query,
        headers={},
        rule=None,
    )


# -- one facade over every store


class Facade:
    """The async store protocol over any store, plus a raw sync Redis client (or None)."""

    def __init__(self, store: Any, raw: Any, kind: str) -> None:
        self.store = store
        self.raw = raw
        self.kind = kind
        self.keys: KeySpace = store.keys

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.store, name)(*args, **kwargs)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    async def get(self, key: CacheKey, variant: str | None = None) -> bytes | None:
        result: bytes | None = await self.call("get", key, variant)
        return result

    async def set(
        self,
        key: CacheKey,
        data: bytes,
        ttl: float = 60.0,
        *,
        variant: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        await self.call("set", key, data, ttl, variant=variant, tags=tags)

    async def invalidate(
        self, path: Any = None, tags: Sequence[str] = (), everything: bool = False
    ) -> int:
        result: int = await self.call("invalidate", path, tags, everything)
        return result

    @property
    def is_redis(self) -> bool:
        return self.raw is not None


Scenario = Callable[[Facade], Awaitable[None]]


class StoreMaker:
    def __init__(self, kind: str, url: str | None, cluster: RedisCluster | None) -> None:
        self.kind = kind
        self.url = url
        self.cluster = cluster

    def raw_client(self) -> Any:
        if self.cluster is not None:
            node = self.cluster.nodes[0]
            return redis.cluster.RedisCluster(host=node.host, port=node.port, socket_timeout=5)
        if self.url is not None:
            return redis.Redis.from_url(self.url, socket_timeout=5)
        return None

    def store_url(self) -> str:
        assert self.cluster is not None or self.url is not None
        if self.cluster is not None:
            node = self.cluster.nodes[0]
            return f"redis+cluster://{node.host}:{node.port}"
        assert self.url is not None
        return self.url

    def run(self, scenario: Scenario, **options: Any) -> None:
        async def main() -> None:
            if self.kind == "memory":
                store: Any = MemoryStore(**options)
            elif self.kind == "memory-async":
                store = MemoryStore(**options).as_async()
            elif self.kind == "redis":
                store = RedisStore(self.store_url(), timeout=2.0, **options)
            elif self.kind == "redis-async":
                store = AsyncRedisStore(self.store_url(), timeout=2.0, **options)
            elif self.kind == "cluster":
                # cluster=True with a plain URL, the other spelling of the same thing
                assert self.cluster is not None
                store = RedisStore(
                    self.cluster.nodes[0].url.rsplit("/", 1)[0],
                    cluster=True,
                    timeout=2.0,
                    **options,
                )
            else:
                store = AsyncRedisStore(self.store_url(), timeout=2.0, **options)
            raw = self.raw_client()
            try:
                await scenario(Facade(store, raw, self.kind))
            finally:
                closed = store.close()
                if asyncio.iscoroutine(closed):
                    await closed
                if raw is not None:
                    raw.close()

        asyncio.run(main())


KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("memory-async", id="memory-async"),
    pytest.param("redis", marks=pytest.mark.redis, id="redis"),
    pytest.param("redis-async", marks=pytest.mark.redis, id="redis-async"),
    pytest.param("cluster", marks=pytest.mark.cluster, id="cluster"),
    pytest.param("cluster-async", marks=pytest.mark.cluster, id="cluster-async"),
]
REDIS_KINDS = [p for p in KINDS if "memory" not in str(p.values[0])]


@pytest.fixture(params=KINDS)
def maker(request: pytest.FixtureRequest) -> StoreMaker:
    kind: str = request.param
    if kind.startswith("redis"):
        return StoreMaker(kind, request.getfixturevalue("redis_clean_url"), None)
    if kind.startswith("cluster"):
        return StoreMaker(kind, None, request.getfixturevalue("redis_cluster_clean"))
    return StoreMaker(kind, None, None)


@pytest.fixture(params=REDIS_KINDS)
def redis_maker(request: pytest.FixtureRequest) -> StoreMaker:
    kind: str = request.param
    if kind.startswith("redis"):
        return StoreMaker(kind, request.getfixturevalue("redis_clean_url"), None)
    return StoreMaker(kind, None, request.getfixturevalue("redis_cluster_clean"))


# == behaviour shared by every store


def test_get_set_and_variants(maker: StoreMaker) -> None:
    async def scenario(s: Facade) -> None:
        a, b = k("/items/1"), k("/items/1", b"x=1")
        assert await s.get(a) is None
        await s.set(a, b"entry-a")
        assert await s.get(a) == b"entry-a"
        assert await s.get(b) is None
        await s.set(b, b"v1", variant="gz")
        assert await s.get(b, "gz") == b"v1"
        assert await s.get(b) == b"v1"  # the latest variant also lives at the primary key
        await s.set(b, b"v2", variant="br")
        assert await s.get(b, "gz") == b"v1"
        assert await s.get(b, "br") == b"v2"
        assert await s.get(b) == b"v2"
        assert await s.get(b, "zz") is None
        await s.set(a, b"entry-a2")
        assert await s.get(a) == b"entry-a2"
        await s.call("delete", a)
        assert await s.get(a) is None
        assert await s.get(b) == b"v2"
        assert s.store.prefix == "routecache"

    maker.run(scenario)


def test_binary_data_round_trips(maker: StoreMaker) -> None:
    async def scenario(s: Facade) -> None:
        data = bytes(range(256)) * 100
        await s.set(k(), data)
        assert await s.get(k()) == data

    maker.run(scenario)


def test_ttl_is_applied(maker: StoreMaker) -> None:
    async def scenario(s: Facade) -> None:
        key = k()
        await s.set(key, b"x", ttl=30.0, variant="v")
        if s.is_redis:
            for name in (s.keys.entry(key), s.keys.entry(key, "v")):
                pttl = s.raw.pttl(name)
                assert 29_000 < pttl <= 30_000, name
            idx = s.raw.pttl(s.keys.path_index(key.path_hash))
            assert 29_000 < idx <= 30_000
        await s.set(key, b"short", ttl=0.05)
        assert await s.get(key) == b"short"
        await asyncio.sleep(0.15)
        assert await s.get(key) is None

    maker.run(scenario)


def test_invalidate_tags_removes_the_tagged_keys_and_fences_their_paths(
    maker: StoreMaker,
) -> None:
    # A tag is fenced through the generations of its entries' paths (see
    # docs/architecture.md): an untagged entry on the same path as a tagged one is
    # fenced too; entries on other paths are untouched.
    async def scenario(s: Facade) -> None:
        one, two, three, four = k("/a"), k("/b", b"q=1"), k("/a", b"q=2"), k("/c")
        five = k("/d")
        await s.set(one, b"1", tags=["t1"])
        await s.set(two, b"2", tags=["t1", "t2"], variant="v")
        await s.set(three, b"3", tags=["t2"])
        await s.set(four, b"4")
        await s.set(five, b"5", tags=["t2"])
        removed = await s.invalidate(tags=["t1"])
        assert removed == 3  # one, two and two's variant
        assert await s.get(one) is None
        assert await s.get(two) is None
        assert await s.get(two, "v") is None
        assert await s.get(three) is None  # same path as one
        assert await s.get(four) == b"4"
        assert await s.get(five) == b"5"
        assert await s.invalidate(tags=["t1"]) == 0
        assert await s.invalidate(tags=["t2", "nope"]) >= 1
        assert await s.get(five) is None
        assert await s.get(four) == b"4"
        assert await s.invalidate(tags=["t2", "nope"]) == 0

    maker.run(scenario)


def test_invalidate_path_removes_every_variant_and_query_of_that_path_only(
    maker: StoreMaker,
) -> None:
    async def scenario(s: Facade) -> None:
        mine = [k("/items/1"), k("/items/1", b"a=1"), k("/items/1", b"a=2")]
        others = [k("/items/1/"), k("/items/10"), k("/items"), k("/items/2")]
        for i, key in enumerate(mine):
            await s.set(key, b"m%d" % i, variant="gz" if i == 1 else None)
        for key in others:
            await s.set(key, b"other")
        removed = await s.invalidate("/items/1")
        assert removed == 4  # three entries and one variant
        for key in mine:
            assert await s.get(key) is None
        assert await s.get(mine[1], "gz") is None
        for key in others:
            assert await s.get(key) == b"other"
        assert await s.invalidate(["/items/2", "/items/10"]) == 2
        assert await s.get(k("/items")) == b"other"
        assert await s.invalidate("/never") == 0

    maker.run(scenario)


def test_invalidate_everything_only_touches_the_prefix(maker: StoreMaker) -> None:
    async def scenario(s: Facade) -> None:
        foreign = {
            "other:{abc}:def": b"other prefix",
            "routecache2:{x}:y": b"longer prefix",
            "routecache:sub:{x}:y": b"a store whose prefix is routecache:sub",
            "routecache:sub:{tabc}": b"its tag index",
            "routecache": b"the bare prefix",
            "unprefixed": b"no prefix",
        }
        if s.is_redis:
            for name, value in foreign.items():
                s.raw.set(name, value)
        for i in range(30):
            await s.set(k(f"/p/{i}"), b"x", tags=[f"t{i % 3}"], variant="v" if i % 2 else None)
        await s.call("lock", k("/locked"), "tok", 30.0)
        removed = await s.invalidate(everything=True)
        assert removed >= 45  # 30 entries + 15 variants (+ indexes and locks in Redis)
        for i in range(30):
            assert await s.get(k(f"/p/{i}")) is None
        assert await s.call("lock", k("/locked"), "other", 30.0)
        if s.is_redis:
            for name, value in foreign.items():
                assert s.raw.get(name) == value, name
            remaining = sorted(
                key.decode()
                for key in s.raw.scan_iter(match="*")
                if not key.startswith(b"routecache:{")
            )
            assert remaining == sorted(foreign)

    maker.run(scenario)


def test_locks_tokens_and_pass_marker(maker: StoreMaker) -> None:
    async def scenario(s: Facade) -> None:
        key = k()
        assert await s.call("get_or_lock", key, "t1", 30.0) == (LockState.ACQUIRED, None)
        assert await s.call("get_or_lock", key, "t2", 30.0) == (LockState.BUSY, None)
        assert await s.call("lock", key, "t2", 30.0) is False
        await s.call("release", key, "t2")  # not the holder: nothing happens
        assert await s.call("get_or_lock", key, "t3", 30.0) == (LockState.BUSY, None)
        await s.call("release", key, "t1")
        assert await s.call("get_or_lock", key, "t4", 30.0) == (LockState.ACQUIRED, None)
        await s.call("release", key, "t4", passed=True)
        # The holder found the response not storable: others call the app, no waiting.
        assert await s.call("get_or_lock", key, "t5", 30.0) == (LockState.PASS, None)
        assert await s.call("lock", key, "t5", 30.0) is False
        await s.set(key, b"stored")
        assert await s.call("get_or_lock", key, "t6", 30.0) == (LockState.FOUND, b"stored")
        other = k("/other")
        assert await s.call("lock", other, "a", 30.0) is True
        assert await s.call("lock", other, "b", 30.0) is False
        await s.call("release", other, "a")
        assert await s.call("lock", other, "b", 30.0) is True
        # Locks expire by themselves: a dead worker never blocks for long.
        short = k("/short")
        assert await s.call("lock", short, "dead", 0.05) is True
        await asyncio.sleep(0.12)
        assert await s.call("get_or_lock", short, "alive", 30.0) == (LockState.ACQUIRED, None)

    maker.run(scenario)


def test_stats_count_what_is_stored(maker: StoreMaker) -> None:
    async def scenario(s: Facade) -> None:
        await s.set(k("/a"), b"12345", tags=["t"])
        await s.set(k("/a", b"q=1"), b"123", variant="v")
        await s.set(k("/b"), b"1")
        await s.call("lock", k("/c"), "tok", 30.0)
        stats = await s.call("stats")
        assert stats["prefix"] == "routecache"
        if s.is_redis:
            assert stats["store"] == ("redis-cluster" if "cluster" in s.kind else "redis")
            assert stats["entries"] == 3
            assert stats["variants"] == 1
            assert stats["path_indexes"] == 2
            assert stats["tag_indexes"] == 1
            assert stats["locks"] == 1
            assert stats["breaker_open"] is False
            assert stats["faults"] == {}
        else:
            assert stats["store"] == "memory"
            assert stats["entries"] == 4  # three entries and one variant
            assert stats["bytes"] == 5 + 3 + 3 + 1
            assert stats["paths"] == 2
            assert stats["tags"] == 1
            assert stats["evictions"] == 0

    maker.run(scenario)


# == Redis only: what is in Redis


def test_index_zsets_are_trimmed_and_expire_with_their_longest_member(
    redis_maker: StoreMaker,
) -> None:
    async def scenario(s: Facade) -> None:
        a, b = k("/items", b"a=1"), k("/items", b"a=2")
        idx = s.keys.path_index(a.path_hash)
        tag = s.keys.tag_index("t")
        await s.set(a, b"a", ttl=0.05, tags=["t"])
        assert s.raw.zcard(idx) == 1
        assert s.raw.zcard(tag) == 1
        await asyncio.sleep(0.1)
        await s.set(b, b"b", ttl=20.0, tags=["t"])
        assert s.raw.zrange(idx, 0, -1) == [s.keys.entry(b).encode()]
        assert s.raw.zrange(tag, 0, -1) == [s.keys.entry(b).encode()]
        assert 19_000 < s.raw.pttl(idx) <= 20_000
        assert 19_000 < s.raw.pttl(tag) <= 20_000
        # A shorter entry later never shortens the index's life.
        await s.set(a, b"a", ttl=1.0)
        assert s.raw.pttl(idx) > 19_000

    redis_maker.run(scenario)


def test_keys_of_one_path_share_a_cluster_slot(redis_maker: StoreMaker) -> None:
    async def scenario(s: Facade) -> None:
        key = k("/slot", b"q=1")
        names = [
            s.keys.entry(key),
            s.keys.entry(key, "variant"),
            s.keys.path_index(key.path_hash),
            s.keys.lock(key),
        ]
        assert {KeySpace.hash_tag(n) for n in names} == {path_hash("/slot")}
        slots = {redis.cluster.key_slot(n.encode()) for n in names}  # type: ignore[attr-defined]
        assert len(slots) == 1
        await s.set(key, b"x", variant="variant", tags=["t"])
        assert s.raw.exists(*names[:3]) == 3

    redis_maker.run(scenario)


def test_wait_stored_is_woken_by_a_store(redis_maker: StoreMaker) -> None:
    async def scenario(s: Facade) -> None:
        key = k("/wake")
        assert await s.get(key) is None  # as in the engine: a lookup comes first
        if s.kind.endswith("async"):
            waiter = asyncio.ensure_future(s.call("wait_stored", key, 5.0))
            await asyncio.sleep(0.3)  # the subscription is up
            started = time.monotonic()
            await s.set(key, b"x")
            assert await waiter is True
        else:
            result: list[bool] = []
            thread = threading.Thread(target=lambda: result.append(s.store.wait_stored(key, 5.0)))
            thread.start()
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await s.set(key, b"x")
            thread.join(5.0)
            assert result == [True]
        assert time.monotonic() - started < 2.0
        # Nobody stores: the wait ends at its timeout.
        started = time.monotonic()
        assert await s.call("wait_stored", k("/never"), 0.2) is False
        assert 0.15 < time.monotonic() - started < 1.5

    redis_maker.run(scenario)


def test_concurrent_first_gets_share_one_connection(redis_clean_url: str) -> None:
    async def main() -> None:
        store = AsyncRedisStore(redis_clean_url)
        raw = redis.Redis.from_url(redis_clean_url)
        try:
            before = len(raw.client_list())
            results = await asyncio.gather(*(store.get(k(f"/c/{i}")) for i in range(20)))
            assert results == [None] * 20
            # One connection for the hit path (plus at most one pooled redis-py one).
            assert len(raw.client_list()) - before <= 2
        finally:
            raw.close()
            await store.close()

    asyncio.run(main())


# == MemoryStore only


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(memory_module, "time", fake)
    return fake


def test_memory_ttl_expiry(clock: FakeClock) -> None:
    store = MemoryStore()
    store.set(k(), b"x", 10.0, tags=["t"])
    clock.now += 9.99
    assert store.get(k()) == b"x"
    clock.now += 0.01
    assert store.get(k()) is None
    assert len(store) == 0
    assert store.size == 0
    assert store.stats()["tags"] == 0  # dropped from the indexes too


def test_memory_lru_by_bytes() -> None:
    store = MemoryStore(max_bytes=100)
    keys = [k(f"/{i}") for i in range(4)]
    for key in keys[:3]:
        store.set(key, b"x" * 30, 60.0)
    assert store.size == 90
    assert store.get(keys[0]) == b"x" * 30  # now most recently used
    store.set(keys[3], b"y" * 30, 60.0)  # 120 > 100: evict the least recently used
    assert store.get(keys[1]) is None
    assert store.get(keys[0]) is not None
    assert store.get(keys[2]) is not None
    assert store.get(keys[3]) is not None
    assert store.size == 90
    assert store.evictions == 1
    store.set(k("/big"), b"z" * 101, 60.0)  # larger than the whole store: skipped
    assert store.get(k("/big")) is None
    assert store.size == 90
    store.set(k("/huge"), b"z" * 100, 60.0)  # exactly the capacity: everything else goes
    assert store.get(k("/huge")) == b"z" * 100
    assert len(store) == 1
    assert store.stats()["evictions"] == 4


def test_memory_replacing_an_entry_accounts_bytes() -> None:
    store = MemoryStore(max_bytes=1000)
    store.set(k(), b"x" * 100, 60.0)
    store.set(k(), b"x" * 10, 60.0)
    assert store.size == 10
    store.set(k(), b"x" * 10, 60.0, variant="v")
    assert store.size == 20


def test_memory_async_face_shares_the_data() -> None:
    store = MemoryStore()
    face = store.as_async()
    assert store.as_async() is face
    assert face.as_sync() is store
    assert face.as_async() is face
    assert store.as_sync() is store
    assert face.is_async
    assert not store.is_async

    async def main() -> None:
        await face.set(k(), b"x", 60.0)
        assert store.get(k()) == b"x"
        store.set(k("/b"), b"y", 60.0)
        assert await face.get(k("/b")) == b"y"

    asyncio.run(main())


def test_memory_stores_are_independent() -> None:
    a, b = MemoryStore(), MemoryStore()
    a.set(k(), b"x", 60.0)
    assert b.get(k()) is None
    assert b.invalidate(everything=True) == 0
    assert a.get(k()) == b"x"


def test_memory_options_are_validated() -> None:
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(ConfigurationError, match="max_bytes"):
            MemoryStore(max_bytes=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="prefix"):
        MemoryStore(prefix="bad prefix")


# == construction: twins, clients, prefixes, URLs, timeouts


@pytest.mark.parametrize("prefix", ["", "a b", "a{b}", "a*", "pre?", "[x]", "é", 5])
def test_bad_prefix(prefix: Any) -> None:
    with pytest.raises(ConfigurationError, match="prefix"):
        validate_prefix(prefix)
    with pytest.raises(ConfigurationError, match="prefix"):
        RedisStore("redis://127.0.0.1:1/0", prefix=prefix)
    with pytest.raises(ConfigurationError, match="prefix"):
        AsyncRedisStore("redis://127.0.0.1:1/0", prefix=prefix)


def test_good_prefixes() -> None:
    for prefix in ("rc", "app:cache", "a-b_c.d"):
        assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("url", ["localhost:6379", "", "http://localhost/", "redis//x"])
def test_bad_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="URL"):
        RedisStore(url)
    with pytest.raises(ConfigurationError, match="URL"):
        AsyncRedisStore(url)


@pytest.mark.parametrize("timeout", [0, -1, True, "1", None])
def test_bad_timeout(timeout: Any) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        RedisStore("redis://127.0.0.1:1/0", timeout=timeout)
    with pytest.raises(ConfigurationError, match="timeout"):
        AsyncRedisStore("redis://127.0.0.1:1/0", timeout=timeout)


def test_ready_client_of_the_wrong_kind() -> None:
    sync_client = redis.Redis(host="127.0.0.1", port=1)
    try:
        with pytest.raises(ConfigurationError, match="AsyncRedisStore needs"):
            AsyncRedisStore(sync_client)
    finally:
        sync_client.close()

    async def main() -> None:
        async_client = redis.asyncio.Redis(host="127.0.0.1", port=1)
        try:
            with pytest.raises(ConfigurationError, match="RedisStore needs"):
                RedisStore(async_client)
        finally:
            await async_client.aclose()

    asyncio.run(main())
    with pytest.raises(ConfigurationError, match="URL or a matching"):
        RedisStore(42)


def test_a_store_around_a_ready_client_cannot_be_twinned() -> None:
    client = redis.Redis(host="127.0.0.1", port=1)
    store = RedisStore(client)
    try:
        assert store.as_sync() is store
        with pytest.raises(ConfigurationError, match=r"pass a AsyncRedisStore \(or a URL\)"):
            store.as_async()
        store.close()
    finally:
        client.close()


def test_twin_stores_share_url_and_settings() -> None:
    async def main() -> None:
        sync = RedisStore("redis://127.0.0.1:1/3", prefix="tw", timeout=0.5, breaker_threshold=2)
        twin = sync.as_async()
        try:
            assert isinstance(twin, AsyncRedisStore)
            assert sync.as_async() is twin
            assert twin.as_sync() is sync
            assert twin.as_async() is twin
            assert twin.url == sync.url == "redis://127.0.0.1:1/3"
            assert twin.prefix == "tw"
            assert twin.settings == sync.settings
            assert twin.breaker.threshold == 2
        finally:
            sync.close()
            await twin.close()
        other = AsyncRedisStore("redis://127.0.0.1:1/4")
        back = other.as_sync()
        try:
            assert isinstance(back, RedisStore)
            assert back.as_async() is other
        finally:
            back.close()
            await other.close()

    asyncio.run(main())


def test_a_store_works_after_twinning(redis_clean_url: str) -> None:
    async def main() -> None:
        sync = RedisStore(redis_clean_url)
        twin = sync.as_async()
        try:
            sync.set(k(), b"from sync", 60.0)
            assert await twin.get(k()) == b"from sync"
            await twin.set(k("/b"), b"from async", 60.0)
            assert sync.get(k("/b")) == b"from async"
        finally:
            sync.close()
            await twin.close()

    asyncio.run(main())


# == faults: a dead Redis becomes StoreError, the breaker stops hammering it


def test_dead_redis_raises_store_error_and_opens_the_breaker() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    store = RedisStore(dead, timeout=0.2, breaker_threshold=2, breaker_cooldown=60)
    try:
        for _ in range(2):
            with pytest.raises(StoreError, match="get failed"):
                store.get(k())
        assert opened(store.breaker)
        started = time.monotonic()
        with pytest.raises(StoreError, match="circuit open"):
            store.set(k(), b"x", 60.0)
        assert time.monotonic() - started < 0.05  # refused without touching the network
        assert store.faults.counts["ConnectionError"] == 2
        assert store.faults.counts["refused"] == 1
        stats_fault = store.faults.counts["total"]
        assert stats_fault == 2
    finally:
        store.close()


def test_dead_redis_async() -> None:
    async def main() -> None:
        store = AsyncRedisStore(
            f"redis://127.0.0.1:{free_port()}/0", timeout=0.2, breaker_threshold=1
        )
        try:
            with pytest.raises(StoreError):
                await store.get(k())
            # Invalidations are never refused by the breaker: they are tried (and fail).
            with pytest.raises(StoreError, match="invalidate failed"):
                await store.invalidate("/x")
            assert store.faults.counts["refused"] == 0
            with pytest.raises(StoreError, match="circuit open"):
                await store.get_or_lock(k(), "t", 1.0)
        finally:
            await store.close()

    asyncio.run(main())


def test_redis_recovers_after_the_cooldown(redis_clean_url: str) -> None:
    store = RedisStore(redis_clean_url, breaker_threshold=1, breaker_cooldown=0.05)
    try:
        store.breaker.failure()
        assert opened(store.breaker)
        with pytest.raises(StoreError, match="circuit open"):
            store.get(k())
        time.sleep(0.06)
        assert store.get(k()) is None  # the trial call works: closed again
        assert not opened(store.breaker)
        store.set(k(), b"x", 60.0)
        assert store.get(k()) == b"x"
    finally:
        store.close()


# -- StoreGuard


@pytest.mark.parametrize(
    "exc",
    [
        redis.exceptions.ConnectionError("down"),
        redis.exceptions.TimeoutError("slow"),
        redis.exceptions.ClusterDownError("CLUSTERDOWN"),
        OSError("reset"),
        TimeoutError(),
    ],
)
def test_guard_turns_redis_faults_into_store_error(exc: BaseException) -> None:
    breaker, log = CircuitBreaker(threshold=3), FaultLog("t")
    with pytest.raises(StoreError, match="op failed") as info, StoreGuard(breaker, log, "op"):
        raise exc
    assert info.value.__cause__ is exc
    assert log.counts[type(exc).__name__] == 1
    assert breaker._failures == 1


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (redis.exceptions.OutOfMemoryError("command not allowed"), "store_full"),
        (redis.exceptions.ResponseError("OOM command not allowed"), "store_full"),
        (redis.exceptions.ResponseError("WRONGTYPE Operation"), "ResponseError"),
        (redis.exceptions.ReadOnlyError("READONLY"), "ReadOnlyError"),
    ],
)
def test_guard_error_replies_fail_the_call_but_never_open_the_breaker(
    exc: BaseException, kind: str
) -> None:
    # A reply proves Redis is up: only connectivity faults count towards opening.
    breaker, log = CircuitBreaker(threshold=2), FaultLog("t")
    breaker.failure()
    for _ in range(5):
        with pytest.raises(StoreError, match="op failed"), StoreGuard(breaker, log, "op"):
            raise exc
    assert log.counts[kind] == 5
    assert breaker._failures == 0
    assert breaker.allow()


def test_guard_turns_any_error_into_a_store_error_and_records_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Whatever a store call raises, the caller gets a StoreError (a bypass), never a
    # 500; an error that is not a Redis fault is logged with its traceback.
    breaker, log = CircuitBreaker(threshold=3), FaultLog("t")
    breaker.failure()
    with pytest.raises(StoreError), StoreGuard(breaker, log, "op"):
        raise KeyError("bug")
    assert log.counts["KeyError"] == log.counts["total"] == 1
    assert caplog.records[-1].exc_info is not None
    with StoreGuard(breaker, log, "op"):
        pass
    assert breaker._failures == 0


def test_guard_async_form_and_time_limit() -> None:
    async def main() -> None:
        breaker, log = CircuitBreaker(threshold=5), FaultLog("t")
        with pytest.raises(StoreError):
            async with StoreGuard(breaker, log, "slow", timeout=0.05):
                await asyncio.sleep(1)
        assert log.counts["TimeoutError"] == 1
        async with StoreGuard(breaker, log, "fast", timeout=1.0):
            await asyncio.sleep(0)
        assert breaker._failures == 0

    asyncio.run(main())


def test_a_cancelled_trial_call_does_not_jam_the_breaker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = SimpleNamespace(t=100.0)
    monkeypatch.setattr(faults_module, "time", SimpleNamespace(monotonic=lambda: clock.t))
    breaker, log = CircuitBreaker(threshold=1, cooldown=5.0), FaultLog("t")
    breaker.failure()
    clock.t += 5.0
    # The half-open trial is cancelled (client went away) before Redis answered.
    with pytest.raises(asyncio.CancelledError), StoreGuard(breaker, log, "trial"):
        raise asyncio.CancelledError
    # Another trial is allowed: the breaker is not stuck open for ever.
    assert breaker.allow()


# -- CircuitBreaker


@pytest.fixture
def mono(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    clock = SimpleNamespace(t=1000.0)
    monkeypatch.setattr(faults_module, "time", SimpleNamespace(monotonic=lambda: clock.t))
    return clock


def test_breaker_opens_after_threshold_consecutive_failures(mono: SimpleNamespace) -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0)
    breaker.failure()
    breaker.failure()
    assert breaker.allow()
    breaker.success()  # not consecutive any more
    breaker.failure()
    breaker.failure()
    assert breaker.allow()
    assert not opened(breaker)
    breaker.failure()
    assert opened(breaker)
    assert not breaker.allow()
    mono.t += 9.99
    assert not breaker.allow()


def test_breaker_half_open_lets_one_trial_through(mono: SimpleNamespace) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10.0)
    breaker.failure()
    mono.t += 10.0
    assert not opened(breaker)
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # everyone else waits for its outcome
    breaker.failure()  # trial failed: open for another cooldown
    assert opened(breaker)
    assert not breaker.allow()
    mono.t += 10.0
    assert breaker.allow()
    breaker.success()  # trial worked: closed
    assert breaker.allow()
    assert breaker.allow()
    assert not opened(breaker)


def test_breaker_threshold_validated() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=0)


# -- FaultLog


def test_fault_log_counts_everything_and_logs_without_flooding(
    mono: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    log = FaultLog("store", interval=10.0)
    with caplog.at_level(logging.WARNING, logger="routecache"):
        log.record("get", ConnectionError("refused"))
        for _ in range(50):
            mono.t += 0.1
            log.record("get", TimeoutError("slow"))
        assert len(caplog.records) == 1
        assert "get failed (ConnectionError: refused)" in caplog.records[0].getMessage()
        mono.t += 10.0
        log.record("set", ConnectionError("again"))
    assert len(caplog.records) == 2
    summary = caplog.records[1].getMessage()
    assert "set failed" in summary
    assert "50 similar faults not logged" in summary
    assert log.counts == {"ConnectionError": 2, "TimeoutError": 50, "total": 52}


# -- helpers


def test_group_by_slot() -> None:
    groups = group_by_slot([b"p:{a}:1", "p:{a}:2", b"p:{b}:1", "nohashtag"])
    assert groups == {"a": ["p:{a}:1", "p:{a}:2"], "b": ["p:{b}:1"], "nohashtag": ["nohashtag"]}


def test_keyspace_layout() -> None:
    space = KeySpace("rc")
    key = k("/x")
    assert space.entry(key) == f"rc:{{{key.path_hash}}}:{key.digest}"
    assert space.entry(key, "v") == f"rc:{{{key.path_hash}}}:{key.digest}:v"
    assert space.path_index(key.path_hash) == f"rc:{{{key.path_hash}}}:idx"
    assert space.path_index_for("/x") == space.path_index(key.path_hash)
    assert space.lock(key) == f"rc:{{{key.path_hash}}}:{key.digest}:lock"
    assert space.tag_index("t").startswith("rc:{t")
    assert space.match == "rc:{*"  # never another store's "rc:..." keys
    assert space.tag_index("t") != space.tag_index("u")
    assert KeySpace.hash_tag("a:{}:b") == "a:{}:b"
