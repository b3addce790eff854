"""Write-behind: the client does not wait for the Redis write of a miss.

A private redis-server (debug commands enabled) is slowed for exactly the moment of
the write: the ``/wb/`` view, just before it answers, issues ``DEBUG SLEEP`` from
another connection, so the store's write after the response waits ``DELAY`` seconds.
The client's latency stays near the view's time; the entry shows up in Redis only
after the sleep, and the next request is a hit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from routecache.middleware.keys import path_hash
from tests._redis_servers import RedisServer, missing_redis_binaries
from tests.patterns._support import PREFIX, app_env, calls, redis_client, report, request, serve

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(90)]

VIEW = 0.2
DELAY = 1.0


@pytest.fixture(scope="module")
def debug_redis() -> Iterator[RedisServer]:
    """A private redis-server that accepts ``DEBUG SLEEP`` (from loopback only)."""
    if missing_redis_binaries("redis-server"):
        pytest.skip("redis-server not found")  # tests/conftest.py fails first under CI=true
    with RedisServer(extra_args=["--enable-debug-command", "local"]) as server:
        yield server


@pytest.mark.parametrize("kind", ["starlette", "flask"])
def test_the_miss_does_not_wait_for_the_redis_write(kind: str, debug_redis: RedisServer) -> None:
    debug_redis.flush()
    path = "/wb/1"
    client = redis_client(debug_redis.url)
    env = app_env(debug_redis.url, view_sleep=VIEW, wb_delay=DELAY, store_timeout=DELAY * 3)
    try:
        with serve(kind, env) as server:
            miss = request(server.port, path)
            pattern = f"{PREFIX}:{{{path_hash(path)}}}:*"
            seen = None
            deadline = time.monotonic() + DELAY * 4
            while time.monotonic() < deadline:
                # Blocks while Redis sleeps: the first answer comes after the write.
                keys = [
                    k
                    for k in client.scan_iter(match=pattern)
                    if not k.endswith((b":idx", b":lock", b":g", b":gen"))
                ]
                if keys:
                    seen = time.monotonic()
                    break
                time.sleep(0.01)
            hit = request(server.port, path)
        view_calls = calls(client, path)
    finally:
        client.close()
    report(
        f"write-behind[{kind}]",
        view_s=VIEW,
        redis_write_delay_s=DELAY,
        miss_latency_s=round(miss.elapsed, 3),
        entry_in_redis_after_s=round(seen - miss.started, 3) if seen else None,
        next=hit.cache_status,
    )
    assert miss.status == 200, miss
    assert "fwd=uri-miss; stored" in miss.cache_status, miss
    # The client got its answer before the write: its latency is the view's time, far
    # from view + write delay (generous bounds; no tight timing).
    assert VIEW <= miss.elapsed < VIEW + DELAY / 2, miss.elapsed
    # The write happened, after the sleep: the entry is in Redis and serves the next hit.
    assert seen is not None
    assert seen - miss.started >= DELAY * 0.8
    assert hit.hit, hit
    assert hit.body == miss.body, hit
    assert view_calls == 1
