"""routecache's pytest plugin in a Django project's tests (settings on Redis, as in
production): each test gets an empty in-memory cache and a clock it moves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.adapters.django.settings import configure

configure()

import redis  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402

from routecache import MemoryStore  # noqa: E402
from routecache.adapters.django import cache_route  # noqa: E402
from routecache.testing import CacheClock, assert_hit, assert_miss, assert_stored  # noqa: E402
from tests._redis_servers import RedisServer  # noqa: E402

calls: list[str] = []


@cache_route(ttl=30)
def article(request: HttpRequest, pk: int) -> JsonResponse:
    calls.append(f"article:{pk}")
    return JsonResponse({"pk": pk, "call": len(calls)})


@cache_route(ttl=30)
async def feed(request: HttpRequest) -> JsonResponse:
    calls.append("feed")
    return JsonResponse({"call": len(calls)})


urlpatterns = [path("articles/<int:pk>", article), path("feed", feed)]


@pytest.fixture(autouse=True)
def _production_settings(redis_server: RedisServer) -> Iterator[None]:
    calls.clear()
    with override_settings(ROOT_URLCONF=__name__, ROUTECACHE={"REDIS_URL": redis_server.url}):
        yield


def _redis_keys(url: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return sorted(client.scan_iter(match="routecache:*"))
    finally:
        client.close()


@pytest.mark.parametrize("round", [1, 2])
def test_each_test_starts_empty_and_redis_is_never_touched(
    routecache_store: MemoryStore, redis_server: RedisServer, round: int
) -> None:
    before = _redis_keys(redis_server.url)
    client = Client()
    assert_stored(client.get("/articles/1"))
    assert_hit(client.get("/articles/1"))
    client.cookies["sessionid"] = "abc"
    assert_miss(client.get("/articles/1"), detail="cookie")
    assert calls == ["article:1", "article:1"]
    assert _redis_keys(redis_server.url) == before


def test_expiry_without_sleeping(
    routecache_store: MemoryStore, routecache_clock: CacheClock
) -> None:
    client = Client()
    client.get("/articles/2")
    routecache_clock.advance(29)
    assert assert_hit(client.get("/articles/2")).ttl == "1"
    routecache_clock.advance(1)
    assert_miss(client.get("/articles/2"), fwd="uri-miss")
    assert calls == ["article:2", "article:2"]


def test_async_views_too(routecache_store: MemoryStore) -> None:
    async def main() -> list[str]:
        client = AsyncClient()
        return [(await client.get("/feed")).headers["Cache-Status"] for _ in range(2)]

    first, second = asyncio.run(main())
    assert_stored(first)
    assert_hit(second)
    assert calls == ["feed"]
