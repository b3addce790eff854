"""Single flight survives the death of the worker holding the lock.

The first call of ``/slow/1`` records its worker's PID and sleeps long. The test
freezes that worker (SIGSTOP: a hung worker, which accepts no more connections, so
every later request lands on the other worker), sends waiters, SIGKILLs the frozen
worker, and checks that the waiters finish within the bounded wait (``lock_wait``)
plus one view time, each with a correct body and no error caused by the cache, and
that the surviving worker ran the view once for all of them.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from typing import Any

import pytest

from tests.patterns._support import (
    app_env,
    calls,
    calls_by_pid,
    concurrently,
    report,
    request,
    serve,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

LOCK_WAIT = 1.5
LOCK_TTL = 2.0
VIEW = 0.2
WAITERS = 10


@pytest.mark.parametrize("kind", ["starlette", "flask"])
def test_waiters_finish_when_the_lock_holder_is_killed(
    kind: str, redis_clean_url: str, rc: Any
) -> None:
    path = "/slow/1"
    env = app_env(
        redis_clean_url, first_sleep=30, lock_wait=LOCK_WAIT, lock_ttl=LOCK_TTL, view_sleep=VIEW
    )
    with serve(kind, env) as server:
        leader_outcome: list[object] = []

        def leader() -> None:
            try:
                leader_outcome.append(request(server.port, path, timeout=20))
            except (OSError, http.client.HTTPException) as exc:
                leader_outcome.append(exc)

        thread = threading.Thread(target=leader, daemon=True)
        thread.start()
        assert wait_until(lambda: rc.get(f"ctr:leader:{path}") is not None, 10.0)
        holder = int(rc.get(f"ctr:leader:{path}"))
        assert holder in server.child_pids()
        assert len(list(rc.scan_iter(match="pc:*:lock"))) == 1  # the holder's lock
        os.kill(holder, signal.SIGSTOP)  # hung: it accepts nothing from now on

        killed_at: list[float] = []

        def kill_holder() -> None:
            time.sleep(0.3)
            killed_at.append(time.monotonic())
            os.kill(holder, signal.SIGKILL)

        killer = threading.Thread(target=kill_holder, daemon=True)
        sent = time.monotonic()
        killer.start()
        try:
            replies = concurrently(WAITERS, lambda i: request(server.port, path, timeout=20))
        finally:
            killer.join(5)
            thread.join(5)

    assert killed_at, "the lock holder was not killed"
    # The holder's own request died with it (a connection error, not an HTTP answer).
    assert len(leader_outcome) == 1
    assert isinstance(leader_outcome[0], (OSError, http.client.HTTPException)), leader_outcome
    waits = sorted(r.ended - sent for r in replies)
    by_pid = calls_by_pid(rc, path)
    report(
        f"lock-holder-killed[{kind}]",
        lock_wait=LOCK_WAIT,
        lock_ttl=LOCK_TTL,
        view_s=VIEW,
        waiters=WAITERS,
        view_calls=calls(rc, path),
        calls_by_worker=sorted(by_pid.values()),
        wait_min_s=round(waits[0], 2),
        wait_max_s=round(waits[-1], 2),
        statuses=sorted({r.status for r in replies}),
        cache_status=sorted({r.cache_status for r in replies}),
    )
    for r in replies:
        assert r.status == 200, r
        assert r.body.startswith(b"path=/slow/1 call="), r
        assert r.pid != str(holder)
        assert "detail=store-unavailable" not in r.cache_status
    # Bounded: the wait for the dead holder, then one view time (plus scheduling slack).
    assert waits[-1] < LOCK_WAIT + VIEW + 1.0, waits
    # The holder's call, then one call by the surviving worker shared by all waiters.
    assert calls(rc, path) == 2, by_pid
    assert len({r.body for r in replies}) == 1
