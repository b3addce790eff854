"""Fixtures of the key tests: an adapter, a store, and ``make(**options)`` building
the cached echo app beside the same app without the cache (the reference)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import routecache
from tests.keys._apps import APPS, Pair

_prefixes = itertools.count()


@pytest.fixture(params=sorted(APPS))
def adapter(request: pytest.FixtureRequest) -> str:
    """One adapter's name."""
    return str(request.param)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh store: a MemoryStore, or a RedisStore on the private server."""
    if request.param == "memory":
        yield routecache.MemoryStore()
        return
    url = request.getfixturevalue("redis_clean_url")
    redis_store = routecache.RedisStore(url, prefix=f"keys{next(_prefixes)}")
    yield redis_store
    redis_store.close()


@pytest.fixture
def make(adapter: str, store: Any) -> Iterator[Callable[..., Pair]]:
    """``make(**options)``: the cached echo app of ``adapter`` and its reference."""
    pairs: list[Pair] = []

    def build(**options: Any) -> Pair:
        options.setdefault("store", store)
        pair = Pair(APPS[adapter](**options), APPS[adapter](store=routecache.MemoryStore()))
        pairs.append(pair)
        return pair

    yield build
    for pair in pairs:
        pair.close()
