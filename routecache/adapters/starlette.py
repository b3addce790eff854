"""Starlette and FastAPI: ``app.add_middleware(CacheMiddleware, ...)`` and ``@cache_route``.

Usage::

    from routecache import AsyncRedisStore, Rule
    from routecache.adapters.starlette import CacheMiddleware, cache_route

    app = FastAPI()
    app.add_middleware(CacheMiddleware, store=AsyncRedisStore("redis://localhost"))

    @app.get("/items/{id}")
    @cache_route(ttl=60, tags=["item:{id}"])
    async def read_item(id: int): ...

``@cache_route`` only records the rule's options on the endpoint (the function is
returned unchanged, so it works above or below the route decorator). On the first
request the middleware walks the app's routes (``Mount`` prefixes included) and turns
each decorated endpoint into a :class:`~routecache.Rule` for that route's path
template; explicit ``rules=`` come first. Everything else is the pure ASGI driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

try:
    from starlette.routing import BaseRoute, Match, Mount, Route
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from ._missing import missing

    raise missing("Starlette", "starlette", exc) from exc

from ..middleware.asgi import CacheMiddleware as _ASGICacheMiddleware
from ..middleware.asgi import Receive, Scope, Send
from ..middleware.errors import ConfigurationError
from ..middleware.rules import RoutedRuleSet, Rule, decorator_options

__all__ = ["CacheMiddleware", "cache_route", "discover_rules"]

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__routecache__"


def cache_route(ttl: float | None = None, **rule_options: Any) -> Callable[[F], F]:
    """Cache this endpoint's route for ``ttl`` seconds; other keyword arguments are
    :class:`~routecache.Rule` options (``vary``, ``tags``, ``stale_while_revalidate``...).

    Unknown options and bad values raise :class:`~routecache.ConfigurationError` right
    away; a tag or path template naming a parameter the route does not have raises when
    the middleware first sees the app's routes.
    """
    options = decorator_options({"ttl": ttl, **rule_options}, setting="cache_route")

    def decorate(endpoint: F) -> F:
        setattr(endpoint, ATTRIBUTE, options)
        return endpoint

    return decorate


def _options_of(endpoint: Any) -> dict[str, Any] | None:
    options = getattr(endpoint, ATTRIBUTE, None)
    if options is None and isinstance(endpoint, type):
        # HTTPEndpoint subclasses: the decorator may sit on the ``get`` method.
        options = getattr(getattr(endpoint, "get", None), ATTRIBUTE, None)
    return options if isinstance(options, dict) else None


def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterator[tuple[str, Any]]:
    """``(full path template, route)`` for every endpoint route; the route has
    ``endpoint`` and ``name``."""
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(route.routes or (), prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            yield from _included(route, prefix)


def _included(route: BaseRoute, prefix: str) -> Iterator[tuple[str, Any]]:
    """The routes of a router added with FastAPI's ``include_router`` (which keeps
    it as one lazy route since FastAPI 0.16x), with their prefixes applied."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - only FastAPI makes such routes
        return
    for context in iter_route_contexts([route]):
        path = getattr(context, "path", None)
        if isinstance(path, str) and getattr(context, "endpoint", None) is not None:
            yield prefix + path, context


def _discover(app: Any) -> list[tuple[Rule, Any]]:
    router = getattr(app, "router", app)
    found = []
    for path, route in _walk(getattr(router, "routes", ()), ""):
        options = _options_of(route.endpoint)
        if options is None:
            continue
        try:
            found.append((Rule(path, **options), route.endpoint))
        except ConfigurationError as exc:
            raise ConfigurationError(f"@cache_route on {route.name!r} ({path}): {exc}") from None
    return found


def discover_rules(app: Any) -> list[Rule]:
    """The rules for every ``@cache_route`` endpoint of a Starlette or FastAPI app."""
    return [rule for rule, _ in _discover(app)]


#: The router's choice could not be determined: the rule is trusted, as it was declared.
_UNKNOWN = object()


def _endpoint_for(routes: Iterable[BaseRoute], scope: dict[str, Any]) -> Any:
    """The endpoint the router sends ``scope`` to (``None``: no full match,
    ``_UNKNOWN``: a route whose choice cannot be read)."""
    for route in routes:
        try:
            match, child = route.matches(scope)
        except Exception:  # a custom route that cannot judge a synthetic scope
            return _UNKNOWN
        if match is Match.FULL:
            inner = getattr(route, "routes", None) if isinstance(route, Mount) else None
            if inner:
                return _endpoint_for(inner, {**scope, **child})
            endpoint = child.get("endpoint")
            if endpoint is not None:
                return endpoint
            if hasattr(route, "original_router"):
                return _included_endpoint(route, scope)
            return _UNKNOWN
    return None


def _included_endpoint(route: Any, scope: dict[str, Any]) -> Any:
    """The endpoint inside a router added with FastAPI's ``include_router`` (its
    ``matches`` does not say which route it picked)."""
    try:
        match, child, inner, context = route._match(scope)
    except Exception:  # another FastAPI version: trust the declared rule
        return _UNKNOWN
    if match is not Match.FULL or inner is None:
        return None
    if hasattr(inner, "original_router"):
        return _included_endpoint(inner, {**scope, **child})
    original = getattr(context, "original_route", None) or inner
    return getattr(original, "endpoint", None) or child.get("endpoint") or _UNKNOWN


class _RoutedRuleSet(RoutedRuleSet):
    """Discovered rules checked against the app's router (see :class:`RoutedRuleSet`)."""

    __slots__ = ("_routes",)

    def __init__(self, explicit: Iterable[Rule], found: list[tuple[Rule, Any]], app: Any) -> None:
        super().__init__(explicit, found)
        self._routes = getattr(getattr(app, "router", app), "routes", ())

    def routes_to(self, path: str, view: Any) -> bool:
        """Whether the router sends ``GET path`` to the endpoint ``view``."""
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "root_path": "",
            "headers": [],
            "query_string": b"",
        }
        endpoint = _endpoint_for(self._routes, scope)
        return endpoint is _UNKNOWN or endpoint is view


class CacheMiddleware(_ASGICacheMiddleware):
    """The ASGI driver, plus the rules of ``@cache_route`` endpoints.

    Use ``app.add_middleware(CacheMiddleware, store=..., rules=[...], **options)``;
    the options are those of :class:`~routecache.middleware.config.CacheConfig`.
    """

    def __init__(self, app: Any, *args: Any, **options: Any) -> None:
        # ``*args`` only so that type checkers accept ``app.add_middleware(CacheMiddleware,
        # store=...)``: Starlette's middleware factory protocol takes ``*args``.
        self._error: ConfigurationError | None = None
        try:
            if args:
                raise ConfigurationError("CacheMiddleware takes its options as keywords")
            super().__init__(app, **options)
        except ConfigurationError as exc:
            # Starlette builds its middleware stack when the app first runs: under a
            # server that is the lifespan startup, and an exception there reads as "no
            # lifespan support" and the server starts anyway. Fail the startup instead.
            self.app = app
            self._error = exc
            return
        self._explicit = self.policy.rules.rules
        self._discovered = False

    def _discover(self, scope: Scope) -> None:
        app = scope.get("app")
        if app is not None:
            # A bad template raises here, on every request until fixed: never a
            # silently uncached app.
            found = _discover(app)
            if found:
                self.policy.rules = _RoutedRuleSet(self._explicit, found, app)
        self._discovered = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._error is None and not self._discovered and scope["type"] in ("http", "lifespan"):
            try:
                self._discover(scope)  # at startup, so a bad @cache_route stops it
            except ConfigurationError as exc:
                self._error = exc
        if self._error is not None:
            if scope["type"] == "lifespan":
                await receive()  # lifespan.startup
                await send({"type": "lifespan.startup.failed", "message": str(self._error)})
            raise self._error
        await super().__call__(scope, receive, send)
