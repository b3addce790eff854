"""A Starlette app exporting routecache's counters to Prometheus in multiprocess mode
(served by uvicorn with 2 workers in ``test_prometheus.py``). Env: ``RC_REDIS_URL``,
``RC_PREFIX``, ``PROMETHEUS_MULTIPROC_DIR``."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routecache import AsyncRedisStore, Rule
from routecache.adapters.starlette import CacheMiddleware
from routecache.metrics import prometheus

PID = str(os.getpid()).encode()


async def ping(request: Request) -> Response:
    return PlainTextResponse(str(os.getpid()))


async def item(request: Request) -> Response:
    return PlainTextResponse("item " + request.path_params["id"])


async def metrics(request: Request) -> Response:
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class Pid:
    """Adds ``x-worker-pid`` to every response (outside the cache: hits too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-worker-pid", PID)]
            await send(message)

        await self.app(scope, receive, tagged)


app = Starlette(
    routes=[Route("/ping", ping), Route("/items/{id}", item), Route("/metrics", metrics)]
)
app.add_middleware(
    CacheMiddleware,
    store=AsyncRedisStore(os.environ["RC_REDIS_URL"], prefix=os.environ["RC_PREFIX"]),
    rules=[Rule("/items/{id}", ttl=300)],
)
app.add_middleware(Pid)
prometheus.register(interval=0.1)
