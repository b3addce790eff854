"""routecache as a caching reverse proxy in front of any HTTP origin.

A catch-all Starlette route forwards every request to ``UPSTREAM`` with
``httpx.AsyncClient`` and streams the answer back (status, headers and body as
received, minus the hop-by-hop fields). Around it, routecache is a standards-following
shared cache: ``honor_cache_control=True`` and no rules, so what is cached, for how
long, and when it is revalidated is decided by the upstream's own ``Cache-Control``,
``Expires``, ``ETag``/``Last-Modified`` and ``Vary`` (RFC 9111). Nothing is cached
unless the upstream says it may be.

Run it (the upstream here is anything on port 8080)::

    UPSTREAM=http://127.0.0.1:8080 uvicorn --app-dir examples proxy_app:app --port 8000
    REDIS_URL=redis://127.0.0.1:6379/0 UPSTREAM=... uvicorn --app-dir examples proxy_app:app

then ``curl -i localhost:8000/some/path`` twice and look at ``Cache-Status``. An
upstream that cannot be reached gives ``502 Bad Gateway``; routecache answers with the
stale copy instead for up to ``STALE_IF_ERROR`` seconds (5 minutes) past its freshness,
or the window the upstream's own ``stale-if-error`` states, unless the upstream said
``must-revalidate``, ``proxy-revalidate``, ``s-maxage`` or ``no-cache`` (RFC 9111
§4.2.4). Heuristic freshness (a tenth of the time since ``Last-Modified``) is on, as
in any shared cache in front of an origin.

Request bodies are read whole before forwarding (a proxy for large uploads would
stream them too); response bodies are streamed, and kept by routecache up to its
``max_body_size`` when the upstream marked them cacheable.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from routecache import MemoryStore, RedisStore
from routecache.adapters.starlette import CacheMiddleware

__all__ = ["app", "build_app"]

UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:8080")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Seconds a stale copy may stand in for an unreachable or failing upstream.
STALE_IF_ERROR = 300.0

#: RFC 9110 §7.6.1: meaningful for one connection only, never forwarded. (Host is
#: set by httpx for the upstream; Content-Length by the body we send.)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}


def _end_to_end(
    headers: list[tuple[bytes, bytes]], also: frozenset[str] = HOP_BY_HOP
) -> list[tuple[bytes, bytes]]:
    """``headers`` without the hop-by-hop fields and those named in ``Connection``."""
    listed = {
        name.strip().lower()
        for key, value in headers
        if key.lower() == b"connection"
        for name in value.decode("latin-1").split(",")
    }
    dropped = also | listed
    return [
        (key.lower(), value)
        for key, value in headers
        if key.decode("latin-1").lower() not in dropped
    ]


def build_app(upstream: str = UPSTREAM, *, store: Any = None) -> Starlette:
    """The proxy for ``upstream`` (a base URL), cached in ``store``.

    Without a store: a ``RedisStore`` on ``REDIS_URL`` when it is set, else an
    in-process ``MemoryStore``.
    """
    base = upstream.rstrip("/")
    if store is None:
        redis_url = os.environ.get("REDIS_URL")
        store = RedisStore(redis_url) if redis_url else MemoryStore()
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False)

    async def forward(request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        url = base + raw_path.decode("latin-1")
        query = request.scope.get("query_string", b"")
        if query:
            url += "?" + query.decode("latin-1")
        headers = _end_to_end(list(request.headers.raw), _NOT_FORWARDED)
        # Without it httpx would ask for gzip and the client could get bytes it
        # cannot decode: the upstream sees what the client accepts, nothing more.
        if not any(key == b"accept-encoding" for key, _ in headers):
            headers.append((b"accept-encoding", b"identity"))
        client_host = request.client.host if request.client else ""
        headers += [
            (b"x-forwarded-for", client_host.encode("latin-1")),
            (b"x-forwarded-proto", request.url.scheme.encode("latin-1")),
            (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1")),
        ]
        body = await request.body()
        upstream_request = client.build_request(
            request.method, url, headers=headers, content=body or None
        )
        try:
            answer = await client.send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            return Response(
                f"upstream unavailable: {type(exc).__name__}\n",
                status_code=502,
                media_type="text/plain",
            )
        response = StreamingResponse(
            # Raw bytes: a gzip body stays gzip, matching its Content-Encoding.
            answer.aiter_raw(),
            status_code=answer.status_code,
            background=BackgroundTask(answer.aclose),
        )
        # Every field line as received (repeated ones such as Set-Cookie included).
        response.raw_headers = _end_to_end(list(answer.headers.raw))
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    app = Starlette(
        routes=[Route("/{path:path}", forward, methods=METHODS)],
        lifespan=lifespan,
    )
    app.add_middleware(
        CacheMiddleware, store=store, honor_cache_control=True, stale_if_error=STALE_IF_ERROR
    )
    app.state.upstream = base
    app.state.http = client
    return app


app = build_app()
