"""Flask's own test client, used the way most Flask test suites use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, Response

from routecache import MemoryStore, RedisStore, Rule
from routecache.adapters.flask import RouteCache


def make_app(store: object) -> tuple[Flask, list[int]]:
    calls: list[int] = []
    app = Flask(__name__)
    cache = RouteCache(app, store=store, rules=[Rule("/stream/{id}", ttl=60)])

    @app.get("/items/<int:id>")
    @cache.route(ttl=60)
    def item(id: int) -> dict[str, int]:
        calls.append(id)
        return {"id": id}

    @app.get("/stream/<int:id>")
    def stream(id: int) -> Response:
        calls.append(id)
        return Response((part for part in (b"one,", b"two,", b"three")), mimetype="text/plain")

    return app, calls


@pytest.fixture
def memory_app() -> tuple[Flask, list[int]]:
    return make_app(MemoryStore())


@pytest.fixture
def redis_app(redis_clean_url: str) -> Iterator[tuple[Flask, list[int]]]:
    store = RedisStore(redis_clean_url)
    yield make_app(store)
    store.close()


def test_test_client_without_with_sees_miss_then_hit(memory_app: tuple[Flask, list[int]]) -> None:
    app, calls = memory_app
    client = app.test_client()

    first = client.get("/items/7")
    assert first.json == {"id": 7}
    assert first.headers["Cache-Status"] == "routecache; fwd=uri-miss; stored"

    second = client.get("/items/7")
    assert second.json == {"id": 7}
    assert second.headers["Cache-Status"].startswith("routecache; hit; ttl=")
    assert second.get_data() == first.get_data()
    assert calls == [7]


def test_test_client_on_redis_sees_miss_then_hit(redis_app: tuple[Flask, list[int]]) -> None:
    app, calls = redis_app
    client = app.test_client()

    assert client.get("/items/7").text == '{"id":7}\n'
    second = client.get("/items/7")
    assert second.headers["Cache-Status"].startswith("routecache; hit; ttl=")
    assert second.text == '{"id":7}\n'
    assert calls == [7]


def test_streamed_body_read_to_the_end_is_stored(memory_app: tuple[Flask, list[int]]) -> None:
    app, calls = memory_app
    client = app.test_client()

    assert client.get("/stream/1").get_data() == b"one,two,three"
    second = client.get("/stream/1")
    assert second.headers["Cache-Status"].startswith("routecache; hit")
    assert second.get_data() == b"one,two,three"
    assert calls == [1]


def test_streamed_body_left_unread_is_not_stored(memory_app: tuple[Flask, list[int]]) -> None:
    app, calls = memory_app
    client = app.test_client()

    first = client.get("/stream/1")
    assert first.headers["Cache-Status"] == "routecache; fwd=uri-miss; stored"
    first.close()  # the client went away after the headers: only part of the body left
    second = client.get("/stream/1")
    assert second.headers["Cache-Status"] == "routecache; fwd=uri-miss; stored"
    assert second.get_data() == b"one,two,three"
    assert calls == [1, 1]


def test_buffered_and_with_blocks_still_store(memory_app: tuple[Flask, list[int]]) -> None:
    app, calls = memory_app
    client = app.test_client()

    client.get("/items/1", buffered=True)
    with client.get("/items/2") as response:
        assert response.json == {"id": 2}
    assert client.get("/items/1").headers["Cache-Status"].startswith("routecache; hit")
    assert client.get("/items/2").headers["Cache-Status"].startswith("routecache; hit")
    assert calls == [1, 2]
