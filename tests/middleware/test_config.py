"""CacheConfig: the driver options, validated once, and the engines built from them."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from routecache.middleware.config import OPTION_NAMES, CacheConfig
from routecache.middleware.engine_async import AsyncEngine
from routecache.middleware.engine_sync import SyncEngine
from routecache.middleware.errors import ConfigurationError
from routecache.middleware.rules import Rule
from routecache.middleware.stores import AsyncRedisStore, MemoryStore, RedisStore


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"lock_ttl": 0}, "lock_ttl"),
        ({"lock_ttl": -1}, "lock_ttl"),
        ({"lock_ttl": math.inf}, "lock_ttl"),
        ({"lock_ttl": math.nan}, "lock_ttl"),
        ({"lock_wait": True}, "lock_wait"),
        ({"lock_wait": "1"}, "lock_wait"),
        ({"collapse": 1}, "collapse"),
        ({"compression": "lz4"}, "compression"),
        ({"compress_min_size": -1}, "compress_min_size"),
        ({"compress_min_size": 1.5}, "compress_min_size"),
        ({"default_ttl": -5}, "default_ttl"),
        ({"default_ttl": math.inf}, "default_ttl"),
        ({"honor_cache_control": "yes"}, "honor_cache_control"),
        ({"max_body_size": -1}, "max_body_size"),
        ({"store": object()}, "store"),
        ({"rules": [{"path": "/x", "ttl": 1, "bogus": 2}]}, "bogus"),
        ({"rules": "/x"}, "rules"),
    ],
)
def test_bad_options_name_themselves(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        CacheConfig(**options)


def test_defaults_and_option_names() -> None:
    config = CacheConfig(rules=[Rule("/a", ttl=1)])
    assert isinstance(config.store, MemoryStore)
    assert config.collapse
    assert (config.lock_ttl, config.lock_wait) == (10.0, 10.0)
    assert {
        "store",
        "rules",
        "honor_cache_control",
        "honor_request_cache_control",
        "default_ttl",
    } <= OPTION_NAMES


def test_memory_store_gives_both_engine_flavours_on_the_same_data() -> None:
    store = MemoryStore()
    config = CacheConfig(store=store, lock_wait=0.5)
    sync_engine = config.sync_engine()
    async_engine = config.async_engine()
    assert isinstance(sync_engine, SyncEngine)
    assert isinstance(async_engine, AsyncEngine)
    assert sync_engine.store is store
    assert async_engine.store is store.as_async()
    assert async_engine.lock_wait == 0.5
    assert async_engine.policy is config.policy


def test_redis_store_is_twinned_for_the_other_flavour() -> None:
    async def main() -> None:
        sync = RedisStore("redis://127.0.0.1:1/0")
        config = CacheConfig(store=sync)
        twin = config.async_store()
        try:
            assert isinstance(twin, AsyncRedisStore)
            assert config.sync_store() is sync
            assert config.async_store() is twin
        finally:
            sync.close()
            await twin.close()

    asyncio.run(main())
