"""Django bindings: ``django_sync`` (WSGIHandler) and ``django_async`` (ASGIHandler).

Settings are configured once per process (``tests/adapters/django/settings.py``).
Each client gets its own cache configuration without touching the others': a
settings dict of its own (``ROUTECACHE_CONFORMANCE_<n>``, holding ``"STORE": store``,
the rules and the options, upper-cased) read by a ``CacheMiddleware`` subclass made
for it, and a fresh handler built with that middleware. A catch-all ``re_path`` for
every method hands each request to the origin: a sync view under WSGI, an async view
under ASGI (a small middleware below the cache picks the URLconf). The origin
travels in the WSGI environ / ASGI scope, so background refreshes reach it too.

``django_sync_front`` and ``django_async_front`` are the same handlers behind the
front wrappers (``routecache.adapters.django.wsgi`` / ``asgi``), which answer fresh
hits before Django runs: every case runs through them too.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.test import override_settings
from django.urls import URLPattern, re_path

from routecache.adapters.django import CacheMiddleware, asgi, wsgi
from routecache.adapters.django.conf import reset
from tests.adapters.django.settings import configure

from ..harness import (
    ASGIClient,
    Origin,
    Reply,
    Seen,
    WSGIClient,
    body_chunks,
    register,
    reply_headers,
)

configure()

ORIGIN_KEY = "conformance.origin"
#: The origin of the request being handled, for a background refresh: it is built from
#: the key's facts alone, so it carries no scope or environ key of ours.
_CURRENT_ORIGIN: contextvars.ContextVar[Origin] = contextvars.ContextVar("origin")
_numbers = itertools.count()
_module = sys.modules[__name__]


def _seen(request: HttpRequest) -> Seen:
    headers: dict[str, str] = {}
    for key, value in request.META.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    if request.META.get("CONTENT_TYPE"):
        headers["content-type"] = str(request.META["CONTENT_TYPE"])
    if request.META.get("CONTENT_LENGTH"):
        headers["content-length"] = str(request.META["CONTENT_LENGTH"])
    return Seen(
        request.method or "GET",
        request.path,
        str(request.META.get("QUERY_STRING", "")),
        headers,
        request.body,
    )


def _origin(request: HttpRequest) -> Origin:
    scope = getattr(request, "scope", None)
    if scope is not None and ORIGIN_KEY in scope:
        return scope[ORIGIN_KEY]  # type: ignore[no-any-return]
    if ORIGIN_KEY in request.META:
        return request.META[ORIGIN_KEY]  # type: ignore[no-any-return]
    return _CURRENT_ORIGIN.get()


def _dress(response: HttpResponseBase, reply: Reply) -> HttpResponseBase:
    del response.headers["Content-Type"]
    for name, value in reply_headers(reply):
        if name.lower() == "set-cookie":
            response.cookies.load(value)
        elif name in response.headers:
            response.headers[name] = f"{response.headers[name]}, {value}"
        else:
            response.headers[name] = value
    return response


def _sync_response(reply: Reply) -> HttpResponseBase:
    if isinstance(reply.body, list):
        chunks = body_chunks(reply)

        def stream() -> Iterator[bytes]:
            yield from chunks

        return _dress(StreamingHttpResponse(stream(), status=reply.status), reply)
    return _dress(HttpResponse(reply.body, status=reply.status), reply)


def _async_response(reply: Reply) -> HttpResponseBase:
    if isinstance(reply.body, list):
        chunks = body_chunks(reply)

        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return _dress(StreamingHttpResponse(stream(), status=reply.status), reply)
    return _dress(HttpResponse(reply.body, status=reply.status), reply)


def sync_view(request: HttpRequest) -> HttpResponseBase:
    """Hand the request to the origin (WSGI)."""
    reply = _origin(request)(_seen(request))
    if reply.delay:
        time.sleep(reply.delay)
    if reply.error:
        raise RuntimeError("the origin failed")
    return _sync_response(reply)


async def async_view(request: HttpRequest) -> HttpResponseBase:
    """Hand the request to the origin (ASGI)."""
    reply = _origin(request)(_seen(request))
    if reply.delay:
        await asyncio.sleep(reply.delay)
    if reply.error:
        raise RuntimeError("the origin failed")
    return _async_response(reply)


class SyncURLs:
    """The catch-all URLconf of the WSGI binding."""

    urlpatterns: ClassVar[list[URLPattern]] = [re_path(r"^.*$", sync_view)]


class AsyncURLs:
    """The catch-all URLconf of the ASGI binding."""

    urlpatterns: ClassVar[list[URLPattern]] = [re_path(r"^.*$", async_view)]


class UseOriginURLs:
    """Routes every request to the catch-all view of its handler's kind."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.urls = AsyncURLs if iscoroutinefunction(get_response) else SyncURLs
        if self.urls is AsyncURLs:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        setattr(request, "urlconf", self.urls)  # noqa: B010 - stubs type it as a str
        return self.get_response(request)


def _middleware_for(cache_options: dict[str, Any]) -> tuple[str, str]:
    """A settings dict and a CacheMiddleware subclass reading it; their names."""
    n = next(_numbers)
    setting = f"ROUTECACHE_CONFORMANCE_{n}"
    value: dict[str, Any] = {}
    for name, option in cache_options.items():
        key = name.upper()
        value["RULES" if key == "RULES" else key] = option
    setattr(settings, setting, value)
    cls = type(f"Cache{n}", (CacheMiddleware,), {"setting": setting, "__module__": __name__})
    setattr(_module, cls.__name__, cls)
    return setting, f"{__name__}.{cls.__name__}"


def _forget(setting: str, middleware: str) -> None:
    reset(setting)
    delattr(settings, setting)
    delattr(_module, middleware.rsplit(".", 1)[1])


class _OriginWSGI:
    def __init__(self, handler: WSGIHandler, origin: Origin) -> None:
        self.handler = handler
        self.origin = origin

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ[ORIGIN_KEY] = self.origin
        _CURRENT_ORIGIN.set(self.origin)  # kept until the response is closed
        return self.handler(environ, start_response)


class _OriginASGI:
    def __init__(self, handler: ASGIHandler, origin: Origin) -> None:
        self.handler = handler
        self.origin = origin

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope = dict(scope)
        scope[ORIGIN_KEY] = self.origin
        _CURRENT_ORIGIN.set(self.origin)
        await self.handler(scope, receive, send)


class _Closing:
    """A client that forgets its settings dict when closed."""

    def __init__(self, client: Any, setting: str, middleware: str) -> None:
        self.client = client
        self.setting = setting
        self.middleware = middleware

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        return self.client.request(*args, **kwargs)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            _forget(self.setting, self.middleware)


@register("django_sync")
class DjangoSyncAdapter:
    """Django's WSGIHandler with the middleware in sync mode, a sync view."""

    name = "django_sync"
    #: Whether the handler is behind the front wrapper (fresh hits before Django).
    front = False

    def client(self, origin: Origin, **cache_options: Any) -> Any:
        setting, middleware = _middleware_for(cache_options)
        with override_settings(MIDDLEWARE=[middleware, f"{__name__}.UseOriginURLs"]):
            handler: Any = WSGIHandler()
            if self.front:
                handler = wsgi(handler)
        return _Closing(WSGIClient(_OriginWSGI(handler, origin)), setting, middleware)


@register("django_async")
class DjangoAsyncAdapter:
    """Django's ASGIHandler with the middleware in async mode, an async view."""

    name = "django_async"
    #: Whether the handler is behind the front wrapper (fresh hits before Django).
    front = False

    def client(self, origin: Origin, **cache_options: Any) -> Any:
        setting, middleware = _middleware_for(cache_options)
        with override_settings(MIDDLEWARE=[middleware, f"{__name__}.UseOriginURLs"]):
            handler: Any = ASGIHandler()
            if self.front:
                handler = asgi(handler)
        client = ASGIClient(_OriginASGI(handler, origin), store=cache_options.get("store"))
        return _Closing(client, setting, middleware)


@register("django_sync_front")
class DjangoSyncFrontAdapter(DjangoSyncAdapter):
    """``django_sync`` behind ``routecache.adapters.django.wsgi``."""

    name = "django_sync_front"
    front = True


@register("django_async_front")
class DjangoAsyncFrontAdapter(DjangoAsyncAdapter):
    """``django_async`` behind ``routecache.adapters.django.asgi``."""

    name = "django_async_front"
    front = True
