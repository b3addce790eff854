import pytest
from django.test import AsyncClient, Client
from urls import calls

from routecache.testing import assert_hit, assert_miss, assert_stored


@pytest.fixture(autouse=True)
def _no_calls_yet():
    calls.clear()


def test_miss_then_hit(routecache_store):
    client = Client()
    assert_stored(client.get("/articles/1"))
    second = client.get("/articles/1")
    assert_hit(second)
    assert second.json() == {"pk": 1}
    assert calls == ["article:1"]


def test_expiry_without_sleeping(routecache_store, routecache_clock):
    client = Client()
    client.get("/articles/2")
    routecache_clock.advance(30)  # ttl=30
    assert_miss(client.get("/articles/2"), fwd="uri-miss")
    assert calls == ["article:2", "article:2"]


def test_a_logged_in_user_is_not_served_a_shared_page(routecache_store):
    client = Client()
    client.get("/articles/3")
    client.cookies["sessionid"] = "abc"
    assert_miss(client.get("/articles/3"), detail="cookie")


@pytest.mark.asyncio
async def test_async_view_with_async_client(routecache_store):
    client = AsyncClient()
    assert_stored(await client.get("/feed"))
    assert_hit(await client.get("/feed"))
    assert calls == ["feed"]
