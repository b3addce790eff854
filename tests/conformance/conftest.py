"""Fixtures of the conformance suite: every case runs per adapter and per store.

``adapter`` is parametrised over every registered binding (Starlette, FastAPI, Flask,
Django sync, Django async); ``store`` over the embedded ``MemoryStore`` and a real
private ``redis-server`` (``RedisStore`` with a per-test prefix; ASGI drivers swap it
for its asyncio twin), with and without a near cache (``redis-near``: every lookup
goes through an L1 kept coherent by Redis tracking, which is up before the case runs).
``make_client`` builds the cached app around an ``Origin``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import routecache
from tests.conformance import bindings
from tests.conformance.bindings import starlette as _starlette  # noqa: F401
from tests.conformance.harness import ADAPTERS, Adapter, Client, Origin

_prefixes = itertools.count()
_HERE = Path(__file__).parent


#: Two checks of werkzeug's LintMiddleware (under WSGIClient) contradict RFC 9110: it
#: demands absolute Location URLs (§10.2.2 allows relative ones, what apps send) and
#: a ``Content-Length: 0`` on 204s (§8.6: a server MUST NOT send one).
_OUTDATED_LINT = [
    pytest.mark.filterwarnings(f"ignore:{message}:werkzeug.middleware.lint.HTTPWarning")
    for message in (
        "Absolute URLs required for location header",
        "204 responses must have an empty content length",
    )
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the conformance cases that run on the real Redis store ``redis``, so that
    ``-m "not redis"`` leaves them out (the store fixture asks for the server lazily);
    silence the outdated lint checks."""
    for item in items:
        if _HERE not in Path(str(item.path)).parents:
            continue
        for mark in _OUTDATED_LINT:
            item.add_marker(mark)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("store_kind") in _REDIS_KINDS:
            item.add_marker(pytest.mark.redis)


def _binding_names() -> list[str]:
    # Import every binding module that exists (Flask and Django arrive separately).
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(bindings.__path__):
        importlib.import_module(f"{bindings.__name__}.{module.name}")
    return sorted(ADAPTERS)


@pytest.fixture(params=_binding_names())
def adapter(request: pytest.FixtureRequest) -> Adapter:
    """One framework binding."""
    return ADAPTERS[request.param]()


_REDIS_KINDS = ("redis", "redis-near")


def _near_cache(store_kind: str) -> routecache.NearCache | None:
    return routecache.NearCache(max_bytes=8 * 2**20) if store_kind == "redis-near" else None


#: The suite checks HTTP semantics, not fault handling (tests/test_redis_faults.py and
#: tests/bounded do): the default 0.25 s socket timeout let a pause of this process
#: (a full garbage collection late in a 10,000-test run on 2 shared cores) turn a
#: store into a timed-out write, so a case expecting a hit saw a miss.
STORE_TIMEOUT = 5.0


def _tracking(redis_store: Any) -> Any:
    """Start the store's near cache, if any, and wait until Redis tracks for it."""
    near = redis_store.near
    if near is not None:
        near.start()
        assert near.tracking.wait(10), "the near cache's tracking connection did not come up"
    return redis_store


@pytest.fixture(params=["memory", *_REDIS_KINDS])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store the case runs against."""
    return str(request.param)


@pytest.fixture
def store(store_kind: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh store: a MemoryStore, or a RedisStore on the private server."""
    if store_kind == "memory":
        yield routecache.MemoryStore()
        return
    url = request.getfixturevalue("redis_clean_url")
    redis_store = routecache.RedisStore(
        url,
        prefix=f"conf{next(_prefixes)}",
        near_cache=_near_cache(store_kind),
        timeout=STORE_TIMEOUT,
    )
    yield _tracking(redis_store)
    redis_store.close()


@pytest.fixture
def redis_client(store: Any) -> Iterator[redis.Redis | None]:
    """A plain client on the private server (``None`` for the memory store)."""
    url = getattr(store, "url", None)
    if not url:
        yield None
        return
    client = redis.Redis.from_url(url)
    yield client
    client.close()


@pytest.fixture
def origin() -> Origin:
    """A fresh scripted origin."""
    return Origin()


@pytest.fixture
def make_client(
    adapter: Adapter, origin: Origin, store: Any, store_kind: str
) -> Iterator[Callable[..., Client]]:
    """``make_client(rules=[...], **options)``: the cached app around ``origin``.

    Every client made in one test shares the test's store. On Redis, the second and
    later clients get their own ``RedisStore`` on the same server and prefix (an
    asyncio connection pool cannot be shared between two clients' event loops), so
    they see the same entries, like two processes of one deployment.
    """
    clients: list[Client] = []
    extra_stores: list[Any] = []

    def make(**options: Any) -> Client:
        if "store" not in options:
            url = getattr(store, "url", None)
            if clients and url:
                own = routecache.RedisStore(
                    url,
                    prefix=store.prefix,
                    near_cache=_near_cache(store_kind),
                    timeout=STORE_TIMEOUT,
                )
                _tracking(own)
                extra_stores.append(own)
                options["store"] = own
            else:
                options["store"] = store
        client = adapter.client(origin, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    for extra in extra_stores:
        extra.close()
