"""Prometheus export: the scrape-time collector (one process), and the mirror that
multiprocess mode aggregates over 2 real uvicorn workers."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from routecache import MemoryStore, Rule
from routecache.adapters.starlette import CacheMiddleware
from routecache.metrics.prometheus import RoutecacheCollector
from routecache.middleware.metrics import LOOKUP_SAMPLE
from tests._app_servers import serve_app
from tests._redis_servers import RedisServer
from tests.patterns._support import concurrently, request


def _value(text: str, name: str, **labels: str) -> float:
    """The value of one sample of an exposition, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_the_collector_reads_the_counters_at_scrape_time() -> None:
    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x" * 2000)

    app = Starlette(routes=[Route("/items/{id}", item)])
    app.add_middleware(
        CacheMiddleware, store=MemoryStore().as_async(), rules=[Rule("/items/{id}", ttl=60)]
    )
    client = TestClient(app)
    for _ in range(16):  # one lookup in 16 is timed
        client.get("/items/1")
    registry = CollectorRegistry()
    registry.register(RoutecacheCollector())
    text = generate_latest(registry).decode()
    rule = "/items/{id}"
    requests = "routecache_requests_total"
    assert _value(text, requests, rule=rule, outcome="hit", detail="") == 15
    assert _value(text, requests, rule=rule, outcome="miss", detail="uri-miss") == 1
    assert _value(text, "routecache_events_total", rule=rule, event="stored", detail="") == 1
    assert _value(text, "routecache_stored_bytes_total", rule=rule) > 2000
    assert _value(text, "routecache_body_bytes_bucket", le="1024.0") == 0
    assert _value(text, "routecache_body_bytes_bucket", le="4096.0") == 1
    assert _value(text, "routecache_body_bytes_count") == 1
    assert _value(text, "routecache_lookup_seconds_bucket", le="+Inf") == 1
    assert "# TYPE routecache_lookup_seconds histogram" in text
    assert "# TYPE routecache_store_errors_total counter" in text


@pytest.mark.redis
def test_multiprocess_mode_adds_up_the_workers(
    redis_server: RedisServer, redis_clean_url: str, tmp_path: Path
) -> None:
    env = {
        "RC_REDIS_URL": redis_clean_url,
        "RC_PREFIX": "prom",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    with serve_app("starlette", "tests.metrics._prom_app:app", env) as server:
        first = request(server.port, "/items/1")
        assert first.cache_status.endswith("stored")
        replies = []
        deadline = time.monotonic() + 30
        # Until both workers have served hits, a few timed lookups' worth (the kernel
        # spreads the connections).
        while time.monotonic() < deadline:
            served = Counter(r.pid for r in replies if r.hit)
            if len(served) == 2 and min(served.values()) >= 2 * LOOKUP_SAMPLE:
                break
            replies += concurrently(8, lambda i: request(server.port, "/items/1"))
        hits = [r for r in replies if r.hit]
        assert len({r.pid for r in hits}) == 2
        deadline = time.monotonic() + 10
        seen = (-1.0, -1.0)
        # Every GET looked the entry up (the first one too); each worker times one
        # lookup in LOOKUP_SAMPLE.
        lookups = Counter(r.pid for r in [first, *replies])
        timed = sum(n // LOOKUP_SAMPLE for n in lookups.values())
        expected = (float(len(hits)), float(timed))
        while time.monotonic() < deadline:
            text = request(server.port, "/metrics").body.decode()
            seen = (
                _value(
                    text, "routecache_requests_total", rule="/items/{id}", outcome="hit", detail=""
                ),
                _value(text, "routecache_lookup_seconds_count"),
            )
            if seen == expected:
                break
            time.sleep(0.05)  # the workers mirror every 0.1 s
        assert seen == expected
