"""The soak's origin, one module for both frameworks (``app_starlette`` under uvicorn,
``app_flask`` under gunicorn gthread; 2 workers each).

500 paths in three groups of rules with different TTLs, every tenth path varying on
``Accept-Language``; each path has a version in a version store that is not the cache's
Redis (the cache's Redis is restarted during the soak). ``PUT /<kind>/<n>`` bumps the
path's version; ``POST /group/<g>`` bumps every path of group ``g`` and invalidates the
tag ``group:<g>``. Every body starts with what identifies the request (``path lang``)
so a body that belongs to another URL or variant is caught, followed by the version
and padding of a size that depends on the path. Env: ``SK_CACHE_URL``,
``SK_VERSION_URL``, ``SK_PREFIX``.
"""

from __future__ import annotations

import os

PATHS = 500
GROUPS = 10
#: (path prefix, TTL in seconds)
KINDS = (("a", 1), ("b", 5), ("c", 60))
VARYING = 10  # every VARYING-th path varies on Accept-Language


def kind_of(n: int) -> str:
    """The path prefix (and so the rule) of path number ``n``."""
    return KINDS[n % len(KINDS)][0]


def group_of(n: int) -> int:
    """The tag group of path number ``n``."""
    return n % GROUPS


def body(path: str, lang: str, version: int, n: int) -> bytes:
    """What the origin answers: identity first, then the version, then padding."""
    return f"{path} {lang} v{version} ".encode() + b"x" * (64 + (n * 37) % 2000)


def rules() -> list[object]:
    """The routecache rules of the soak: one per TTL group (the app tags each entry
    ``group:<g>`` in ``Cache-Tag``), and the group write that invalidates a tag."""
    from routecache import Rule

    out: list[object] = [Rule(f"/{kind}/{{n}}", ttl=ttl) for kind, ttl in KINDS]
    out.append(Rule("/group/{g}", methods=["POST"], invalidates=["group:{g}"]))
    return out


def _lang(n: int, accept_language: str | None) -> str:
    return (accept_language or "-") if n % VARYING == 0 else "-"


def _headers(n: int) -> dict[str, str]:
    headers = {"Content-Type": "text/plain", "Cache-Tag": f"group:{group_of(n)}"}
    if n % VARYING == 0:
        headers["Vary"] = "Accept-Language"
    return headers


VERSION_URL = os.environ.get("SK_VERSION_URL", "")


def app_starlette() -> object:
    """The Starlette origin."""
    import redis.asyncio
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from routecache import AsyncRedisStore
    from routecache.adapters.starlette import CacheMiddleware

    versions = redis.asyncio.Redis.from_url(VERSION_URL)

    async def ping(request: Request) -> Response:
        return PlainTextResponse(str(os.getpid()))

    async def item(request: Request) -> Response:
        kind, n = request.path_params["kind"], int(request.path_params["n"])
        path = f"/{kind}/{n}"
        if request.method == "PUT":
            version = int(await versions.incr(f"v:{n}"))
            return PlainTextResponse(f"{path} - v{version}")
        version = int(await versions.get(f"v:{n}") or 0)
        lang = _lang(n, request.headers.get("accept-language"))
        return Response(body(path, lang, version, n), headers=_headers(n))

    async def group(request: Request) -> Response:
        g = int(request.path_params["g"])
        async with versions.pipeline(transaction=False) as pipe:
            for n in range(g, PATHS, GROUPS):
                pipe.incr(f"v:{n}")
            done = await pipe.execute()
        return PlainTextResponse(" ".join(str(v) for v in done))

    app = Starlette(
        routes=[
            Route("/ping", ping),
            Route("/{kind}/{n:int}", item, methods=["GET", "PUT"]),
            Route("/group/{g:int}", group, methods=["POST"]),
        ]
    )
    app.add_middleware(
        CacheMiddleware,
        store=AsyncRedisStore(os.environ["SK_CACHE_URL"], prefix=os.environ["SK_PREFIX"]),
        rules=rules(),
    )
    return app


def app_flask() -> object:
    """The Flask origin."""
    import redis
    from flask import Flask, request

    from routecache import RedisStore
    from routecache.adapters.flask import RouteCache

    versions = redis.Redis.from_url(VERSION_URL)
    app = Flask(__name__)

    @app.get("/ping")
    def ping() -> str:
        return str(os.getpid())

    @app.route("/<kind>/<int:n>", methods=["GET", "PUT"])
    def item(kind: str, n: int) -> object:
        path = f"/{kind}/{n}"
        if request.method == "PUT":
            return f"{path} - v{int(versions.incr(f'v:{n}'))}"
        version = int(versions.get(f"v:{n}") or 0)
        lang = _lang(n, request.headers.get("accept-language"))
        return body(path, lang, version, n), 200, _headers(n)

    @app.post("/group/<int:g>")
    def group(g: int) -> str:
        pipe = versions.pipeline(transaction=False)
        for n in range(g, PATHS, GROUPS):
            pipe.incr(f"v:{n}")
        return " ".join(str(v) for v in pipe.execute())

    RouteCache(
        app,
        store=RedisStore(os.environ["SK_CACHE_URL"], prefix=os.environ["SK_PREFIX"]),
        rules=rules(),
    )
    return app
