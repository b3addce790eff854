"""Randomized coherence checker: real servers, real Redis, concurrent readers and writers.

``CLIENTS`` threads hammer ``KEYS`` keys with GETs and PUTs (``PUT_SHARE`` of the
operations) through a cached origin served by 2 worker processes (uvicorn for
Starlette, gunicorn gthread for Flask). The origin keeps a version per key in a
private Redis database of its own (db 1; the cache uses db 0 of the same private
server): a PUT bumps it and answers the new version, a GET answers the version it
read. The guarantee checked: **every GET that starts after a PUT's response was
received sees that version or a newer one.** Reports violations (must be 0), hit
ratio and operations per second. Runs ``--coherence-seconds`` per server kind (15 by
default): ``pytest tests/coherence -k checker --coherence-seconds 120 -s``. Each kind
runs without and with a near cache (L1) in every worker; with it, the share of hits
that reached Redis (``MGET``s per hit) shows that L1 served the others.
"""

from __future__ import annotations

import bisect
import http.client
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
import redis

from tests._redis_servers import LOOPBACK, RedisServer
from tests.coherence._servers import serve

CLIENTS = 8
KEYS = 4
PUT_SHARE = 0.1


@dataclass
class Log:
    """What the clients saw (times from ``time.monotonic()`` in this process)."""

    #: key -> [(time the PUT's response was received, version it wrote)]
    puts: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    #: (key, time the GET started, version it saw, served from the cache)
    gets: list[tuple[str, float, int, bool]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(port: int, seed: int, until: float, log: Log) -> None:
    rng = random.Random(seed)
    conn: http.client.HTTPConnection | None = None
    while time.monotonic() < until:
        key = f"key{rng.randrange(KEYS)}"
        method = "PUT" if rng.random() < PUT_SHARE else "GET"
        if conn is None:
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=15.0)
        started = time.monotonic()
        try:
            conn.request(method, f"/k/{key}", body=b"{}" if method == "PUT" else None)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()  # keep-alive closed by the server: reconnect, not an error
            conn = None
            continue
        received = time.monotonic()
        status = response.getheader("cache-status") or ""
        if response.status != 200:
            with log.lock:
                log.errors.append(f"{method} {key}: {response.status} {body[:80]!r}")
            continue
        name, _, version = body.decode().partition(" v")
        assert name == key, (key, body)
        with log.lock:
            if method == "PUT":
                log.puts[key].append((received, int(version)))
            else:
                log.gets.append((key, started, int(version), "; hit" in status))
    if conn is not None:
        conn.close()


def violations(log: Log) -> list[tuple[str, float, int, int]]:
    """GETs that saw an older version than a PUT answered before they started:
    (key, start time, version seen, version required)."""
    # Per key: PUT completion times, and the highest version completed by each.
    done: dict[str, tuple[list[float], list[int]]] = {}
    for key, puts in log.puts.items():
        puts.sort()
        times = [t for t, _ in puts]
        highest: list[int] = []
        for _, version in puts:
            highest.append(max(version, highest[-1] if highest else 0))
        done[key] = (times, highest)
    found = []
    for key, started, seen, _ in log.gets:
        times, highest = done.get(key, ([], []))
        n = bisect.bisect_left(times, started)
        if n and seen < highest[n - 1]:
            found.append((key, started, seen, highest[n - 1]))
    return found


def _mget_calls(redis_server: RedisServer) -> int:
    client = redis.Redis.from_url(redis_server.url)
    try:
        stats = client.info("commandstats").get("cmdstat_mget")
    finally:
        client.close()
    return int(stats["calls"]) if stats else 0


@pytest.mark.parametrize("near", [False, True], ids=["redis", "near-cache"])
@pytest.mark.parametrize(
    "kind",
    ["starlette", "flask"],
)
def test_every_read_after_a_write_sees_it(
    kind: str,
    near: bool,
    redis_clean_url: str,
    redis_server: RedisServer,
    coherence_seconds: float,
) -> None:
    log = Log()
    mgets = _mget_calls(redis_server)
    with serve(kind, redis_server, near=near) as server:
        started = time.monotonic()
        until = started + coherence_seconds
        threads = [
            threading.Thread(target=_client, args=(server.port, seed, until, log))
            for seed in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(coherence_seconds + 60.0)
        elapsed = time.monotonic() - started
    mgets = _mget_calls(redis_server) - mgets
    found = violations(log)
    gets = len(log.gets)
    puts = sum(len(p) for p in log.puts.values())
    hits = sum(1 for *_, hit in log.gets if hit)
    print(
        f"\n[coherence] {kind}{' + near cache' if near else ''}: {len(found)} violations "
        f"in {gets} GETs and {puts} PUTs "
        f"({CLIENTS} clients, {KEYS} keys, {elapsed:.1f}s): hit ratio {hits / max(gets, 1):.1%}, "
        f"{(gets + puts) / elapsed:.0f} ops/s, {mgets / max(hits, 1):.2f} Redis MGETs per hit"
    )
    for key, at, seen, required in found[:5]:
        print(f"  {key} at +{at - started:.3f}s saw v{seen}, v{required} was written before")
    assert not log.errors, log.errors[:5]
    assert gets > 0
    assert puts > 0
    assert found == [], f"{len(found)} stale reads after a write"
