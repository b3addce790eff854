"""The same app with routecache's pytest plugin: an empty in-memory cache per test
(Redis is never touched) and a clock the test moves."""

import httpx
import pytest
from app import app
from starlette.testclient import TestClient

from routecache.testing import assert_hit, assert_miss, assert_stored


def test_miss_then_hit(routecache_store):
    client = TestClient(app)
    assert_stored(client.get("/items/1"))
    assert_hit(client.get("/items/1"))
    assert routecache_store.stats()["entries"] == 1


def test_expiry_without_sleeping(routecache_store, routecache_clock):
    with TestClient(app) as client:
        client.get("/items/1")
        routecache_clock.advance(59)
        assert assert_hit(client.get("/items/1")).ttl == "1"
        routecache_clock.advance(2)
        assert_miss(client.get("/items/1"), fwd="uri-miss")


@pytest.mark.asyncio
async def test_async_client(routecache_store):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert_stored(await client.get("/items/5"))
        second = await client.get("/items/5")
    assert_hit(second)
    assert second.json() == {"id": 5}
