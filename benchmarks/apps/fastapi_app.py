"""FastAPI: the bare ceiling, the two anchors (cashews, fastapi-cache2) and routecache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from benchmarks.apps import common


def make_bare() -> Any:
    """Bare FastAPI returning the prebuilt body as a ready Response: the ceiling."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI()
    body = common.PREBUILT_BODY

    @app.get("/items/{item_id}")
    async def item(item_id: int, fields: str = "") -> Response:
        return Response(body, media_type=common.CONTENT_TYPE)

    return app


def make_routecache() -> Any:
    """FastAPI + routecache: the public API of DESIGN.md."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    import routecache
    import routecache.adapters.starlette

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int, fields: str = "") -> Response:
        body = await common.slow_view_async(item_id, fields)
        return Response(body, media_type=common.CONTENT_TYPE)

    app.add_middleware(
        routecache.adapters.starlette.CacheMiddleware,
        store=routecache.AsyncRedisStore(common.REDIS_URL),
        rules=[routecache.Rule(common.PATH_TEMPLATE, ttl=common.TTL)],
    )
    return app


def make_cashews() -> Any:
    """FastAPI + cashews (Redis backend), configured as its README shows for FastAPI.

    ``cache.setup(url)`` then ``@cache(ttl=...)`` under the route decorator. The endpoint
    returns a ready ``Response``: cashews pickles it (its default serializer) and hands the
    same object back on a hit, so FastAPI does no re-encoding. Left at the defaults:
    ``protected=True`` (concurrent misses of one key in ONE process share one call);
    ``lock=True`` is not used because it wraps the whole cached call, so every hit would
    also take and release a Redis lock. ``client_side=True`` is not used either: it keeps
    an in-process copy, which is a different (memory-cache) comparison.
    """
    from cashews import cache
    from fastapi import FastAPI
    from fastapi.responses import Response

    cache.setup(common.REDIS_URL)
    app = FastAPI()

    @app.get("/items/{item_id}")
    @cache(ttl=common.TTL)
    async def item(item_id: int, fields: str = "") -> Response:
        body = await common.slow_view_async(item_id, fields)
        return Response(body, media_type=common.CONTENT_TYPE)

    return app


def make_fastapi_cache2() -> Any:
    """FastAPI + fastapi-cache2 (RedisBackend), configured as its README shows.

    ``FastAPICache.init(RedisBackend(redis.asyncio.from_url(url)), prefix=...)`` in the
    lifespan, ``@cache(expire=...)`` under the route decorator, the default ``JsonCoder``.
    The library does not let the endpoint hand back stored bytes: its JsonCoder stores a
    returned ``JSONResponse``'s body, but on a hit it returns the *decoded* JSON (a dict),
    which FastAPI then encodes again (``jsonable_encoder`` + ``JSONResponse``). Returning a
    plain ``Response`` is not supported by JsonCoder, and PickleCoder is not the default.
    A hit also reads TTL + GET in a MULTI/EXEC pipeline (``get_with_ttl``).
    """
    import redis.asyncio
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from fastapi_cache import FastAPICache
    from fastapi_cache.backends.redis import RedisBackend
    from fastapi_cache.decorator import cache

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client = redis.asyncio.from_url(common.REDIS_URL)
        FastAPICache.init(RedisBackend(client), prefix="fastapi-cache")
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/items/{item_id}")
    @cache(expire=common.TTL)
    async def item(item_id: int, fields: str = "") -> JSONResponse:
        await common.count_call_async()
        await asyncio.sleep(common.VIEW_DELAY)
        return JSONResponse(common.make_payload(item_id, fields))

    return app
