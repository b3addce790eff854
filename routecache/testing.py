"""Test helpers for apps that use routecache: a pytest plugin and ``Cache-Status`` asserts.

The plugin is registered through the ``pytest11`` entry point, so it is active wherever
routecache is installed (``-p no:routecache`` turns it off); its fixtures do nothing
until a test asks for them:

``routecache_store``
    A fresh, empty :class:`~routecache.MemoryStore` for this test, used by every
    routecache engine of the process instead of the configured store: the Starlette /
    FastAPI middleware, Flask's ``RouteCache``, Django's ``ROUTECACHE``, the bare ASGI
    and WSGI drivers, whether they were built before the test (a module-level app) or
    during it. After the test the configured store is back, untouched (a Redis store
    is never written to). ``cache.invalidate()`` (Flask), ``invalidate_on_save``
    (Django) and unsafe requests go to the test's store; a store object your own code
    holds and calls (``await store.invalidate(...)``) is still that object.
``routecache_clock``
    The clock of the test's store and engines (a :class:`CacheClock`), standing still
    at the time the test started: ``routecache_clock.advance(61)`` makes every entry 61
    seconds older (``Age``, TTL expiry, refresh-ahead, stale-while-revalidate and
    stale-if-error windows) without sleeping. Asking for it also swaps the store.

Usage (Flask; the Starlette ``TestClient`` and Django's ``Client`` work the same)::

    from routecache.testing import assert_hit, assert_miss, assert_stored

    def test_items_are_cached(routecache_store, routecache_clock):
        client = app.test_client()
        assert_stored(client.get("/items/1"))
        assert_hit(client.get("/items/1"))
        routecache_clock.advance(61)  # past the rule's ttl=60: expired and gone
        assert_miss(client.get("/items/1"), fwd="uri-miss")

The ``assert_*`` helpers read the ``Cache-Status`` header of any response object with
``headers`` (Starlette/httpx, werkzeug, Django, requests) and fail with the header and
what it means.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from .middleware import engine_async, engine_sync
from .middleware.stores.memory import MemoryStore

__all__ = [
    "CacheClock",
    "CacheStatus",
    "assert_hit",
    "assert_miss",
    "assert_stored",
    "cache_status",
    "routecache_clock",
    "routecache_store",
]


class CacheClock:
    """A wall clock that stands still until moved (seconds since the epoch)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else float(start)

    def __call__(self) -> float:
        """The current time of the cache."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward: every entry is that much older."""
        if seconds < 0:
            raise ValueError(f"a cache clock only moves forward, got {seconds!r}")
        self.now += seconds


class CacheStatus:
    """routecache's member of a ``Cache-Status`` header (RFC 9211), parsed.

    ``hit``, ``stored`` and ``collapsed`` are flags; ``fwd``, ``fwd_status``, ``ttl``,
    ``detail`` and ``key`` are ``None`` when absent; ``header`` is the whole field.
    """

    def __init__(self, header: str, member: str) -> None:
        self.header = header
        self.member = member
        params: dict[str, str | None] = {}
        for part in member.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            params[name] = value.strip('"') if value else None
        self.params = params
        self.hit = "hit" in params
        self.stored = "stored" in params
        self.collapsed = "collapsed" in params
        self.fwd = params.get("fwd")
        self.fwd_status = params.get("fwd-status")
        self.ttl = params.get("ttl")
        self.detail = params.get("detail")
        self.key = params.get("key")

    def __repr__(self) -> str:
        return f"CacheStatus({self.member!r})"


def cache_status(response: Any, cache_name: str = "routecache") -> CacheStatus:
    """The ``cache_name`` member of the response's ``Cache-Status`` (the response, its
    ``headers`` mapping, or the header's value). Fails the test when there is none."""
    if isinstance(response, str):
        header: str | None = response
    else:
        headers = getattr(response, "headers", response)
        header = headers.get("Cache-Status") if isinstance(headers, Mapping) else None
        if header is None and hasattr(headers, "get"):
            header = headers.get("Cache-Status")
    if not header:
        pytest.fail(
            "the response has no Cache-Status header: it did not go through routecache "
            "(is the middleware installed, and does the request reach it?)",
            pytrace=False,
        )
    for member in reversed([m.strip() for m in str(header).split(",")]):
        if member.split(";", 1)[0].strip() == cache_name:
            return CacheStatus(str(header), member)
    pytest.fail(f"Cache-Status has no {cache_name!r} member: {header!r}", pytrace=False)


def _why(status: CacheStatus) -> str:
    if status.hit:
        return "served from the cache"
    reasons = {
        "uri-miss": "nothing was stored for this URL yet",
        "vary-miss": "stored, but not for this request's Vary header values",
        "stale": "the stored entry had expired",
        "method": "an unsafe method is never served from the cache",
        "bypass": "the request bypassed the cache",
        "miss": "the store was unavailable",
        "request": "the request's own Cache-Control refused the entry",
    }
    text = reasons.get(status.fwd or "", "not served from the cache")
    if status.detail:
        text += f" (detail={status.detail})"
    if status.collapsed:
        text += "; it was answered by another request's fetch"
    return text


def assert_hit(response: Any, *, cache_name: str = "routecache") -> CacheStatus:
    """Fail unless the response was served from the cache; returns the parsed member."""
    status = cache_status(response, cache_name)
    if not status.hit:
        pytest.fail(
            f"expected a cache hit, got Cache-Status: {status.header!r}: {_why(status)}",
            pytrace=False,
        )
    return status


def assert_miss(
    response: Any,
    *,
    detail: str | None = None,
    fwd: str | None = None,
    cache_name: str = "routecache",
) -> CacheStatus:
    """Fail unless the response was not served from the cache (and, when given, its
    ``detail`` and ``fwd`` are these); returns the parsed member."""
    status = cache_status(response, cache_name)
    problems = []
    if status.hit:
        problems.append("it was a cache hit")
    if fwd is not None and status.fwd != fwd:
        problems.append(f"fwd is {status.fwd!r}, not {fwd!r}")
    if detail is not None and status.detail != detail:
        problems.append(f"detail is {status.detail!r}, not {detail!r}")
    if problems:
        wanted = "a miss" + (f" with fwd={fwd}" if fwd else "")
        wanted += f" with detail={detail}" if detail else ""
        pytest.fail(
            f"expected {wanted}, got Cache-Status: {status.header!r}: {'; '.join(problems)}",
            pytrace=False,
        )
    return status


def assert_stored(response: Any, *, cache_name: str = "routecache") -> CacheStatus:
    """Fail unless routecache stores this response (``Cache-Status: ...; stored``).

    The entry is written once the body has been read to the end; a werkzeug (Flask)
    test response's body is read here so that the next request can hit.
    """
    status = cache_status(response, cache_name)
    if not status.stored:
        pytest.fail(
            f"expected the response to be stored, got Cache-Status: {status.header!r}: "
            f"{_why(status)}",
            pytrace=False,
        )
    get_data = getattr(response, "get_data", None)
    if callable(get_data):
        get_data()
    return status


class _Swap:
    """Gives engines the test's store and clock, and puts theirs back afterwards."""

    def __init__(self, store: MemoryStore, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.saved: list[tuple[Any, Any, Any]] = []

    def apply(self, engine: Any) -> None:
        self.saved.append((engine, engine.store, engine.clock))
        async_engine = isinstance(engine, engine_async.AsyncEngine)
        engine.store = self.store.as_async() if async_engine else self.store
        engine.clock = self.clock

    def restore(self) -> None:
        for engine, store, clock in reversed(self.saved):
            engine.store, engine.clock = store, clock
        self.saved.clear()


@pytest.fixture
def _routecache_swap() -> Iterator[_Swap]:
    """A fresh store and clock given to every routecache engine for the test."""
    clock = CacheClock()
    swap = _Swap(MemoryStore(clock=clock), clock)
    hooks = (engine_async.ON_NEW_ENGINE, engine_sync.ON_NEW_ENGINE)
    for engine in [*engine_async.ENGINES, *engine_sync.ENGINES]:
        swap.apply(engine)
    for hook in hooks:
        hook.append(swap.apply)
    try:
        yield swap
    finally:
        for hook in hooks:
            hook.remove(swap.apply)
        swap.restore()


@pytest.fixture
def routecache_store(_routecache_swap: _Swap) -> MemoryStore:
    """A fresh MemoryStore used by every routecache engine during this test."""
    return _routecache_swap.store


@pytest.fixture
def routecache_clock(_routecache_swap: _Swap) -> CacheClock:
    """The cache's clock for this test (it also swaps the store: see the module
    docstring)."""
    clock = _routecache_swap.clock
    assert isinstance(clock, CacheClock)
    return clock
