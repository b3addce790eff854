"""OpenTelemetry export: observable counters read by the SDK's in-memory reader."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from routecache import MemoryStore, Rule
from routecache.adapters.starlette import CacheMiddleware
from routecache.metrics import otel


def _points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], float]]]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "routecache"
            for metric in scope.metrics:
                out[metric.name] = [
                    (dict(p.attributes or {}), p.value)  # type: ignore[union-attr]
                    for p in metric.data.data_points
                ]
    return out


def test_the_reader_sees_the_counters() -> None:
    reader = InMemoryMetricReader()
    otel.instrument(MeterProvider(metric_readers=[reader]))

    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x")

    app = Starlette(routes=[Route("/items/{id}", item, methods=["GET", "PUT"])])
    app.add_middleware(
        CacheMiddleware, store=MemoryStore().as_async(), rules=[Rule("/items/{id}", ttl=60)]
    )
    client = TestClient(app)
    for _ in range(16):  # one lookup in 16 is timed
        client.get("/items/1")
    client.put("/items/1")

    points = _points(reader)
    requests = {(a["outcome"], a["detail"]): v for a, v in points["routecache.requests"]}
    assert requests == {("hit", ""): 15, ("miss", "uri-miss"): 1, ("bypass", "method"): 1}
    assert points["routecache.events"] == [
        ({"rule": "/items/{id}", "event": "stored", "detail": ""}, 1)
    ]
    assert {a["target"]: v for a, v in points["routecache.invalidations"]} == {
        "path": 1,
        "tag": 0,
    }
    assert points["routecache.invalidated_entries"] == [({}, 1)]
    assert points["routecache.lookups"] == [({}, 1)]
    # Cumulative: a second collection sees the totals, not the increments.
    client.get("/items/1")
    again = {(a["outcome"], a["detail"]): v for a, v in _points(reader)["routecache.requests"]}
    assert again[("miss", "uri-miss")] == 2
