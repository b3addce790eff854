"""A typo or a bad value is one ``routecache.ConfigurationError`` wherever it is made,
naming the option, the value and the valid choices, raised when the app is built or
starts: never a ``TypeError`` naming an internal class, never on the first request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.testclient import TestClient

from routecache import (
    AsyncRedisStore,
    CacheConfig,
    ConfigurationError,
    MemoryStore,
    RedisStore,
    Rule,
)
from routecache.adapters.flask import RouteCache
from routecache.adapters.starlette import CacheMiddleware, cache_route
from routecache.middleware import asgi, wsgi


def message(build: Any) -> str:
    with pytest.raises(ConfigurationError) as raised:
        build()
    return str(raised.value)


def test_rule_typo_names_the_rule_and_the_closest_option() -> None:
    assert message(lambda: Rule("/search", ignore_param=["utm_*"])) == (
        "Rule('/search'): unknown option 'ignore_param' (did you mean 'ignore_params'?)"
    )


def test_rule_bad_value_names_option_value_and_choices() -> None:
    assert message(lambda: Rule("/search", cookies="sometimes")) == (
        "Rule('/search'): cookies must be 'bypass' or 'ignore', got 'sometimes'"
    )


def test_rule_typo_far_from_any_option_lists_them_all() -> None:
    text = message(lambda: Rule("/search", colour="red"))
    assert text.startswith("Rule('/search'): unknown option 'colour' (valid options: ")
    assert "ignore_params, invalidates" in text


@pytest.mark.parametrize("driver", [asgi.CacheMiddleware, wsgi.CacheMiddleware])
def test_driver_typo_names_the_driver_not_an_internal_class(driver: Any) -> None:
    assert message(lambda: driver(None, defualt_ttl=5)) == (
        "CacheMiddleware: unknown option 'defualt_ttl' (did you mean 'default_ttl'?)"
    )


def test_compression_says_it_once() -> None:
    assert message(lambda: CacheConfig(compression="brotli")) == (
        "compression must be 'auto', 'zstd', 'zlib' or None, got 'brotli'"
    )
    assert message(lambda: asgi.CacheMiddleware(None, compression="brotli")) == (
        "CacheMiddleware: compression must be 'auto', 'zstd', 'zlib' or None, got 'brotli'"
    )


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            lambda: RedisStore("redis://localhost", timout=1),
            "RedisStore: unknown option 'timout' (did you mean 'timeout'?)",
        ),
        (
            lambda: AsyncRedisStore("redis://localhost", multiplx=False),
            "AsyncRedisStore: unknown option 'multiplx' (did you mean 'multiplex'?)",
        ),
        (
            lambda: MemoryStore(max_byte=1024),
            "MemoryStore: unknown option 'max_byte' (did you mean 'max_bytes'?)",
        ),
    ],
)
def test_store_typos(build: Any, expected: str) -> None:
    assert message(build) == expected


def starlette_app(**options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(CacheMiddleware, **options)

    @app.get("/items/{id}")
    async def item(id: int) -> dict[str, int]:
        return {"id": id}

    return app


def test_starlette_app_does_not_start_with_a_typo() -> None:
    app = starlette_app(defualt_ttl=5)  # add_middleware only records it
    with pytest.raises(ConfigurationError, match="did you mean 'default_ttl'"), TestClient(app):
        pass  # pragma: no cover - the startup fails


def test_starlette_startup_fails_the_lifespan_protocol() -> None:
    """What a server (uvicorn) sees: ``lifespan.startup.failed`` with the message, so it
    exits instead of serving every request with a 500."""
    app = starlette_app(lock_ttl=-1)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(ConfigurationError):
        asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    assert sent == [
        {
            "type": "lifespan.startup.failed",
            "message": "CacheMiddleware: lock_ttl must be a positive number of seconds, got -1",
        }
    ]


def test_starlette_bad_cache_route_template_fails_at_startup() -> None:
    app = FastAPI()
    app.add_middleware(CacheMiddleware)

    @app.get("/items/{id}")
    @cache_route(ttl=5, tags=["item:{item_id}"])
    async def item(id: int) -> dict[str, int]:
        return {"id": id}

    with pytest.raises(ConfigurationError, match=r"item_id"), TestClient(app):
        pass  # pragma: no cover - the startup fails


def test_flask_typos_in_arguments_and_config() -> None:
    assert message(lambda: RouteCache(defualt_ttl=5)) == (
        "RouteCache: unknown option 'defualt_ttl' (did you mean 'default_ttl'?)"
    )
    app = Flask(__name__)
    app.config["ROUTECACHE_DEFUALT_TTL"] = 5
    assert message(lambda: RouteCache(app)) == (
        "app.config: unknown option 'ROUTECACHE_DEFUALT_TTL' "
        "(did you mean 'ROUTECACHE_DEFAULT_TTL'?)"
    )


def test_django_bad_setting_is_a_configuration_error() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import Client, override_settings

    from tests.adapters.django.settings import configure

    configure()
    with (
        override_settings(ROUTECACHE={"DEFUALT_TTL": 5}),
        pytest.raises(ConfigurationError) as raised,
    ):
        Client().get("/")
    assert isinstance(raised.value, ImproperlyConfigured)  # what Django expects too
    assert "ROUTECACHE: unknown option 'DEFUALT_TTL' (did you mean 'DEFAULT_TTL'?)" in str(
        raised.value
    )
