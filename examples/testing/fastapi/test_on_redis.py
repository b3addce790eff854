"""The app's own store, on Redis: a TestClient per test, several in one test."""

import pytest
from app import app, calls, store
from starlette.testclient import TestClient


@pytest.fixture(autouse=True)
def _empty_cache():
    store.as_sync().invalidate(everything=True)
    calls.clear()


def test_miss_then_hit():
    client = TestClient(app)
    first = client.get("/items/1")
    second = client.get("/items/1")
    assert first.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
    assert second.headers["cache-status"].startswith("routecache; hit")
    assert second.json() == {"id": 1}
    assert calls == [1]


def test_another_client_gets_the_entry():
    TestClient(app).get("/items/2")
    assert TestClient(app).get("/items/2").headers["cache-status"].startswith("routecache; hit")
    assert calls == [2]


def test_two_with_blocks():
    with TestClient(app) as client:
        client.get("/items/3")
        assert client.get("/items/3").headers["cache-status"].startswith("routecache; hit")
    with TestClient(app) as client:
        assert client.get("/items/3").headers["cache-status"].startswith("routecache; hit")
        assert client.put("/items/3").status_code == 200
        assert client.get("/items/3").headers["cache-status"].endswith("stored")
    assert calls == [3, 3]


def test_endpoints_invalidate_by_tag():
    client = TestClient(app)
    client.get("/items/4")
    client.post("/items")  # Cache-Tag: items
    assert client.get("/items/4").headers["cache-status"].endswith("stored")
    assert client.post("/admin/reindex").json() == {"removed": 1}
    assert client.get("/items/4").headers["cache-status"].endswith("stored")
    assert calls == [4, 4, 4]
