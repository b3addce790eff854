"""Fresh hits answered in front of Django: wrappers for its ASGI and WSGI applications.

Usage (``asgi.py`` / ``wsgi.py`` of the project)::

    from django.core.asgi import get_asgi_application
    from routecache.adapters.django import asgi

    application = asgi(get_asgi_application())

    # or, under WSGI
    from django.core.wsgi import get_wsgi_application
    from routecache.adapters.django import wsgi

    application = wsgi(get_wsgi_application())

A request the cache can answer with a fresh entry is answered by the wrapper, before
Django's handler runs (no request object handed to middleware, no signals, no thread
hop, no URL resolution). Everything else goes to Django unchanged, where
``routecache.adapters.django.CacheMiddleware`` does the rest as without the wrapper:
misses and stores, stale entries and their refreshes, revalidations, unsafe methods
and their invalidations, bypasses, store faults.

The wrapper and the middleware share one running cache (``conf.get_state``): the same
settings, rules (``ROUTECACHE["RULES"]``, then the ``@cache_route`` views found in the
URLconf), engines and store, and the request goes through the same conversion
(``facts_from_request`` on the request object Django itself would build) and
``plan_request``, so both compute the same key and the same response. A hit from the
wrapper sends the bytes a hit from the middleware sends.

Because a wrapper hit skips every middleware, the wrapper requires the cache
middleware to be the **first** entry of ``MIDDLEWARE`` (it raises
``ConfigurationError`` naming ``MIDDLEWARE`` otherwise): a middleware above it would
change the middleware's hits (``SecurityMiddleware``'s headers, its HTTPS redirect)
and not the wrapper's. Below the cache, its response headers are stored with the entry
and replayed by both.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.client import responses
from typing import Any, Final

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.asgi import get_script_prefix as asgi_script_prefix
from django.core.handlers.wsgi import WSGIRequest, get_script_name
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

from ...middleware.plans import Action, Served
from . import conf
from .middleware import CacheMiddleware, plan_request

__all__ = ["ASGIFront", "WSGIFront", "asgi", "cache_setting", "wsgi"]

logger = logging.getLogger("routecache")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_CACHE_MIDDLEWARE: Final = "routecache.adapters.django.CacheMiddleware"
#: The body stream of the requests the ASGI wrapper builds: never read (a request
#: with a body bypasses the cache, and goes to Django with its own stream).
_NO_BODY: Final = io.BytesIO(b"")


def cache_setting() -> str:
    """The settings dict of the cache middleware at the top of ``MIDDLEWARE``.

    Raises :class:`~routecache.ConfigurationError` (an ``ImproperlyConfigured``) when
    the first entry of ``MIDDLEWARE`` is not ``CacheMiddleware`` or a subclass.
    """
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    first = middleware[0] if middleware else None
    cls: Any = None
    if isinstance(first, str):
        try:
            cls = import_string(first)
        except ImportError:
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, CacheMiddleware)):
        where = f"MIDDLEWARE[0] is {first!r}" if first is not None else "MIDDLEWARE is empty"
        raise conf.SettingsError(
            f"MIDDLEWARE: the routecache front wrapper needs {_CACHE_MIDDLEWARE!r} as the "
            f"first entry ({where}): its hits skip every middleware, so one above the "
            f"cache would answer differently with and without the wrapper. Move it to "
            f"the top (middleware below it, such as SecurityMiddleware, has its response "
            f"headers stored with the entry)."
        )
    return str(cls.setting)


def _wsgi_status(status: int) -> str:
    """The status line Django's WSGI handler sends (``HttpResponse.reason_phrase``)."""
    return f"{status} {responses.get(status, 'Unknown Status Code')}"


class ASGIFront:
    """An ASGI application answering fresh hits before Django's (see the module)."""

    __slots__ = ("app", "setting")

    def __init__(self, app: ASGIApp, setting: str) -> None:
        self.app = app
        #: The settings dict of the cache (that of the middleware at the top).
        self.setting = setting

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} setting={self.setting!r} app={self.app!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send a fresh hit, or hand the request to Django."""
        if scope["type"] == "http":
            served = await self._hit(scope)
            if served is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": served.status,
                        "headers": served.headers,
                    }
                )
                await send({"type": "http.response.body", "body": served.body})
                return
        await self.app(scope, receive, send)

    async def _hit(self, scope: Scope) -> Served | None:
        try:
            state = conf.get_state(self.setting)
            # What ASGIHandler.handle does before it builds the request.
            set_script_prefix(asgi_script_prefix(scope))
            plan = plan_request(state, ASGIRequest(scope, _NO_BODY))
            if plan is None or plan.action != Action.LOOKUP:
                return None
            engine = state.async_engine()
            verdict = await engine.lookup(plan, collapse=False)
            if not verdict.answers_alone:
                return None
            return engine.serve(plan, verdict)
        except Exception:
            logger.exception("routecache: the front wrapper failed; handing the request to Django")
            return None


class WSGIFront:
    """A WSGI application answering fresh hits before Django's (see the module)."""

    __slots__ = ("app", "setting")

    def __init__(self, app: WSGIApp, setting: str) -> None:
        self.app = app
        #: The settings dict of the cache (that of the middleware at the top).
        self.setting = setting

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} setting={self.setting!r} app={self.app!r}>"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Send a fresh hit, or hand the request to Django."""
        served = self._hit(environ)
        if served is None:
            return self.app(environ, start_response)
        start_response(
            _wsgi_status(served.status),
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in served.headers],
        )
        return [served.body]

    def _hit(self, environ: dict[str, Any]) -> Served | None:
        try:
            state = conf.get_state(self.setting)
            # What WSGIHandler.__call__ does before it builds the request.
            set_script_prefix(get_script_name(environ))
            # A copy: WSGIRequest rewrites PATH_INFO and SCRIPT_NAME in its environ.
            plan = plan_request(state, WSGIRequest(environ.copy()))
            if plan is None or plan.action != Action.LOOKUP:
                return None
            engine = state.sync_engine()
            verdict = engine.lookup(plan, collapse=False)
            if not verdict.answers_alone:
                return None
            return engine.serve(plan, verdict)
        except Exception:
            logger.exception("routecache: the front wrapper failed; handing the request to Django")
            return None


def asgi(application: ASGIApp) -> ASGIFront:
    """Wrap Django's ASGI application (``get_asgi_application()``) so fresh hits are
    answered before it runs. Call it after ``django.setup()`` (which
    ``get_asgi_application`` does); bad settings and a ``MIDDLEWARE`` without the cache
    middleware at the top raise :class:`~routecache.ConfigurationError` here."""
    setting = cache_setting()
    conf.get_state(setting)
    return ASGIFront(application, setting)


def wsgi(application: WSGIApp) -> WSGIFront:
    """Wrap Django's WSGI application (``get_wsgi_application()``) so fresh hits are
    answered before it runs; as :func:`asgi`."""
    setting = cache_setting()
    conf.get_state(setting)
    return WSGIFront(application, setting)
