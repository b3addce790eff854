"""Stampede protection across worker processes: 50 concurrent misses, one view call.

The kernel spreads the 50 connections over the two workers; should they all land on
one worker (rare), the cross-process part was not exercised and the scenario runs
again on another cold URL (at most three times).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.patterns._support import (
    Reply,
    app_env,
    calls,
    calls_by_pid,
    concurrently,
    pids_of,
    report,
    request,
    serve,
)
from tests.patterns.frameworks import FRAMEWORKS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CLIENTS = 50
ATTEMPTS = 3


def _check(rc: Any, path: str, replies: list[Reply]) -> None:
    assert [r.status for r in replies] == [200] * CLIENTS, replies
    assert calls(rc, path) == 1, (calls_by_pid(rc, path), replies)
    bodies = {r.body for r in replies}
    assert len(bodies) == 1, bodies
    assert next(iter(bodies)).startswith(f"path={path} call=1 ".encode())
    misses = [r for r in replies if "fwd=uri-miss; stored" in r.cache_status]
    assert len(misses) == 1, [r.cache_status for r in replies]
    for r in replies:
        if r is not misses[0]:
            assert "collapsed" in r.cache_status or r.hit, r.cache_status
    assert max(r.elapsed for r in replies) < 5.0


@pytest.mark.parametrize("kind", FRAMEWORKS)
def test_fifty_concurrent_misses_run_the_view_once(
    kind: str, redis_clean_url: str, rc: Any
) -> None:
    with serve(kind, app_env(redis_clean_url)) as server:
        for attempt in range(1, ATTEMPTS + 1):
            path = f"/stampede/{attempt}"
            started = time.monotonic()
            replies = concurrently(CLIENTS, lambda i, path=path: request(server.port, path))
            wall = time.monotonic() - started
            _check(rc, path, replies)
            served_by = pids_of(replies)
            if len(served_by) == 2:
                break
    latencies = sorted(r.elapsed for r in replies)
    report(
        f"stampede[{kind}]",
        attempts=attempt,
        view_calls=calls(rc, path),
        collapsed=sum("collapsed" in r.cache_status for r in replies),
        hits=sum(r.hit for r in replies),
        served_by_worker=sorted(served_by.values()),
        p50_ms=round(latencies[len(latencies) // 2] * 1000),
        max_ms=round(latencies[-1] * 1000),
        wall_s=round(wall, 2),
    )
    # Both worker processes answered part of the 50: the collapse crossed processes.
    assert len(served_by) == 2, served_by
