"""Flask: the ``RouteCache`` extension, the ``@cache.route`` view decorator, ``flask routecache``.

Usage (the app-factory form; ``RouteCache(app)`` does the same at once)::

    from flask import Blueprint, Flask
    from routecache.adapters.flask import RouteCache

    cache = RouteCache()
    items = Blueprint("items", __name__, url_prefix="/items")

    @items.get("/<int:id>")
    @cache.route(ttl=60, tags=["item:{id}"])
    def read_item(id: int): ...

    @items.put("/<int:id>")
    def write_item(id: int):
        ...  # a successful PUT /items/7 invalidates the cached GET /items/7 by itself
        cache.invalidate(tags=["item-lists"])  # anything else, from code
        return ...

    def create_app() -> Flask:
        app = Flask(__name__)
        app.config["ROUTECACHE_REDIS_URL"] = "redis://localhost:6379/0"
        app.register_blueprint(items)
        cache.init_app(app)
        return app

and from the shell: ``flask routecache stats``, ``flask routecache purge --tag item:7``.

``init_app`` reads these keys of ``app.config`` (defaults set with ``setdefault``;
arguments given to ``RouteCache(...)`` win over them)::

    ROUTECACHE_ENABLED         True; False installs nothing
    ROUTECACHE_REDIS_URL       None: an in-process MemoryStore, and a warning logged
    ROUTECACHE_REDIS_OPTIONS   {}: RedisStore options (timeout, client_options...)
    ROUTECACHE_PREFIX          "routecache": every key lives under "routecache:"
    ROUTECACHE_RULES           []: dicts of Rule options, {"path": ..., "ttl": ...}
    ROUTECACHE_DEFAULT_TTL, ROUTECACHE_HONOR_CACHE_CONTROL,
    ROUTECACHE_HONOR_REQUEST_CACHE_CONTROL, ...: one key per CacheConfig option

A bad value (or an unknown ``ROUTECACHE_*`` key) raises
:class:`~routecache.ConfigurationError` naming the key. ``init_app`` then wraps
``app.wsgi_app`` with the pure WSGI driver, which makes every caching decision. The
extension keeps no app: its per-app state is ``app.extensions["routecache"]``. Wrap
``app.wsgi_app`` in ``ProxyFix`` after ``init_app`` (outside the cache), so that keys
and invalidations see the client's host, scheme and prefix.

``@cache.route`` only records :class:`~routecache.Rule` options on the view. On the
first request the driver walks ``app.url_map``: each URL rule whose view carries them
becomes a rule for that URL's path (blueprint prefixes and ``SCRIPT_NAME`` included,
converters carried over: ``/items/<int:id>`` stays ``/items/<int:id>``). A rule only
applies to a path that Flask itself routes, for ``GET``, to that URL rule: a static
``/items/new`` beside a cached ``/items/<name>`` is never cached by it (nor, with
``subdomain_matching``, a path that another subdomain routes too). Explicit rules
(``rules=``, then ``ROUTECACHE_RULES``) come first and match as written.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple, TypeVar

try:
    import click
    from flask import Flask, current_app
    from flask.cli import AppGroup, NoAppException, ScriptInfo
    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import Map, MapAdapter, RoutingException
    from werkzeug.routing import Rule as URLRule
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from ._missing import missing

    raise missing("Flask", "flask", exc) from exc

from .. import commands
from ..commands import EXIT_USAGE, CommandFailed, Result, render
from ..middleware.config import OPTION_NAMES, CacheConfig
from ..middleware.errors import ConfigurationError, check_options
from ..middleware.rules import RoutedRuleSet, Rule, RuleSet, decorator_options
from ..middleware.stores import MemoryStore, RedisStore
from ..middleware.stores.base import validate_prefix
from ..middleware.wsgi import CacheMiddleware, Environ, StartResponse, WSGIApp

__all__ = [
    "ATTRIBUTE",
    "CONFIG_KEYS",
    "EXTENSION_KEY",
    "RouteCache",
    "RouteCacheState",
    "cache_route",
    "cli_group",
    "discover_rules",
    "options_of",
]

logger = logging.getLogger("routecache")

F = TypeVar("F", bound=Callable[..., Any])

#: Where ``@cache.route`` records the rule options on a view.
ATTRIBUTE: Final = "__routecache__"
#: The key of this extension in ``app.extensions``.
EXTENSION_KEY: Final = "routecache"
#: The prefix of every config key.
PREFIX: Final = "ROUTECACHE_"

_DRIVER_OPTIONS: Final = {
    name: param.default
    for name, param in inspect.signature(CacheConfig).parameters.items()
    if name in OPTION_NAMES - {"store", "rules"}
}
#: ``ROUTECACHE_<OPTION>`` key -> :class:`~routecache.CacheConfig` option name.
OPTION_KEYS: Final = {f"{PREFIX}{name.upper()}": name for name in sorted(_DRIVER_OPTIONS)}
_REDIS_OPTIONS: Final = frozenset(inspect.signature(RedisStore).parameters) - {
    "url_or_client",
    "prefix",
}
_DEFAULT_PREFIX: Final = "routecache"
#: The keys that build a store (ignored when ``RouteCache(store=...)`` gives one).
_STORE_KEYS: Final = ("ROUTECACHE_REDIS_URL", "ROUTECACHE_REDIS_OPTIONS", "ROUTECACHE_PREFIX")


def _defaults() -> dict[str, Any]:
    """Every config key with its default (fresh containers each time)."""
    return {
        "ROUTECACHE_ENABLED": True,
        "ROUTECACHE_REDIS_URL": None,
        "ROUTECACHE_REDIS_OPTIONS": {},
        "ROUTECACHE_PREFIX": _DEFAULT_PREFIX,
        "ROUTECACHE_RULES": [],
        **{key: _DRIVER_OPTIONS[name] for key, name in OPTION_KEYS.items()},
    }


#: Every ``app.config`` key the extension reads.
CONFIG_KEYS: Final = tuple(_defaults())

#: At most this many distinct ``SCRIPT_NAME`` values get rules of their own.
_MAX_SCRIPT_NAMES: Final = 8
#: At most this many distinct warnings are remembered (and logged) per app.
_MAX_WARNINGS: Final = 256
#: A URL rule's variable part: ``<name>``, ``<conv:name>``, ``<conv(args):name>``.
_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<arguments>.*?)\))?:)?"
    r"(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
#: Werkzeug converters that a routecache template names as they are.
_SAME_CONVERTER: Final = {
    "default": "str",
    "string": "string",
    "int": "int",
    "float": "float",
    "uuid": "uuid",
    "path": "path",
}
_TEMPLATE_SPECIALS: Final = frozenset("{}<>*")


# -- the view decorator ---------------------------------------------------------------


def cache_route(ttl: float | None = None, **rule_options: Any) -> Callable[[F], F]:
    """Cache this view's URL rule(s) for ``ttl`` seconds; other keyword arguments are
    :class:`~routecache.Rule` options (``vary``, ``tags``, ``stale_while_revalidate``...),
    templated with the URL's variables (``tags=["item:{id}"]``).

    Only records the options on the view (returned unchanged), so it works above or
    below ``@app.route``, on function views, on ``View``/``MethodView`` classes or their
    ``get`` method. Unknown options and bad values raise
    :class:`~routecache.ConfigurationError` at once; a template naming a variable the URL
    does not have raises when the app's routes are read. ``RouteCache.route`` is this.
    """
    options = decorator_options({"ttl": ttl, **rule_options}, setting="cache.route")

    def decorate(view: F) -> F:
        setattr(view, ATTRIBUTE, options)
        return view

    return decorate


def options_of(view: Any) -> dict[str, Any] | None:
    """The ``@cache.route`` options recorded on a view function, if any (looking
    through ``functools.wraps`` wrappers and at class-based views)."""
    target = view
    for _ in range(16):
        if target is None:
            break
        options = getattr(target, ATTRIBUTE, None)
        if isinstance(options, dict):
            return options
        view_class = getattr(target, "view_class", None)
        if view_class is not None:
            for candidate in (view_class, getattr(view_class, "get", None)):
                options = getattr(candidate, ATTRIBUTE, None)
                if isinstance(options, dict):
                    return options
        target = getattr(target, "__wrapped__", None)
    return None


# -- route discovery ------------------------------------------------------------------


class _Route(NamedTuple):
    """A cache rule made from one URL rule, and how to check that Flask routes to it."""

    rule: Rule
    url_rule: URLRule
    #: The ``SCRIPT_NAME`` the rule's path starts with.
    script: str
    #: The method the check asks Flask about (``GET`` for a caching rule).
    method: str


def _template(url_rule: URLRule, converters: Mapping[str, Any], script: str) -> str | None:
    """The routecache template of a URL rule (``None`` when it cannot be written).

    Builtin converters without arguments keep their name; any other converter becomes
    ``str`` (or ``path`` when it may match ``/``): a wider pattern, narrowed by asking
    Flask's own router (see :class:`_FlaskRuleSet`)."""
    text = url_rule.rule
    out = [script]
    literals = [script]
    pos = 0
    for m in _VARIABLE.finditer(text):
        literals.append(text[pos : m.start()])
        out.append(literals[-1])
        pos = m.end()
        name = m["converter"] or "default"
        cls = converters.get(name)
        if (
            m["arguments"] is None
            and name in _SAME_CONVERTER
            and cls is Map.default_converters[name]
        ):
            converter = _SAME_CONVERTER[name]
        else:
            converter = "str" if getattr(cls, "part_isolating", True) else "path"
        out.append(f"<{converter}:{m['variable']}>")
    literals.append(text[pos:])
    out.append(literals[-1])
    if any(c in _TEMPLATE_SPECIALS for literal in literals for c in literal):
        return None
    return "".join(out)


def _routes(
    app: Flask, script: str = "", *, warn: Callable[[str], None] | None = None
) -> list[_Route]:
    """The cache rules of every ``@cache.route`` view of ``app``, for ``script``."""
    warn = warn or (lambda message: logger.warning("routecache: %s", message))
    url_map = app.url_map
    found: list[_Route] = []
    for url_rule in url_map.iter_rules():
        view = app.view_functions.get(url_rule.endpoint)
        options = options_of(view) if view is not None else None
        if options is None or url_rule.websocket:
            continue
        where = f"@cache.route on {url_rule.endpoint!r} ({url_rule.rule})"
        if url_map.host_matching or url_rule.subdomain:
            warn(f"{where}: not cached, routecache rules do not match hosts or subdomains")
            continue
        template = _template(url_rule, url_map.converters, script)
        if template is None:
            warn(f"{where}: not cached, the URL has one of the characters {{ }} < > *")
            continue
        try:
            rule = Rule(template, **options)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        served = url_rule.methods  # None: any method
        methods = ["GET"] if "GET" in rule.methods else sorted(rule.methods)
        method = next((m for m in methods if served is None or m in served), None)
        if method is None:
            warn(f"{where}: not cached, the view serves none of {sorted(rule.methods)}")
            continue
        found.append(_Route(rule, url_rule, script, method))
    return found


def discover_rules(app: Flask, script_name: str = "") -> list[Rule]:
    """The rules for every ``@cache.route`` view of ``app`` (paths under
    ``script_name``); a bad option raises :class:`~routecache.ConfigurationError`."""
    return [route.rule for route in _routes(app, script_name)]


class _FlaskRuleSet(RoutedRuleSet):
    """Discovered rules checked against Flask's router (see :class:`RoutedRuleSet`): a
    rule matches a path only when Flask routes ``GET`` (the rule's method) of that
    path to its URL rule, and (with ``subdomain_matching``) no other subdomain routes
    that path at all: a rule matches paths, whatever the host."""

    __slots__ = ("_adapter", "_elsewhere")

    def __init__(self, explicit: Sequence[Rule], routes: Sequence[_Route], app: Flask) -> None:
        super().__init__(explicit, [(route.rule, route) for route in routes])
        url_map = app.url_map
        self._adapter: MapAdapter = url_map.bind("localhost")
        subdomains = {r.subdomain for r in url_map.iter_rules() if r.subdomain} - {
            url_map.default_subdomain
        }
        self._elsewhere: list[MapAdapter] = (
            [url_map.bind("localhost", subdomain=s) for s in sorted(subdomains)]
            if app.subdomain_matching
            else []
        )

    def routes_to(self, path: str, view: Any) -> bool:
        """Whether Flask routes ``path`` (for the rule's method) to the view's URL rule."""
        route: _Route = view
        path_info = path[len(route.script) :]
        if _route_of(self._adapter, path_info, route.method) is not route.url_rule:
            return False  # not found, another rule, or a redirect (slashes, defaults)
        return all(_route_of(a, path_info, route.method) is None for a in self._elsewhere)


def _route_of(adapter: MapAdapter, path_info: str, method: str) -> URLRule | None:
    """The URL rule Flask routes ``method path_info`` to (``None``: 404, 405, redirect)."""
    try:
        url_rule, _ = adapter.match(path_info, method=method, return_rule=True)
    except (HTTPException, RoutingException):
        return None
    return url_rule


def _script_name(environ: Environ) -> str:
    # Decoded like the driver decodes the path (PEP 3333 latin-1 -> UTF-8).
    raw: str = environ.get("SCRIPT_NAME", "")
    try:
        return raw.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeError:  # not a PEP 3333 string: the driver sees it as it is
        return raw


class _FlaskCacheMiddleware(CacheMiddleware):
    """The WSGI driver, plus the rules of the app's ``@cache.route`` views: read on the
    first request (Flask refuses new routes after it) for each ``SCRIPT_NAME``."""

    def __init__(self, wsgi_app: WSGIApp, flask_app: Flask, **options: Any) -> None:
        super().__init__(wsgi_app, **options)
        self.flask_app = flask_app
        self.explicit: tuple[Rule, ...] = self.policy.rules.rules
        self.routes: dict[str, list[_Route]] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("SCRIPT_NAME", "") not in self.routes:
            script = _script_name(environ)
            if script not in self.routes:
                self.discover(script)
        return super().__call__(environ, start_response)

    def warn(self, message: str) -> None:
        """Log ``message`` once (at most ``_MAX_WARNINGS`` distinct messages are kept)."""
        if message not in self._warned and len(self._warned) < _MAX_WARNINGS:
            self._warned.add(message)
            logger.warning("routecache: %s", message)

    def discover(self, script: str = "") -> None:
        """Read the app's ``@cache.route`` views for paths under ``script``."""
        with self._lock:
            if script in self.routes:
                return
            if len(self.routes) >= _MAX_SCRIPT_NAMES or any(
                c in _TEMPLATE_SPECIALS for c in script
            ):
                self.warn(
                    f"@cache.route views are not cached under SCRIPT_NAME {script!r} "
                    f"(more than {_MAX_SCRIPT_NAMES} script names, or one of {{ }} < > *)"
                )
                return
            # A bad option raises here, on every request until fixed: never an app
            # that is silently not cached.
            found = _routes(self.flask_app, script, warn=self.warn)
            routes = [*(r for rs in self.routes.values() for r in rs), *found]
            self.policy.rules = _FlaskRuleSet(self.explicit, routes, self.flask_app)
            self.routes[script] = found


# -- the extension --------------------------------------------------------------------


class RouteCacheState:
    """What :meth:`RouteCache.init_app` keeps in ``app.extensions["routecache"]``.

    ``middleware`` is the WSGI driver wrapped around ``app.wsgi_app`` (``None`` when
    ``ROUTECACHE_ENABLED`` is false: then nothing was installed).
    """

    def __init__(self, extension: RouteCache, middleware: CacheMiddleware | None) -> None:
        self.extension = extension
        self.middleware = middleware

    @property
    def enabled(self) -> bool:
        """True when the cache was installed."""
        return self.middleware is not None

    @property
    def store(self) -> Any:
        """The (sync) store of the app's cache; ``None`` when disabled."""
        return None if self.middleware is None else self.middleware.store

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules in force: explicit ones first, then the discovered ones."""
        return () if self.middleware is None else self.middleware.policy.rules.rules


class RouteCache:
    """Response caching for a Flask app (see the module docstring).

    Args:
        app: the app; or call :meth:`init_app` later (the app-factory form).
        store: a ``RedisStore``/``MemoryStore`` (an ``AsyncRedisStore`` is swapped for
            its sync twin); wins over ``ROUTECACHE_REDIS_URL``.
        rules: explicit :class:`~routecache.Rule` objects (or dicts), before the
            ``ROUTECACHE_RULES`` and the ``@cache.route`` ones.
        **options: :class:`~routecache.CacheConfig` options (``default_ttl``,
            ``honor_cache_control``...); each wins over its ``ROUTECACHE_*`` key.

    One instance may serve many apps; each app gets its own store and state.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        store: Any = None,
        rules: Iterable[Rule | Mapping[str, Any]] = (),
        **options: Any,
    ) -> None:
        check_options("RouteCache", options, {"store", "rules", *_DRIVER_OPTIONS})
        # Check the values now: a mistake shows where the extension is created.
        rule_set = RuleSet(rules, setting="RouteCache(rules=...)")
        CacheConfig.for_driver(
            "RouteCache", {"store": MemoryStore(max_bytes=1) if store is None else store, **options}
        )
        self.store = store
        self.rules: tuple[Rule, ...] = rule_set.rules
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read ``app.config``, wrap ``app.wsgi_app`` with the cache, register the state
        in ``app.extensions["routecache"]`` and the ``flask routecache`` commands.

        Raises :class:`~routecache.ConfigurationError` naming the config key on bad
        settings, and when the app already has a routecache extension.
        """
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError(
                f"routecache is already registered on the Flask app {app.name!r}: call "
                f"RouteCache(app) or init_app(app) once per app (and share that instance)"
            )
        for key, default in _defaults().items():
            app.config.setdefault(key, default)
        enabled = app.config["ROUTECACHE_ENABLED"]
        if not isinstance(enabled, bool):
            raise ConfigurationError(f"ROUTECACHE_ENABLED must be True or False, got {enabled!r}")
        if not enabled:
            logger.info("routecache: ROUTECACHE_ENABLED is False on %r: not installed", app.name)
            app.extensions[EXTENSION_KEY] = RouteCacheState(self, None)
            return
        options, rules, store = self._configure(app.config, app.name)
        middleware = _FlaskCacheMiddleware(app.wsgi_app, app, store=store, rules=rules, **options)
        # The routes known now are checked now; the first request reads them again.
        _routes(app, warn=middleware.warn)
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = RouteCacheState(self, middleware)
        app.cli.add_command(cli_group)

    def _configure(
        self, config: Mapping[str, Any], app_name: str
    ) -> tuple[dict[str, Any], list[Rule], Any]:
        check_options("app.config", {k: None for k in config if k.startswith(PREFIX)}, CONFIG_KEYS)
        probe = MemoryStore(max_bytes=1)
        options: dict[str, Any] = {}
        for key, name in OPTION_KEYS.items():
            if name in self.options:
                continue
            try:
                CacheConfig(store=probe, **{name: config[key]})
            except ConfigurationError as exc:
                raise ConfigurationError(f"{key}: {exc}") from None
            options[name] = config[key]
        options.update(self.options)
        rules = [*self.rules, *_config_rules(config["ROUTECACHE_RULES"])]
        store = self.store
        if store is None:
            store = _config_store(config, app_name)
        else:
            defaults = _defaults()
            ignored = [k for k in _STORE_KEYS if config[k] != defaults[k]]
            if ignored:
                logger.warning(
                    "routecache: %s ignored on %r: RouteCache(store=...) wins",
                    ", ".join(ignored),
                    app_name,
                )
        return options, rules, store

    route = staticmethod(cache_route)

    def invalidate(
        self,
        path: str | Iterable[str] | None = None,
        tags: str | Iterable[str] = (),
        everything: bool = False,
    ) -> int:
        """Remove the cached entries of ``path`` (one or several URL paths as clients
        send them, ``SCRIPT_NAME`` included, as ``url_for`` builds them; every query
        string and variant), of ``tags`` (one or several), or ``everything`` under the
        prefix, from the current app's cache; returns how many keys went (0 when
        ``ROUTECACHE_ENABLED`` is false).

        Needs an app context (any view has one). Raises :class:`~routecache.StoreError`
        when the store fails: a write that could not invalidate should not pass silently.
        """
        store = _state(current_app).store
        if store is None:
            return 0
        tag_list = [tags] if isinstance(tags, str) else list(tags)
        removed: int = store.invalidate(path=path, tags=tag_list, everything=everything)
        return removed


def _config_rules(value: Any) -> list[Rule]:
    if isinstance(value, (str, bytes, Mapping, Rule)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"ROUTECACHE_RULES must be a list of rule dicts, got {type(value).__name__} "
            f'(e.g. [{{"path": "/items/<int:id>", "ttl": 60}}])'
        )
    rules = []
    for i, item in enumerate(value):
        setting = f"ROUTECACHE_RULES[{i}]"
        try:
            rules.append(Rule.from_dict(item, setting=setting))
        except ConfigurationError as exc:
            message = str(exc)
            raise ConfigurationError(
                message if message.startswith(setting) else f"{setting}: {message}"
            ) from None
    return rules


def _config_store(config: Mapping[str, Any], app_name: str) -> Any:
    try:
        prefix = validate_prefix(config["ROUTECACHE_PREFIX"])
    except ConfigurationError as exc:
        raise ConfigurationError(f"ROUTECACHE_PREFIX: {exc}") from None
    redis_options = config["ROUTECACHE_REDIS_OPTIONS"]
    if redis_options is None:
        redis_options = {}
    if not isinstance(redis_options, Mapping):
        raise ConfigurationError(
            f"ROUTECACHE_REDIS_OPTIONS must be a dict of RedisStore options, "
            f"got {type(redis_options).__name__}"
        )
    check_options("ROUTECACHE_REDIS_OPTIONS", redis_options, _REDIS_OPTIONS)
    url = config["ROUTECACHE_REDIS_URL"]
    if url is None:
        if redis_options:
            logger.warning(
                "routecache: ROUTECACHE_REDIS_OPTIONS has no effect without ROUTECACHE_REDIS_URL"
            )
        logger.warning(
            "routecache: ROUTECACHE_REDIS_URL is not set on %r; caching in this process's "
            "memory (MemoryStore: not shared between worker processes, emptied on restart)",
            app_name,
        )
        return MemoryStore(prefix=prefix)
    if not isinstance(url, str):
        raise ConfigurationError(
            f"ROUTECACHE_REDIS_URL must be a URL such as 'redis://localhost:6379/0', got {url!r}"
        )
    try:
        return RedisStore(url, prefix=prefix, **redis_options)
    except (ConfigurationError, TypeError, ValueError) as exc:
        keys = "ROUTECACHE_REDIS_URL" + (" / ROUTECACHE_REDIS_OPTIONS" if redis_options else "")
        raise ConfigurationError(f"{keys}: {exc}") from None


def _state(app: Flask) -> RouteCacheState:
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, RouteCacheState):
        raise RuntimeError(
            f"routecache is not set up on the Flask app {app.name!r}: call RouteCache(app) "
            f"or cache.init_app(app) in the app factory"
        )
    return state


# -- flask routecache ------------------------------------------------------------------

#: ``flask routecache stats|ls|show|purge|warm`` (registered through the
#: ``flask.commands`` entry point, and on each app by ``init_app``). The subcommands
#: are :mod:`routecache.commands`, shared with ``routecache`` and ``manage.py
#: routecache``: same output, same exit codes.
cli_group = AppGroup("routecache", help="Inspect, purge or warm this app's cached responses.")

_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")


def _cli_run(as_json: bool, command: Callable[[Flask, Any], Result]) -> None:
    """Load the app (a bad ``--app`` is one line, not Flask's usage text), find its
    store, run ``command`` and print its result; exit with the command's code."""
    ctx = click.get_current_context()
    try:
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except NoAppException as exc:
            raise CommandFailed(str(exc), EXIT_USAGE) from None
        except Exception as exc:  # the app's module or factory raised (bad config...)
            raise CommandFailed(
                f"the app does not load: {type(exc).__name__}: {exc}", EXIT_USAGE
            ) from None
        with app.app_context():
            result = command(app, _cli_store(app))
    except CommandFailed as exc:
        click.echo(exc.line, err=True)
        ctx.exit(exc.code)
    click.echo(render(result, as_json))
    ctx.exit(result.code)


def _cli_store(app: Flask) -> Any:
    try:
        state = _state(app)
    except RuntimeError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    if state.store is None:
        raise CommandFailed(
            f"routecache is disabled on {app.name!r} (ROUTECACHE_ENABLED = False)", EXIT_USAGE
        )
    if isinstance(state.store, MemoryStore):
        click.echo(
            "routecache: the cache is a MemoryStore (no ROUTECACHE_REDIS_URL): it lives "
            "inside each server process, this command only sees its own, empty one.",
            err=True,
        )
    return state.store


@cli_group.command("stats", with_appcontext=False)
@_json_option
def _stats(as_json: bool) -> None:
    """Count what is cached under the prefix."""
    _cli_run(as_json, lambda app, store: commands.stats(store))


@cli_group.command("ls", with_appcontext=False)
@click.option("--limit", type=int, default=commands.LS_LIMIT, help="At most this many.")
@_json_option
def _ls(limit: int, as_json: bool) -> None:
    """List cached entries (status, size, age, tags)."""
    _cli_run(as_json, lambda app, store: commands.ls(store, limit))


@cli_group.command("show", with_appcontext=False)
@click.argument("target", metavar="URL|KEY")
@_json_option
def _show(target: str, as_json: bool) -> None:
    """Show every entry of a URL path (or one key) in full."""
    _cli_run(as_json, lambda app, store: commands.show(store, target))


@cli_group.command("purge", with_appcontext=False)
@click.option("--path", "paths", multiple=True, help="A URL path, e.g. /items/7 (repeatable).")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Every key under the prefix.")
@click.option("--dry-run", is_flag=True, help="Count, remove nothing.")
@_json_option
def _purge(
    paths: tuple[str, ...], tags: tuple[str, ...], everything: bool, dry_run: bool, as_json: bool
) -> None:
    """Remove cached responses: every entry of a path, of a tag, or all under the prefix
    (and nothing outside it)."""
    _cli_run(
        as_json,
        lambda app, store: commands.purge(
            store, paths, tags, everything, dry_run, progress=not as_json
        ),
    )


@cli_group.command("warm", with_appcontext=False)
@click.option("--host", help="The Host your clients send (default: SERVER_NAME, else localhost).")
@click.option("--scheme", type=click.Choice(["http", "https"]), default="http")
@click.option("--from-file", help="Read URLs from this file, one a line ('-': stdin).")
@_json_option
@click.argument("urls", nargs=-1)
def _warm(
    host: str | None, scheme: str, from_file: str | None, as_json: bool, urls: tuple[str, ...]
) -> None:
    """Fill the cache by requesting URLs through this app."""

    def run(app: Flask, store: Any) -> Result:
        targets = commands.read_urls(urls, from_file)
        chosen, source = commands.warm_host(app, host)
        return commands.warm(
            app, targets, host=chosen, source=source, scheme=scheme, progress=not as_json
        )

    _cli_run(as_json, run)
