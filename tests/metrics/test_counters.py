"""The per-rule counters: counted once per request where the outcome is decided, the
same through the ASGI and WSGI drivers, exact under threads, DEBUG lines on demand."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

import routecache.metrics
from routecache import MemoryStore, Rule
from routecache.adapters.flask import RouteCache
from routecache.adapters.starlette import CacheMiddleware
from routecache.middleware.metrics import LOOKUP_SAMPLE, Histogram, Metrics
from routecache.middleware.plans import RequestFacts, RequestPlan
from routecache.middleware.policy import CachePolicy

RULES = [Rule("/items/{id}", ttl=60)]
BODY = b"x" * 300


def starlette_client() -> TestClient:
    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse(BODY)

    app = Starlette(
        routes=[
            Route("/items/{id}", item, methods=["GET", "PUT"]),
            Route("/other", item),
        ]
    )
    app.add_middleware(CacheMiddleware, store=MemoryStore().as_async(), rules=RULES)
    return TestClient(app)


def flask_client() -> Any:
    app = Flask(__name__)

    @app.route("/items/<id>", methods=["GET", "PUT"])
    def item(id: str) -> bytes:
        return BODY

    @app.route("/other")
    def other() -> bytes:
        return BODY

    RouteCache(app, store=MemoryStore(), rules=RULES)
    return app.test_client()


@pytest.mark.parametrize("make_client", [starlette_client, flask_client])
def test_each_request_is_counted_once_by_rule_and_outcome(make_client: Any) -> None:
    client = make_client()
    assert client.get("/items/1").status_code == 200  # miss, stored
    for _ in range(3):
        assert "hit" in client.get("/items/1").headers["cache-status"]
    client.get("/items/1", headers={"if-match": '"a"'})  # bypass: precondition
    client.get("/other")  # bypass: no rule
    client.put("/items/1")  # forwarded, invalidates the path
    client.get("/items/1")  # miss again, stored

    data = routecache.metrics.snapshot()
    items = data["rules"]["/items/{id}"]
    assert items["requests"] == {
        "hit": {"": 3},
        "miss": {"uri-miss": 2},
        "bypass": {"precondition": 1, "method": 1},
    }
    assert items["events"] == {"stored": {"": 2}}
    assert items["stored_bytes"] > 2 * len(BODY)
    assert data["rules"]["no-rule"]["requests"] == {"bypass": {"no-rule": 1}}
    assert data["invalidations"] == {
        "paths": 1,
        "tags": 0,
        "entries": 1,
        "failures": 0,
        "retried": 0,
    }
    assert data["body_bytes"]["count"] == 2
    assert data["body_bytes"]["counts"][1] == 2  # 300 bytes: in (256, 1024]
    assert data["body_bytes"]["sum"] == 2 * len(BODY)
    # 2 misses and 3 hits read the store; one lookup in LOOKUP_SAMPLE is timed.
    assert data["lookup_seconds"]["count"] == 5 // LOOKUP_SAMPLE


def test_one_lookup_in_lookup_sample_is_timed() -> None:
    client = starlette_client()
    for _ in range(2 * LOOKUP_SAMPLE + 1):
        client.get("/items/1")
    lookups = routecache.metrics.snapshot()["lookup_seconds"]
    assert lookups["count"] == 2
    assert 0 < lookups["sum"] < 10


def test_not_stored_responses_are_counted_with_their_detail() -> None:
    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"set-cookie": "a=1"})

    app = Starlette(routes=[Route("/items/{id}", item)])
    app.add_middleware(CacheMiddleware, store=MemoryStore().as_async(), rules=RULES)
    TestClient(app).get("/items/1")
    items = routecache.metrics.snapshot()["rules"]["/items/{id}"]
    assert items["requests"] == {"miss": {"uri-miss": 1}}
    assert items["events"] == {"not-stored": {"set-cookie": 1}}


def _plan(policy: CachePolicy) -> RequestPlan:
    facts = RequestFacts(
        method="GET", scheme="http", host="h", path="/items/1", query=b"a=1", headers={}
    )
    return policy.plan(facts)


def test_increments_from_threads_are_not_lost() -> None:
    metrics = Metrics()
    plan = _plan(CachePolicy(RULES))
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(20_000):
            metrics.hit(plan)
            metrics.count(plan, "bypass", "cookie")
            metrics.lookup_seconds.observe(0.0003)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    requests = metrics.snapshot()["rules"]["/items/{id}"]["requests"]
    assert requests == {"hit": {"": 160_000}, "bypass": {"cookie": 160_000}}
    assert metrics.lookup_seconds.snapshot()["count"] == 160_000


def test_histogram_bounds_are_inclusive_upper_bounds() -> None:
    hist = Histogram([1, 10])
    for value in (0, 1, 1.5, 10, 11):
        hist.observe(value)
    assert hist.snapshot() == {"bounds": [1, 10], "counts": [2, 2, 1], "sum": 23.5, "count": 5}


def test_decisions_are_logged_at_debug_on_routecache_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    plan = _plan(CachePolicy(RULES))
    with caplog.at_level(logging.INFO, logger="routecache"):
        metrics.hit(plan)
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="routecache.policy"):
        # A plain hit reads the cached flag; any other decision (or the 256th hit)
        # re-reads the level, and from then on hits are logged too.
        metrics.hit(plan)
        metrics.count(plan, "bypass", "cookie")
        metrics.hit(plan)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "routecache.policy",
            logging.DEBUG,
            "GET /items/1?a=1: bypass (cookie) (rule /items/{id})",
        ),
        ("routecache.policy", logging.DEBUG, "GET /items/1?a=1: hit (rule /items/{id})"),
    ]
    caplog.clear()
    metrics.count(plan, "miss", "uri-miss")  # DEBUG is off again
    for _ in range(300):
        metrics.hit(plan)
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="routecache.policy"):
        for _ in range(256):
            metrics.hit(plan)
    assert 1 <= len(caplog.records) < 256


def test_stale_refresh_and_revalidation_are_counted(routecache_clock: Any) -> None:
    async def item(request: Request) -> Response:
        if request.headers.get("if-none-match") == '"v1"':
            return Response(status_code=304, headers={"etag": '"v1"'})
        return PlainTextResponse("v1", headers={"etag": '"v1"'})

    app = Starlette(routes=[Route("/items/{id}", item)])
    app.add_middleware(
        CacheMiddleware,
        store=MemoryStore().as_async(),
        rules=[Rule("/items/{id}", ttl=10, stale_while_revalidate=60)],
    )
    client = TestClient(app)
    client.get("/items/1")  # miss, stored
    routecache_clock.advance(11)
    stale = client.get("/items/1")  # served stale; refreshed (a 304) after it went out
    assert "detail=stale-while-revalidate" in stale.headers["cache-status"]
    assert "hit" in client.get("/items/1").headers["cache-status"]
    items = routecache.metrics.snapshot()["rules"]["/items/{id}"]
    assert items["requests"] == {
        "hit": {"": 1},
        "miss": {"uri-miss": 1},
        "stale": {"stale-while-revalidate": 1},
    }
    assert items["events"] == {
        "stored": {"": 2},  # the miss, and the entry the 304 refreshed
        "refresh": {"": 1},
        "revalidated": {"": 1},
    }
