"""The options every driver and adapter accepts, validated once at start-up.

Drivers take the same keyword options (``store``, ``rules``, ``honor_cache_control``,
``default_ttl``...). :class:`CacheConfig` checks them, raising
:class:`~routecache.middleware.errors.ConfigurationError` naming the bad option, and
builds the policy, the codec and the engine of the wanted flavour.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from .engine_async import AsyncEngine
from .engine_sync import SyncEngine
from .entry import Codec
from .errors import CheckedOptions, ConfigurationError, check_options
from .keys import DEFAULT_UNKEYED_HEADERS, KeyGuard
from .policy import CachePolicy
from .rules import DEFAULT_MAX_BODY_SIZE, Rule
from .stores.base import AsyncStore, Store
from .stores.memory import AsyncMemoryStore, MemoryStore
from .targeted import DEFAULT_TARGETS
from .vary_normalise import Normaliser

__all__ = ["OPTION_NAMES", "CacheConfig"]

logger = logging.getLogger("routecache")


def _positive(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < float("inf")  # NaN and inf too: Redis needs a finite PX
    ):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class CacheConfig(CheckedOptions):
    """Validated driver options, and the objects built from them.

    Args:
        store: where entries live: ``RedisStore``/``AsyncRedisStore`` or ``MemoryStore``
            (default: a ``MemoryStore`` of 64 MiB, per process).
        rules: the per-route :class:`~routecache.Rule` objects (or dicts of options).
        honor_cache_control: without a matching rule, cache what the origin marks
            cacheable (a standards-following shared cache).
        honor_request_cache_control: obey the client's request directives.
        default_ttl: freshness for rules without ``ttl`` (and ``public`` responses
            without explicit freshness when no rule matches).
        heuristic_freshness: allow heuristic freshness from ``Last-Modified`` (``None``:
            only in proxy mode, ``honor_cache_control`` without rules).
        stale_if_error: seconds a stale entry answers for a failing app, for
            responses without a rule or a ``stale-if-error`` directive of their own.
        cache_name: the cache's name in ``Cache-Status``.
        tag_header: the response field that tags entries (default ``Cache-Tag``).
        expose_tag_header: keep the tag header on responses sent to clients.
        debug: add the key to ``Cache-Status``.
        max_body_size: the largest body stored when no rule matches.
        collapse: single-flight concurrent misses of one key (across processes).
        lock_ttl: seconds a single-flight lock lives.
        lock_wait: seconds a request waits for another's fetch before fetching itself.
        compression: ``"auto"``, ``"zstd"``, ``"zlib"`` or ``None``.
        compress_min_size: bodies this large or larger are compressed in the store.
        cache_control_targets: targeted cache-control fields that address routecache
            (RFC 9213), first wins (default ``["Routecache-Cache-Control"]``); add
            ``"CDN-Cache-Control"`` when routecache is your CDN tier.
        invalidate_location: after a 2xx answer to an unsafe request, also invalidate
            the same-origin ``Location`` / ``Content-Location`` paths (off).
        unkeyed_headers: request headers that rewrite the host, scheme, prefix, path or
            method the app sees; a request carrying one bypasses the cache
            (``detail=unkeyed-header``) unless it is trusted or stripped.
        trusted_headers: rewriting headers the app or its middleware honours: part of
            the key instead of a bypass (e.g. ``X-Forwarded-Proto`` behind a proxy).
        stripped_headers: rewriting headers removed before they reach the app: ignored.
        normalize_accept_encoding: ``False`` (off), ``True`` (``gzip``) or the
            content-codings the app produces, preferred first: a looked-up request's
            ``Accept-Encoding`` becomes the best of them (or ``identity``), for the
            view, the key and the ``Vary`` variants alike. A rule's own setting wins.
        normalize_accept_language: ``False`` (off) or the language tags the app
            serves, the default first: ``Accept-Language`` becomes the best match
            (RFC 4647 lookup). Django's adapter takes ``True`` for ``settings.LANGUAGES``.
        metrics_flush: seconds between two flushes of this process's counters to Redis
            for the fleet view of ``routecache stats`` (``None``, the default: off;
            needs a Redis store). See ``routecache.metrics.fleet``.
    """

    def __init__(
        self,
        *,
        store: Any = None,
        rules: Iterable[Rule | Mapping[str, Any]] = (),
        honor_cache_control: bool = False,
        honor_request_cache_control: bool = False,
        default_ttl: float | None = None,
        heuristic_freshness: bool | None = None,
        stale_if_error: float = 0.0,
        cache_name: str = "routecache",
        tag_header: str = "cache-tag",
        expose_tag_header: bool = False,
        debug: bool = False,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        collapse: bool = True,
        lock_ttl: float = 10.0,
        lock_wait: float = 10.0,
        compression: str | None = "auto",
        compress_min_size: int = 262144,
        cache_control_targets: Iterable[str] = DEFAULT_TARGETS,
        invalidate_location: bool = False,
        unkeyed_headers: Iterable[str] = DEFAULT_UNKEYED_HEADERS,
        trusted_headers: Iterable[str] = (),
        stripped_headers: Iterable[str] = (),
        normalize_accept_encoding: bool | Iterable[str] = False,
        normalize_accept_language: Literal[False] | Iterable[str] = False,
        metrics_flush: float | None = None,
    ) -> None:
        self.policy = CachePolicy(
            rules,
            honor_cache_control=honor_cache_control,
            honor_request_cache_control=honor_request_cache_control,
            default_ttl=default_ttl,
            heuristic_freshness=heuristic_freshness,
            stale_if_error=stale_if_error,
            cache_name=cache_name,
            tag_header=tag_header,
            expose_tag_header=expose_tag_header,
            debug=debug,
            max_body_size=max_body_size,
            cache_control_targets=cache_control_targets,
            invalidate_location=invalidate_location,
        )
        self.policy.guard = KeyGuard(unkeyed_headers, trusted_headers, stripped_headers)
        self.policy.normaliser = Normaliser(normalize_accept_encoding, normalize_accept_language)
        if not isinstance(collapse, bool):
            raise ConfigurationError(f"collapse must be True or False, got {collapse!r}")
        self.collapse = collapse
        self.lock_ttl = _positive(lock_ttl, "lock_ttl")
        self.lock_wait = _positive(lock_wait, "lock_wait")
        if (
            isinstance(compress_min_size, bool)
            or not isinstance(compress_min_size, int)
            or compress_min_size < 0
        ):
            raise ConfigurationError(
                f"compress_min_size must be a number of bytes, got {compress_min_size!r}"
            )
        try:
            self.codec = Codec(compression, compress_min_size)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if store is None:
            store = MemoryStore()
            logger.info("routecache: no store configured, using an in-process MemoryStore")
        if not hasattr(store, "is_async"):
            raise ConfigurationError(
                f"store must be a RedisStore, AsyncRedisStore or MemoryStore, got {store!r}"
            )
        self.store = store
        if metrics_flush is not None:
            metrics_flush = _positive(metrics_flush, "metrics_flush")
            if isinstance(store, (MemoryStore, AsyncMemoryStore)):
                raise ConfigurationError(
                    f"metrics_flush needs a Redis store (the fleet view lives in Redis), "
                    f"got {store!r}"
                )
        self.metrics_flush = metrics_flush

    def start_metrics_flush(self) -> None:
        """Start the process's fleet-view flusher when ``metrics_flush`` asks for it
        (once per process; drivers call it when they build an engine)."""
        if self.metrics_flush is not None:
            from ..metrics import fleet

            fleet.start(self.sync_store(), self.metrics_flush)

    @classmethod
    def for_driver(cls, driver: str, options: Mapping[str, Any]) -> CacheConfig:
        """The configuration of ``driver`` (its name starts every error message:
        ``CacheMiddleware: unknown option 'defualt_ttl' (did you mean 'default_ttl'?)``)."""
        check_options(driver, options, cls._keywords)
        try:
            return cls(**options)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{driver}: {exc}") from None

    def async_store(self) -> AsyncStore:
        """The store's asyncio face (a twin on the same Redis for a sync store)."""
        store = self.store
        if store.is_async:
            return store  # type: ignore[no-any-return]
        if hasattr(store, "as_async"):
            return store.as_async()  # type: ignore[no-any-return]
        raise ConfigurationError(f"store: {store!r} is sync; this driver needs an async store")

    def sync_store(self) -> Store:
        """The store's sync face (a twin on the same Redis for an async store)."""
        store = self.store
        if not store.is_async:
            return store  # type: ignore[no-any-return]
        if hasattr(store, "as_sync"):
            return store.as_sync()  # type: ignore[no-any-return]
        raise ConfigurationError(f"store: {store!r} is async; this driver needs a sync store")

    def async_engine(self) -> AsyncEngine:
        """An engine for asyncio drivers."""
        self.start_metrics_flush()
        return AsyncEngine(
            self.policy,
            self.async_store(),
            codec=self.codec,
            collapse=self.collapse,
            lock_ttl=self.lock_ttl,
            lock_wait=self.lock_wait,
        )

    def sync_engine(self) -> SyncEngine:
        """An engine for threaded drivers."""
        self.start_metrics_flush()
        return SyncEngine(
            self.policy,
            self.sync_store(),
            codec=self.codec,
            collapse=self.collapse,
            lock_ttl=self.lock_ttl,
            lock_wait=self.lock_wait,
        )


#: Every option a driver accepts (the keyword arguments of :class:`CacheConfig`).
OPTION_NAMES: Final = frozenset(inspect.signature(CacheConfig).parameters)
