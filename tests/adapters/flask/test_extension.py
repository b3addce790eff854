"""``RouteCache``: the app-factory form, ``app.config`` keys, registration, ``invalidate``."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Blueprint, Flask, Response, jsonify

import routecache.adapters.flask as flask_adapter
from routecache import ConfigurationError, MemoryStore, RedisStore, Rule
from routecache.adapters.flask import CONFIG_KEYS, RouteCache, RouteCacheState
from routecache.middleware.wsgi import CacheMiddleware
from tests.conformance.helpers import hit_ttl

from .conftest import Cleanup, Serve
from .helpers import assert_miss_then_hit, assert_not_cached, get

# -- the app-factory form -----------------------------------------------------------

cache = RouteCache()
CALLS: Counter[str] = Counter()
shop = Blueprint("shop", __name__, url_prefix="/shop")


@shop.get("/items/<int:id>")
@cache.route(ttl=60, tags=["item:{id}", "items"])
def read_item(id: int) -> Response:
    CALLS[f"item {id}"] += 1
    return jsonify(id=id, calls=CALLS[f"item {id}"])


@shop.get("/items")
@cache.route(ttl=60, tags=["items"])
def list_items() -> Response:
    CALLS["list"] += 1
    return jsonify(calls=CALLS["list"])


@shop.put("/items/<int:id>")
def write_item(id: int) -> Response:
    removed = cache.invalidate(tags=["items"])
    return jsonify(id=id, removed=removed)


@shop.post("/purge")
def purge_everything() -> Response:
    return jsonify(removed=cache.invalidate(everything=True))


@shop.post("/purge-path/<int:id>")
def purge_path(id: int) -> Response:
    return jsonify(removed=cache.invalidate(f"/shop/items/{id}"))


@shop.post("/purge-tag/<tag>")
def purge_tag(tag: str) -> Response:
    return jsonify(removed=cache.invalidate(tags=tag))  # one tag as a plain string


def create_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    app.register_blueprint(shop)
    cache.init_app(app)
    return app


def test_app_factory_and_blueprint(serve: Serve) -> None:
    one = serve(create_app())
    two = serve(create_app())
    hit = assert_miss_then_hit(one, "/shop/items/7")
    assert 59 <= hit_ttl(hit) <= 60
    assert_miss_then_hit(one, "/shop/items")
    # The second app has its own state and store: a miss there, a hit here.
    before = CALLS["item 7"]
    assert_miss_then_hit(two, "/shop/items/7")
    assert CALLS["item 7"] == before + 1
    assert get(one, "/shop/items/7").hit
    # The extension keeps no app: the state lives in each app's extensions.
    assert not any(isinstance(v, Flask) for v in vars(cache).values())
    states = [app.extensions["routecache"] for app in (one.head_app, two.head_app)]
    assert all(isinstance(s, RouteCacheState) for s in states)
    assert states[0].store is not states[1].store
    assert [r.path for r in states[0].rules] == ["/shop/items/<int:id>", "/shop/items"]


def test_routecache_app_form(serve: Serve) -> None:
    app = Flask(__name__)

    @app.get("/hello")
    @RouteCache.route(ttl=30)
    def hello() -> str:
        return "hello"

    ext = RouteCache(app, store=MemoryStore())
    assert isinstance(app.wsgi_app, CacheMiddleware)
    assert app.extensions["routecache"].extension is ext
    hit = assert_miss_then_hit(serve(app), "/hello")
    assert 29 <= hit_ttl(hit) <= 30


def test_flask_test_client_with_buffered_responses(cleanup: Cleanup) -> None:
    app = cleanup(create_app())
    client = app.test_client()
    miss = client.get("/shop/items/1", buffered=True)
    assert miss.headers["Cache-Status"] == "routecache; fwd=uri-miss; stored"
    hit = client.get("/shop/items/1", buffered=True)
    assert hit.headers["Cache-Status"].startswith("routecache; hit; ttl=")
    assert hit.get_json() == miss.get_json()


def test_double_registration_is_refused() -> None:
    app = create_app()
    with pytest.raises(ConfigurationError, match="already registered on the Flask app"):
        cache.init_app(app)
    with pytest.raises(ConfigurationError, match="already registered"):
        RouteCache(app)
    # The first registration is untouched.
    assert isinstance(app.wsgi_app, CacheMiddleware)
    assert not isinstance(app.wsgi_app.app, CacheMiddleware)


def test_config_defaults_are_set_and_user_values_kept() -> None:
    app = create_app(ROUTECACHE_DEFAULT_TTL=12)
    for key in CONFIG_KEYS:
        assert key in app.config
    assert app.config["ROUTECACHE_DEFAULT_TTL"] == 12
    assert app.config["ROUTECACHE_REDIS_URL"] is None
    assert app.config["ROUTECACHE_PREFIX"] == "routecache"
    assert app.config["ROUTECACHE_ENABLED"] is True
    assert app.config["ROUTECACHE_HONOR_CACHE_CONTROL"] is False
    assert app.config["ROUTECACHE_MAX_BODY_SIZE"] == 1024 * 1024
    assert set(CONFIG_KEYS) >= {
        "ROUTECACHE_REDIS_URL",
        "ROUTECACHE_REDIS_OPTIONS",
        "ROUTECACHE_PREFIX",
        "ROUTECACHE_RULES",
        "ROUTECACHE_DEFAULT_TTL",
        "ROUTECACHE_HONOR_CACHE_CONTROL",
        "ROUTECACHE_HONOR_REQUEST_CACHE_CONTROL",
        "ROUTECACHE_ENABLED",
    }


def test_no_redis_url_means_memory_store_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="routecache"):
        app = create_app(ROUTECACHE_PREFIX="mine")
    store = app.extensions["routecache"].store
    assert isinstance(store, MemoryStore)
    assert store.prefix == "mine"
    assert any("ROUTECACHE_REDIS_URL is not set" in r.getMessage() for r in caplog.records)


def test_redis_url_prefix_and_options(redis_clean_url: str, serve: Serve) -> None:
    app = create_app(
        ROUTECACHE_REDIS_URL=redis_clean_url,
        ROUTECACHE_PREFIX="flaskapp",
        ROUTECACHE_REDIS_OPTIONS={"timeout": 1.5, "breaker_threshold": 3},
    )
    store = app.extensions["routecache"].store
    assert isinstance(store, RedisStore)
    assert (store.url, store.prefix, store.timeout) == (redis_clean_url, "flaskapp", 1.5)
    assert store.settings["breaker_threshold"] == 3
    client = serve(app)
    assert_miss_then_hit(client, "/shop/items/3")
    plain = redis.Redis.from_url(redis_clean_url)
    try:
        keys = list(plain.scan_iter(count=1000))
        assert keys
        assert all(k.startswith(b"flaskapp:{") for k in keys), keys
    finally:
        plain.close()


def option_app(**config: Any) -> Flask:
    """An app whose cache is configured by ``config`` only."""
    app = Flask(__name__)
    app.config.update(config)

    @app.get("/ruled")
    @RouteCache.route()  # no ttl: ROUTECACHE_DEFAULT_TTL's
    def ruled() -> str:
        return "ruled"

    @app.get("/origin-says")
    def origin_says() -> Response:
        return Response("public", headers={"Cache-Control": "max-age=50"})

    @app.get("/small")
    def small() -> str:
        return "small"

    RouteCache(app, store=MemoryStore(), rules=[Rule("/small", ttl=60)])
    return app


def test_option_keys_are_read(serve: Serve) -> None:
    # Defaults: no freshness for /ruled, /origin-says has no rule.
    client = serve(option_app())
    assert get(client, "/ruled").cache_status == "routecache; fwd=uri-miss; detail=no-freshness"
    assert_not_cached(client, "/origin-says")

    client = serve(option_app(ROUTECACHE_DEFAULT_TTL=30))
    assert 29 <= hit_ttl(assert_miss_then_hit(client, "/ruled")) <= 30

    client = serve(option_app(ROUTECACHE_HONOR_CACHE_CONTROL=True))
    assert 49 <= hit_ttl(assert_miss_then_hit(client, "/origin-says")) <= 50

    client = serve(option_app(ROUTECACHE_HONOR_CACHE_CONTROL=True, ROUTECACHE_MAX_BODY_SIZE=4))
    assert "stored" not in get(client, "/origin-says").cache_status

    client = serve(option_app(ROUTECACHE_CACHE_NAME="edge"))
    assert get(client, "/small").cache_status == "edge; fwd=uri-miss; stored"

    client = serve(option_app(ROUTECACHE_DEBUG=True))
    assert "key=" in get(client, "/small").cache_status

    client = serve(option_app(ROUTECACHE_HONOR_REQUEST_CACHE_CONTROL=True))
    assert_miss_then_hit(client, "/small")
    forced = client.request("GET", "/small", {"Cache-Control": "no-cache"})
    assert not forced.hit


def test_constructor_options_win_over_config(
    redis_clean_url: str, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    app.config.update(ROUTECACHE_CACHE_NAME="from-config", ROUTECACHE_REDIS_URL=redis_clean_url)

    @app.get("/small")
    def small() -> str:
        return "small"

    store = MemoryStore()
    with caplog.at_level(logging.WARNING, logger="routecache"):
        RouteCache(app, store=store, cache_name="from-code", rules=[Rule("/small", ttl=5)])
    assert app.extensions["routecache"].store is store
    assert any(
        r.getMessage().startswith("routecache: ROUTECACHE_REDIS_URL ignored on")
        for r in caplog.records
    )
    client = serve(app)
    assert get(client, "/small").cache_status == "from-code; fwd=uri-miss; stored"


def test_config_rules_come_after_constructor_rules(serve: Serve) -> None:
    app = Flask(__name__)
    app.config["ROUTECACHE_RULES"] = [
        {"path": "/a/<int:id>", "ttl": 40},
        {"path": "/b", "ttl": 50},
    ]

    @app.get("/a/<int:id>")
    def a(id: int) -> str:
        return f"a {id}"

    @app.get("/b")
    def b() -> str:
        return "b"

    RouteCache(app, store=MemoryStore(), rules=[{"path": "/a/<int:id>", "ttl": 10}])
    assert [r.path for r in app.extensions["routecache"].rules] == ["/a/<int:id>"] * 2 + ["/b"]
    client = serve(app)
    assert 9 <= hit_ttl(assert_miss_then_hit(client, "/a/1")) <= 10
    assert 49 <= hit_ttl(assert_miss_then_hit(client, "/b")) <= 50


_THREE_RULES = [{"path": "/a", "ttl": 1}, {"path": "/b", "ttl": 1}]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"ROUTECACHE_DEFAULT_TTL": "soon"}, "ROUTECACHE_DEFAULT_TTL: default_ttl must be"),
        ({"ROUTECACHE_DEFAULT_TTL": -1}, "ROUTECACHE_DEFAULT_TTL"),
        ({"ROUTECACHE_HONOR_CACHE_CONTROL": "yes"}, "ROUTECACHE_HONOR_CACHE_CONTROL"),
        ({"ROUTECACHE_LOCK_TTL": 0}, "ROUTECACHE_LOCK_TTL: lock_ttl must be"),
        ({"ROUTECACHE_COMPRESSION": "brotli"}, "ROUTECACHE_COMPRESSION"),
        ({"ROUTECACHE_CACHE_NAME": "a b"}, "ROUTECACHE_CACHE_NAME"),
        ({"ROUTECACHE_PREFIX": "a{b}"}, "ROUTECACHE_PREFIX: prefix must be"),
        ({"ROUTECACHE_REDIS_URL": "http://localhost"}, "ROUTECACHE_REDIS_URL: bad Redis URL"),
        ({"ROUTECACHE_REDIS_URL": 6379}, "ROUTECACHE_REDIS_URL must be a URL"),
        (
            {"ROUTECACHE_REDIS_URL": "redis://x", "ROUTECACHE_REDIS_OPTIONS": {"timeot": 1}},
            "ROUTECACHE_REDIS_OPTIONS: unknown option 'timeot' (did you mean 'timeout'?)",
        ),
        (
            {"ROUTECACHE_REDIS_URL": "redis://x", "ROUTECACHE_REDIS_OPTIONS": {"timeout": -1}},
            "ROUTECACHE_REDIS_URL / ROUTECACHE_REDIS_OPTIONS: timeout must be",
        ),
        ({"ROUTECACHE_REDIS_OPTIONS": "timeout=1"}, "ROUTECACHE_REDIS_OPTIONS must be a dict"),
        ({"ROUTECACHE_RULES": {"path": "/a", "ttl": 1}}, "ROUTECACHE_RULES must be a list"),
        (
            {"ROUTECACHE_RULES": [*_THREE_RULES, {"path": "/c", "tll": 1}]},
            "ROUTECACHE_RULES[2]: unknown option 'tll' (did you mean 'ttl'?)",
        ),
        ({"ROUTECACHE_RULES": [*_THREE_RULES, {"ttl": 1}]}, "ROUTECACHE_RULES[2] needs a 'path'"),
        ({"ROUTECACHE_RULES": [{"path": "items", "ttl": 1}]}, "ROUTECACHE_RULES[0]: Rule path"),
        ({"ROUTECACHE_RULES": [{"path": "/a", "ttl": -5}]}, "ROUTECACHE_RULES[0]: Rule('/a'): ttl"),
        ({"ROUTECACHE_RULES": ["/a"]}, "ROUTECACHE_RULES[0] must be a dict"),
        ({"ROUTECACHE_ENABLED": "no"}, "ROUTECACHE_ENABLED must be True or False"),
        (
            {"ROUTECACHE_DEFAULT_TLL": 5},
            "app.config: unknown option 'ROUTECACHE_DEFAULT_TLL' "
            "(did you mean 'ROUTECACHE_DEFAULT_TTL'?)",
        ),
    ],
)
def test_bad_config_raises_naming_the_key(config: dict[str, Any], message: str) -> None:
    app = Flask(__name__)
    app.config.update(config)
    original = app.wsgi_app
    with pytest.raises(ConfigurationError) as raised:
        RouteCache().init_app(app)
    assert message in str(raised.value)
    assert "routecache" not in app.extensions
    assert app.wsgi_app == original


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bogus": 1}, "RouteCache: unknown option 'bogus' (valid options: "),
        ({"defualt_ttl": 1}, "RouteCache: unknown option 'defualt_ttl' (did you mean"),
        ({"default_ttl": -1}, "RouteCache: default_ttl must be"),
        ({"rules": [{"path": "/a", "tll": 1}]}, "RouteCache(rules=...)[0]: unknown option 'tll'"),
        ({"store": "redis://localhost"}, "store must be a RedisStore"),
    ],
)
def test_bad_constructor_arguments(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        RouteCache(**options)
    assert message in str(raised.value)


def test_disabled_installs_nothing(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="routecache"):
        app = create_app(ROUTECACHE_ENABLED=False, ROUTECACHE_DEFAULT_TTL="ignored")
    assert not isinstance(app.wsgi_app, CacheMiddleware)
    state = app.extensions["routecache"]
    assert (state.enabled, state.store, state.rules) == (False, None, ())
    assert "routecache" not in app.cli.commands
    assert not caplog.records  # no store was built, so no memory-store warning
    client = serve(app)
    before = CALLS["item 5"]
    for _ in range(2):
        resp = get(client, "/shop/items/5")
        assert resp.status == 200
        assert resp.header("cache-status") is None
    assert CALLS["item 5"] == before + 2
    assert client.request("PUT", "/shop/items/5").status == 200  # invalidate() is a no-op
    with pytest.raises(ConfigurationError, match="already registered"):
        cache.init_app(app)


def test_invalidate_from_views(serve: Serve) -> None:
    client = serve(create_app())
    assert_miss_then_hit(client, "/shop/items")
    assert_miss_then_hit(client, "/shop/items/1")
    assert_miss_then_hit(client, "/shop/items/2")
    # Tags: PUT /shop/items/1 calls cache.invalidate(tags=["items"]).
    put = client.request("PUT", "/shop/items/1")
    assert put.status == 200
    assert b'"removed":' in put.body
    assert not get(client, "/shop/items").hit
    assert not get(client, "/shop/items/2").hit
    # A path: only that one goes (all its query strings).
    assert_miss_then_hit(client, "/shop/items/1?page=2")
    assert get(client, "/shop/items/2").hit
    resp = client.request("POST", "/shop/purge-path/1")
    assert resp.status == 200
    assert not get(client, "/shop/items/1?page=2").hit
    assert get(client, "/shop/items/2").hit
    assert_miss_then_hit(client, "/shop/items/1")
    # One tag given as a plain string: tag "item:2", not the tags "i", "t", "e"...
    assert client.request("POST", "/shop/purge-tag/item:2").body == b'{"removed":1}\n'
    assert not get(client, "/shop/items/2").hit
    assert get(client, "/shop/items/1").hit
    # Everything.
    assert client.request("POST", "/shop/purge").status == 200
    assert not get(client, "/shop/items/1").hit


def test_invalidate_needs_an_app_with_routecache() -> None:
    app = Flask(__name__)
    with app.app_context(), pytest.raises(RuntimeError, match="not set up on the Flask app"):
        cache.invalidate(tags=["x"])
    with pytest.raises(RuntimeError, match="application context"):
        cache.invalidate(tags=["x"])


def test_missing_flask_gives_a_helpful_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flask", None)
    monkeypatch.setitem(sys.modules, "flask.cli", None)
    path = Path(flask_adapter.__file__)
    spec = importlib.util.spec_from_file_location("routecache.adapters._flask_probe", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(ImportError, match=r"pip install 'routecache\[flask\]'"):
        spec.loader.exec_module(module)
