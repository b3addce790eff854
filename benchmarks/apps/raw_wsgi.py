"""Raw WSGI callable doing one sync redis-py GET: the reference for every WSGI row.

On a miss it does cache-aside by hand (view, then SET with the TTL); no stampede protection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from benchmarks.apps import common

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def make_redis() -> WSGIApp:
    """Raw WSGI + one ``redis.Redis`` GET per hit (hiredis parser when installed)."""
    import redis

    client = redis.Redis.from_url(common.REDIS_URL)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        query: str = environ.get("QUERY_STRING", "")
        try:
            if not path.startswith("/items/"):
                raise ValueError(path)
            item_id = int(path[7:])
        except ValueError:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        key = f"raw:{path}?{query}".encode("latin-1")
        body: bytes | None = client.get(key)  # type: ignore[assignment]
        if body is None:
            fields = parse_qs(query).get("fields", [""])[0]
            body = common.slow_view_sync(item_id, fields)
            client.set(key, body, ex=common.TTL)
        start_response(
            "200 OK",
            [("Content-Type", common.CONTENT_TYPE), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


def make_bare() -> WSGIApp:
    """Raw WSGI returning the prebuilt body, no Redis: gunicorn gthread's own ceiling."""
    body = common.PREBUILT_BODY
    headers = [("Content-Type", common.CONTENT_TYPE), ("Content-Length", str(len(body)))]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", headers)
        return [body]

    return app
