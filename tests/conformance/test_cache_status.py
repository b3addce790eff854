"""Conformance: every response says what the cache did, in ``Cache-Status`` (RFC 9211).

One table with the exact string for each outcome, so a user who sees no hits can look
up which knob to turn (README, "How it decides").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply


@dataclass
class Case:
    """Send ``warm`` requests first, then ``request``; expect ``status`` exactly."""

    status: str
    request: tuple[str, str, dict[str, str], bytes] = ("GET", "/items/1", {}, b"")
    reply: Reply = field(default_factory=lambda: Reply(200, [], b"item"))
    warm: int = 0
    options: dict[str, Any] = field(default_factory=dict)


RULES = [Rule("/items/{id}", ttl=60), Rule("/open/{id}", ttl=60, cookies="ignore")]

CASES = {
    "miss-stored": Case("routecache; fwd=uri-miss; stored"),
    "hit": Case("routecache; hit; ttl=60", warm=1),
    "vary-miss": Case(
        "routecache; fwd=vary-miss; stored",
        request=("GET", "/items/1", {"accept": "text/html"}, b""),
        reply=Reply(200, [("vary", "accept")], b"item"),
        warm=1,
    ),
    "no-rule": Case("routecache; fwd=bypass; detail=no-rule", ("GET", "/other", {}, b"")),
    "cookie": Case(
        "routecache; fwd=bypass; detail=cookie", ("GET", "/items/1", {"cookie": "sid=1"}, b"")
    ),
    "body": Case("routecache; fwd=bypass; detail=body", ("GET", "/items/1", {}, b"payload")),
    "authorization": Case(
        "routecache; fwd=bypass; detail=authorization",
        ("GET", "/items/1", {"authorization": "Basic dTpw"}, b""),
        warm=1,
    ),
    "authorization-no-entry": Case(
        "routecache; fwd=uri-miss; detail=authorization",
        ("GET", "/items/1", {"authorization": "Basic dTpw"}, b""),
    ),
    "unsafe-method": Case("routecache; fwd=method", ("POST", "/items/1", {}, b"x")),
    "options": Case("routecache; fwd=method", ("OPTIONS", "/items/1", {}, b"")),
    "head-miss": Case("routecache; fwd=uri-miss; detail=head", ("HEAD", "/items/1", {}, b"")),
    "set-cookie": Case(
        "routecache; fwd=uri-miss; detail=set-cookie", reply=Reply(200, [("set-cookie", "a=1")])
    ),
    "private": Case(
        "routecache; fwd=uri-miss; detail=private", reply=Reply(200, [("cache-control", "private")])
    ),
    "no-store": Case(
        "routecache; fwd=uri-miss; detail=no-store",
        reply=Reply(200, [("cache-control", "no-store")]),
    ),
    "vary-star": Case(
        "routecache; fwd=uri-miss; detail=vary-star", reply=Reply(200, [("vary", "*")])
    ),
    "status": Case("routecache; fwd=uri-miss; detail=status", reply=Reply(500, [], b"oops")),
    "stale-on-arrival": Case(
        "routecache; fwd=uri-miss; detail=stale",
        reply=Reply(200, [("cache-control", "max-age=0")]),
    ),
    "no-freshness": Case(
        "routecache; fwd=uri-miss; detail=no-freshness",
        ("GET", "/nottl", {}, b""),
        options={"rules": [Rule("/nottl")]},
    ),
    "cookies-ignored": Case(
        "routecache; hit; ttl=60",
        ("GET", "/open/1", {"cookie": "sid=1"}, b""),
        warm=1,
    ),
    "cache-name": Case("edge; fwd=uri-miss; stored", options={"cache_name": "edge"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cache_status_says_what_happened(
    origin: Origin, make_client: Callable[..., Client], name: str
) -> None:
    case = CASES[name]
    method, target, headers, body = case.request
    path = target.split("?")[0]
    origin.on(path, case.reply)
    options = {"rules": RULES, **case.options}
    client = make_client(**options)
    for _ in range(case.warm):
        client.request("GET", target)
    resp = client.request(method, target, headers, body)
    status = resp.cache_status
    if case.status.startswith("routecache; hit; ttl="):
        # The ttl counts down: allow for a second passing.
        assert re.fullmatch(r"routecache; hit; ttl=(59|60)", status), status
    else:
        assert status == case.status
    assert len(resp.all("cache-status")) == 1


def test_the_apps_own_cache_status_is_kept_and_ours_appended(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/items/1", Reply(200, [("cache-status", "upstream; hit")], b"item"))
    origin.on("/other", Reply(200, [("cache-status", "upstream; fwd=miss")], b"other"))
    client = make_client(rules=RULES)
    miss = client.request("GET", "/items/1")
    assert miss.cache_status == "upstream; hit, routecache; fwd=uri-miss; stored"
    # A hit replays the entry with our member only (the upstream's member described
    # the request that filled the cache, not this one).
    hit = client.request("GET", "/items/1")
    assert re.fullmatch(r"routecache; hit; ttl=(59|60)", hit.cache_status), hit.cache_status
    bypass = client.request("GET", "/other")
    assert bypass.cache_status == "upstream; fwd=miss, routecache; fwd=bypass; detail=no-rule"


def test_debug_adds_the_key(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/items/1", Reply(200, [], b"item"))
    origin.on("/items/2", Reply(200, [], b"item"))
    client = make_client(rules=RULES, debug=True)
    pattern = r"routecache; fwd=uri-miss; stored; key=\"?([0-9a-f]+:[0-9a-f]+)\"?"
    one = re.fullmatch(pattern, client.request("GET", "/items/1").cache_status)
    two = re.fullmatch(pattern, client.request("GET", "/items/2").cache_status)
    assert one is not None
    assert two is not None
    assert one.group(1) != two.group(1)
    hit = client.request("GET", "/items/1?")
    assert one.group(1) in hit.cache_status
