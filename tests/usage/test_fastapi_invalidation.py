"""Invalidating from inside a FastAPI endpoint, the two ways the README shows: naming
the tags in the answer of an unsafe request (``Cache-Tag``), or calling the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Response
from starlette.testclient import TestClient

from routecache import AsyncRedisStore, MemoryStore
from routecache.adapters.starlette import CacheMiddleware, cache_route
from tests._redis_servers import RedisServer

calls: list[str] = []


def create_app(store: AsyncRedisStore | MemoryStore) -> FastAPI:
    app = FastAPI()
    app.add_middleware(CacheMiddleware, store=store)

    @app.get("/items")
    @cache_route(ttl=300, tags=["items"])
    async def list_items() -> list[int]:
        calls.append("list")
        return [1, 2]

    @app.post("/items")
    async def create_item(response: Response) -> dict[str, int]:
        response.headers["Cache-Tag"] = "items"  # invalidated before this answer goes out
        return {"id": 3}

    @app.post("/admin/reindex")
    async def reindex() -> dict[str, int]:
        if isinstance(store, MemoryStore):
            removed = store.invalidate(tags=["items"])  # sync: no await
        else:
            removed = await store.invalidate(tags=["items"])
        return {"removed": removed}

    return app


@pytest.fixture(params=["redis", "memory"])
def app(request: pytest.FixtureRequest) -> Iterator[FastAPI]:
    calls.clear()
    if request.param == "memory":
        yield create_app(MemoryStore())
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()
    store = AsyncRedisStore(server.url)
    yield create_app(store)
    asyncio.run(store.close())


def test_a_write_names_the_tags_it_touched(app: FastAPI) -> None:
    client = TestClient(app)
    client.get("/items")
    assert client.get("/items").headers["cache-status"].startswith("routecache; hit")
    created = client.post("/items")
    assert "cache-tag" not in created.headers  # stripped on the way out
    assert client.get("/items").headers["cache-status"].endswith("stored")
    assert calls == ["list", "list"]


def test_an_endpoint_calls_the_store(app: FastAPI) -> None:
    client = TestClient(app)
    client.get("/items")
    assert client.post("/admin/reindex").json() == {"removed": 1}
    assert client.get("/items").headers["cache-status"].endswith("stored")
    assert calls == ["list", "list"]
