"""The ``ROUTECACHE`` setting: parsed, validated, and turned into a running cache.

Settings are read when they are used, not at import, so ``override_settings`` works:
the parsed state of each settings dict is kept until Django's ``setting_changed``
signal says the dict (or ``CACHES``) changed, and rebuilt on the next request.
``ROOT_URLCONF`` and ``FORCE_SCRIPT_NAME`` changes only make the ``@cache_route``
discovery run again.

Every problem :func:`parse` finds is a :class:`Problem` with a system-check id, the
message and a hint naming the setting; the checks report them all, and building a
state raises :class:`~django.core.exceptions.ImproperlyConfigured` with the first.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.urls import get_script_prefix
from django.utils.module_loading import import_string

from ...middleware.config import OPTION_NAMES, CacheConfig
from ...middleware.engine_async import AsyncEngine
from ...middleware.engine_sync import SyncEngine
from ...middleware.errors import ConfigurationError, unknown_option
from ...middleware.rules import Rule
from ...middleware.stores import AsyncRedisStore, MemoryStore, RedisStore
from ...middleware.stores.base import validate_prefix
from ...middleware.vary_normalise import best_language
from .routes import ResolvedRuleSet, discover_views

__all__ = [
    "KNOWN_KEYS",
    "SETTING",
    "Parsed",
    "Problem",
    "SettingsError",
    "State",
    "aclose",
    "get_state",
    "parse",
    "reset",
]

logger = logging.getLogger("routecache")

#: The settings dict read by default.
SETTING: Final = "ROUTECACHE"
#: ``ROUTECACHE`` keys that are :class:`~routecache.CacheConfig` options, upper-cased.
OPTION_KEYS: Final = {name.upper(): name for name in sorted(OPTION_NAMES - {"store", "rules"})}
_STORE_KEYS: Final = ("STORE", "REDIS_URL", "REDIS_OPTIONS", "PREFIX", "CACHE")
#: Every key ``ROUTECACHE`` accepts.
KNOWN_KEYS: Final = frozenset({*OPTION_KEYS, *_STORE_KEYS, "RULES"})
#: ``CACHES`` backends whose ``LOCATION`` is a Redis URL (``"CACHE": "default"``).
REDIS_CACHE_BACKENDS: Final = frozenset(
    {"django.core.cache.backends.redis.RedisCache", "django_redis.cache.RedisCache"}
)
_REDIS_OPTIONS: Final = frozenset(inspect.signature(RedisStore).parameters) - {
    "url_or_client",
    "prefix",
}
_DEFAULT_PREFIX: Final = "routecache"
#: Settings whose change only asks for a new ``@cache_route`` discovery.
_ROUTING_SETTINGS: Final = frozenset({"ROOT_URLCONF", "FORCE_SCRIPT_NAME"})


class Problem(NamedTuple):
    """One thing wrong with a settings dict (a system check message)."""

    id: str
    msg: str
    hint: str


class Parsed:
    """A valid settings dict, ready to build a cache from."""

    __slots__ = ("options", "prefix", "redis_options", "rules", "store", "url")

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}
        self.rules: list[Rule] = []
        self.store: Any = None
        self.url: str | None = None
        self.redis_options: dict[str, Any] = {}
        self.prefix = _DEFAULT_PREFIX


def _where(setting: str, key: str | None = None) -> str:
    return setting if key is None else f"{setting}[{key!r}]"


def parse(value: Any, setting: str = SETTING) -> tuple[Parsed | None, list[Problem]]:
    """Check a ``ROUTECACHE``-style dict; the parsed form (``None`` on problems) and
    every problem found."""
    problems: list[Problem] = []
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        return None, [
            Problem(
                "routecache.E001",
                f"{setting} must be a dict, got {type(value).__name__}.",
                f'Set {setting} = {{"REDIS_URL": "redis://...", "RULES": [...]}}.',
            )
        ]
    parsed = Parsed()
    for key in sorted(str(k) for k in value if k not in KNOWN_KEYS):
        problems.append(
            Problem(
                "routecache.E002",
                f"{unknown_option(setting, key, KNOWN_KEYS)}.",
                f"Remove it from {setting}; known keys: {', '.join(sorted(KNOWN_KEYS))}.",
            )
        )
    if value.get("NORMALIZE_ACCEPT_LANGUAGE") is True:
        value = {**value, "NORMALIZE_ACCEPT_LANGUAGE": django_languages()}
    probe = MemoryStore(max_bytes=1)
    for key, name in OPTION_KEYS.items():
        if key not in value:
            continue
        try:
            CacheConfig(store=probe, **{name: value[key]})
        except ConfigurationError as exc:
            problems.append(
                Problem(
                    "routecache.E003",
                    f"{_where(setting, key)}: {exc}.",
                    f"Fix {_where(setting, key)} (the {name!r} option of routecache).",
                )
            )
        else:
            parsed.options[name] = value[key]
    problems.extend(_parse_rules(value.get("RULES", ()), setting, parsed))
    problems.extend(_parse_store(value, setting, parsed))
    return (None if problems else parsed), problems


def django_languages() -> list[str]:
    """The codes of ``settings.LANGUAGES``, the one ``LANGUAGE_CODE`` resolves to
    first (the default when nothing matches, as ``LocaleMiddleware`` does): what
    ``NORMALIZE_ACCEPT_LANGUAGE: True`` means."""
    codes = [str(code) for code, _ in getattr(settings, "LANGUAGES", ())]
    if not codes:
        return codes
    default = best_language(str(getattr(settings, "LANGUAGE_CODE", "")), codes)
    return [default, *(code for code in codes if code != default)]


def _parse_rules(rules: Any, setting: str, parsed: Parsed) -> list[Problem]:
    where = _where(setting, "RULES")
    if isinstance(rules, (str, bytes, Mapping, Rule)) or not isinstance(rules, Iterable):
        return [
            Problem(
                "routecache.E004",
                f"{where} must be a list of rule dicts, got {type(rules).__name__}.",
                f'Set {where} = [{{"path": "/items/<int:pk>", "ttl": 60}}, ...].',
            )
        ]
    problems = []
    for i, rule in enumerate(rules):
        item = f"{where}[{i}]"
        try:
            parsed.rules.append(Rule.from_dict(rule, setting=item))
        except ConfigurationError as exc:
            message = str(exc)
            if not message.startswith(item):
                message = f"{item}: {message}"
            problems.append(
                Problem(
                    "routecache.E004",
                    f"{message}.",
                    f"Fix rule {i} of {where}: a dict with 'path' and routecache.Rule options.",
                )
            )
    return problems


def _parse_store(value: Mapping[str, Any], setting: str, parsed: Parsed) -> list[Problem]:
    problems: list[Problem] = []
    given = [k for k in ("STORE", "REDIS_URL", "CACHE") if value.get(k) is not None]
    if len(given) > 1:
        return [
            Problem(
                "routecache.E008",
                f"{setting} sets {' and '.join(given)}; they are alternatives.",
                f"Keep one of STORE, REDIS_URL or CACHE in {setting}.",
            )
        ]
    if "PREFIX" in value:
        where = _where(setting, "PREFIX")
        if value.get("STORE") is not None:
            problems.append(
                Problem(
                    "routecache.E008",
                    f"{where} has no effect with STORE (the store has its own prefix).",
                    f"Remove {where}, or pass prefix= to the store given as STORE.",
                )
            )
        else:
            try:
                parsed.prefix = validate_prefix(value["PREFIX"])
            except ConfigurationError as exc:
                problems.append(
                    Problem(
                        "routecache.E009",
                        f"{where}: {exc}.",
                        f'Set {where} to a plain name such as "myapp:cache".',
                    )
                )
    options = value.get("REDIS_OPTIONS")
    if options is not None:
        problems.extend(_parse_redis_options(options, setting, parsed, given))
    if value.get("STORE") is not None:
        problems.extend(_parse_store_object(value["STORE"], setting, parsed))
    elif value.get("CACHE") is not None:
        problems.extend(_parse_cache_alias(value["CACHE"], setting, parsed))
    elif value.get("REDIS_URL") is not None:
        problems.extend(_check_url(value["REDIS_URL"], _where(setting, "REDIS_URL"), parsed))
    return problems


def _parse_redis_options(
    options: Any, setting: str, parsed: Parsed, given: list[str]
) -> list[Problem]:
    where = _where(setting, "REDIS_OPTIONS")
    if not isinstance(options, Mapping):
        return [
            Problem(
                "routecache.E005",
                f"{where} must be a dict of RedisStore options, got {type(options).__name__}.",
                f'Set {where} = {{"timeout": 0.25, ...}}.',
            )
        ]
    unknown = sorted(str(k) for k in options if k not in _REDIS_OPTIONS)
    if unknown:
        return [
            Problem(
                "routecache.E005",
                f"{unknown_option(where, unknown[0], _REDIS_OPTIONS)}.",
                f"Remove it from {where}; RedisStore options: {', '.join(sorted(_REDIS_OPTIONS))}.",
            )
        ]
    if given == ["STORE"]:
        return [
            Problem(
                "routecache.E008",
                f"{where} has no effect with STORE.",
                f"Remove {where}, or pass the options to the store given as STORE.",
            )
        ]
    if not given:
        return [
            Problem(
                "routecache.E008",
                f"{where} has no effect without REDIS_URL or CACHE (the cache is in memory).",
                f"Set {_where(setting, 'REDIS_URL')}, or remove {where}.",
            )
        ]
    parsed.redis_options = dict(options)
    return []


def _check_url(url: Any, where: str, parsed: Parsed) -> list[Problem]:
    try:
        probe = RedisStore(url, prefix=parsed.prefix, **parsed.redis_options)
    except (ConfigurationError, TypeError, ValueError) as exc:
        return [
            Problem(
                "routecache.E005",
                f"{where}: {exc}.",
                f'Set {where} to a URL such as "redis://localhost:6379/0" '
                f'("rediss://" for TLS, "redis+cluster://" for Redis Cluster, '
                f'"redis+sentinel://host:26379/service" for Sentinel).',
            )
        ]
    probe.close()
    parsed.url = url
    return []


def _parse_store_object(store: Any, setting: str, parsed: Parsed) -> list[Problem]:
    where = _where(setting, "STORE")
    hint = (
        f"Set {where} to a RedisStore, AsyncRedisStore or MemoryStore, or to the dotted "
        f"path of one (or of a callable returning one)."
    )
    if isinstance(store, str):
        try:
            store = import_string(store)
        except ImportError as exc:
            return [Problem("routecache.E006", f"{where}: cannot import {store!r}: {exc}.", hint)]
        if isinstance(store, type) or not hasattr(store, "is_async"):
            if not callable(store):
                return [Problem("routecache.E006", f"{where}: {store!r} is not a store.", hint)]
            parsed.store = store  # a factory, called when the cache is built
            return []
    if not hasattr(store, "is_async"):
        return [Problem("routecache.E006", f"{where}: {store!r} is not a store.", hint)]
    parsed.store = store
    return []


def _parse_cache_alias(alias: Any, setting: str, parsed: Parsed) -> list[Problem]:
    where = _where(setting, "CACHE")
    caches = getattr(settings, "CACHES", {}) or {}
    if not isinstance(alias, str) or alias not in caches:
        return [
            Problem(
                "routecache.E007",
                f"{where}: {alias!r} is not an entry of CACHES.",
                f'Set {where} to the alias of a Redis entry of CACHES (e.g. "default").',
            )
        ]
    entry = caches[alias]
    backend = entry.get("BACKEND", "")
    if backend not in REDIS_CACHE_BACKENDS:
        return [
            Problem(
                "routecache.E007",
                f"{where}: CACHES[{alias!r}] uses {backend!r}, not Redis.",
                f"Point {where} at a CACHES entry using "
                f"django.core.cache.backends.redis.RedisCache, or set REDIS_URL instead.",
            )
        ]
    location = entry.get("LOCATION")
    if isinstance(location, str):
        location = location.split(",")[0].strip()
    elif isinstance(location, (list, tuple)) and location:
        location = location[0]  # Django writes to the first server
    else:
        location = None
    if not isinstance(location, str) or not location:
        return [
            Problem(
                "routecache.E007",
                f"{where}: CACHES[{alias!r}] has no LOCATION.",
                f'Give CACHES[{alias!r}] a LOCATION such as "redis://localhost:6379/0".',
            )
        ]
    return _check_url(location, f"{where} (CACHES[{alias!r}]['LOCATION'])", parsed)


class SettingsError(ConfigurationError, ImproperlyConfigured):
    """A bad ``ROUTECACHE`` setting: Django's ``ImproperlyConfigured`` and routecache's
    :class:`~routecache.ConfigurationError` at once."""


def build(value: Any, setting: str = SETTING) -> tuple[CacheConfig, str | None]:
    """The cache configuration of a settings dict, and the Redis URL of the store
    built from it (``None`` when the store was given or lives in memory).

    Raises :class:`SettingsError` (an ``ImproperlyConfigured``) on the first problem.
    """
    parsed, problems = parse(value, setting)
    if parsed is None:
        first = problems[0]
        raise SettingsError(f"{first.msg} {first.hint} ({first.id})")
    store = parsed.store
    if store is not None and (isinstance(store, type) or not hasattr(store, "is_async")):
        store = store()
        if not hasattr(store, "is_async"):
            raise SettingsError(
                f"{_where(setting, 'STORE')}: the factory returned {store!r}, not a store."
            )
    url = None
    if store is None and parsed.url is not None:
        url = parsed.url
        store = RedisStore(url, prefix=parsed.prefix, **parsed.redis_options)
    elif store is None:
        logger.warning(
            "routecache: %s has no REDIS_URL; caching in this process's memory "
            "(MemoryStore: not shared between worker processes, emptied on restart)",
            setting,
        )
        store = MemoryStore(prefix=parsed.prefix)
    try:
        config = CacheConfig(store=store, rules=parsed.rules, **parsed.options)
    except ConfigurationError as exc:  # pragma: no cover - parse() checked every option
        raise SettingsError(f"{setting}: {exc}") from None
    return config, url


class State:
    """The running cache of one settings dict: configuration, engines, discovered rules.

    The sync engine is shared by every thread. Async engines are made per event loop;
    when the store was built from ``REDIS_URL``/``CACHE``, each loop also gets its own
    ``AsyncRedisStore`` (redis-py asyncio connections belong to one loop).
    """

    def __init__(self, setting: str = SETTING) -> None:
        self.setting = setting
        self.config, self.url = build(getattr(settings, setting, None), setting)
        self.policy = self.config.policy
        self.explicit: tuple[Rule, ...] = self.policy.rules.rules
        self._sync: SyncEngine | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._routes_for: tuple[str, Any] | None = None
        self._routes_generation = 0

    @property
    def store(self) -> Any:
        """The configured store (sync or async, as given or built)."""
        return self.config.store

    def sync_engine(self) -> SyncEngine:
        """The engine for the sync path (and the management command, the signals)."""
        engine = self._sync
        if engine is None:
            with self._lock:
                if self._sync is None:
                    self._sync = self.config.sync_engine()
                engine = self._sync
        return engine

    def async_engine(self) -> AsyncEngine:
        """The engine for the async path on the running event loop."""
        loop = asyncio.get_running_loop()
        engine = self._async.get(loop)
        if engine is None:
            config = self.config
            config.start_metrics_flush()
            if self.url is not None:
                store: Any = AsyncRedisStore(self.url, **config.store.settings)
            else:
                store = config.async_store()
            engine = AsyncEngine(
                self.policy,
                store,
                codec=config.codec,
                collapse=config.collapse,
                lock_ttl=config.lock_ttl,
                lock_wait=config.lock_wait,
            )
            self._async[loop] = engine
        return engine

    def ensure_routes(self) -> None:
        """Add the rules of ``@cache_route`` views (once per script prefix and URLconf)."""
        routes_for = (get_script_prefix(), settings.ROOT_URLCONF)
        if self._routes_for == routes_for:
            return
        with self._lock:
            if self._routes_for == routes_for:
                return
            # A forget_routes() during the discovery (a settings change in another
            # thread) must not be undone by recording the older discovery as current.
            generation = self._routes_generation
            prefix, urlconf = routes_for
            found, problems = discover_views(urlconf, prefix=prefix)
            for problem in problems:
                logger.warning("routecache: %s", problem.message)
            self.policy.rules = ResolvedRuleSet(self.explicit, found, prefix=prefix)
            if generation == self._routes_generation:
                self._routes_for = routes_for

    def forget_routes(self) -> None:
        """Discover the ``@cache_route`` rules again on the next request."""
        self._routes_generation += 1
        self._routes_for = None

    async def aclose(self) -> None:
        """Close the running loop's async store if this state built it."""
        engine = self._async.pop(asyncio.get_running_loop(), None)
        if engine is not None and self.url is not None:
            await engine.store.close()

    def close(self) -> None:
        """Release the connections of the stores this state built."""
        if self.url is None:
            return
        self.config.store.close()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, engine in list(self._async.items()):
            if loop is running:
                _keep(loop.create_task(engine.store.close()))
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(engine.store.close(), loop)
        self._async.clear()


_BACKGROUND: set[Any] = set()


def _keep(task: asyncio.Task[Any]) -> None:
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


_states: dict[str, State] = {}
_states_lock = threading.Lock()


def get_state(setting: str = SETTING) -> State:
    """The running cache of the settings dict ``setting`` (built on first use)."""
    state = _states.get(setting)
    if state is None:
        with _states_lock:
            state = _states.get(setting)
            if state is None:
                state = _states[setting] = State(setting)
    return state


async def aclose() -> None:
    """Close the async Redis connections made for the running event loop (at the end
    of an async test, or when an ASGI server shuts its loop down)."""
    for state in list(_states.values()):
        await state.aclose()


def reset(setting: str | None = None) -> None:
    """Forget the state of ``setting`` (every state with ``None``), closing its stores."""
    with _states_lock:
        names = list(_states) if setting is None else [setting]
        dropped = [_states.pop(name) for name in names if name in _states]
    for state in dropped:
        state.close()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _ROUTING_SETTINGS:
        for state in list(_states.values()):
            state.forget_routes()
    elif setting in ("CACHES", "LANGUAGES", "LANGUAGE_CODE"):
        reset()  # LANGUAGES: what NORMALIZE_ACCEPT_LANGUAGE=True means
    elif setting in _states:
        reset(setting)


setting_changed.connect(_on_setting_changed, dispatch_uid="routecache.adapters.django.conf")
