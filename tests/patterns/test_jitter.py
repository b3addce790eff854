"""TTL jitter: entries stored together do not all expire together."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from tests.patterns._support import app_env, entry_keys, report, request, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

COUNT = 50
TTL = 100.0
JITTER = 0.1


@pytest.mark.parametrize("kind", ["starlette", "flask"])
def test_jitter_spreads_expirations(kind: str, redis_clean_url: str, rc: Any) -> None:
    with serve(kind, app_env(redis_clean_url)) as server:
        started = time.monotonic()
        for i in range(COUNT):
            reply = request(server.port, f"/jitter/{i}")
            assert "stored" in reply.cache_status, reply
    keys = entry_keys(rc)
    assert len(keys) == COUNT
    ttls = [rc.pttl(k) / 1000 for k in keys]
    elapsed = time.monotonic() - started  # how far any PTTL can have run down
    report(
        f"ttl-jitter[{kind}]",
        keys=len(ttls),
        min_s=round(min(ttls), 2),
        max_s=round(max(ttls), 2),
        stdev_s=round(statistics.stdev(ttls), 2),
        distinct_seconds=len({int(t) for t in ttls}),
        elapsed_s=round(elapsed, 2),
    )
    # Within 100 s +/- 10% when stored (a PTTL has run down by at most ``elapsed``; the
    # 0.1 s is the entry's initial age, the view's own time), and not all equal.
    low, high = TTL * (1 - JITTER), TTL * (1 + JITTER)
    assert all(low - elapsed - 0.1 <= t <= high for t in ttls), ttls
    assert max(ttls) - min(ttls) > 2.0
    assert len({int(t) for t in ttls}) >= 5
