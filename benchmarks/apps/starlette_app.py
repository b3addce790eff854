"""Starlette: the bare ceiling and routecache's middleware."""

from __future__ import annotations

from typing import Any

from benchmarks.apps import common


def make_bare() -> Any:
    """Bare Starlette returning the prebuilt body (no sleep, no cache): the ceiling."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    body = common.PREBUILT_BODY

    async def item(request: Request) -> Response:
        return Response(body, media_type=common.CONTENT_TYPE)

    return Starlette(routes=[Route("/items/{id:int}", item)])


def _slow_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def item(request: Request) -> Response:
        body = await common.slow_view_async(
            request.path_params["id"], request.query_params.get("fields", "")
        )
        return Response(body, media_type=common.CONTENT_TYPE)

    return Starlette(routes=[Route("/items/{id:int}", item)])


def make_routecache(near: bool = False) -> Any:
    """Starlette + routecache: the public API of DESIGN.md."""
    import routecache
    import routecache.adapters.starlette

    app = _slow_app()
    app.add_middleware(
        routecache.adapters.starlette.CacheMiddleware,
        store=routecache.AsyncRedisStore(
            common.REDIS_URL, near_cache=routecache.NearCache() if near else None
        ),
        rules=[routecache.Rule(common.PATH_TEMPLATE, ttl=common.TTL)],
    )
    return app


def make_routecache_near() -> Any:
    """Starlette + routecache with a near cache (L1, 64 MiB)."""
    return make_routecache(near=True)
