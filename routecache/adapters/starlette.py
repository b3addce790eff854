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

import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

try:
    from starlette.routing import BaseRoute, Mount, Route
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from ._missing import missing

    raise missing("Starlette", "starlette", exc) from exc

from ..middleware.asgi import CacheMiddleware as _ASGICacheMiddleware
from ..middleware.asgi import Receive, Scope, Send
from ..middleware.errors import ConfigurationError
from ..middleware.rules import Rule, RuleSet, check_rule_options

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
    options = {"ttl": ttl, **rule_options}
    check_rule_options(options, setting="cache_route")
    for name, value in options.items():
        # Materialise one-shot iterables: the options are used again at discovery.
        if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)):
            options[name] = tuple(value)
    _check_values(options)

    def decorate(endpoint: F) -> F:
        setattr(endpoint, ATTRIBUTE, options)
        return endpoint

    return decorate


def _check_values(options: dict[str, Any]) -> None:
    """Build a throw-away rule so bad values fail at decoration. The route's path is
    not known yet: the stand-in path has a parameter for each field the templates use."""
    fields: list[str] = []
    for name in ("tags", "invalidates"):
        templates = options.get(name)
        if not isinstance(templates, tuple):
            continue
        for template in templates:
            if not isinstance(template, str):
                continue
            try:
                parsed = list(string.Formatter().parse(template))
            except ValueError:
                continue  # the Rule reports the bad template
            for _, field, _, _ in parsed:
                if field and field.isidentifier() and field not in fields:
                    fields.append(field)
    path = "/" + "/".join(f"{{{field}}}" for field in fields)
    try:
        Rule(path, **options)
    except ConfigurationError as exc:
        message = str(exc).replace(f"Rule({path!r}): ", "")
        raise ConfigurationError(f"cache_route: {message}") from None


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


def discover_rules(app: Any) -> list[Rule]:
    """The rules for every ``@cache_route`` endpoint of a Starlette or FastAPI app."""
    router = getattr(app, "router", app)
    rules = []
    for path, route in _walk(getattr(router, "routes", ()), ""):
        options = _options_of(route.endpoint)
        if options is None:
            continue
        try:
            rules.append(Rule(path, **options))
        except ConfigurationError as exc:
            raise ConfigurationError(f"@cache_route on {route.name!r} ({path}): {exc}") from None
    return rules


class CacheMiddleware(_ASGICacheMiddleware):
    """The ASGI driver, plus the rules of ``@cache_route`` endpoints.

    Use ``app.add_middleware(CacheMiddleware, store=..., rules=[...], **options)``;
    the options are those of :class:`~routecache.middleware.config.CacheConfig`.
    """

    def __init__(self, app: Any, *args: Any, **options: Any) -> None:
        # ``*args`` only so that type checkers accept ``app.add_middleware(CacheMiddleware,
        # store=...)``: Starlette's middleware factory protocol takes ``*args``.
        if args:
            raise ConfigurationError("CacheMiddleware takes its options as keywords")
        super().__init__(app, **options)
        self._explicit = self.policy.rules.rules
        self._discovered = False

    def _discover(self, scope: Scope) -> None:
        app = scope.get("app")
        if app is not None:
            # A bad template raises here, on every request until fixed: never a
            # silently uncached app.
            found = discover_rules(app)
            if found:
                self.policy.rules = RuleSet([*self._explicit, *found])
        self._discovered = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._discovered and scope["type"] == "http":
            self._discover(scope)
        await super().__call__(scope, receive, send)
