"""``@cache_route`` and ``CacheMiddleware`` on real Starlette and FastAPI apps.

The decorator only records rule options on the endpoint; the middleware turns each
decorated route into a rule for that route's full path template (mount prefixes
included) the first time it sees the app. Explicit ``rules=`` come first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

import routecache
from routecache import ConfigurationError, MemoryStore, Rule
from routecache.adapters.starlette import CacheMiddleware, cache_route, discover_rules
from tests.conformance.harness import ASGIClient, Resp
from tests.conformance.helpers import entry_keys, hit_ttl

Serve = Callable[..., ASGIClient]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(app, store=...)``: an ASGI client for ``app`` (closed after the test)."""
    clients: list[ASGIClient] = []

    def make(app: Any, store: Any = None) -> ASGIClient:
        client = ASGIClient(app, store=store)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def twice(client: ASGIClient, target: str) -> tuple[Resp, Resp]:
    return client.request("GET", target), client.request("GET", target)


def assert_cached(client: ASGIClient, target: str, calls: Counter[str], key: str) -> Resp:
    """A miss, then a hit with the same body; the view ran once."""
    before = calls[key]
    miss, hit = twice(client, target)
    assert miss.cache_status == "routecache; fwd=uri-miss; stored", miss.cache_status
    assert hit.hit, hit.cache_status
    assert hit.body == miss.body
    assert calls[key] == before + 1
    return hit


# -- Starlette -------------------------------------------------------------------------


def test_cache_route_on_a_starlette_endpoint(serve: Serve) -> None:
    calls: Counter[str] = Counter()

    @cache_route(ttl=60, tags=["item:{id}"])
    async def item(request: Request) -> Response:
        calls["item"] += 1
        return PlainTextResponse(f"item {request.path_params['id']} #{calls['item']}")

    async def plain(request: Request) -> Response:
        calls["plain"] += 1
        return PlainTextResponse("not decorated")

    store = MemoryStore()
    app = Starlette(routes=[Route("/items/{id}", item), Route("/plain", plain)])
    app.add_middleware(CacheMiddleware, store=store)
    client = serve(app, store)
    hit = assert_cached(client, "/items/7", calls, "item")
    assert hit.body == b"item 7 #1"
    assert 59 <= hit_ttl(hit) <= 60
    assert_cached(client, "/items/8", calls, "item")
    for _ in range(2):
        resp = client.request("GET", "/plain")
        assert resp.cache_status == "routecache; fwd=bypass; detail=no-rule"
    assert calls["plain"] == 2
    # The tag template was filled from the route's path parameters.
    assert store.invalidate(tags=["item:7"]) == 1
    assert not client.request("GET", "/items/7").hit
    assert client.request("GET", "/items/8").hit


def test_cache_route_on_an_http_endpoint(serve: Serve) -> None:
    calls: Counter[str] = Counter()

    @cache_route(ttl=60)
    class Whole(HTTPEndpoint):
        async def get(self, request: Request) -> Response:
            calls["whole"] += 1
            return PlainTextResponse("whole class")

    class OnGet(HTTPEndpoint):
        @cache_route(ttl=30)
        async def get(self, request: Request) -> Response:
            calls["on-get"] += 1
            return PlainTextResponse("get method")

        async def put(self, request: Request) -> Response:
            return Response(status_code=204)

    app = Starlette(routes=[Route("/whole", Whole), Route("/on-get/{id}", OnGet)])
    app.add_middleware(CacheMiddleware, store=MemoryStore())
    client = serve(app)
    assert_cached(client, "/whole", calls, "whole")
    hit = assert_cached(client, "/on-get/1", calls, "on-get")
    assert 29 <= hit_ttl(hit) <= 30
    # A PUT on the endpoint invalidates the cached GET.
    assert client.request("PUT", "/on-get/1").status == 204
    assert not client.request("GET", "/on-get/1").hit


def test_routes_inside_mounts_get_their_full_path(serve: Serve) -> None:
    calls: Counter[str] = Counter()

    @cache_route(ttl=60)
    async def item(request: Request) -> Response:
        calls["item"] += 1
        return PlainTextResponse(f"{request.url.path}")

    @cache_route(ttl=60)
    async def deep(request: Request) -> Response:
        calls["deep"] += 1
        return PlainTextResponse("deep")

    @cache_route(ttl=60)
    async def sub(request: Request) -> Response:
        calls["sub"] += 1
        return PlainTextResponse("sub-app")

    sub_app = Starlette(routes=[Route("/status", sub)])
    app = Starlette(
        routes=[
            Mount("/api", routes=[Route("/items/{id}", item)]),
            Mount("/v1", routes=[Mount("/shop", routes=[Route("/deep/{rest:path}", deep)])]),
            Mount("/sub", app=sub_app),
        ]
    )
    app.add_middleware(CacheMiddleware, store=MemoryStore())
    client = serve(app)
    assert client.request("GET", "/api/items/1").body == b"/api/items/1"
    assert_cached(client, "/api/items/2", calls, "item")
    assert_cached(client, "/v1/shop/deep/a/b/c", calls, "deep")
    assert_cached(client, "/sub/status", calls, "sub")
    assert sorted(rule.path for rule in discover_rules(app)) == [
        "/api/items/{id}",
        "/sub/status",
        "/v1/shop/deep/{rest:path}",
    ]


def test_explicit_rules_take_precedence(serve: Serve) -> None:
    calls: Counter[str] = Counter()

    @cache_route(ttl=60)
    async def item(request: Request) -> Response:
        calls["item"] += 1
        return PlainTextResponse("item")

    @cache_route(ttl=60)
    async def other(request: Request) -> Response:
        calls["other"] += 1
        return PlainTextResponse("other")

    app = Starlette(routes=[Route("/items/{id}", item), Route("/other", other)])
    app.add_middleware(CacheMiddleware, store=MemoryStore(), rules=[Rule("/items/{id}", ttl=5)])
    client = serve(app)
    hit = assert_cached(client, "/items/1", calls, "item")
    assert 4 <= hit_ttl(hit) <= 5, "the decorator's ttl won over the explicit rule"
    # Decorated routes without an explicit rule keep theirs.
    other_hit = assert_cached(client, "/other", calls, "other")
    assert 59 <= hit_ttl(other_hit) <= 60


def test_websockets_and_lifespan_pass_through(serve: Serve) -> None:
    started: list[str] = []

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.append("up")
        yield

    app = Starlette(routes=[WebSocketRoute("/ws", echo)], lifespan=lifespan)
    app.add_middleware(CacheMiddleware, store=MemoryStore(), rules=[Rule("/ws", ttl=60)])
    client = serve(app)

    async def run_lifespan() -> list[str]:
        incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[str] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message["type"])

        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
        return sent

    assert client.run(run_lifespan()) == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert started == ["up"]

    async def run_websocket() -> list[dict[str, Any]]:
        incoming: list[dict[str, Any]] = [
            {"type": "websocket.connect"},
            {"type": "websocket.receive", "text": "hello"},
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if incoming:
                return incoming.pop(0)
            return {"type": "websocket.disconnect", "code": 1000}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "path": "/ws",
            "raw_path": b"/ws",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"upgrade", b"websocket")],
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 5000),
            "subprotocols": [],
            "root_path": "",
            "state": {},
        }
        await app(scope, receive, send)
        return sent

    messages = client.run(run_websocket())
    assert [m["type"] for m in messages] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert messages[1]["text"] == "hello"
    assert not any(k == b"cache-status" for m in messages for k, _ in m.get("headers", ()))


# -- FastAPI ---------------------------------------------------------------------------


def test_cache_route_on_fastapi_path_operations(serve: Serve, redis_clean_url: str) -> None:
    calls: Counter[str] = Counter()
    app = FastAPI()

    @app.get("/below/{item_id}")
    @cache_route(ttl=60, tags=["item:{item_id}"])
    async def below(item_id: int) -> dict[str, int]:
        calls["below"] += 1
        return {"id": item_id, "call": calls["below"]}

    @cache_route(ttl=45)
    @app.get("/above/{item_id}")
    async def above(item_id: int) -> dict[str, int]:
        calls["above"] += 1
        return {"id": item_id, "call": calls["above"]}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"plain": "yes"}

    store = routecache.RedisStore(redis_clean_url, prefix="fastapi-route")
    app.add_middleware(CacheMiddleware, store=store)
    client = serve(app, store)
    try:
        hit = assert_cached(client, "/below/3", calls, "below")
        assert hit.body == b'{"id":3,"call":1}'
        assert hit.header("content-type") == "application/json"
        assert 44 <= hit_ttl(assert_cached(client, "/above/3", calls, "above")) <= 45
        assert client.request("GET", "/plain").cache_status == (
            "routecache; fwd=bypass; detail=no-rule"
        )
        # The entries live in Redis under the store's prefix, with the rule's TTL.
        inspector = redis.Redis.from_url(redis_clean_url)
        try:
            pttls = sorted(int(inspector.pttl(k)) for k in entry_keys(inspector, "fastapi-route"))
        finally:
            inspector.close()
        assert len(pttls) == 2
        assert 43_000 <= pttls[0] <= 45_000
        assert 58_000 <= pttls[1] <= 60_000
        assert store.invalidate(tags=["item:3"]) == 1
        assert not client.request("GET", "/below/3").hit
    finally:
        store.close()


def test_fastapi_routers_and_mounts(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    router = APIRouter()

    @router.get("/items/{item_id}")
    @cache_route(ttl=60)
    async def read(item_id: str) -> dict[str, str]:
        calls["router"] += 1
        return {"id": item_id}

    sub = FastAPI()

    @sub.get("/health")
    @cache_route(ttl=60)
    async def health() -> dict[str, bool]:
        calls["sub"] += 1
        return {"ok": True}

    inner = APIRouter()

    @inner.get("/deep")
    @cache_route(ttl=60)
    async def deep() -> dict[str, str]:
        calls["inner"] += 1
        return {"deep": "yes"}

    router.include_router(inner, prefix="/inner")
    app = FastAPI()
    app.include_router(router, prefix="/api/v2")
    app.mount("/internal", sub)
    app.add_middleware(CacheMiddleware, store=MemoryStore())
    client = serve(app)
    assert_cached(client, "/api/v2/items/x", calls, "router")
    assert_cached(client, "/api/v2/inner/deep", calls, "inner")
    assert_cached(client, "/internal/health", calls, "sub")


def test_a_put_on_a_cached_fastapi_route_invalidates_it(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    app = FastAPI()
    data = {"value": "old"}

    @app.get("/data/{data_id}")
    @cache_route(ttl=60, tags=["data:{data_id}"])
    async def read(data_id: int) -> dict[str, str]:
        calls["read"] += 1
        return data

    @app.put("/data/{data_id}")
    async def write(data_id: int) -> dict[str, str]:
        data["value"] = "new"
        return data

    app.add_middleware(CacheMiddleware, store=MemoryStore())
    client = serve(app)
    assert_cached(client, "/data/1", calls, "read")
    assert client.request("PUT", "/data/1").status == 200
    fresh = client.request("GET", "/data/1")
    assert fresh.body == b'{"value":"new"}'
    assert calls["read"] == 2


# -- configuration errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ttl": -1}, "ttl must not be negative"),
        ({"ttl": "60"}, "ttl must be a number"),
        ({"ttl": 60, "colour": "blue"}, "cache_route: unknown option 'colour'"),
        ({"ttl": 60, "cookies": "sometimes"}, "cookies must be 'bypass' or 'ignore'"),
        ({"ttl": 60, "methods": ["GET TOO"]}, "methods must be HTTP method names, got 'GET TOO'"),
        ({"ttl": 60, "jitter": 2}, "jitter must be between 0 and 1"),
        ({"ttl": 60, "tags": ["item:{0}"]}, "uses {0}"),
        ({"ttl": 60, "max_body_size": -5}, "max_body_size"),
    ],
)
def test_bad_decorator_options_fail_at_decoration(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cache_route(**options)
    assert message in str(caught.value)
    assert str(caught.value).startswith("cache_route: ")


def test_a_template_naming_a_missing_path_parameter_fails_loudly(serve: Serve) -> None:
    @cache_route(ttl=60, tags=["item:{item_id}"])  # the route's parameter is {id}
    async def item(request: Request) -> Response:
        return PlainTextResponse("item")

    app = Starlette(routes=[Route("/items/{id}", item)])
    app.add_middleware(CacheMiddleware, store=MemoryStore())
    client = serve(app)
    for _ in range(2):  # not once and then silently uncached
        assert client.request("GET", "/items/1").status == 500
        error = client.errors.pop()
        assert isinstance(error, ConfigurationError)
        assert "'item'" in str(error)
        assert "{item_id}" in str(error)
    with pytest.raises(ConfigurationError):
        discover_rules(app)


def test_a_literal_route_beside_a_decorated_one_is_not_cached(serve: Serve) -> None:
    # /items/new is routed to its own, undecorated endpoint: the decorated
    # /items/{id}'s rule must not cache it although its template matches the path.
    calls: Counter[str] = Counter()

    async def new_form(request: Request) -> Response:
        calls["new"] += 1
        return PlainTextResponse(f"form #{calls['new']}")

    @cache_route(ttl=60)
    async def item(request: Request) -> Response:
        calls["item"] += 1
        return PlainTextResponse(f"item {request.path_params['id']}")

    app = Starlette(routes=[Route("/items/new", new_form), Route("/items/{id}", item)])
    app.add_middleware(CacheMiddleware, store=MemoryStore())
    client = serve(app)
    first, second = twice(client, "/items/new")
    assert (first.body, second.body) == (b"form #1", b"form #2")
    assert second.cache_status == "routecache; fwd=bypass; detail=no-rule"
    assert_cached(client, "/items/7", calls, "item")


def test_fastapi_literal_route_beside_a_decorated_one_is_not_cached(serve: Serve) -> None:
    calls: Counter[str] = Counter()
    router = APIRouter()

    @router.get("/items/new")
    async def new_form() -> dict[str, int]:
        calls["new"] += 1
        return {"form": calls["new"]}

    @router.get("/items/{item_id}")
    @cache_route(ttl=60)
    async def read(item_id: str) -> dict[str, str]:
        calls["item"] += 1
        return {"id": item_id}

    app = FastAPI()
    app.include_router(router, prefix="/api")
    app.add_middleware(CacheMiddleware, store=MemoryStore())
    client = serve(app)
    first, second = twice(client, "/api/items/new")
    assert first.status == second.status == 200
    assert calls["new"] == 2
    assert not second.hit
    assert_cached(client, "/api/items/7", calls, "item")
