"""Starlette app with routecache's Starlette middleware (run by uvicorn workers).

``uvicorn tests.patterns.apps.starlette_app:app --workers 2`` with ``RC_*`` set
(see ``common.py``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from routecache import AsyncRedisStore
from routecache.adapters.starlette import CacheMiddleware
from tests.patterns.apps import common

_client: Any = None
_sync_client: Any = None


def client() -> Any:
    global _client
    if _client is None:
        _client = common.async_client()
    return _client


def sync_client() -> Any:
    global _sync_client
    if _sync_client is None:
        _sync_client = common.sync_client()
    return _sync_client


async def view(request: Request) -> Response:
    path = request.url.path
    redis = client()
    call = int(await redis.incr(common.calls_key(path)))
    await redis.hincrby(common.pids_key(path), str(common.PID), 1)
    if path.startswith("/slow/") and call == 1 and common.FIRST_SLEEP:
        await redis.set(common.leader_key(path), str(common.PID))
        await asyncio.sleep(common.FIRST_SLEEP)
    else:
        await asyncio.sleep(common.sleep_for(path, request.query_params.get("sleep")))
    lang = request.headers.get("accept-language", "")
    outcome = common.Outcome(path, call, lang, await redis.get(common.fail_key(path)))
    if outcome.raise_error:
        raise RuntimeError(f"the view failed on purpose (call {call})")
    if path.startswith("/wb/") and common.WB_DELAY:
        common.slow_down_redis(sync_client())  # the DEBUG SLEEP runs when the response goes out
    response = Response(outcome.body, status_code=outcome.status)
    for name, value in outcome.headers:
        response.headers[name] = value
    return response


async def admin(request: Request) -> Response:
    return PlainTextResponse("updated")


async def ping(request: Request) -> Response:
    await asyncio.sleep(0.05)
    return PlainTextResponse(str(os.getpid()))


class WorkerPid:
    """Outermost middleware: says which worker process answered (hits included)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-worker-pid", str(common.PID).encode()),
                ]
            await send(message)

        await self.app(scope, receive, tagged)


app = Starlette(
    routes=[
        Route("/ping", ping),
        Route("/admin/items/{id}", admin, methods=["POST"]),
        Route("/{rest:path}", view, methods=["GET", "HEAD"]),
    ]
)
app.add_middleware(
    CacheMiddleware,
    store=AsyncRedisStore(common.REDIS_URL, **common.store_options()),
    rules=common.rule_dicts(),
    **common.engine_options(),
)
app.add_middleware(WorkerPid)
