"""The write-during-a-miss race through every driver, on a private Redis (issue 9).

A GET misses and its view reads the row (version 1), then blocks; a PUT of the same
item commits version 2 and answers 200 (its invalidation ran); the GET is released
and answers with what it read. Its write-behind must be refused: the next GET misses
and stores version 2, and the one after is a hit on version 2. The same with a tag
invalidation (``POST /admin/items/1`` invalidates ``item:1``). Drivers: ASGI with
Starlette, WSGI with Flask, Django sync (WSGI handler) and async (ASGI handler),
in-process through their test clients; the view blocks on an event, never a sleep.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from routecache.middleware.rules import Rule

pytestmark = pytest.mark.redis

WAIT = 10.0  # bound on every wait: a broken driver fails, it does not hang


class Rows:
    """The "database": one row whose version a PUT bumps; the next GET's view can be
    held after it read the row."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Version 1, nothing held."""
        self.version = 1
        self.calls = 0
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def read(self) -> bytes:
        """Count a view call and read the row."""
        self.calls += 1
        return b"version %d" % self.version

    def write(self) -> None:
        """Commit a new version."""
        self.version += 1

    def _held(self) -> bool:
        if not self.hold:
            return False
        self.hold = False
        self.entered.set()
        return True

    def block_sync(self) -> None:
        """Wait for the test's go when this call is the one to hold."""
        if self._held():
            assert self.release.wait(WAIT)

    async def block_async(self) -> None:
        """The same, without blocking the event loop."""
        if self._held():
            assert await asyncio.to_thread(self.release.wait, WAIT)


ROWS = Rows()
RULES = [
    Rule("/items/{id}", ttl=60, tags=["item:{id}"]),
    Rule("/aitems/{id}", ttl=60, tags=["item:{id}"]),
    Rule("/admin/items/{id}", methods=["POST"], invalidates=["item:{id}"]),
    Rule("/admin/aitems/{id}", methods=["POST"], invalidates=["item:{id}"]),
]
HOW = ["path", "tag"]


def _write_request(how: str, base: str) -> tuple[str, str]:
    return ("PUT", f"/{base}/1") if how == "path" else ("POST", f"/admin/{base}/1")


@pytest.fixture(autouse=True)
def _rows() -> Iterator[None]:
    ROWS.reset()
    yield
    ROWS.release.set()


def _check_after(get: Any, target: str) -> None:
    """The next GET misses and stores the new version; the one after hits it."""
    miss = get(target)
    assert miss.status == 200
    assert miss.body == b"version 2"
    assert "hit" not in miss.cache_status.split("; ")
    assert "stored" in miss.cache_status
    hit = get(target)
    assert hit.body == b"version 2"
    assert hit.hit
    assert ROWS.calls == 2  # the held fetch and the miss after the write


def _race(start_get: Any, write: Any) -> Any:
    """Start the GET, wait until its view read the row, write, release it; return
    the GET's response."""
    ROWS.hold = True
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(start_get)
        assert ROWS.entered.wait(WAIT)
        written = write()
        assert written.status == 200
        assert "fwd=method" in written.cache_status
        ROWS.release.set()
        first = pending.result(WAIT)
    assert first.body == b"version 1"  # it read before the write: that is its answer
    return first


@pytest.mark.parametrize("how", HOW)
def test_starlette(how: str, redis_clean_url: str) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from routecache import AsyncRedisStore
    from routecache.adapters.starlette import CacheMiddleware
    from tests.conformance.harness import ASGIClient

    async def read(request: Request) -> Response:
        value = ROWS.read()
        await ROWS.block_async()
        return PlainTextResponse(value)

    async def write(request: Request) -> Response:
        ROWS.write()
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/items/{id:int}", read, methods=["GET"]),
            Route("/items/{id:int}", write, methods=["PUT"]),
            Route("/admin/items/{id:int}", write, methods=["POST"]),
        ]
    )
    store = AsyncRedisStore(redis_clean_url, timeout=2.0)
    app.add_middleware(CacheMiddleware, store=store, rules=RULES)
    client = ASGIClient(app, store=store)
    try:

        def get(target: str) -> Any:
            return client.request("GET", target)

        _race(lambda: get("/items/1"), lambda: client.request(*_write_request(how, "items")))
        _check_after(get, "/items/1")
    finally:
        client.close()


@pytest.mark.parametrize("how", HOW)
def test_flask(how: str, redis_clean_url: str) -> None:
    from flask import Flask

    from routecache import RedisStore
    from routecache.adapters.flask import RouteCache
    from tests.conformance.harness import WSGIClient

    app = Flask(__name__)

    @app.get("/items/<int:id>")
    def read(id: int) -> tuple[bytes, int, dict[str, str]]:
        value = ROWS.read()
        ROWS.block_sync()
        return value, 200, {"Content-Type": "text/plain"}

    @app.put("/items/<int:id>")
    @app.post("/admin/items/<int:id>")
    def write(id: int) -> str:
        ROWS.write()
        return "ok"

    store = RedisStore(redis_clean_url, timeout=2.0)
    RouteCache(app, store=store, rules=RULES)
    client = WSGIClient(app)
    try:

        def get(target: str) -> Any:
            return client.request("GET", target)

        _race(lambda: get("/items/1"), lambda: client.request(*_write_request(how, "items")))
        _check_after(get, "/items/1")
    finally:
        store.close()


@pytest.fixture
def django_redis(redis_clean_url: str) -> Iterator[None]:
    from django.test import override_settings

    from routecache.adapters.django import conf
    from tests.adapters.django.settings import configure

    configure()
    rules = [
        {"path": r.path, "ttl": r.ttl, "tags": list(r.tags)}
        if "GET" in r.methods
        else {"path": r.path, "methods": ["POST"], "invalidates": list(r.invalidates)}
        for r in RULES
    ]
    override = override_settings(
        ROOT_URLCONF="tests.coherence._fencing_django",
        ROUTECACHE={"REDIS_URL": redis_clean_url, "RULES": rules},
    )
    override.enable()
    try:
        yield
    finally:
        override.disable()
        conf.reset()


@pytest.mark.parametrize("how", HOW)
def test_django_sync(how: str, django_redis: None) -> None:
    from django.test import Client

    from tests.conformance.harness import Resp

    def send(method: str, target: str) -> Resp:
        response = Client().generic(method, target)
        headers = [(k.lower(), v) for k, v in response.items()]
        return Resp(response.status_code, headers, response.content)

    _race(lambda: send("GET", "/items/1"), lambda: send(*_write_request(how, "items")))
    _check_after(lambda target: send("GET", target), "/items/1")


@pytest.mark.parametrize("how", HOW)
def test_django_async(how: str, django_redis: None) -> None:
    from django.test import AsyncClient

    from routecache.adapters.django import conf
    from tests.conformance.harness import Resp

    async def send(method: str, target: str) -> Resp:
        response = await AsyncClient().generic(method, target)
        headers = [(k.lower(), v) for k, v in response.items()]
        return Resp(response.status_code, headers, response.content)

    async def main() -> None:
        try:
            ROWS.hold = True
            pending = asyncio.create_task(send("GET", "/aitems/1"))
            assert await asyncio.to_thread(ROWS.entered.wait, WAIT)
            written = await send(*_write_request(how, "aitems"))
            assert written.status == 200
            assert "fwd=method" in written.cache_status
            ROWS.release.set()
            first = await asyncio.wait_for(pending, WAIT)
            assert first.body == b"version 1"
            miss = await send("GET", "/aitems/1")
            assert miss.body == b"version 2"
            assert "stored" in miss.cache_status
            assert "hit" not in miss.cache_status.split("; ")
            hit = await send("GET", "/aitems/1")
            assert hit.body == b"version 2"
            assert hit.hit
            assert ROWS.calls == 2
        finally:
            await conf.aclose()

    asyncio.run(main())
