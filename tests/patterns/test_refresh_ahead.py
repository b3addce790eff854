"""Refresh-ahead under steady traffic: a hot key never expires into a miss.

30 s of requests at 20/s on one key with ``ttl=2`` and ``refresh_ahead=0.5``, through
two uvicorn workers: every response after the first is a hit, and the view runs about
once per refresh period (an entry is refreshed when its age passes 1 s, so about 30
times in 30 s), not 600 times; one worker refreshes at a time across both processes.

The steady traffic starts once the first response's entry is in Redis (its write is
announced on the store's channel). The write happens after the response went out
(write-behind), so a request sent the moment the first one returns can reach the other
worker before it: it finds no entry, waits on the first fetch's lock and is answered
by it (``fwd=uri-miss; collapsed``), which is write-behind working as documented, not
refresh-ahead failing.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.patterns._support import (
    PREFIX,
    app_env,
    calls,
    calls_by_pid,
    pids_of,
    report,
    request,
    serve,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DURATION = 30.0
RATE = 20
TTL = 2.0
REFRESH_AHEAD = 0.5
VIEW = 0.2


def _next_message(pubsub: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(timeout=remaining)
        if message is not None:
            return dict(message)
    raise AssertionError(f"nothing on the store's channel within {timeout} s")


def test_steady_traffic_never_misses(redis_clean_url: str, rc: Any) -> None:
    path = "/ra/1"
    announcements = rc.pubsub()
    announcements.subscribe(f"{PREFIX}:stored")
    assert _next_message(announcements)["type"] == "subscribe"
    with serve("starlette", app_env(redis_clean_url, view_sleep=VIEW)) as server:
        first = request(server.port, path)
        assert "fwd=uri-miss; stored" in first.cache_status, first
        assert _next_message(announcements)["type"] == "message"  # the entry is in Redis
        announcements.close()
        started = time.monotonic()
        total = int(DURATION * RATE)

        def paced(i: int) -> Any:
            delay = started + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            return request(server.port, path, timeout=10)

        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(paced, range(total)))
        wall = time.monotonic() - started
        time.sleep(VIEW + 0.3)  # let a refresh in flight land before counting
        view_calls = calls(rc, path)
    misses = [r for r in replies if not r.hit]
    ages = [int(r.headers.get("age", "-1")) for r in replies]
    latencies = sorted(r.elapsed for r in replies)
    refresh_period = TTL * REFRESH_AHEAD
    report(
        "refresh-ahead",
        requests=total,
        wall_s=round(wall, 1),
        misses_after_first=len(misses),
        view_calls=view_calls,
        expected_about=round(DURATION / refresh_period),
        calls_by_worker=sorted(calls_by_pid(rc, path).values()),
        served_by_worker=sorted(pids_of(replies).values()),
        refresh_ahead_hits=sum("detail=refresh-ahead" in r.cache_status for r in replies),
        max_age_s=max(ages),
        p50_ms=round(latencies[len(latencies) // 2] * 1000, 1),
        p99_ms=round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        max_ms=round(latencies[-1] * 1000, 1),
    )
    assert not misses, [r.cache_status for r in misses][:10]
    assert all(r.status == 200 and r.body.startswith(b"path=/ra/1 call=") for r in replies)
    # One refresh per refresh period (age >= ttl * refresh_ahead), across both workers:
    # about DURATION / 1 s = 30 calls; never one per request (600), nor one per worker.
    assert DURATION / refresh_period * 0.5 <= view_calls <= DURATION / refresh_period * 1.5
    assert max(ages) < TTL
