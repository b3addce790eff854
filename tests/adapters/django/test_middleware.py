"""The middleware through Django's test clients: sync (``Client``) and async
(``AsyncClient``), on the in-memory store and on the private Redis server."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import AsyncClient, Client, override_settings

from routecache import MemoryStore
from routecache.adapters.django import conf
from routecache.testing import CacheClock

from . import views
from .conftest import Configure, run


def status(response: Any) -> str:
    return str(response.headers.get("Cache-Status", ""))


def test_miss_then_hit_through_a_decorated_view(routecache: Configure) -> None:
    client = Client()
    first = client.get("/shop/items/7")
    second = client.get("/shop/items/7")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"pk": 7, "call": 1}
    assert status(first) == "routecache; fwd=uri-miss; stored"
    assert status(second).startswith("routecache; hit; ttl=")
    assert second["Content-Type"] == "application/json"
    assert second["ETag"] == first["ETag"]
    assert second["Age"] == "0"
    assert first["Content-Length"] == second["Content-Length"] == str(len(first.content))
    assert views.COUNTS["item:7"] == 1


def test_query_strings_are_part_of_the_key(routecache: Configure) -> None:
    client = Client()
    client.get("/shop/items/1", {"a": "1"})
    assert status(client.get("/shop/items/1", {"a": "2"})).startswith("routecache; fwd=uri-miss")
    assert status(client.get("/shop/items/1", {"a": "1"})).startswith("routecache; hit")


@pytest.mark.parametrize(
    "url",
    ["/shop/class/3", "/shop/plain", "/shop/method/12345678-1234-5678-1234-567812345678"],
)
def test_class_based_views_in_every_form(routecache: Configure, url: str) -> None:
    client = Client()
    first = client.get(url)
    second = client.get(url)
    assert status(first) == "routecache; fwd=uri-miss; stored"
    assert status(second).startswith("routecache; hit")
    assert first.content == second.content


def test_explicit_rules_come_first(routecache: Configure) -> None:
    routecache(RULES=[{"path": "/shop/items/{pk}", "ttl": 5}])
    client = Client()
    client.get("/shop/items/2")
    ttl = int(status(client.get("/shop/items/2")).rsplit("=", 1)[1])
    assert 0 < ttl <= 5


def test_head_and_conditional_requests_on_a_hit(routecache: Configure) -> None:
    client = Client()
    miss = client.get("/shop/items/4")
    head = client.head("/shop/items/4")
    assert head.status_code == 200
    assert head.content == b""
    assert head["Content-Length"] == miss["Content-Length"]
    assert status(head).startswith("routecache; hit")
    not_modified = client.get("/shop/items/4", headers={"If-None-Match": miss["ETag"]})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == miss["ETag"]
    assert "Content-Type" not in not_modified
    assert views.COUNTS["item:4"] == 1


def test_put_invalidates_before_answering(routecache: Configure) -> None:
    client = Client()
    client.get("/shop/items/5")
    put = client.put("/shop/items/5")
    assert put.status_code == 204
    assert status(put) == "routecache; fwd=method"
    again = client.get("/shop/items/5")
    assert status(again) == "routecache; fwd=uri-miss; stored"
    assert again.json()["call"] == 3


def test_bypasses_say_why(routecache: Configure) -> None:
    client = Client()
    assert status(client.get("/nothing")) == "routecache; fwd=bypass; detail=no-rule"
    client.cookies["sessionid"] = "abc"
    assert status(client.get("/shop/items/1")) == "routecache; fwd=bypass; detail=cookie"
    client.cookies.clear()
    client.cookies["_ga"] = "GA1.1"
    assert status(client.get("/shop/items/1")).startswith("routecache; fwd=uri-miss")


def test_responses_with_cookies_are_never_stored(routecache: Configure) -> None:
    client = Client()
    first = client.get("/cookie")
    assert status(first) == "routecache; fwd=uri-miss; detail=set-cookie"
    assert first.cookies["session-ish"].value == "secret"
    client.cookies.clear()
    assert status(client.get("/cookie")) == "routecache; fwd=uri-miss; detail=set-cookie"
    assert views.COUNTS["cookie"] == 2


def test_never_cache_wins_over_the_rule(routecache: Configure) -> None:
    client = Client()
    client.get("/uncached")
    assert status(client.get("/uncached")).endswith("detail=no-store")
    assert views.COUNTS["never"] == 2


def test_vary_cookie_from_a_wrapping_decorator(routecache: Configure) -> None:
    client = Client()
    first = client.get("/varies")
    assert status(first) == "routecache; fwd=uri-miss; stored"
    assert first["Vary"] == "Cookie"
    assert status(client.get("/varies")).startswith("routecache; hit")


def test_streamed_responses_are_stored_after_the_last_chunk(routecache: Configure) -> None:
    client = Client()
    first = client.get("/stream")
    assert b"".join(first.streaming_content) == b"part one, call 1"
    second = client.get("/stream")
    assert status(second).startswith("routecache; hit")
    assert second.content == b"part one, call 1"


def test_a_file_response_passes_through_unstored(routecache: Configure) -> None:
    client = Client()
    first = client.get("/download")
    assert b"".join(first.streaming_content) == b"file body"
    assert status(first) == "routecache; fwd=uri-miss; detail=file"
    first.close()
    assert status(client.get("/download")) == "routecache; fwd=uri-miss; detail=file"


def test_the_engines_validators_replace_the_clients_for_a_revalidation(
    routecache: Configure,
) -> None:
    client = Client()
    first = client.get("/validated")
    assert first.content == b"validated body"
    assert status(first) == "routecache; fwd=uri-miss; stored"
    # no-cache: stored, and revalidated with the view's own ETag before every reuse.
    second = client.get("/validated", headers={"If-None-Match": '"other"'})
    assert second.status_code == 200, status(second)
    assert second.content == b"validated body"
    assert "fwd-status=304" in status(second)
    assert views.COUNTS["validated"] == 2


def test_stale_while_revalidate_refreshes_after_the_response(
    routecache: Configure, routecache_clock: CacheClock
) -> None:
    client = Client()
    client.get("/swr")
    routecache_clock.advance(90)
    stale = client.get("/swr")  # the test client closes the response: refresh runs
    assert "stale-while-revalidate" in status(stale)
    assert stale.content == b"swr 1"
    assert views.COUNTS["swr"] == 2
    assert client.get("/swr").content == b"swr 2"


def test_override_settings_rebuilds_the_cache(routecache: Configure) -> None:
    client = Client()
    client.get("/shop/items/9")
    assert status(client.get("/shop/items/9")).startswith("routecache; hit")
    with override_settings(ROUTECACHE={"CACHE_NAME": "other"}):
        assert status(client.get("/shop/items/9")) == "other; fwd=uri-miss; stored"
    assert status(client.get("/shop/items/9")) == "routecache; fwd=uri-miss; stored"


def test_a_store_given_as_an_instance_or_a_dotted_path(routecache: Configure) -> None:
    store = MemoryStore()
    routecache(STORE=store)
    Client().get("/shop/items/1")
    assert len(store) == 1
    routecache(STORE="routecache.MemoryStore")
    assert isinstance(conf.get_state().store, MemoryStore)
    assert conf.get_state().store is not store


def test_async_views_under_the_async_client(routecache: Configure) -> None:
    async def body() -> None:
        client = AsyncClient()
        first = await client.get("/shop/async/hello")
        second = await client.get("/shop/async/hello")
        assert status(first) == "routecache; fwd=uri-miss; stored"
        assert status(second).startswith("routecache; hit")
        assert first.json() == second.json() == {"slug": "hello", "call": 1}
        put = await client.put("/shop/async/hello")
        assert status(put) == "routecache; fwd=method"
        assert status(await client.get("/shop/async/hello")).startswith("routecache; fwd=uri-miss")

    run(body())


def test_async_streaming_and_head(routecache: Configure) -> None:
    async def body() -> None:
        client = AsyncClient()
        first = await client.get("/astream")
        chunks = [chunk async for chunk in first.streaming_content]
        assert b"".join(chunks) == b"async part, call 1"
        head = await client.head("/astream")
        assert status(head).startswith("routecache; hit")
        assert head.content == b""
        hit = await client.get("/astream")
        assert hit.content == b"async part, call 1"

    run(body())


def test_sync_and_async_share_one_entry(routecache: Configure) -> None:
    Client().get("/shop/items/3")

    async def body() -> Any:
        return await AsyncClient().get("/shop/items/3")

    hit = run(body())
    assert status(hit).startswith("routecache; hit")
    assert views.COUNTS["item:3"] == 1


# -- Redis: the private server -----------------------------------------------------


def test_redis_sync_and_async(redis_routecache: Configure, redis_clean_url: str) -> None:
    import redis

    client = Client()
    client.get("/shop/items/1")
    assert status(client.get("/shop/items/1")).startswith("routecache; hit")

    async def body() -> None:
        hit = await AsyncClient().get("/shop/items/1")
        assert status(hit).startswith("routecache; hit")
        miss = await AsyncClient().get("/shop/async/x")
        assert status(miss) == "routecache; fwd=uri-miss; stored"
        assert status(await AsyncClient().get("/shop/async/x")).startswith("routecache; hit")

    run(body())
    keys = redis.Redis.from_url(redis_clean_url).keys("*")
    assert keys
    assert all(k.startswith(b"routecache:") for k in keys)


def test_redis_prefix_and_options(redis_routecache: Configure, redis_clean_url: str) -> None:
    import redis

    redis_routecache(PREFIX="site-a", REDIS_OPTIONS={"timeout": 1.0})
    Client().get("/shop/items/1")
    keys = redis.Redis.from_url(redis_clean_url).keys("*")
    assert keys
    assert all(k.startswith(b"site-a:") for k in keys)


def test_caches_entry_reuse(routecache: Configure, redis_clean_url: str) -> None:
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "redis": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": [redis_clean_url],
        },
    }
    with override_settings(CACHES=caches):
        routecache(CACHE="redis")
        state = conf.get_state()
        assert state.url == redis_clean_url
        client = Client()
        client.get("/shop/items/1")
        assert status(client.get("/shop/items/1")).startswith("routecache; hit")
    conf.reset()


def test_redis_down_still_answers(routecache: Configure) -> None:
    routecache(REDIS_URL="redis://127.0.0.1:1/0", REDIS_OPTIONS={"timeout": 0.05})
    response = Client().get("/shop/items/1")
    assert response.status_code == 200
    assert status(response) == "routecache; fwd=miss; detail=store-unavailable"
    conf.reset()


def test_a_literal_url_beside_a_decorated_one_is_not_cached(routecache: Configure) -> None:
    # items/new resolves to its own undecorated view: the decorated items/<slug:name>
    # rule must not cache it, although its template matches the path.
    from . import urls_literal

    urls_literal.CALLS.update(new=0, item=0)
    with override_settings(ROOT_URLCONF="tests.adapters.django.urls_literal"):
        client = Client()
        first, second = client.get("/items/new"), client.get("/items/new")
        assert (first.content, second.content) == (b"form #1", b"form #2")
        assert status(second) == "routecache; fwd=bypass; detail=no-rule"
        assert status(client.get("/items/shoe")) == "routecache; fwd=uri-miss; stored"
        assert status(client.get("/items/shoe")).startswith("routecache; hit")
        assert urls_literal.CALLS == {"new": 2, "item": 1}
