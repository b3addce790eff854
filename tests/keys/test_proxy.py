"""``examples/proxy_app.py`` forwards the raw target: its keys must not decode it.

The upstream answers with the raw request target it received, cacheable for a
minute; two targets that differ only in their spelling are two pages to it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

import routecache
from tests.conformance.harness import ASGIClient
from tests.test_proxy_example import Upstream, _load_example

_target = threading.local()


class EchoUpstream(Upstream):
    """Answers every GET with the raw target it received (cacheable)."""

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        _target.value = request.path
        super().handle(request)

    def answer(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        fields = [("Content-Type", "text/plain"), ("Cache-Control", "max-age=60")]
        return 200, fields, str(_target.value).encode("latin-1")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def proxy(request: pytest.FixtureRequest) -> Iterator[ASGIClient]:
    """The example proxy in front of the echoing upstream."""
    if request.param == "memory":
        store: Any = routecache.MemoryStore()
    else:
        store = routecache.RedisStore(request.getfixturevalue("redis_clean_url"), prefix="kp")
    with EchoUpstream() as upstream:
        app = _load_example().build_app(upstream.url, store=store)
        client = ASGIClient(app, store=store)
        try:
            yield client
        finally:
            client.run(app.state.http.aclose())
            client.close()
            if request.param == "redis":
                store.close()


@pytest.mark.parametrize(
    ("attacker", "victim"),
    [
        ("/p%2Fq", "/p/q"),
        ("/%70", "/p"),
        ("/p%FF", "/p%FE"),
        ("/p%zz", "/p%25zz"),
        ("/p?x=%31", "/p?x=1"),
        ("/p?x=+", "/p?x=%20"),
        ("/p?x=1&&y=2", "/p?x=1&y=2"),
    ],
)
def test_the_proxy_never_serves_one_raw_target_for_another(
    proxy: ASGIClient, attacker: str, victim: str
) -> None:
    first = proxy.request("GET", attacker)
    assert first.body == attacker.encode()
    assert "stored" in first.cache_status, first.cache_status
    again = proxy.request("GET", attacker)
    assert again.hit, again.cache_status
    answer = proxy.request("GET", victim)
    assert answer.body == victim.encode(), answer.cache_status


def test_the_proxy_bypasses_a_forwarding_header_it_relays(proxy: ASGIClient) -> None:
    first = proxy.request("GET", "/page", {"x-forwarded-host": "evil.example.net"})
    assert first.cache_status == "routecache; fwd=bypass; detail=unkeyed-header"
    assert not proxy.request("GET", "/page").hit
