"""Assertions shared by the Flask adapter tests."""

from __future__ import annotations

from tests.conformance.harness import Resp, WSGIClient


def get(client: WSGIClient, target: str, headers: dict[str, str] | None = None) -> Resp:
    """``GET target``."""
    return client.request("GET", target, headers)


def assert_miss_then_hit(client: WSGIClient, target: str) -> Resp:
    """A stored miss, then a hit with the same body; returns the hit."""
    miss = get(client, target)
    assert miss.cache_status == "routecache; fwd=uri-miss; stored", (target, miss)
    hit = get(client, target)
    assert hit.hit, (target, hit.cache_status)
    assert hit.body == miss.body
    return hit


def assert_not_cached(client: WSGIClient, target: str, detail: str = "no-rule") -> None:
    """Two requests, both forwarded with ``detail``."""
    for _ in range(2):
        resp = get(client, target)
        assert resp.cache_status == f"routecache; fwd=bypass; detail={detail}", (target, resp)
