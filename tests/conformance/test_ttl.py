"""Conformance: how long an entry lives.

The rule's ``ttl`` applies where the response says nothing about its freshness; an
explicit ``s-maxage``, ``max-age`` or ``Expires`` wins unless ``override=True``. Each case
checks the ``ttl`` the hit reports and, on Redis, the entry key's PTTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply
from tests.conformance.helpers import REDIS_ONLY, age, entry_keys, hit_ttl, http_date


def entry_pttls(client: redis.Redis | None, store: object) -> list[int]:
    """PTTL (ms) of every entry key in Redis; ``[]`` on the memory store."""
    if client is None:
        return []
    prefix: str = store.prefix  # type: ignore[attr-defined]
    return [int(client.pttl(k)) for k in entry_keys(client, prefix)]


def assert_lifetime(
    hit_ttl_value: int, pttls: list[int], seconds: float, *, slack: float = 2.0
) -> None:
    """The hit's ttl and the Redis PTTLs say the entry lives ``seconds`` (minus slack)."""
    assert seconds - slack <= hit_ttl_value <= seconds, hit_ttl_value
    for pttl in pttls:
        assert (seconds - slack) * 1000 <= pttl <= seconds * 1000, pttls


@pytest.fixture
def ttl_client(
    origin: Origin, make_client: Callable[..., Client]
) -> Callable[[list[tuple[str, str]]], Client]:
    """A client for /page (rule ttl 60) whose origin answers with the given headers."""

    def make(headers: list[tuple[str, str]]) -> Client:
        origin.on("/page", Reply(200, headers, b"page"))
        return make_client(rules=[Rule("/page", ttl=60)])

    return make


def test_rule_ttl_applies_where_the_origin_is_silent(
    ttl_client: Callable[[list[tuple[str, str]]], Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    client = ttl_client([("cache-control", "public")])
    client.request("GET", "/page")
    pttls = entry_pttls(redis_client, store)
    assert_lifetime(hit_ttl(client.request("GET", "/page")), pttls, 60)
    if redis_client is not None:
        assert len(pttls) == 1


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ([("cache-control", "max-age=30")], 30),
        ([("cache-control", "public, max-age=600")], 600),
        ([("cache-control", "max-age=100, s-maxage=20")], 20),
        ([("cache-control", "s-maxage=45")], 45),
    ],
)
def test_explicit_freshness_from_the_origin_wins(
    ttl_client: Callable[[list[tuple[str, str]]], Client],
    redis_client: redis.Redis | None,
    store: object,
    headers: list[tuple[str, str]],
    seconds: int,
) -> None:
    client = ttl_client(headers)
    client.request("GET", "/page")
    assert_lifetime(
        hit_ttl(client.request("GET", "/page")), entry_pttls(redis_client, store), seconds
    )


def test_expires_from_the_origin_wins(
    origin: Origin,
    make_client: Callable[..., Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    now = time.time()
    origin.on("/page", Reply(200, [("date", http_date(now)), ("expires", http_date(now + 30))]))
    client = make_client(rules=[Rule("/page", ttl=60)])
    client.request("GET", "/page")
    # Date has a resolution of a second: allow for a tick between Date and the answer.
    assert_lifetime(
        hit_ttl(client.request("GET", "/page")), entry_pttls(redis_client, store), 30, slack=3
    )


def test_override_makes_the_rule_ttl_win(
    origin: Origin,
    make_client: Callable[..., Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    origin.on("/page", Reply(200, [("cache-control", "max-age=5")], b"page"))
    client = make_client(rules=[Rule("/page", ttl=60, override=True)])
    client.request("GET", "/page")
    hit = client.request("GET", "/page")
    assert hit.header("cache-control") == "max-age=5"  # the app's header is replayed as is
    assert_lifetime(hit_ttl(hit), entry_pttls(redis_client, store), 60)


@pytest.mark.parametrize(
    "headers",
    [
        [("cache-control", "max-age=0")],
        [("cache-control", "public, s-maxage=0, max-age=60")],
        [("expires", "0")],
        [("expires", "Thu, 01 Jan 1970 00:00:00 GMT")],
        [("cache-control", "max-age=10"), ("age", "10")],
        [("cache-control", "max-age=10"), ("age", "3600")],
    ],
)
def test_responses_stale_on_arrival_are_not_stored(
    ttl_client: Callable[[list[tuple[str, str]]], Client],
    origin: Origin,
    redis_client: redis.Redis | None,
    store: object,
    headers: list[tuple[str, str]],
) -> None:
    client = ttl_client(headers)
    first = client.request("GET", "/page")
    second = client.request("GET", "/page")
    assert "stored" not in first.cache_status
    assert second.cache_status == first.cache_status == "routecache; fwd=uri-miss; detail=stale"
    assert origin.count("/page") == 2
    assert entry_pttls(redis_client, store) == []


def test_origin_age_shortens_the_entry(
    ttl_client: Callable[[list[tuple[str, str]]], Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    client = ttl_client([("cache-control", "max-age=100"), ("age", "40")])
    client.request("GET", "/page")
    hit = client.request("GET", "/page")
    assert 40 <= age(hit) <= 41
    assert_lifetime(hit_ttl(hit), entry_pttls(redis_client, store), 60)


def test_entries_expire(
    origin: Origin,
    make_client: Callable[..., Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    origin.on("/brief", Reply(200, [], b"brief"))
    client = make_client(rules=[Rule("/brief", ttl=0.4)])
    client.request("GET", "/brief")
    assert client.request("GET", "/brief").hit
    if redis_client is not None:
        assert all(0 < p <= 400 for p in entry_pttls(redis_client, store))
    time.sleep(0.5)
    if redis_client is not None:
        assert entry_pttls(redis_client, store) == [], "Redis kept the entry past its TTL"
    after = client.request("GET", "/brief")
    assert after.cache_status == "routecache; fwd=uri-miss; stored"
    assert origin.count("/brief") == 2


def test_default_ttl_applies_to_rules_without_ttl(
    origin: Origin,
    make_client: Callable[..., Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    origin.on("/page", Reply(200, [], b"page"))
    client = make_client(rules=[Rule("/page")], default_ttl=90)
    client.request("GET", "/page")
    assert_lifetime(hit_ttl(client.request("GET", "/page")), entry_pttls(redis_client, store), 90)


def test_without_any_ttl_only_self_describing_responses_are_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/silent", Reply(200, [], b"silent"))
    origin.on("/explicit", Reply(200, [("cache-control", "max-age=30")], b"explicit"))
    client = make_client(rules=[Rule("/silent"), Rule("/explicit")])
    client.request("GET", "/silent")
    silent = client.request("GET", "/silent")
    assert silent.cache_status == "routecache; fwd=uri-miss; detail=no-freshness"
    client.request("GET", "/explicit")
    assert 28 <= hit_ttl(client.request("GET", "/explicit")) <= 30
    assert (origin.count("/silent"), origin.count("/explicit")) == (2, 1)


def test_honor_cache_control_caches_without_a_rule(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/cacheable", Reply(200, [("cache-control", "public, max-age=30")], b"yes"))
    origin.on("/silent", Reply(200, [], b"no"))
    origin.on("/private", Reply(200, [("cache-control", "private, max-age=30")], b"mine"))
    client = make_client(honor_cache_control=True)
    client.request("GET", "/cacheable")
    assert 28 <= hit_ttl(client.request("GET", "/cacheable")) <= 30
    client.request("GET", "/silent")
    silent = client.request("GET", "/silent")
    assert silent.cache_status == "routecache; fwd=uri-miss; detail=no-freshness"
    client.request("GET", "/private")
    assert client.request("GET", "/private").cache_status == (
        "routecache; fwd=uri-miss; detail=private"
    )
    assert [origin.count(p) for p in ("/cacheable", "/silent", "/private")] == [1, 2, 2]


def test_without_rules_nothing_is_cached_by_default(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/cacheable", Reply(200, [("cache-control", "public, max-age=30")], b"yes"))
    client = make_client(rules=[Rule("/other", ttl=60)])
    for _ in range(2):
        resp = client.request("GET", "/cacheable")
        assert resp.cache_status == "routecache; fwd=bypass; detail=no-rule"
    assert origin.count("/cacheable") == 2


@REDIS_ONLY
def test_jitter_spreads_expiry(
    origin: Origin,
    make_client: Callable[..., Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    assert redis_client is not None
    for n in range(8):
        origin.on(f"/items/{n}", Reply(200, [], b"item"))
    client = make_client(rules=[Rule("/items/{id}", ttl=1000, jitter=0.5)])
    for n in range(8):
        client.request("GET", f"/items/{n}")
    pttls = entry_pttls(redis_client, store)
    assert len(pttls) == 8
    assert all(498_000 <= p <= 1_500_000 for p in pttls), pttls
    # Eight draws from +/-50% of 1000 s: never all within one second of each other.
    assert max(pttls) - min(pttls) > 1000, pttls
