"""A bounded soak: real servers, real Redis, faults in the middle; nothing wrong is served.

Per server kind (Starlette under uvicorn, Flask under gunicorn gthread; 2 worker
processes each), ``CLIENTS`` threads send for ``--soak-seconds`` (30 s each by default)
a mix of GETs over 500 paths with three TTLs (every tenth path varying on
``Accept-Language``, sent in three languages or not at all), PUTs that bump a path's
version and group writes that bump 50 paths and invalidate their tag. A third of the
way in, the cache's Redis is killed and restarted; two thirds in, it is paused
(SIGSTOP) for a second. Asserted:

- no 5xx, and every response is a 200;
- no body belongs to another URL or variant (each body names its path and language, and
  is exactly what the origin makes for that path, language and version);
- no stale read after a completed write: a GET that starts after a write's response
  arrived sees that version or a newer one, except a write whose invalidation met a
  fault, within the stale window the README documents (1 s plus one store timeout after
  Redis answers again);
- Redis memory and the workers' resident memory stay bounded.

Printed: hit ratio, operations per second, p99 latency, and what the faults cost.
"""

from __future__ import annotations

import bisect
import contextlib
import http.client
import os
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests._app_servers import serve_app
from tests._redis_servers import LOOPBACK, RedisServer, ServerProcess, missing_redis_binaries
from tests.soak._origin import GROUPS, KINDS, PATHS, VARYING, body, group_of, kind_of

CLIENTS = 64
LANGS = ("en", "fr", "de", None)
#: The store's default timeout, and the stale window the README documents after Redis
#: answers again: 1 s plus one store timeout.
STORE_TIMEOUT = 0.25
STALE_WINDOW = 1.0 + STORE_TIMEOUT
PAUSE = 1.0

pytestmark = pytest.mark.redis


@dataclass
class Log:
    """What the clients saw (times from ``time.monotonic()``)."""

    #: n -> [(time the write's response arrived, version it wrote)]
    writes: dict[int, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    #: (n, time the GET started, version seen, served from the cache)
    gets: list[tuple[int, float, int, bool]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def serve(kind: str, cache: RedisServer, versions: RedisServer) -> Iterator[ServerProcess]:
    env = {
        "SK_KIND": kind,
        "SK_CACHE_URL": cache.url,
        "SK_VERSION_URL": versions.url,
        "SK_PREFIX": f"soak-{kind}",
    }
    with serve_app(kind, "tests.soak._apps:app", env, threads=8) as server:
        yield server


def _client(port: int, seed: int, until: float, log: Log) -> None:
    rng = random.Random(seed)
    conn: http.client.HTTPConnection | None = None
    while time.monotonic() < until:
        roll = rng.random()
        n = rng.randrange(PATHS)
        path = f"/{kind_of(n)}/{n}"
        headers: dict[str, str] = {}
        if roll < 0.02:
            method = "PUT"
        elif roll < 0.025:
            method, path = "POST", f"/group/{group_of(n)}"
        else:
            method = "GET"
            lang = rng.choice(LANGS)
            if lang is not None:
                headers["Accept-Language"] = lang
        if conn is None:
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=20.0)
        started = time.monotonic()
        try:
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()  # a keep-alive connection the server closed: reconnect
            conn = None
            continue
        received = time.monotonic()
        status = response.getheader("cache-status") or ""
        with log.lock:
            log.latencies.append(received - started)
            if response.status != 200:
                log.errors.append(f"{method} {path}: {response.status} {status} {data[:80]!r}")
                continue
            if method == "PUT":
                log.writes[n].append((received, int(data.rsplit(b" v", 1)[1])))
            elif method == "POST":
                versions = [int(v) for v in data.split()]
                for m, version in zip(range(group_of(n), PATHS, GROUPS), versions, strict=True):
                    log.writes[m].append((received, version))
            else:
                expected_lang = (headers.get("Accept-Language") or "-") if n % VARYING == 0 else "-"
                _, _, rest = data.partition(b" v")
                version_text = rest.split(b" ", 1)[0]
                version = int(version_text) if version_text.isdigit() else -1
                if data != body(path, expected_lang, version, n):
                    log.wrong.append(f"GET {path} [{expected_lang}] got {data[:60]!r} ({status})")
                    continue
                log.gets.append((n, started, version, "; hit" in status))
    if conn is not None:
        conn.close()


def _excused(written: float, started: float, faults: list[tuple[float, float]]) -> bool:
    """A stale read after a write whose invalidation may have met a fault, within the
    documented window after Redis answered again."""
    return any(
        begin - STORE_TIMEOUT <= written <= end + STORE_TIMEOUT and started <= end + STALE_WINDOW
        for begin, end in faults
    )


def stale_reads(
    log: Log, faults: list[tuple[float, float]]
) -> tuple[list[tuple[int, float, int, int]], int]:
    """GETs that saw an older version than a write answered before they started, and
    how many of those the fault windows excuse."""
    done: dict[int, tuple[list[float], list[int]]] = {}
    for n, writes in log.writes.items():
        writes.sort()
        highest: list[int] = []
        for _, version in writes:
            highest.append(max(version, highest[-1] if highest else 0))
        done[n] = ([t for t, _ in writes], highest)
    found, excused = [], 0
    for n, started, seen, _ in log.gets:
        times, highest = done.get(n, ([], []))
        i = bisect.bisect_left(times, started)
        if not i or seen >= highest[i - 1]:
            continue
        # The newest write this read missed: when did it complete?
        j = i - 1
        while j > 0 and highest[j - 1] > seen:
            j -= 1
        if _excused(times[j], started, faults):
            excused += 1
        else:
            found.append((n, started, seen, highest[i - 1]))
    return found, excused


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


@pytest.mark.parametrize("kind", ["starlette", "flask"])
def test_soak(kind: str, soak_seconds: float) -> None:
    if missing_redis_binaries("redis-server") and os.environ.get("CI") != "true":
        pytest.skip("redis-server is not installed")
    log = Log()
    faults: list[tuple[float, float]] = []
    with RedisServer() as cache, RedisServer() as versions, serve(kind, cache, versions) as server:
        workers = server.child_pids()
        started = time.monotonic()
        until = started + soak_seconds
        threads = [
            threading.Thread(target=_client, args=(server.port, seed, until, log), daemon=True)
            for seed in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(soak_seconds / 4)
        rss_early = _rss_kib(workers)
        # A third in: Redis dies and comes back empty on the same port.
        time.sleep(max(0.0, started + soak_seconds / 3 - time.monotonic()))
        begin = time.monotonic()
        cache.kill()
        time.sleep(0.5)
        cache.start()
        faults.append((begin, time.monotonic()))
        # Two thirds in: Redis stalls for a second.
        time.sleep(max(0.0, started + 2 * soak_seconds / 3 - time.monotonic()))
        begin = time.monotonic()
        os.kill(cache.pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE)
        finally:
            os.kill(cache.pid, signal.SIGCONT)
        faults.append((begin, time.monotonic()))
        for thread in threads:
            thread.join(soak_seconds + 60.0)
        elapsed = time.monotonic() - started
        rss_late = _rss_kib(workers)
        info = redis.Redis.from_url(cache.url).info("memory")
        keys = redis.Redis.from_url(cache.url).dbsize()
    found, excused = stale_reads(log, faults)
    gets = len(log.gets)
    writes = sum(len(w) for w in log.writes.values())
    hits = sum(1 for *_, hit in log.gets if hit)
    latencies = sorted(log.latencies)
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    print(
        f"\n[soak] {kind}: {gets} GETs, {writes} writes (paths bumped), {len(log.errors)} "
        f"errors, {len(log.wrong)} wrong bodies, {len(found)} stale reads "
        f"(+{excused} inside the documented fault window) in {elapsed:.1f}s with "
        f"{CLIENTS} clients: hit ratio {hits / max(gets, 1):.1%}, "
        f"{len(latencies) / elapsed:.0f} req/s, p99 {p99 * 1000:.0f} ms; Redis "
        f"{info['used_memory'] / 2**20:.1f} MiB in {keys} keys; workers' RSS "
        f"{rss_early / 1024:.0f} -> {rss_late / 1024:.0f} MiB"
    )
    for n, at, seen, required in found[:5]:
        print(f"  /{kind_of(n)}/{n} at +{at - started:.3f}s saw v{seen}, v{required} was written")
    assert log.errors == [], log.errors[:5]
    assert log.wrong == [], log.wrong[:5]
    assert gets > 1000
    assert writes > 0
    assert hits > 0
    assert found == [], f"{len(found)} stale reads after a write"
    # Bounded: 500 paths (three languages on a tenth) in small entries.
    assert info["used_memory"] < 64 * 2**20
    assert rss_late - rss_early < 64 * 1024, (rss_early, rss_late)
    assert KINDS  # the TTL groups the origin serves (1 s, 5 s, 60 s)
