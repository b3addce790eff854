"""Starlette's and FastAPI's ``TestClient`` with the README's module-level store: one
client per test, two ``with`` blocks in one test, ``asyncio.run`` in between."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from routecache import AsyncRedisStore, MemoryStore, Rule
from routecache.adapters.starlette import CacheMiddleware, cache_route

calls: list[int] = []


def make_starlette(store: object) -> Starlette:
    async def item(request: Request) -> JSONResponse:
        if request.method == "GET":
            calls.append(int(request.path_params["id"]))
        return JSONResponse({"id": request.path_params["id"]})

    app = Starlette(routes=[Route("/items/{id:int}", item, methods=["GET", "PUT"])])
    app.add_middleware(CacheMiddleware, store=store, rules=[Rule("/items/{id}", ttl=60)])
    return app


def make_fastapi(store: object) -> FastAPI:
    app = FastAPI()
    app.add_middleware(CacheMiddleware, store=store)

    @app.get("/items/{id}")
    @cache_route(ttl=60)
    async def item(id: int) -> dict[str, int]:
        calls.append(id)
        return {"id": id}

    @app.put("/items/{id}")
    async def update(id: int) -> dict[str, int]:
        return {"id": id}

    return app


@pytest.fixture(autouse=True)
def _calls() -> None:
    calls.clear()


@pytest.fixture(scope="module")
def redis_store(redis_server: object) -> Iterator[AsyncRedisStore]:
    """The README's module-level store: one for every test of this module."""
    store = AsyncRedisStore(redis_server.url)  # type: ignore[attr-defined]
    yield store
    asyncio.run(store.close())


@pytest.fixture(params=["starlette", "fastapi"])
def app(request: pytest.FixtureRequest, redis_store: AsyncRedisStore) -> Starlette:
    redis_store.as_sync().invalidate(everything=True)
    make = make_starlette if request.param == "starlette" else make_fastapi
    return make(redis_store)


def test_memory_store_miss_then_hit() -> None:
    client = TestClient(make_fastapi(MemoryStore()))
    assert client.get("/items/1").headers["cache-status"] == "routecache; fwd=uri-miss; stored"
    second = client.get("/items/1")
    assert second.headers["cache-status"].startswith("routecache; hit")
    assert second.json() == {"id": 1}
    assert calls == [1]


@pytest.mark.parametrize("round", [1, 2, 3])
def test_a_new_test_client_per_test(app: Starlette, round: int) -> None:
    client = TestClient(app)  # no `with`: each request runs on its own event loop
    first = client.get("/items/1")
    second = client.get("/items/1")
    assert first.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
    assert second.headers["cache-status"].startswith("routecache; hit")
    assert first.json() == second.json()
    assert calls == [1]


def test_two_with_blocks_in_one_test(app: Starlette) -> None:
    with TestClient(app) as client:
        assert client.get("/items/2").headers["cache-status"].endswith("stored")
        assert client.get("/items/2").headers["cache-status"].startswith("routecache; hit")
    with TestClient(app) as client:
        assert client.get("/items/2").headers["cache-status"].startswith("routecache; hit")
        assert client.put("/items/2").status_code == 200
        assert client.get("/items/2").headers["cache-status"].endswith("stored")
    assert calls == [2, 2]


def test_asyncio_run_between_clients(app: Starlette, redis_store: AsyncRedisStore) -> None:
    with TestClient(app) as client:
        client.get("/items/3")
    assert asyncio.run(redis_store.invalidate("/items/3")) >= 1
    with TestClient(app) as client:
        assert client.get("/items/3").headers["cache-status"].endswith("stored")
    assert calls == [3, 3]
