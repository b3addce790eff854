"""Conformance: RFC 9213 (Targeted HTTP Cache Control), through every adapter.

routecache's own field, ``Routecache-Cache-Control``, addresses routecache alone: the app
can let routecache keep a page for a minute while browsers revalidate every time. With
``CDN-Cache-Control`` in ``cache_control_targets``, routecache also acts as the CDN tier.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from routecache import ConfigurationError, Rule
from tests.conformance.harness import Client, Origin
from tests.conformance.helpers import http_date
from tests.conformance.rfc_helpers import is_hit, near, ours, reply, shared, stored, ttl

OURS = "routecache-cache-control"


def test_2_2_the_targeted_field_wins_over_cache_control_and_is_stripped(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # Browsers: no-store. routecache: 60 s.
    origin.on(
        "/r", reply(("cache-control", "no-store"), ("Routecache-Cache-Control", "max-age=60"))
    )
    client = shared(make_client)
    first = client.request("GET", "/r")
    assert stored(first)
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert near(ttl(hit), 60)
    assert origin.count("/r") == 1
    for resp in (first, hit):
        # The client gets the browsers' directives, never routecache's field.
        assert resp.all("cache-control") == ["no-store"]
        assert resp.all(OURS) == []


def test_2_2_the_targeted_field_can_forbid_what_cache_control_allows(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "public, max-age=600"), (OURS, "no-store")))
    client = shared(make_client)
    for _ in range(2):
        assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "no-store"}
    assert origin.count("/r") == 2


def test_2_2_the_targeted_field_replaces_expires_too(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # Expires says 600 s; the targeted field says 30 s: 30 s it is.
    origin.on("/r", reply(("expires", http_date(time.time() + 600)), (OURS, "max-age=30")))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    assert near(ttl(client.request("GET", "/r")), 30)


@pytest.mark.parametrize(
    "value",
    [
        "",  # empty: not a value
        "max-age=60;",  # not a Dictionary
        "Max-Age=60",  # keys are lower case in RFC 8941
        "max-age=60, , no-store",
        'max-age="60',
    ],
)
def test_2_2_an_invalid_or_empty_targeted_field_is_ignored(
    origin: Origin, make_client: Callable[..., Client], value: str
) -> None:
    # Ignored: Cache-Control (max-age=120) decides, and the field is still stripped.
    origin.on("/r", reply(("cache-control", "max-age=120"), (OURS, value)))
    client = shared(make_client)
    first = client.request("GET", "/r")
    assert stored(first)
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert near(ttl(hit), 120)
    assert first.all(OURS) == hit.all(OURS) == []


def test_3_cdn_cache_control_counts_only_when_routecache_is_the_cdn_tier(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=5"), ("cdn-cache-control", "max-age=300")))
    plain = shared(make_client)
    assert stored(plain.request("GET", "/r"))
    assert near(ttl(plain.request("GET", "/r")), 5)
    origin.on("/cdn", reply(("cache-control", "max-age=5"), ("cdn-cache-control", "max-age=300")))
    cdn = shared(make_client, cache_control_targets=[OURS, "CDN-Cache-Control"])
    first = cdn.request("GET", "/cdn")
    assert stored(first)
    hit = cdn.request("GET", "/cdn")
    assert near(ttl(hit), 300)
    # CDN-Cache-Control goes on to any CDN downstream.
    assert first.header("cdn-cache-control") == hit.header("cdn-cache-control") == "max-age=300"


def test_2_2_the_first_target_in_the_list_wins(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cdn-cache-control", "max-age=300"), (OURS, "max-age=40")))
    client = shared(make_client, cache_control_targets=[OURS, "CDN-Cache-Control"])
    client.request("GET", "/r")
    assert near(ttl(client.request("GET", "/r")), 40)
    origin.on("/s", reply(("cdn-cache-control", "max-age=300"), (OURS, "max-age=40")))
    flipped = shared(make_client, cache_control_targets=["CDN-Cache-Control", OURS])
    flipped.request("GET", "/s")
    assert near(ttl(flipped.request("GET", "/s")), 300)


def test_a_rule_and_the_targeted_field(origin: Origin, make_client: Callable[..., Client]) -> None:
    # As with Cache-Control: the app's explicit freshness wins over the rule's ttl...
    origin.on("/items/1", reply(("cache-control", "no-cache"), (OURS, "max-age=20")))
    client = make_client(rules=[Rule("/items/{id}", ttl=90)])
    assert stored(client.request("GET", "/items/1"))
    hit = client.request("GET", "/items/1")
    assert is_hit(hit)
    assert near(ttl(hit), 20)
    assert hit.all("cache-control") == ["no-cache"]
    assert hit.all(OURS) == []


def test_the_targeted_field_is_stripped_from_responses_the_cache_does_not_keep(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply((OURS, "max-age=60")))
    client = shared(make_client)
    resp = client.request("POST", "/r")
    assert resp.all(OURS) == []


@pytest.mark.parametrize(
    "targets", ["Routecache-Cache-Control", ["Cache-Control"], ["bad name"], [""], [7]]
)
def test_a_bad_target_list_is_a_configuration_error(targets: object) -> None:
    from routecache.middleware.config import CacheConfig

    with pytest.raises(ConfigurationError, match="cache_control_targets"):
        CacheConfig(cache_control_targets=targets)  # type: ignore[arg-type]
