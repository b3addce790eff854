"""One module-level ``AsyncRedisStore`` (as in the README) across every event loop a
test process runs: ``asyncio.run`` calls, pytest-asyncio's loop per test, a ready
client misused across loops (a safe bypass, never an exception)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
import redis
import redis.asyncio
from fastapi import FastAPI

from routecache import AsyncRedisStore
from routecache.adapters.starlette import CacheMiddleware, cache_route
from tests._redis_servers import RedisServer

pytestmark = pytest.mark.redis

calls: list[int] = []


@pytest.fixture(scope="module")
def store(redis_server: RedisServer) -> Iterator[AsyncRedisStore]:
    store = AsyncRedisStore(redis_server.url)
    yield store
    asyncio.run(store.close())


@pytest.fixture
def app(store: AsyncRedisStore) -> FastAPI:
    calls.clear()
    store.as_sync().invalidate(everything=True)
    app = FastAPI()
    app.add_middleware(CacheMiddleware, store=store)

    @app.get("/items/{id}")
    @cache_route(ttl=60)
    async def item(id: int) -> dict[str, int]:
        calls.append(id)
        return {"id": id}

    return app


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.asyncio
@pytest.mark.parametrize("round", [1, 2, 3])
async def test_pytest_asyncio_loop_per_test(client: httpx.AsyncClient, round: int) -> None:
    first = await client.get("/items/5")
    second = await client.get("/items/5")
    assert first.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
    assert second.headers["cache-status"].startswith("routecache; hit")
    assert second.json() == {"id": 5}
    assert calls == [5]


def _clients(url: str) -> int:
    admin = redis.Redis.from_url(url)
    try:
        return len(admin.client_list())
    finally:
        admin.close()


def test_a_finished_loop_closes_its_connections(
    app: FastAPI, store: AsyncRedisStore, redis_server: RedisServer
) -> None:
    async def two_requests() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [(await client.get("/items/9")).headers["cache-status"] for _ in range(2)]

    before = _clients(redis_server.url)
    for run in range(10):
        statuses = asyncio.run(two_requests())
        assert statuses[-1].startswith("routecache; hit"), (run, statuses)
    assert calls == [9]
    # Every loop's connections (pool, multiplexed GET, pub/sub) closed with it.
    assert _clients(redis_server.url) <= before


def test_a_ready_client_misused_across_loops_is_a_bypass(redis_server: RedisServer) -> None:
    """A ready client is the caller's and is used as given: on a loop it does not
    belong to, redis-py raises ``RuntimeError`` (a future attached to another loop);
    the request is answered by the app all the same, nothing reaches the caller."""
    home, other = asyncio.new_event_loop(), asyncio.new_event_loop()
    client = redis.asyncio.Redis.from_url(redis_server.url)
    store = AsyncRedisStore(client, breaker_threshold=1000)
    calls.clear()
    app = FastAPI()
    app.add_middleware(CacheMiddleware, store=store)

    @app.get("/items/{id}")
    @cache_route(ttl=60)
    async def item(id: int) -> dict[str, int]:
        calls.append(id)
        return {"id": id}

    async def get(id: int) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.get(f"/items/{id}")

    try:
        assert home.run_until_complete(get(1)).headers["cache-status"].endswith("stored")
        misused = other.run_until_complete(get(2))
        assert misused.status_code == 200
        assert misused.json() == {"id": 2}
        assert misused.headers["cache-status"].startswith("routecache; fwd=")
        assert store.faults.counts["RuntimeError"] >= 1
        assert calls == [1, 2]
    finally:

        async def close() -> None:
            await store.close()
            with contextlib.suppress(Exception):
                await client.connection_pool.disconnect()

        for loop in (other, home, other):
            loop.run_until_complete(close())
        home.close()
        other.close()
