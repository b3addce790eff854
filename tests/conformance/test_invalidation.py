"""Conformance: write-through invalidation.

A successful unsafe request (POST, PUT, PATCH, DELETE answered 2xx/3xx) invalidates
its path (every query string and variant of it), with ``invalidate_location=True``
the same-origin ``Location`` and ``Content-Location`` of a 2xx answer, what the
matching rules declare in ``invalidates`` (paths and tags) and the tags the app
names in ``Cache-Tag``; ``store.invalidate()`` does the same from code. Error
answers invalidate nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Seen
from tests.conformance.helpers import entry_keys, redis_keys

UNSAFE = ["POST", "PUT", "PATCH", "DELETE"]


def versioned(name: str) -> Callable[[Seen], Reply]:
    """A GET view whose body counts its calls; unsafe methods answer per ``x-status``."""
    calls = 0

    def view(seen: Seen) -> Reply:
        nonlocal calls
        if seen.method in ("GET", "HEAD"):
            calls += 1
            return Reply(200, [], f"{name} v{calls}".encode())
        status = int(seen.headers.get("x-status", "200"))
        headers = []
        for field in ("location", "content-location", "cache-tag"):
            if f"x-{field}" in seen.headers:
                headers.append((field, seen.headers[f"x-{field}"]))
        return Reply(status, headers, b"" if status == 204 else b"done")

    return view


def warm(client: Client, *targets: str) -> None:
    """Store each target and check that it is served from the cache."""
    for target in targets:
        client.request("GET", target)
        resp = client.request("GET", target)
        assert resp.hit, (target, resp.cache_status)


def is_hit(client: Client, target: str) -> bool:
    return client.request("GET", target).hit


@pytest.mark.parametrize("method", UNSAFE)
def test_a_successful_unsafe_request_invalidates_its_path(
    origin: Origin, make_client: Callable[..., Client], method: str
) -> None:
    origin.on("/items/1", versioned("one"))
    origin.on("/items/2", versioned("two"))
    client = make_client(rules=[Rule("/items/{id}", ttl=60)])
    for status in (200, 201, 204, 303):
        warm(client, "/items/1", "/items/2")
        resp = client.request(method, "/items/1", {"x-status": str(status)}, b"payload")
        assert resp.status == status
        assert resp.cache_status == "routecache; fwd=method"
        fresh = client.request("GET", "/items/1")
        assert fresh.cache_status == "routecache; fwd=uri-miss; stored", status
        assert is_hit(client, "/items/2"), "another path was invalidated"
    assert origin.count("/items/2") == 1


@pytest.mark.parametrize("method", UNSAFE)
def test_an_error_answer_invalidates_nothing(
    origin: Origin, make_client: Callable[..., Client], method: str
) -> None:
    origin.on("/items/1", versioned("one"))
    client = make_client(rules=[Rule("/items/{id}", ttl=60)])
    warm(client, "/items/1")
    for status in (400, 403, 404, 409, 500, 503):
        resp = client.request(method, "/items/1", {"x-status": str(status)}, b"payload")
        assert resp.status == status
        assert resp.cache_status == "routecache; fwd=method"
        hit = client.request("GET", "/items/1")
        assert hit.hit, status
        assert hit.body == b"one v1"


def test_options_invalidates_nothing(origin: Origin, make_client: Callable[..., Client]) -> None:
    # OPTIONS is safe (RFC 9110 §9.2.1): a CORS preflight must not empty the cache.
    method = "OPTIONS"
    origin.on("/items/1", versioned("one"))
    client = make_client(rules=[Rule("/items/{id}", ttl=60)])
    warm(client, "/items/1")
    resp = client.request(method, "/items/1")
    assert resp.status == 200
    assert resp.cache_status == "routecache; fwd=method"
    assert is_hit(client, "/items/1"), f"{method} (a safe method) invalidated the entry"


def test_invalidation_covers_every_query_string_and_variant_of_the_path(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    def view(seen: Seen) -> Reply:
        if seen.method != "GET":
            return Reply(204)
        return Reply(200, [("vary", "accept")], f"{seen.query} {origin.count(seen.path)}".encode())

    origin.on("/items/1", view)
    origin.on("/items/10", view)
    client = make_client(rules=[Rule("/items/{id}", ttl=60)])
    warm(client, "/items/1", "/items/1?page=2", "/items/10")
    client.request("GET", "/items/1", {"accept": "text/html"})
    assert client.request("GET", "/items/1", {"accept": "text/html"}).hit
    client.request("PUT", "/items/1", body=b"new")
    assert not is_hit(client, "/items/1?page=2")
    assert not client.request("GET", "/items/1", {"accept": "text/html"}).hit
    assert is_hit(client, "/items/10"), "a path sharing a prefix was invalidated"


def test_same_origin_location_and_content_location_are_invalidated(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    for n in range(1, 7):
        origin.on(f"/items/{n}", versioned(f"item {n}"))
    origin.on("/items", versioned("list"))
    host = {"host": "shop.example"}
    client = make_client(
        rules=[Rule("/items", ttl=60), Rule("/items/{id}", ttl=60)], invalidate_location=True
    )
    targets = [f"/items/{n}" for n in range(1, 7)]
    for target in ["/items", *targets]:
        client.request("GET", target, host)
        assert client.request("GET", target, host).hit

    def post(**fields: str) -> None:
        headers = {**host, **{f"x-{k.replace('_', '-')}": v for k, v in fields.items()}}
        assert client.request("POST", "/items", headers, b"{}").status == 200

    post(location="/items/1")
    post(content_location="/items/2")
    post(location="http://shop.example/items/3")  # absolute, same origin
    post(location="http://SHOP.example:80/items/4")
    post(location="http://elsewhere.example/items/5")  # another host: left alone
    post(location="https://shop.example/items/6")  # another scheme: left alone
    expected = {1: False, 2: False, 3: False, 4: False, 5: True, 6: True}
    for n, hit in expected.items():
        assert client.request("GET", f"/items/{n}", host).hit is hit, n


def test_rule_invalidates_paths_and_tags(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    for path in ("/items/7", "/items/8", "/catalog", "/summary", "/about"):
        origin.on(path, versioned(path))
    origin.on("/admin/items/7", versioned("admin"))
    rules = [
        Rule("/items/{id}", ttl=60, tags=["item:{id}", "items"]),
        Rule("/catalog", ttl=60, tags=["items"]),
        Rule("/summary", ttl=60),
        Rule("/about", ttl=60),
        Rule("/admin/items/{id}", methods=["POST"], invalidates=["item:{id}", "/summary"]),
    ]
    client = make_client(rules=rules)
    warm(client, "/items/7", "/items/8", "/catalog", "/summary", "/about")
    client.request("POST", "/admin/items/7", body=b"{}")
    assert not is_hit(client, "/items/7")
    assert not is_hit(client, "/summary")
    assert is_hit(client, "/items/8")
    assert is_hit(client, "/catalog")
    assert is_hit(client, "/about")
    # A failed write invalidates nothing.
    warm(client, "/items/7")
    client.request("POST", "/admin/items/7", {"x-status": "422"}, b"{}")
    assert is_hit(client, "/items/7")


def test_a_caching_rules_invalidates_apply_to_writes_on_its_path(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/items/3", versioned("item"))
    origin.on("/items", versioned("list"))
    client = make_client(
        rules=[Rule("/items/{id}", ttl=60, invalidates=["/items"]), Rule("/items", ttl=60)]
    )
    warm(client, "/items/3", "/items")
    client.request("DELETE", "/items/3")
    assert not is_hit(client, "/items/3")
    assert not is_hit(client, "/items")


def test_the_tag_header_is_stripped_and_tags_entries(
    origin: Origin, make_client: Callable[..., Client], store: object
) -> None:
    origin.on("/shoes", Reply(200, [("cache-tag", "product, sale")], b"shoes"))
    origin.on("/hats", Reply(200, [("cache-tag", "product")], b"hats"))
    origin.on("/socks", Reply(200, [("cache-tag", "sale")], b"socks"))
    origin.on("/nocache", Reply(200, [("cache-tag", "sale")], b"not cached"))
    client = make_client(
        rules=[Rule("/shoes", ttl=60), Rule("/hats", ttl=60), Rule("/socks", ttl=60)]
    )
    for path in ("/shoes", "/hats", "/socks"):
        miss = client.request("GET", path)
        hit = client.request("GET", path)
        assert hit.hit
        assert miss.header("cache-tag") is None
        assert hit.header("cache-tag") is None
    bypass = client.request("GET", "/nocache")
    assert bypass.cache_status == "routecache; fwd=bypass; detail=no-rule"
    assert bypass.header("cache-tag") is None
    removed = store.invalidate(tags=["sale"])  # type: ignore[attr-defined]
    assert removed >= 2
    assert not is_hit(client, "/shoes")
    assert not is_hit(client, "/socks")
    assert is_hit(client, "/hats")


def test_tags_named_by_a_write_are_invalidated(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/shoes", Reply(200, [("cache-tag", "product, sale")], b"shoes"))
    origin.on("/hats", Reply(200, [("cache-tag", "product")], b"hats"))
    origin.on("/sale/end", Reply(200, [("cache-tag", "sale")], b"ended"))
    client = make_client(rules=[Rule("/shoes", ttl=60), Rule("/hats", ttl=60)])
    warm(client, "/shoes", "/hats")
    resp = client.request("POST", "/sale/end", body=b"now")
    assert resp.header("cache-tag") is None
    assert not is_hit(client, "/shoes")
    assert is_hit(client, "/hats")


def test_store_invalidate_from_code(
    origin: Origin,
    make_client: Callable[..., Client],
    store: object,
    redis_client: redis.Redis | None,
) -> None:
    for n in (1, 2, 3):
        origin.on(f"/items/{n}", versioned(f"item {n}"))
    origin.on("/feed", versioned("feed"))
    client = make_client(
        rules=[Rule("/items/{id}", ttl=60, tags=["item:{id}"]), Rule("/feed", ttl=60)]
    )
    warm(client, "/items/1", "/items/1?x=1", "/items/2", "/items/3", "/feed")
    invalidate = store.invalidate  # type: ignore[attr-defined]

    assert invalidate(path="/items/1") == 2
    assert not is_hit(client, "/items/1")
    assert not is_hit(client, "/items/1?x=1")
    assert is_hit(client, "/items/2")

    assert invalidate(tags=["item:2"]) == 1
    assert not is_hit(client, "/items/2")
    assert is_hit(client, "/items/3")
    assert invalidate(path="/nothing/here", tags=["no-such-tag"]) == 0

    outsider = b"not-routecache:precious"
    if redis_client is not None:
        redis_client.set(outsider, b"keep me")
        assert entry_keys(redis_client, store.prefix)  # type: ignore[attr-defined]
    assert invalidate(everything=True) >= 4
    for target in ("/items/1", "/items/2", "/items/3", "/feed"):
        assert client.request("GET", target).cache_status == "routecache; fwd=uri-miss; stored"
    if redis_client is not None:
        assert redis_client.get(outsider) == b"keep me", "purge touched a key outside the prefix"
        invalidate(everything=True)
        assert redis_keys(redis_client, store.prefix) == []  # type: ignore[attr-defined]
        assert redis_client.get(outsider) == b"keep me"
