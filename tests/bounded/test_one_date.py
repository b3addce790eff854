"""Exactly one ``Date`` line per response under real servers (RFC 9110 §6.6.1).

uvicorn and gunicorn add their own ``Date`` to every response, whatever the app sent;
``Date`` is a singleton field, so routecache sends none of its own: the server's
(current) date goes out, and a hit's age is in ``Age``. The stored entry keeps the
origin's date for its own use (age, ``If-Modified-Since``). See ``docs/architecture.md``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from routecache import MemoryStore, Rule
from routecache.adapters.starlette import CacheMiddleware
from routecache.middleware.headers import parse_http_date
from tests.bounded._support import RawClient, RawResponse, uvicorn_thread
from tests.conformance.harness import wait_until


def _one_date(resp: RawResponse) -> None:
    dates = resp.all("date")
    assert len(dates) == 1, resp.headers
    when = parse_http_date(dates[0])
    assert when is not None
    assert abs(when - time.time()) < 5  # the server's current date


def test_uvicorn_misses_hits_and_304s_carry_one_date() -> None:
    calls = []

    async def page(request: Request) -> Response:
        calls.append(1)
        return PlainTextResponse("page", headers={"etag": '"v1"'})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield

    app = Starlette(routes=[Route("/page", page)], lifespan=lifespan)
    app.add_middleware(CacheMiddleware, store=MemoryStore(), rules=[Rule("/page", ttl=60)])
    with uvicorn_thread(app) as port:
        client = RawClient(port)
        try:
            miss = client.get("/page")
            assert "fwd=uri-miss" in (miss.header("cache-status") or "")
            _one_date(miss)

            def hit() -> bool:
                resp = client.get("/page")
                _one_date(resp)
                return "; hit" in (resp.header("cache-status") or "")

            assert wait_until(hit)  # write-behind: the entry lands after the response
            not_modified = client.get("/page", {"If-None-Match": '"v1"'})
            assert not_modified.status == 304
            _one_date(not_modified)
            assert len(calls) == 1
        finally:
            client.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flask", "django"])
def test_gunicorn_misses_and_hits_carry_one_date(kind: str, redis_clean_url: str) -> None:
    from tests.patterns._support import app_env, serve

    with serve(kind, app_env(redis_clean_url, view_sleep=0), workers=1, threads=2) as server:
        client = RawClient(server.port)
        try:
            miss = client.get("/other/1")
            assert "fwd=uri-miss" in (miss.header("cache-status") or "")
            _one_date(miss)

            def hit() -> bool:
                resp = client.get("/other/1")
                _one_date(resp)
                return "; hit" in (resp.header("cache-status") or "")

            assert wait_until(hit)
        finally:
            client.close()
