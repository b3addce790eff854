"""Starlette and FastAPI bindings: a catch-all route handing requests to the origin."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from routecache.adapters.starlette import CacheMiddleware

from ..harness import ASGIClient, Origin, Reply, Seen, body_chunks, register, reply_headers

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _seen(request: Request) -> Seen:
    return Seen(
        request.method,
        request.url.path,
        request.url.query,
        {k.lower(): v for k, v in request.headers.items()},
        await request.body(),
    )


def _response(reply: Reply) -> Response:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply_headers(reply)]
    if isinstance(reply.body, list):
        chunks = body_chunks(reply)

        async def stream() -> Any:
            for chunk in chunks:
                yield chunk

        response: Response = StreamingResponse(stream(), status_code=reply.status)
    else:
        response = Response(reply.body, status_code=reply.status)
        if reply.status in (204, 304) or reply.status < 200:
            response.raw_headers = [h for h in response.raw_headers if h[0] != b"content-length"]
    response.raw_headers = [h for h in response.raw_headers if h[0] != b"content-type"] + raw
    return response


async def _answer(origin: Origin, request: Request) -> Response:
    reply = origin(await _seen(request))
    if reply.delay:
        await asyncio.sleep(reply.delay)
    if reply.error:
        raise RuntimeError("the origin failed")
    return _response(reply)


@register("starlette")
class StarletteAdapter:
    """A Starlette app with ``app.add_middleware(CacheMiddleware, ...)``."""

    name = "starlette"

    def client(self, origin: Origin, **cache_options: Any) -> ASGIClient:
        async def endpoint(request: Request) -> Response:
            return await _answer(origin, request)

        app = Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)])
        app.add_middleware(CacheMiddleware, **cache_options)
        return ASGIClient(app, store=cache_options.get("store"))


@register("fastapi")
class FastAPIAdapter:
    """A FastAPI app with ``app.add_middleware(CacheMiddleware, ...)``."""

    name = "fastapi"

    def client(self, origin: Origin, **cache_options: Any) -> ASGIClient:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=METHODS)
        async def endpoint(request: Request) -> Response:
            return await _answer(origin, request)

        app.add_middleware(CacheMiddleware, **cache_options)
        return ASGIClient(app, store=cache_options.get("store"))
