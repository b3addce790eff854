"""The coherence checker's origin on Starlette (run by uvicorn with 2 workers).

``GET /k/{key}`` reads the key's version from the version store (a private Redis
database that is not the cache's), then takes up to ``CK_DELAY`` seconds (a view
still working after it read its row); ``PUT /k/{key}`` bumps the version. Env:
``CK_CACHE_URL``, ``CK_VERSION_URL``, ``CK_PREFIX``, ``CK_DELAY``, ``CK_NEAR`` (``1``: the
store has a near cache).
"""

from __future__ import annotations

import asyncio
import os
import random

import redis.asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from routecache import AsyncRedisStore, NearCache, Rule
from routecache.adapters.starlette import CacheMiddleware

DELAY = float(os.environ.get("CK_DELAY", "0.02"))
_versions = redis.asyncio.Redis.from_url(os.environ["CK_VERSION_URL"])


async def ping(request: Request) -> Response:
    return PlainTextResponse(str(os.getpid()))


async def item(request: Request) -> Response:
    key = request.path_params["key"]
    if request.method == "PUT":
        version = int(await _versions.incr(f"v:{key}"))
        return PlainTextResponse(f"{key} v{version}")
    version = int(await _versions.get(f"v:{key}") or 0)
    await asyncio.sleep(random.uniform(0, DELAY))
    return PlainTextResponse(f"{key} v{version}")


app = Starlette(routes=[Route("/ping", ping), Route("/k/{key}", item, methods=["GET", "PUT"])])
app.add_middleware(
    CacheMiddleware,
    store=AsyncRedisStore(
        os.environ["CK_CACHE_URL"],
        prefix=os.environ["CK_PREFIX"],
        near_cache=NearCache() if os.environ.get("CK_NEAR") == "1" else None,
    ),
    rules=[Rule("/k/{key}", ttl=60)],
)
