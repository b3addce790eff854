"""Every driver around one scripted origin, for the coherence tests.

``asgi`` and ``wsgi`` are the bare drivers (``routecache.middleware.asgi`` /
``routecache.middleware.wsgi``) around a raw ASGI / WSGI callable; the others are the
conformance suite's framework bindings (Starlette, Flask, Django sync and async).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any

from routecache.middleware.asgi import CacheMiddleware as ASGICache
from routecache.middleware.wsgi import CacheMiddleware as WSGICache
from tests.conformance import bindings
from tests.conformance.harness import (
    ADAPTERS,
    ASGIClient,
    Client,
    Origin,
    Seen,
    WSGIClient,
    asgi_seen,
    body_chunks,
    reply_headers,
)

for _module in pkgutil.iter_modules(bindings.__path__):
    importlib.import_module(f"{bindings.__name__}.{_module.name}")

#: One per driver family: the bare drivers and each adapter (FastAPI is Starlette's).
DRIVERS = ["asgi", "wsgi", "starlette", "flask", "django_sync", "django_async"]


def _asgi_origin(origin: Origin) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reply = origin(await asgi_seen(scope, receive))
        headers = [(k.lower().encode(), v.encode()) for k, v in reply_headers(reply)]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        chunks = body_chunks(reply)
        for n, chunk in enumerate(chunks):
            more = n < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


def _wsgi_origin(origin: Origin) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        headers = {
            k[5:].replace("_", "-").lower(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        seen = Seen(
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            environ.get("QUERY_STRING", ""),
            headers,
            body,
        )
        reply = origin(seen)
        start_response(f"{reply.status} X", reply_headers(reply))
        return body_chunks(reply)

    return app


def make_client(kind: str, origin: Origin, **options: Any) -> Client:
    """A client of ``origin`` cached by the driver ``kind`` with ``options``."""
    if kind == "asgi":
        return ASGIClient(ASGICache(_asgi_origin(origin), **options), store=options.get("store"))
    if kind == "wsgi":
        return WSGIClient(WSGICache(_wsgi_origin(origin), **options))
    return ADAPTERS[kind]().client(origin, **options)
