"""Fixtures of the conformance suite: every case runs per adapter and per store.

``adapter`` is parametrised over every registered binding (Starlette, FastAPI, Flask,
Django sync, Django async); ``store`` over the embedded ``MemoryStore`` and a real
private ``redis-server`` (``RedisStore`` with a per-test prefix; ASGI drivers swap it
for its asyncio twin). ``make_client`` builds the cached app around an ``Origin``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

import routecache
from tests.conformance import bindings
from tests.conformance.bindings import starlette as _starlette  # noqa: F401
from tests.conformance.harness import ADAPTERS, Adapter, Client, Origin

_prefixes = itertools.count()


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


@pytest.fixture(params=["memory", "redis"])
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
    redis_store = routecache.RedisStore(url, prefix=f"conf{next(_prefixes)}")
    yield redis_store
    redis_store.close()


@pytest.fixture
def redis_client(store: Any) -> redis.Redis | None:
    """A plain client on the private server (``None`` for the memory store)."""
    url = getattr(store, "url", None)
    return redis.Redis.from_url(url) if url else None


@pytest.fixture
def origin() -> Origin:
    """A fresh scripted origin."""
    return Origin()


@pytest.fixture
def make_client(adapter: Adapter, origin: Origin, store: Any) -> Iterator[Callable[..., Client]]:
    """``make_client(rules=[...], **options)``: the cached app around ``origin``."""
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        options.setdefault("store", store)
        client = adapter.client(origin, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
