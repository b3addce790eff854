"""Flask: the bare ceiling, the Flask-Caching anchor and routecache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmarks.apps import common

if TYPE_CHECKING:
    from flask import Flask


def _app() -> Flask:
    from flask import Flask

    return Flask("bench")


def make_bare() -> Any:
    """Bare Flask returning the prebuilt body: the ceiling."""
    app = _app()
    body = common.PREBUILT_BODY

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Any:
        return app.response_class(body, mimetype=common.CONTENT_TYPE)

    return app


def _add_slow_view(app: Any, decorator: Any = None) -> None:
    from flask import request

    def item(item_id: int) -> Any:
        body = common.slow_view_sync(item_id, request.args.get("fields", ""))
        return app.response_class(body, mimetype=common.CONTENT_TYPE)

    view = decorator(item) if decorator is not None else item
    app.add_url_rule("/items/<int:item_id>", "item", view, methods=["GET"])


def make_flask_caching() -> Any:
    """Flask + Flask-Caching with ``CACHE_TYPE="RedisCache"``, as its docs show.

    ``@cache.cached(timeout=..., query_string=True)``: the docs' way for a view whose
    result depends on the query string (the default key is the path alone). The view
    returns a ready ``Response``; Flask-Caching pickles it (cachelib's RedisCache) and
    returns the unpickled object on a hit.
    """
    from flask_caching import Cache

    app = _app()
    cache = Cache(
        app,
        config={
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": common.REDIS_URL,
            "CACHE_DEFAULT_TIMEOUT": common.TTL,
        },
    )
    _add_slow_view(app, cache.cached(timeout=common.TTL, query_string=True))
    return app


def make_routecache(near: bool = False) -> Any:
    """Flask + routecache: the public API of DESIGN.md."""
    import routecache
    import routecache.adapters.flask

    app = _app()
    _add_slow_view(app)
    routecache.adapters.flask.RouteCache(
        app,
        store=routecache.RedisStore(
            common.REDIS_URL, near_cache=routecache.NearCache() if near else None
        ),
        rules=[routecache.Rule(common.PATH_TEMPLATE, ttl=common.TTL)],
    )
    return app


def make_routecache_near() -> Any:
    """Flask + routecache with a near cache (L1, 64 MiB)."""
    return make_routecache(near=True)
