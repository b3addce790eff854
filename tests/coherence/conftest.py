"""Fixtures of the coherence tests: drivers on a private Redis, and how long the
randomized checker runs (``--coherence-seconds``, for ``pytest tests/coherence``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import routecache
from tests.coherence._drivers import make_client
from tests.conformance.harness import Client, Origin

#: Seconds the randomized checker runs per server kind unless told otherwise.
DEFAULT_COHERENCE_SECONDS = 15.0
_prefixes = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--coherence-seconds N``: run the randomized checker longer (or shorter)."""
    parser.addoption(
        "--coherence-seconds",
        type=float,
        default=None,
        help=f"seconds per server kind for the coherence checker "
        f"(default {DEFAULT_COHERENCE_SECONDS:g})",
    )


def _seconds(config: pytest.Config) -> float:
    value = config.getoption("coherence_seconds", default=None)
    return DEFAULT_COHERENCE_SECONDS if value is None else float(value)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The checker runs real servers for ``--coherence-seconds``: mark it slow and give
    it a time limit that grows with the option (the suite's default is 120 s)."""
    for item in items:
        if Path(str(item.path)).name.startswith("test_checker_"):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(_seconds(config) + 120))


@pytest.fixture
def coherence_seconds(request: pytest.FixtureRequest) -> float:
    """How long the randomized checker runs per server kind."""
    return _seconds(request.config)


@pytest.fixture
def origin() -> Origin:
    """A fresh scripted origin."""
    return Origin()


@pytest.fixture
def redis_store(redis_clean_url: str) -> Iterator[routecache.RedisStore]:
    """A ``RedisStore`` on the private server with a prefix of its own."""
    store = routecache.RedisStore(redis_clean_url, prefix=f"coh{next(_prefixes)}")
    yield store
    store.close()


@pytest.fixture
def make_driver(origin: Origin) -> Iterator[Callable[..., Client]]:
    """``make_driver(kind, **options)``: ``origin`` cached by the driver ``kind``."""
    clients: list[Client] = []

    def make(kind: str, **options: Any) -> Client:
        client = make_client(kind, origin, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
