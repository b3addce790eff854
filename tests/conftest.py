"""Shared pytest fixtures.

Redis policy: tests that need a real Redis get PRIVATE ``redis-server``
processes started by this test run on free 127.0.0.1 ports, with persistence
off and a temporary ``--dir`` (helpers in ``tests/_redis_servers.py``). The
shared/system Redis on 127.0.0.1:6379 is never used: never connected to, never
flushed. If ``redis-server`` (or ``redis-cli`` for the cluster) is not on PATH,
those tests are skipped locally, but FAIL when ``CI=true``: in CI a missing
Redis must never pass silently as a skip.

Tests marked ``@pytest.mark.redis`` / ``@pytest.mark.cluster`` get the private
server / cluster started for them; tests that use the fixtures get the marker
automatically, so ``-m "not redis and not cluster"`` runs without Redis.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests._redis_servers import RedisCluster, RedisServer, missing_redis_binaries

# ---------------------------------------------------------------------------
# Real Redis: private server and cluster
# ---------------------------------------------------------------------------


def _require_redis_binaries(*names: str) -> None:
    """Skip (or fail under CI=true) when a Redis binary is missing."""
    missing = missing_redis_binaries(*names)
    if not missing:
        return
    message = f"{', '.join(missing)} not found on PATH (needed for real-Redis tests)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session (never 127.0.0.1:6379)."""
    _require_redis_binaries("redis-server")
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0`` of the private session server."""
    return redis_server.url


@pytest.fixture
def redis_clean_url(redis_server: RedisServer) -> str:
    """URL of the private server, (re)started if needed and FLUSHALLed first."""
    redis_server.start()  # no-op unless an earlier test stopped or killed it
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A private 3-master Redis Cluster for the whole session."""
    _require_redis_binaries("redis-server", "redis-cli")
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_clean(redis_cluster: RedisCluster) -> RedisCluster:
    """The private cluster with every node FLUSHALLed first."""
    redis_cluster.flush()
    return redis_cluster


@pytest.fixture(autouse=True)
def _redis_markers(request: pytest.FixtureRequest) -> None:
    """Start the private server/cluster for tests marked ``redis``/``cluster``."""
    if request.node.get_closest_marker("redis") is not None:
        request.getfixturevalue("redis_server")
    if request.node.get_closest_marker("cluster") is not None:
        request.getfixturevalue("redis_cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use the Redis fixtures, so ``-m`` can select them."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "redis_server" in names:
            item.add_marker(pytest.mark.redis)
        if "redis_cluster" in names:
            item.add_marker(pytest.mark.cluster)


# ---------------------------------------------------------------------------
# End of real-Redis fixtures. Add other fixtures below this line.
# ---------------------------------------------------------------------------
