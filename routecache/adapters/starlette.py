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

    Unknown options raise :class:`~routecache.ConfigurationError` right away.
    """
    options = {"ttl": ttl, **rule_options}
    check_rule_options(options, setting="cache_route")

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


def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterator[tuple[str, Route]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(route.routes or (), prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, route


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

    def __init__(self, app: Any, **options: Any) -> None:
        super().__init__(app, **options)
        self._explicit = self.policy.rules.rules
        self._discovered = False

    def _discover(self, scope: Scope) -> None:
        self._discovered = True
        app = scope.get("app")
        if app is None:
            return
        found = discover_rules(app)
        if found:
            self.policy.rules = RuleSet([*self._explicit, *found])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._discovered and scope["type"] == "http":
            self._discover(scope)
        await super().__call__(scope, receive, send)
