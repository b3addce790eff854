"""Conformance: RFC 9211 (Cache-Status), through every adapter.

Every outcome's ``Cache-Status`` is parsed as an RFC 8941 List (a strict parser in
``rfc_helpers.py``), and each of routecache's members must use only the parameters
RFC 9211 §2 defines, with their types: ``hit``, ``stored`` and ``collapsed`` are
true booleans, ``fwd`` a token from §2.2, ``fwd-status`` and ``ttl`` integers,
``key`` a string (only with ``debug=True``), ``detail`` a token or a string.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Resp
from tests.conformance.rfc_helpers import (
    Token,
    check_member,
    ours,
    parse_sf_list,
    reply,
    shared,
    validating,
)


def test_the_strict_list_parser_rejects_what_rfc_8941_rejects() -> None:
    # The parser is the yardstick of the cases below: check it first.
    assert parse_sf_list('a; hit; ttl=-3, "b"; detail="x, y; z"; fwd=uri-miss') == [
        ("a", {"hit": True, "ttl": -3}),
        ("b", {"detail": "x, y; z", "fwd": "uri-miss"}),
    ]
    assert isinstance(parse_sf_list("a; fwd=stale")[0][1]["fwd"], Token)
    assert not isinstance(parse_sf_list('a; key="stale"')[0][1]["key"], Token)
    for bad in ["", "a,", "a;;hit", "a; Hit", "a; ttl=1.2.3", 'a; detail="x', "a b", "1a"]:
        with pytest.raises(ValueError, match=r"at \d+ in|empty list"):
            parse_sf_list(bad)


def _params(resp: Resp) -> dict[str, Any]:
    params = dict(ours(resp))
    if "ttl" in params:
        params["ttl"] = "N"  # counts down; its type was checked by ``ours``
    return params


def test_2_every_outcome_is_a_well_formed_member(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/fresh", reply(("cache-control", "max-age=600")))
    origin.on("/lang", reply(("cache-control", "max-age=600"), ("vary", "accept-language")))
    origin.on(
        "/validated",
        validating(
            '"v1"',
            b"body",
            [("cache-control", "max-age=30, must-revalidate"), ("age", "100")],
            [("cache-control", "max-age=30, must-revalidate"), ("age", "100")],
        ),
    )
    origin.on("/sie", reply(("cache-control", "max-age=1, stale-if-error=600"), ("age", "100")))
    origin.on(
        "/swr", reply(("cache-control", "max-age=1, stale-while-revalidate=600"), ("age", "100"))
    )
    origin.on("/private", reply(("cache-control", "private")))
    client = shared(make_client, honor_request_cache_control=True)
    outcomes: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("GET", "/fresh", {}, {"fwd": "uri-miss", "stored": True}),
        ("GET", "/fresh", {}, {"hit": True, "ttl": "N"}),
        ("HEAD", "/fresh", {}, {"hit": True, "ttl": "N"}),
        ("GET", "/fresh", {"if-none-match": "*"}, {"hit": True, "ttl": "N"}),
        ("GET", "/fresh", {"cache-control": "max-age=0"}, {"fwd": "request", "stored": True}),
        ("GET", "/fresh", {"cookie": "session=1"}, {"fwd": "bypass", "detail": "cookie"}),
        (
            "GET",
            "/fresh",
            {"authorization": "Basic eDp5"},
            {"fwd": "bypass", "detail": "authorization"},
        ),
        ("GET", "/lang", {"accept-language": "en"}, {"fwd": "uri-miss", "stored": True}),
        ("GET", "/lang", {"accept-language": "de"}, {"fwd": "vary-miss", "stored": True}),
        ("GET", "/validated", {}, {"fwd": "uri-miss", "stored": True}),
        ("GET", "/validated", {}, {"fwd": "stale", "fwd-status": 304, "stored": True}),
        ("GET", "/sie", {}, {"fwd": "uri-miss", "stored": True}),
        ("GET", "/swr", {}, {"fwd": "uri-miss", "stored": True}),
        ("GET", "/swr", {}, {"hit": True, "ttl": "N", "detail": "stale-while-revalidate"}),
        ("GET", "/private", {}, {"fwd": "uri-miss", "detail": "private"}),
        (
            "GET",
            "/nothing",
            {"cache-control": "only-if-cached"},
            {"fwd": "miss", "detail": "only-if-cached"},
        ),
        ("POST", "/fresh", {}, {"fwd": "method"}),
        ("OPTIONS", "/fresh", {}, {"fwd": "method"}),
    ]
    for method, target, headers, expected in outcomes:
        resp = client.request(method, target, headers, b"x" if method == "POST" else b"")
        assert _params(resp) == expected, (method, target, headers, resp.cache_status)
        assert len(resp.all("cache-status")) == 1
    origin.on("/sie", Reply(503, [("content-type", "text/plain")], b"down"))
    resp = client.request("GET", "/sie")
    assert _params(resp) == {"fwd": "stale", "fwd-status": 503, "detail": "stale-if-error"}
    # Without honor_cache_control and without a rule: a bypass that says why.
    plain = make_client()
    assert _params(plain.request("GET", "/fresh")) == {"fwd": "bypass", "detail": "no-rule"}


def test_2_4_ttl_is_an_integer_and_negative_when_stale(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=1, stale-if-error=600"), ("age", "100")))
    client = shared(make_client, honor_request_cache_control=True)
    client.request("GET", "/r")
    resp = client.request("GET", "/r", {"cache-control": "max-stale"})
    params = ours(resp)
    assert params["hit"] is True
    assert type(params["ttl"]) is int
    assert -101 <= params["ttl"] <= -98
    assert params["detail"] == "max-stale"


def test_2_the_members_of_caches_nearer_the_origin_are_kept_in_order(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    upstream = 'origin-cache; fwd=uri-miss; detail="a, b; c=\\"d\\""'
    origin.on("/r", reply(("cache-control", "max-age=600"), ("cache-status", upstream)))
    origin.on("/two", reply(("cache-status", "cdn-a; hit"), ("cache-status", "cdn-b; fwd=stale")))
    client = shared(make_client)
    members = parse_sf_list(", ".join(client.request("GET", "/r").all("cache-status")))
    assert members[0] == ("origin-cache", {"fwd": "uri-miss", "detail": 'a, b; c="d"'})
    assert members[1][0] == "routecache"
    assert len(members) == 2
    check_member(*members[1])
    two = client.request("GET", "/two")
    names = [name for name, _ in parse_sf_list(", ".join(two.all("cache-status")))]
    assert names == ["cdn-a", "cdn-b", "routecache"]


def test_2_a_cache_name_that_is_not_a_token_is_a_string(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600")))
    client = shared(make_client, cache_name="edge-1.example:8080")
    params = ours(client.request("GET", "/r"), name="edge-1.example:8080")
    assert params == {"fwd": "uri-miss", "stored": True}


def test_2_7_key_only_when_debugging(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/a", reply(("cache-control", "max-age=600")))
    origin.on("/b", reply(("cache-control", "max-age=600")))
    quiet = shared(make_client)
    for resp in (quiet.request("GET", "/a"), quiet.request("GET", "/a")):
        assert "key" not in ours(resp)
    debug = make_client(honor_cache_control=True, debug=True, rules=[Rule("/b", ttl=60)])
    a_hit, a_head = debug.request("GET", "/a"), debug.request("HEAD", "/a")
    b_miss, b_hit = debug.request("GET", "/b"), debug.request("GET", "/b")
    keys = [ours(resp).get("key") for resp in (a_hit, a_head, b_miss, b_hit)]
    assert all(isinstance(k, str) and k for k in keys), keys
    # GET and HEAD share the entry; another URI has another key; hit and miss agree.
    assert keys[0] == keys[1]
    assert keys[2] == keys[3] != keys[0]


def test_2_6_collapsed_requests_say_so(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/slow", Reply(200, [("cache-control", "max-age=600")], b"slow", delay=0.5))
    client = shared(make_client)
    with ThreadPoolExecutor(4) as pool:
        futures = []
        for _ in range(4):
            futures.append(pool.submit(client.request, "GET", "/slow"))
            time.sleep(0.02)
        responses = [f.result() for f in futures]
    assert origin.count("/slow") == 1
    statuses = [ours(resp) for resp in responses]
    assert {"fwd": "uri-miss", "stored": True} in statuses
    collapsed = [s for s in statuses if s.get("collapsed")]
    assert collapsed
    for status in collapsed:
        assert status == {"fwd": "uri-miss", "collapsed": True}
    assert all(resp.body == b"slow" for resp in responses)
