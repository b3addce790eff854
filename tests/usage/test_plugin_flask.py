"""routecache's pytest plugin in a Flask project's tests: a fresh store per test, the
clock moved instead of sleeping, Cache-Status asserts."""

from __future__ import annotations

import pytest
from flask import Flask

from routecache import MemoryStore, Rule
from routecache.adapters.flask import RouteCache
from routecache.testing import CacheClock, assert_hit, assert_miss, assert_stored

configured = MemoryStore()  # what the app uses outside the tests
app = Flask(__name__)
cache = RouteCache(app, store=configured, rules=[Rule("/news", ttl=10, stale_while_revalidate=30)])
calls: list[str] = []


@app.get("/items/<int:id>")
@cache.route(ttl=60, tags=["item:{id}"])
def item(id: int) -> dict[str, int]:
    calls.append(f"item:{id}")
    return {"id": id}


@app.put("/items/<int:id>")
def update(id: int) -> str:
    cache.invalidate(tags=[f"item:{id}"])
    return "ok"


@app.get("/news")
def news() -> str:
    calls.append("news")
    return f"news {len(calls)}"


@pytest.fixture(autouse=True)
def _calls() -> None:
    calls.clear()


@pytest.mark.parametrize("round", [1, 2])
def test_each_test_starts_with_an_empty_cache(routecache_store: MemoryStore, round: int) -> None:
    client = app.test_client()
    assert_stored(client.get("/items/1"))
    assert_hit(client.get("/items/1"))
    assert calls == ["item:1"]
    assert configured.stats()["entries"] == 0  # the configured store is never touched


def test_ttl_expiry_without_sleeping(
    routecache_store: MemoryStore, routecache_clock: CacheClock
) -> None:
    client = app.test_client()
    client.get("/items/1")
    routecache_clock.advance(59)
    assert assert_hit(client.get("/items/1")).ttl == "1"
    assert client.get("/items/1").headers["Age"] == "59"
    routecache_clock.advance(2)
    assert_miss(client.get("/items/1"), fwd="uri-miss")  # expired and gone
    assert calls == ["item:1", "item:1"]


def test_stale_while_revalidate_window(
    routecache_store: MemoryStore, routecache_clock: CacheClock
) -> None:
    client = app.test_client()
    assert client.get("/news").text == "news 1"
    routecache_clock.advance(15)  # 5 s stale, inside the 30 s window
    stale = client.get("/news")
    assert assert_hit(stale).detail == "stale-while-revalidate"
    assert stale.text == "news 1"  # the refresh runs once this body was read
    assert client.get("/news").text == "news 2"
    routecache_clock.advance(45)  # past the refreshed entry's window: gone
    assert_miss(client.get("/news"), fwd="uri-miss")


def test_invalidation_from_a_view_uses_the_test_store(routecache_store: MemoryStore) -> None:
    client = app.test_client()
    client.get("/items/2")
    assert client.put("/items/2").status_code == 200
    assert_miss(client.get("/items/2"), fwd="uri-miss")
    assert calls == ["item:2", "item:2"]


def test_failures_say_what_happened(routecache_store: MemoryStore) -> None:
    client = app.test_client()
    client.set_cookie("session", "abc")
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_hit(client.get("/items/3"))
    assert str(failed.value) == (
        "expected a cache hit, got Cache-Status: 'routecache; fwd=bypass; detail=cookie': "
        "the request bypassed the cache (detail=cookie)"
    )
    assert_miss(client.get("/items/3"), detail="cookie")
