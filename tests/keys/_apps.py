"""Echo apps behind routecache, one per adapter, driven with raw requests.

Each echo view answers with what its framework gave it (method, host, scheme, mount
prefix, path, raw target, raw query, the varied headers and cookies, and the
rewriting headers an app or its middleware may honour), as canonical JSON. Requests
are built as real servers build them from the bytes on the wire: an ASGI scope as
uvicorn makes it (lossy ``path``, exact ``raw_path``), a WSGI environ as gunicorn
makes it (``PATH_INFO`` percent-decoded, ``REQUEST_URI``/``RAW_URI`` raw, a
``SCRIPT_NAME`` request header honoured, repeated fields joined with ``,``).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote, unquote_to_bytes

from fastapi import Request as FastAPIRequest

from tests.conformance.harness import ASGIClient, Resp

#: The headers the echo reports and its responses vary on (the rules of these tests
#: may declare ``accept-language``), and the cookies they vary on.
VARY: tuple[str, ...] = ("accept-language", "accept-encoding")
VARY_COOKIES: tuple[str, ...] = ("theme",)
#: Headers that rewrite what an app sees, when the app or a middleware honours them.
WATCHED: tuple[str, ...] = (
    "forwarded",
    "script-name",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-http-method",
    "x-http-method-override",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
)
#: Every echo varies on the language and the coding (a rule may declare or learn them).
VARY_FIELD = ("Vary", "Accept-Language, Accept-Encoding")

Lines = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Raw:
    """A request as it arrives on the wire (after the server's own parsing)."""

    target: bytes = b"/"
    headers: tuple[tuple[bytes, bytes], ...] = ((b"host", b"testserver"),)
    method: str = "GET"
    scheme: str = "http"
    root_path: str = ""

    def with_headers(self, *extra: tuple[bytes, bytes]) -> Raw:
        """The same request with ``extra`` header lines appended."""
        return Raw(self.target, (*self.headers, *extra), self.method, self.scheme, self.root_path)


def canonical_host(host: str, scheme: str) -> str:
    """The two documented host normalisations: case, and a lone default port."""
    host = host.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    if default and host.endswith(default) and host.count(":") == 1:
        host = host[: -len(default)]
    return host


def sorted_query(query: str) -> list[str]:
    """The documented query normalisation: segments stably sorted by raw name."""
    if not query:
        return []
    return sorted(query.split("&"), key=lambda s: s.partition("=")[0])


def echo(**seen: Any) -> bytes:
    """The echo body: canonical JSON of what the view saw."""
    seen["host"] = canonical_host(seen["host"], seen["scheme"])
    seen["query"] = sorted_query(seen["query"])
    return json.dumps(seen, sort_keys=True, ensure_ascii=True).encode()


# -- wire -> scope / environ ----------------------------------------------------------


def asgi_scope(raw: Raw) -> dict[str, Any]:
    """The scope uvicorn builds for ``raw``."""
    raw_path, _, query = raw.target.partition(b"?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": raw.method,
        "scheme": raw.scheme,
        "path": raw.root_path + unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": raw.root_path,
        "headers": [(k.lower(), v) for k, v in raw.headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


def wsgi_environ(raw: Raw) -> dict[str, Any] | None:
    """The environ gunicorn builds for ``raw`` (``None``: gunicorn answers 400)."""
    path, _, query = raw.target.partition(b"?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": raw.method,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query.decode("latin-1"),
        "REQUEST_URI": raw.target.decode("latin-1"),
        "RAW_URI": raw.target.decode("latin-1"),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": raw.scheme,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    script = ""
    for name, value in raw.headers:
        key = name.decode("latin-1").upper()
        text = value.decode("latin-1")
        if key == "SCRIPT_NAME":  # gunicorn: the header as spelled, underscore and all
            script = text
        if key == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = text
            continue
        if key == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = text
            continue
        wkey = "HTTP_" + key.replace("-", "_")
        environ[wkey] = f"{environ[wkey]},{text}" if wkey in environ else text
    path_info = unquote_to_bytes(path).decode("latin-1")
    if script:
        if not path_info.startswith(script):
            return None
        path_info = path_info[len(script) :]
    environ["SCRIPT_NAME"] = script
    environ["PATH_INFO"] = path_info
    return environ


# -- senders --------------------------------------------------------------------------


class Sender:
    """Sends raw requests to one app; ``close()`` when done."""

    def send(self, raw: Raw) -> Resp:
        """Send one request; the response as the client gets it."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the app's resources."""


class ASGISender(Sender):
    """Runs an ASGI app on the harness client's persistent loop."""

    def __init__(self, app: Any, store: Any = None) -> None:
        self.client = ASGIClient(app, store=store)

    def send(self, raw: Raw) -> Resp:
        return self.client.run(self._send(raw))  # type: ignore[no-any-return]

    async def _send(self, raw: Raw) -> Resp:
        status = 0
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        sent = False
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # the client stays until the response is complete
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        try:
            await self.client.app(asgi_scope(raw), receive, send)
        finally:
            done.set()
        return Resp(status, headers, b"".join(chunks))

    def close(self) -> None:
        self.client.close()


class WSGISender(Sender):
    """Calls a WSGI app like a server: iterate the body, then close it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def send(self, raw: Raw) -> Resp:
        environ = wsgi_environ(raw)
        if environ is None:
            return Resp(400, [], b"gunicorn: SCRIPT_NAME is not a prefix of the path")
        captured: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            captured["status"] = int(status[:3])
            captured["headers"] = [(k.lower(), v) for k, v in headers]
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return Resp(captured["status"], captured["headers"], body)


# -- the apps -------------------------------------------------------------------------


def _starlette_echo(request: Any) -> Any:
    from starlette.responses import Response

    scope = request.scope
    headers = request.headers
    body = echo(
        method=request.method,
        host=headers.get("host") or "testserver",
        scheme=request.url.scheme,
        prefix=scope.get("root_path", ""),
        path=scope["path"],
        raw_path=scope.get("raw_path", b"").decode("latin-1"),
        query=scope.get("query_string", b"").decode("latin-1"),
        vary={n: headers.getlist(n) for n in VARY},
        cookies={n: request.cookies.get(n) for n in VARY_COOKIES},
        rewriting={n: headers.getlist(n) for n in WATCHED if n in headers},
    )
    return Response(body, media_type="application/json", headers=dict([VARY_FIELD]))


def starlette_app(**options: Any) -> Sender:
    """The Starlette echo app behind ``CacheMiddleware(**options)``."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    from routecache.adapters.starlette import CacheMiddleware

    async def endpoint(request: Any) -> Any:
        return _starlette_echo(request)

    app = Starlette(routes=[Route("/{path:path}", endpoint)])
    app.add_middleware(CacheMiddleware, **options)
    return ASGISender(app, options.get("store"))


def fastapi_app(**options: Any) -> Sender:
    """The FastAPI echo app behind ``CacheMiddleware(**options)``."""
    from fastapi import FastAPI

    from routecache.adapters.starlette import CacheMiddleware

    app = FastAPI()

    @app.get("/{path:path}")
    async def endpoint(request: FastAPIRequest) -> Any:
        return _starlette_echo(request)

    app.add_middleware(CacheMiddleware, **options)
    return ASGISender(app, options.get("store"))


def flask_app(*, proxy_fix: Mapping[str, int] | None = None, **options: Any) -> Sender:
    """The Flask echo app; ``proxy_fix``: wrap ``app.wsgi_app`` in werkzeug's
    ``ProxyFix`` with these counts after ``RouteCache`` (outside the cache), as the
    README says; ``{"inside": 1, ...}`` puts it inside the cache instead."""
    import flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from routecache.adapters.flask import RouteCache

    app = flask.Flask("routecache_keys")
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    def view(path: str = "") -> Any:
        request = flask.request
        environ = request.environ
        headers = request.headers
        body = echo(
            method=request.method,
            host=request.host,
            scheme=request.scheme,
            prefix=request.script_root,
            path=request.path,
            raw_path=str(environ.get("REQUEST_URI", "")).partition("?")[0],
            query=request.query_string.decode("latin-1"),
            vary={n: headers.getlist(n) for n in VARY},
            cookies={n: request.cookies.getlist(n)[-1:] for n in VARY_COOKIES},
            rewriting={n: headers.getlist(n) for n in WATCHED if n in headers},
        )
        return flask.Response(body, mimetype="application/json", headers=[VARY_FIELD])

    app.add_url_rule("/", "root", view)
    app.add_url_rule("/<path:path>", "any", view)
    counts = dict(proxy_fix or {})
    inside = counts.pop("inside", 0)
    if proxy_fix is not None and inside:
        app.wsgi_app = ProxyFix(app.wsgi_app, **counts)  # type: ignore[method-assign]
    RouteCache(app, **options)
    if proxy_fix is not None and not inside:
        app.wsgi_app = ProxyFix(app.wsgi_app, **counts)  # type: ignore[method-assign]
    return WSGISender(app)


# -- Django ---------------------------------------------------------------------------

_numbers = itertools.count()


def _django_echo(request: Any) -> Any:
    from django.http import HttpResponse

    meta = request.META
    scope = getattr(request, "scope", None)
    raw_path = (
        scope.get("raw_path", b"").decode("latin-1")
        if scope is not None
        else str(meta.get("REQUEST_URI", "")).partition("?")[0]
    )
    try:
        host = request.get_host()
    except Exception:
        host = "<disallowed>"
    headers = request.headers
    body = echo(
        method=request.method,
        host=host,
        scheme=request.scheme,
        prefix=request.path[: len(request.path) - len(request.path_info)],
        path=request.path_info,
        raw_path=raw_path,
        query=str(meta.get("QUERY_STRING", "")),
        vary={n: headers.get(n) for n in VARY},
        cookies={n: request.COOKIES.get(n) for n in VARY_COOKIES},
        rewriting={n: headers.get(n) for n in WATCHED if n in headers},
    )
    return HttpResponse(body, content_type="application/json", headers=dict([VARY_FIELD]))


def django_sync_view(request: Any) -> Any:
    """The echo view under WSGI."""
    return _django_echo(request)


async def django_async_view(request: Any) -> Any:
    """The echo view under ASGI."""
    return _django_echo(request)


class _SyncURLs:
    urlpatterns: ClassVar[list[Any]] = []


class _AsyncURLs:
    urlpatterns: ClassVar[list[Any]] = []


class UseEchoURLs:
    """Routes every request to the echo view of its handler's kind."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self.urls = _AsyncURLs if iscoroutinefunction(get_response) else _SyncURLs
        if self.urls is _AsyncURLs:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        request.urlconf = self.urls
        return self.get_response(request)


def _django_setup() -> None:
    from django.urls import re_path

    from tests.adapters.django.settings import configure

    configure()
    if not _SyncURLs.urlpatterns:
        _SyncURLs.urlpatterns = [re_path(r"^.*$", django_sync_view)]
        _AsyncURLs.urlpatterns = [re_path(r"^.*$", django_async_view)]


class _DjangoSender(Sender):
    def __init__(self, inner: Sender, setting: str, middleware: str) -> None:
        self.inner = inner
        self.setting = setting
        self.middleware = middleware

    def send(self, raw: Raw) -> Resp:
        return self.inner.send(raw)

    def close(self) -> None:
        from tests.conformance.bindings.django import _forget

        try:
            self.inner.close()
        finally:
            _forget(self.setting, self.middleware)


def _django_app(async_mode: bool, **options: Any) -> Sender:
    _django_setup()
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    from tests.conformance.bindings.django import _middleware_for

    setting, middleware = _middleware_for(options)
    with override_settings(MIDDLEWARE=[middleware, f"{__name__}.UseEchoURLs"]):
        if async_mode:
            inner: Sender = ASGISender(ASGIHandler(), options.get("store"))
        else:
            inner = WSGISender(WSGIHandler())
    return _DjangoSender(inner, setting, middleware)


def django_sync_app(**options: Any) -> Sender:
    """Django's WSGIHandler, the cache middleware configured with ``options``."""
    return _django_app(False, **options)


def django_async_app(**options: Any) -> Sender:
    """Django's ASGIHandler, the cache middleware configured with ``options``."""
    return _django_app(True, **options)


APPS: dict[str, Callable[..., Sender]] = {
    "starlette": starlette_app,
    "fastapi": fastapi_app,
    "flask": flask_app,
    "django_sync": django_sync_app,
    "django_async": django_async_app,
}
WSGI_APPS = ("flask", "django_sync")


@dataclass
class Pair:
    """A cached app and the same app without the cache (the reference answer)."""

    cached: Sender
    plain: Sender
    extra: list[Sender] = field(default_factory=list)

    def check(self, raw: Raw) -> Resp:
        """Send ``raw`` to the cached app; a hit must carry the body the app itself
        gives for ``raw``."""
        resp = self.cached.send(raw)
        if "; hit" in (resp.header("cache-status") or ""):
            assert resp.body == self.plain.send(raw).body, (raw, resp.header("cache-status"))
        return resp

    def close(self) -> None:
        for sender in (self.cached, self.plain, *self.extra):
            sender.close()
