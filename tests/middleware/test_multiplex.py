"""The hit path's multiplexed GET (stores/multiplex.py) against real private Redis servers.

It must answer exactly what redis-py answers, in order under concurrency, through
AUTH and SELECT, and fail safe (a StoreError, then recovery) when Redis goes away or
stalls.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis

from routecache import AsyncRedisStore, StoreError
from routecache.middleware.keys import request_key
from routecache.middleware.stores.multiplex import MultiplexedGet, async_multiplexer
from tests._redis_servers import RedisServer

pytestmark = pytest.mark.redis


def _key(i: int) -> object:
    return request_key(
        method="GET",
        scheme="http",
        host="example.com",
        path=f"/items/{i}",
        query=b"",
        headers={},
        rule=None,
    )


def seed_entry(client: redis.Redis, store: AsyncRedisStore, key: object, data: bytes) -> None:
    """Write an entry straight into Redis as the store would (with its generation)."""
    name = store.keys.entry(key)  # type: ignore[arg-type]
    gen = store.keys.path_gen(key.path_hash)  # type: ignore[attr-defined]
    client.mset({name: data, store.keys.entry_gen(name): b"seeded", gen: b"seeded"})


def test_store_uses_the_multiplexer_only_where_equivalent(redis_clean_url: str) -> None:
    plain = AsyncRedisStore(redis_clean_url)
    opted_out = AsyncRedisStore(redis_clean_url, multiplex=False)
    tls = AsyncRedisStore(redis_clean_url.replace("redis://", "rediss://"))
    try:
        assert isinstance(plain._fast_get, MultiplexedGet)
        assert opted_out._fast_get is None
        assert tls._fast_get is None  # TLS keeps redis-py
        assert async_multiplexer(object()) is None
    finally:
        for store in (plain, opted_out, tls):
            asyncio.run(store.close())


def test_concurrent_gets_match_redis_py_in_order(redis_clean_url: str) -> None:
    seed = redis.Redis.from_url(redis_clean_url)
    store = AsyncRedisStore(redis_clean_url)
    keys = [_key(i) for i in range(300)]
    for i, key in enumerate(keys):
        if i % 3:  # every third key is absent
            seed_entry(seed, store, key, f"value-{i}".encode() * (i % 7 + 1))

    async def main() -> list[bytes | None]:
        try:
            return list(await asyncio.gather(*(store.get(k) for k in keys)))  # type: ignore[arg-type]
        finally:
            await store.close()

    got = asyncio.run(main())
    expected = [seed.get(store.keys.entry(k)) for k in keys]  # type: ignore[arg-type]
    seed.close()
    assert got == expected
    assert got.count(None) == 100


def test_auth_with_username_and_select_db() -> None:
    with RedisServer() as server:
        admin = redis.Redis(port=server.port)
        admin.execute_command("ACL", "SETUSER", "cache", "on", ">s3cret", "~*", "+@all")
        admin.select(3)
        admin.set("rc:{x}:y", b"in db 3")
        admin.close()
        store = AsyncRedisStore(f"redis://cache:s3cret@127.0.0.1:{server.port}/3", prefix="rc")
        assert isinstance(store._fast_get, MultiplexedGet)

        async def main() -> bytes | None:
            try:
                return await store._fast_get.get("rc:{x}:y")  # type: ignore[no-any-return]
            finally:
                await store.close()

        assert asyncio.run(main()) == b"in db 3"

        bad = AsyncRedisStore(f"redis://cache:wrong@127.0.0.1:{server.port}/3", prefix="rc")

        async def refused() -> None:
            try:
                await bad.get(_key(1))  # type: ignore[arg-type]
            finally:
                await bad.close()

        with pytest.raises(StoreError):
            asyncio.run(refused())


def test_server_gone_then_back_recovers() -> None:
    with RedisServer() as server:
        store = AsyncRedisStore(server.url, breaker_threshold=1000)
        key = _key(7)

        async def main() -> None:
            seed = redis.Redis.from_url(server.url)
            seed_entry(seed, store, key, b"before")
            seed.close()
            assert await store.get(key) == b"before"  # type: ignore[arg-type]
            server.kill()
            with pytest.raises(StoreError):
                await store.get(key)  # type: ignore[arg-type]
            server.start()
            seed = redis.Redis.from_url(server.url)
            seed_entry(seed, store, key, b"after")
            seed.close()
            assert await store.get(key) == b"after"  # type: ignore[arg-type]
            await store.close()

        asyncio.run(main())


def test_a_stalled_server_times_out_and_replies_stay_in_step(redis_clean_url: str) -> None:
    store = AsyncRedisStore(redis_clean_url, timeout=0.2, breaker_threshold=1000)
    seed = redis.Redis.from_url(redis_clean_url)
    first, second = _key(1), _key(2)
    seed_entry(seed, store, first, b"one")
    seed_entry(seed, store, second, b"two")

    def pause() -> None:
        other = redis.Redis.from_url(redis_clean_url)
        other.execute_command("CLIENT", "PAUSE", "600", "ALL")
        other.close()

    async def main() -> None:
        assert await store.get(first) == b"one"  # type: ignore[arg-type]
        threading.Thread(target=pause).start()
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(StoreError):
            await store.get(first)  # type: ignore[arg-type]
        assert time.monotonic() - started < 0.5
        await asyncio.sleep(0.7)  # the pause ends; the late reply to `first` arrives
        # The late reply is dropped in order: the next GET gets its own value.
        assert await store.get(second) == b"two"  # type: ignore[arg-type]
        assert await store.get(first) == b"one"  # type: ignore[arg-type]
        await store.close()

    asyncio.run(main())
    seed.close()
