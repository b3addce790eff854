"""Conformance: the basic cache-aside flow, identical through every adapter."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import redis

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Seen
from tests.conformance.helpers import age, entry_keys, hit_ttl, replayed

RULES = [Rule("/items/{id}", ttl=60)]


def test_miss_then_hit_runs_the_view_once(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/items/7", Reply(200, [("content-type", "application/json")], b'{"id": 7}'))
    client = make_client(rules=[Rule("/items/{id}", ttl=60)])
    first = client.request("GET", "/items/7")
    second = client.request("GET", "/items/7")
    assert first.status == second.status == 200
    assert first.body == second.body == b'{"id": 7}'
    assert first.cache_status == "routecache; fwd=uri-miss; stored"
    assert second.cache_status.startswith("routecache; hit; ttl=")
    assert second.header("content-type") == "application/json"
    assert second.header("etag") == first.header("etag")
    assert origin.count("/items/7") == 1


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (200, [("content-type", "application/octet-stream")], bytes(range(256)) * 3),
        (203, [("content-type", "text/plain; charset=utf-8")], "naïve café".encode()),
        (204, [], b""),
        (301, [("location", "/items/new")], b"moved"),
        (404, [("content-type", "text/html")], b"<h1>not here</h1>"),
        (410, [], b"gone"),
    ],
)
def test_hit_replays_the_response_byte_for_byte(
    origin: Origin,
    make_client: Callable[..., Client],
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    extra = [("x-request-cost", "42"), ("x-multi", "first"), ("x-multi", "second")]
    origin.on("/items/1", Reply(status, [*headers, *extra], body))
    client = make_client(rules=RULES)
    miss = client.request("GET", "/items/1")
    hit = client.request("GET", "/items/1")
    assert miss.cache_status == "routecache; fwd=uri-miss; stored"
    assert hit.hit, hit.cache_status
    assert origin.count("/items/1") == 1
    assert (hit.status, hit.body) == (miss.status, miss.body) == (status, body)
    # Every header line but Age and Cache-Status is identical, repeated lines in order
    assert replayed(hit) == replayed(miss)
    # (Django folds repeated lines into one: what the app sent is what is replayed.)
    assert hit.all("x-multi") == miss.all("x-multi")
    assert ", ".join(hit.all("x-multi")) == "first, second"
    if status == 204:
        assert hit.header("content-length") is None  # RFC 9110 §8.6
    else:
        assert hit.header("content-length") == str(len(body))


def test_hits_carry_age(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/items/1", Reply(200, [], b"fresh"))
    origin.on("/items/2", Reply(200, [("age", "7")], b"from a cache upstream"))
    client = make_client(rules=RULES)
    client.request("GET", "/items/1")
    assert age(client.request("GET", "/items/1")) in (0, 1)
    client.request("GET", "/items/2")
    hit = client.request("GET", "/items/2")
    assert hit.hit
    # The upstream Age counts (RFC 9111 §4.2.3): the entry was born 7 seconds old.
    assert 7 <= age(hit) <= 8
    assert 51 <= hit_ttl(hit) <= 53


def test_distinct_paths_are_distinct_entries(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/items/1", Reply(200, [], b"one"))
    origin.on("/items/2", Reply(200, [], b"two"))
    client = make_client(rules=RULES)
    assert client.request("GET", "/items/1").body == b"one"
    assert client.request("GET", "/items/2").body == b"two"
    assert client.request("GET", "/items/1").body == b"one"
    assert client.request("GET", "/items/2").body == b"two"
    assert origin.count("/items/1") == origin.count("/items/2") == 1


def test_head_is_answered_from_the_get_entry(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/items/3", Reply(200, [("content-type", "text/csv")], b"a,b\n1,2\n"))
    client = make_client(rules=RULES)
    get = client.request("GET", "/items/3")
    head = client.request("HEAD", "/items/3")
    assert origin.count("/items/3") == 1
    assert head.hit, head.cache_status
    assert head.status == 200
    assert head.body == b""
    assert head.header("content-length") == str(len(get.body))
    assert replayed(head) == replayed(get)


def test_head_miss_is_forwarded_as_head_and_not_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/items/4", Reply(200, [], b"body of four"))
    client = make_client(rules=RULES)
    head = client.request("HEAD", "/items/4")
    assert head.status == 200
    assert head.cache_status == "routecache; fwd=uri-miss; detail=head"
    assert [s.method for s in origin.seen] == ["HEAD"]
    # Nothing was stored from the bodiless HEAD answer: GET goes to the origin.
    get = client.request("GET", "/items/4")
    assert get.cache_status == "routecache; fwd=uri-miss; stored"
    assert get.body == b"body of four"
    assert [s.method for s in origin.seen] == ["HEAD", "GET"]
    assert client.request("HEAD", "/items/4").hit
    assert origin.count("/items/4") == 2


def test_large_bodies_round_trip(
    origin: Origin,
    make_client: Callable[..., Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    compressible = b"routecache " * 40_000  # 440 kB, stored compressed
    noise = os.urandom(300_000)  # incompressible
    origin.on("/items/text", Reply(200, [("content-type", "text/plain")], compressible))
    origin.on("/items/noise", Reply(200, [("content-type", "image/png")], noise))
    client = make_client(rules=RULES)
    for path, body in (("/items/text", compressible), ("/items/noise", noise)):
        assert client.request("GET", path).body == body
        hit = client.request("GET", path)
        assert hit.hit
        assert hit.body == body
        assert hit.header("content-length") == str(len(body))
        assert origin.count(path) == 1
    if redis_client is not None:
        prefix = store.prefix  # type: ignore[attr-defined]
        sizes = sorted(len(redis_client.get(k) or b"") for k in entry_keys(redis_client, prefix))
        assert len(sizes) == 2
        # The text entry is compressed well below its body; the noise is kept whole.
        assert sizes[0] < len(compressible) // 10
        assert sizes[1] >= len(noise)


def test_the_view_sees_the_request_unchanged_on_a_miss(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    seen: list[Seen] = []

    def view(request: Seen) -> Reply:
        seen.append(request)
        return Reply(200, [], b"ok")

    origin.on("/items/5", view)
    client = make_client(rules=RULES)
    client.request("GET", "/items/5?b=2&a=1", {"x-trace": "abc", "if-none-match": '"zzz"'})
    assert len(seen) == 1
    assert seen[0].method == "GET"
    assert seen[0].query == "b=2&a=1"
    assert seen[0].headers["x-trace"] == "abc"
    # The client's own conditional goes to the app on a miss.
    assert seen[0].headers["if-none-match"] == '"zzz"'
