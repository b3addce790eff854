"""routecache's pytest plugin in a FastAPI project's tests, with the app configured on
Redis as in production: each test gets an empty in-memory cache and a clock it moves."""

from __future__ import annotations

import pytest
import redis
from fastapi import FastAPI
from starlette.testclient import TestClient

from routecache import AsyncRedisStore, MemoryStore
from routecache.adapters.starlette import CacheMiddleware, cache_route
from routecache.testing import CacheClock, assert_hit, assert_miss, assert_stored
from tests._redis_servers import RedisServer

calls: list[str] = []


def create_app(store: AsyncRedisStore) -> FastAPI:
    app = FastAPI()
    app.add_middleware(CacheMiddleware, store=store)

    @app.get("/prices/{symbol}")
    @cache_route(ttl=10, refresh_ahead=0.5)
    async def price(symbol: str) -> dict[str, int]:
        calls.append(symbol)
        return {"call": len(calls)}

    @app.put("/prices/{symbol}")
    async def update(symbol: str) -> dict[str, str]:
        return {"updated": symbol}

    return app


@pytest.fixture(scope="module")
def production_redis(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="module")
def app(production_redis: str) -> FastAPI:
    return create_app(AsyncRedisStore(production_redis))


@pytest.fixture(autouse=True)
def _calls() -> None:
    calls.clear()


def _redis_keys(url: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return sorted(client.scan_iter(match="routecache:*"))
    finally:
        client.close()


@pytest.mark.parametrize("round", [1, 2])
def test_each_test_starts_empty_and_redis_is_never_touched(
    app: FastAPI, routecache_store: MemoryStore, production_redis: str, round: int
) -> None:
    before = _redis_keys(production_redis)
    client = TestClient(app)
    assert_stored(client.get("/prices/ACME"))
    assert_hit(client.get("/prices/ACME"))
    assert calls == ["ACME"]
    assert routecache_store.stats()["entries"] == 1
    assert _redis_keys(production_redis) == before


def test_refresh_ahead_without_sleeping(
    app: FastAPI, routecache_store: MemoryStore, routecache_clock: CacheClock
) -> None:
    with TestClient(app) as client:
        assert client.get("/prices/ACME").json() == {"call": 1}
        routecache_clock.advance(6)  # past refresh_ahead=0.5 of ttl=10
        ahead = client.get("/prices/ACME")
        assert assert_hit(ahead).detail == "refresh-ahead"
        assert ahead.headers["age"] == "6"
        assert ahead.json() == {"call": 1}  # served at once; refreshed after it
        fresh = client.get("/prices/ACME")
        assert_hit(fresh)
        assert fresh.headers["age"] == "0"
        assert fresh.json() == {"call": 2}


def test_an_unsafe_request_invalidates_in_the_test_store(
    app: FastAPI, routecache_store: MemoryStore
) -> None:
    client = TestClient(app)
    client.get("/prices/ACME")
    assert client.put("/prices/ACME").status_code == 200
    assert_miss(client.get("/prices/ACME"), fwd="uri-miss")
    assert calls == ["ACME", "ACME"]
