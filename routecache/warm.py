"""Cache warming: request a list of URLs through the app itself, so the middleware
stores their responses before real traffic arrives.

Keys include the host and scheme, so warm with the ``host`` (and ``scheme``) your
clients use. Works for any ASGI or WSGI app that has routecache installed::

    from routecache.warm import warm
    warm(app, ["/items/1", "/items/2?fields=name"], host="www.example.com")
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["load_app", "warm"]

Result = tuple[str, int, str]


def load_app(spec: str) -> Any:
    """Import ``"package.module:attribute"`` (the uvicorn/gunicorn notation)."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    app = module
    for part in (attribute or "app").split("."):
        app = getattr(app, part)
    return app


def _is_asgi(app: Any) -> bool:
    if inspect.iscoroutinefunction(app):
        return True
    # Class instances (Starlette, Django's ASGIHandler): look at their __call__.
    return inspect.iscoroutinefunction(type(app).__call__)


def warm(
    app: Any,
    urls: Iterable[str],
    *,
    host: str = "localhost",
    scheme: str = "http",
    headers: Mapping[str, str] | None = None,
    done: Callable[[Result], object] | None = None,
) -> list[Result]:
    """GET each URL through ``app``; returns ``(url, status, Cache-Status)`` per URL.

    Args:
        app: an ASGI app (run on an event loop of its own, with ``asyncio.run``) or a
            WSGI app, with routecache installed.
        urls: paths with an optional query string (``/items/1?fields=name``).
        host: the ``Host`` the requests carry; keys include it, so use the one your
            clients send.
        scheme: ``"http"`` or ``"https"``, the scheme the app sees (also keyed).
        headers: extra request headers sent with every URL (a rule's ``vary``
            headers, say); a ``Cookie`` would make the requests bypass the cache.
        done: called with each result as it comes (the command line's progress bar).
    """
    extra = dict(headers or {})
    if _is_asgi(app):
        return asyncio.run(_warm_asgi(app, list(urls), host, scheme, extra, done))
    results = []
    for url in urls:
        results.append(_get_wsgi(app, url, host, scheme, extra))
        if done is not None:
            done(results[-1])
    return results


async def _warm_asgi(
    app: Any,
    urls: list[str],
    host: str,
    scheme: str,
    headers: dict[str, str],
    done: Callable[[Result], object] | None,
) -> list[Result]:
    results = []
    for url in urls:
        results.append(await _get_asgi(app, url, host, scheme, headers))
        if done is not None:
            done(results[-1])
    return results


async def _get_asgi(app: Any, url: str, host: str, scheme: str, headers: dict[str, str]) -> Result:
    parts = urlsplit(url)
    raw_headers = [(b"host", host.encode("latin-1"))]
    raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": scheme,
        "path": unquote(parts.path or "/"),
        "raw_path": (parts.path or "/").encode("latin-1"),
        "query_string": parts.query.encode("latin-1"),
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 0),
        "server": (host, 443 if scheme == "https" else 80),
    }
    status = 0
    cache_status = ""
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, cache_status
        if message["type"] == "http.response.start":
            status = message["status"]
            for k, v in message.get("headers", []):
                if bytes(k).lower() == b"cache-status":
                    cache_status = bytes(v).decode("latin-1")

    await app(scope, receive, send)
    return url, status, cache_status


def _get_wsgi(app: Any, url: str, host: str, scheme: str, headers: dict[str, str]) -> Result:
    parts = urlsplit(url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(parts.path or "/").encode("utf-8").decode("latin-1"),
        "QUERY_STRING": parts.query,
        # The raw target, as gunicorn/uWSGI give it: keys include it (issue 10).
        "REQUEST_URI": (parts.path or "/") + ("?" + parts.query if parts.query else ""),
        "RAW_URI": (parts.path or "/") + ("?" + parts.query if parts.query else ""),
        "SERVER_NAME": host.split(":")[0],
        "SERVER_PORT": "443" if scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured: dict[str, Any] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        captured["status"] = int(status[:3])
        captured["cache_status"] = next(
            (v for k, v in response_headers if k.lower() == "cache-status"), ""
        )
        return lambda data: None

    result = app(environ, start_response)
    try:
        for _ in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return url, captured.get("status", 0), captured.get("cache_status", "")
