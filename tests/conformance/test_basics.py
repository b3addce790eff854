"""Conformance: the basic cache-aside flow, identical through every adapter."""

from __future__ import annotations

from collections.abc import Callable

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply


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
