"""Starlette's ``GZipMiddleware`` below the cache, with ``@cache_route`` turning
``normalize_accept_encoding`` on: it compresses by the normalised field, so a ``q=0``
exclusion it would not see is honoured, and the browsers' spellings share one entry."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from routecache import MemoryStore
from routecache.adapters.starlette import CacheMiddleware, cache_route

BODY = "hello " * 200


def test_gzip_middleware_acts_on_the_normalised_coding() -> None:
    calls: list[str | None] = []

    @cache_route(ttl=60, normalize_accept_encoding=True)
    async def page(request: Request) -> PlainTextResponse:
        calls.append(request.headers.get("accept-encoding"))
        return PlainTextResponse(BODY)

    app = Starlette(routes=[Route("/page", page)])
    app.add_middleware(GZipMiddleware, minimum_size=100)
    app.add_middleware(CacheMiddleware, store=MemoryStore())  # outermost: above GZip
    with TestClient(app) as client:
        # GZipMiddleware alone would compress this one: it looks for "gzip" anywhere.
        plain = client.get("/page", headers={"accept-encoding": "gzip;q=0, br"})
        assert "content-encoding" not in plain.headers
        assert plain.text == BODY
        for spelling in ["gzip, deflate, br", "br;q=1.0, gzip;q=0.8, *;q=0.1", "GZIP"]:
            resp = client.get("/page", headers={"accept-encoding": spelling})
            assert resp.headers["content-encoding"] == "gzip"
            assert resp.headers["vary"] == "Accept-Encoding"
            assert resp.text == BODY  # httpx decompressed it
    assert calls == ["identity", "gzip"]
