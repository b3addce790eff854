"""Flask binding: a catch-all view handing requests to the origin, behind ``RouteCache``.

Each client is a fresh Flask app with ``/`` and ``/<path:path>`` routed, for every
method, to one view; ``RouteCache(app, **cache_options)`` wraps its ``wsgi_app`` and
``WSGIClient`` sends requests through werkzeug's ``LintMiddleware``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import flask

from routecache.adapters.flask import RouteCache

from ..harness import Origin, Reply, Seen, WSGIClient, body_chunks, register, reply_headers

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _seen() -> Seen:
    request = flask.request
    return Seen(
        request.method,
        request.path,
        request.query_string.decode("latin-1"),
        {k.lower(): v for k, v in request.headers.items()},
        request.get_data(),
    )


def _response(reply: Reply) -> flask.Response:
    if isinstance(reply.body, list):
        chunks = body_chunks(reply)

        def stream() -> Iterator[bytes]:
            yield from chunks

        response = flask.Response(stream(), status=reply.status)
    else:
        response = flask.Response(reply.body, status=reply.status)
    del response.headers["Content-Type"]
    for name, value in reply_headers(reply):
        response.headers.add(name, value)  # repeated fields stay repeated lines
    return response


@register("flask")
class FlaskAdapter:
    """A Flask app with ``RouteCache(app, ...)``."""

    name = "flask"

    def client(self, origin: Origin, **cache_options: Any) -> WSGIClient:
        app = flask.Flask("routecache_conformance")
        # The origin sees every path as sent (no redirect of "//" to "/").
        app.url_map.merge_slashes = False

        def view(path: str = "") -> flask.Response:
            reply = origin(_seen())
            if reply.delay:
                time.sleep(reply.delay)
            if reply.error:
                raise RuntimeError("the origin failed")
            return _response(reply)

        app.add_url_rule("/", "root", view, methods=METHODS)
        app.add_url_rule("/<path:path>", "any", view, methods=METHODS)
        RouteCache(app, **cache_options)
        return WSGIClient(app)
