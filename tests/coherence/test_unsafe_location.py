"""``Location`` / ``Content-Location`` invalidation is opt-in and for 2xx answers only.

``POST /items/7/`` gets Starlette's ``307`` to ``/items/7`` (a GET-only route): that
redirect used to purge ``/items/7``, a purge button for anyone. Now nothing but the
target is invalidated unless ``invalidate_location=True``, and even then only a 2xx
answer's same-origin targets count. Real Starlette routing, real private Redis.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import routecache
from routecache import Rule
from routecache.adapters.starlette import CacheMiddleware
from tests.conformance.harness import ASGIClient

calls = itertools.count(1)


@pytest.fixture(params=[False, True], ids=["default", "invalidate_location"])
def client(request: pytest.FixtureRequest, redis_clean_url: str) -> Iterator[ASGIClient]:
    async def item(request: Request) -> Response:
        return PlainTextResponse(f"{request.url.path} #{next(calls)}")

    async def create(request: Request) -> Response:
        # 201 with a same-origin Location and a cross-origin Content-Location.
        return PlainTextResponse(
            "created",
            status_code=201,
            headers={"location": "/items/8", "content-location": "http://other.example/items/9"},
        )

    app = Starlette(
        routes=[
            Route("/items/{id}", item, methods=["GET"]),
            Route("/items", create, methods=["POST"]),
        ]
    )
    store = routecache.AsyncRedisStore(redis_clean_url, prefix="location")
    app.add_middleware(
        CacheMiddleware,
        store=store,
        rules=[Rule("/items/{id}", ttl=300)],
        invalidate_location=request.param,
    )
    asgi = ASGIClient(app, store=store)
    asgi.invalidate_location = request.param  # type: ignore[attr-defined]
    yield asgi
    asgi.close()


def _warm(client: ASGIClient, path: str) -> bytes:
    assert client.request("GET", path).cache_status == "routecache; fwd=uri-miss; stored"
    hit = client.request("GET", path)
    assert hit.hit
    return hit.body


def test_a_redirect_of_an_unsafe_request_never_purges_its_location(client: ASGIClient) -> None:
    body = _warm(client, "/items/7")
    redirect = client.request("POST", "/items/7/", body=b"{}")
    assert (redirect.status, redirect.header("location")) == (307, "http://testserver/items/7")
    again = client.request("GET", "/items/7")
    assert again.hit
    assert again.body == body


def test_a_2xx_location_is_invalidated_only_when_enabled(client: ASGIClient) -> None:
    eight = _warm(client, "/items/8")
    nine = _warm(client, "/items/9")
    created = client.request("POST", "/items", body=b"{}")
    assert created.status == 201
    after = client.request("GET", "/items/8")
    if client.invalidate_location:  # type: ignore[attr-defined]
        assert after.cache_status == "routecache; fwd=uri-miss; stored"
        assert after.body != eight
    else:
        assert after.hit
        assert after.body == eight
    # Another origin's path is never touched.
    other = client.request("GET", "/items/9")
    assert other.hit
    assert other.body == nine


def test_a_bad_invalidate_location_fails_at_start_up_naming_the_setting() -> None:
    from django.core import checks
    from django.test import override_settings
    from flask import Flask

    from routecache import ConfigurationError
    from routecache.adapters.flask import RouteCache
    from routecache.middleware.config import CacheConfig
    from tests.adapters.django.settings import configure

    with pytest.raises(ConfigurationError, match="invalidate_location must be True or False"):
        CacheConfig(invalidate_location="yes")
    app = Flask(__name__)
    app.config["ROUTECACHE_INVALIDATE_LOCATION"] = 1
    with pytest.raises(ConfigurationError, match="ROUTECACHE_INVALIDATE_LOCATION"):
        RouteCache().init_app(app)
    app.config["ROUTECACHE_INVALIDATE_LOCATION"] = True
    RouteCache(app)
    assert app.wsgi_app.policy.invalidate_location is True  # type: ignore[attr-defined]

    configure()
    with override_settings(ROUTECACHE={"INVALIDATE_LOCATION": "on"}):
        messages = [m for m in checks.run_checks() if m.id == "routecache.E003"]
    assert len(messages) == 1
    assert "ROUTECACHE['INVALIDATE_LOCATION']" in messages[0].msg
