"""Invalidation at any size (issue 9), on a private Redis: 200,000 entries under one
tag, and one path with 100,000 query strings.

The entries are written straight into Redis with a pipeline, with the keys the store
itself would write (entry, its generation, the path's generation, path and tag
indexes), plus a handful through the engine. After ``invalidate`` returns no entry is
reachable by a lookup, and every key is deleted once the background batches are done.
How long the call took to answer is printed, not asserted: a wall-clock bound fails on
a shared machine (measuring speed is a benchmark's job, not a test's).

No single Redis call may block the server for 10 ms. That is asserted on what the
server does, not on wall-clock time (on a machine shared with other test runs the
server is descheduled for tens of milliseconds even inside a one-key ``GET``): every
script call carries at most one batch (recorded at the client), and the server's own
mean time per call (``INFO commandstats``) stays a fraction of the bound. The slowest
calls in ``SLOWLOG`` and a concurrent ``PING`` loop (another process) are printed.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from routecache.middleware.engine_sync import SyncEngine
from routecache.middleware.keys import CacheKey, request_key
from routecache.middleware.policy import CachePolicy, VerdictKind
from routecache.middleware.rules import Rule
from routecache.middleware.stores import RedisStore
from routecache.middleware.stores.redis_common import BATCH, GEN_BATCH
from tests._redis_servers import RedisCluster
from tests.middleware._support import facts

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(110)]

TAG = "catalog"
RULE = Rule("/items/{id}", ttl=600, tags=[TAG])
#: No single Redis call may block the server this long (the issue's bound).
BLOCK_US = 10_000
#: The server's mean time per invalidation call must stay under this share of it.
MEAN_US = BLOCK_US // 5
CHUNK = 2000


def _key(path: str, query: bytes = b"") -> CacheKey:
    return request_key(
        method="GET",
        scheme="https",
        host="example.com",
        path=path,
        query=query,
        headers={},
        rule=RULE,
    )


def _through_engine(store: RedisStore, paths: list[str]) -> bytes:
    """Store ``paths`` through the engine (the real write path); the bytes of one."""
    engine = SyncEngine(CachePolicy([RULE]), store)
    for path in paths:
        plan = engine.policy.plan(facts(path))
        exchange = engine.exchange(plan, engine.lookup(plan))
        exchange.start(200, [(b"content-type", b"text/plain")])
        exchange.finish(b"body of " + path.encode())
    data = store.client.get(store.keys.entry(_key(paths[0])))
    assert isinstance(data, bytes)
    return data


def _seed(client: redis.Redis, store: RedisStore, keys: list[CacheKey], data: bytes) -> None:
    """Write ``keys`` as the store would (what ``SET_ENTRY`` and ``TAG_ADD`` do)."""
    expires = int(time.time() * 1000) + 600_000
    tag_index = store.keys.tag_index(TAG)
    gens: dict[str, str] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        pipe = client.pipeline(transaction=False)
        values: dict[str, Any] = {}
        members: dict[str, int] = {}
        by_path: dict[str, dict[str, int]] = {}
        for key in chunk:
            gen = gens.setdefault(key.path_hash, f"wseed{key.path_hash}")
            entry = store.keys.entry(key)
            values[entry] = data
            values[store.keys.entry_gen(entry)] = gen
            members[entry] = expires
            by_path.setdefault(key.path_hash, {})[entry] = expires
        pipe.mset(values)
        pipe.zadd(tag_index, members)
        for phash, entries in by_path.items():
            pipe.zadd(store.keys.path_index(phash), entries)
        pipe.execute()
    client.mset({store.keys.path_gen(phash): gen for phash, gen in gens.items()})


def _reachable(client: redis.Redis, store: RedisStore, keys: list[CacheKey]) -> int:
    """How many of ``keys`` a lookup would serve: the store's own reads on a sample,
    and its rule (entry present, written under the path's generation) on all."""
    for key in random.Random(9).sample(keys, min(500, len(keys))):
        assert store.get(key) is None
    servable = 0
    for start in range(0, len(keys), CHUNK):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + CHUNK]:
            entry = store.keys.entry(key)
            pipe.mget(entry, store.keys.entry_gen(entry), store.keys.path_gen(key.path_hash))
        for data, written, gen in pipe.execute():
            servable += data is not None and gen is not None and written == gen
    return servable


def _existing(client: redis.Redis, store: RedisStore, keys: list[CacheKey]) -> int:
    left = 0
    for start in range(0, len(keys), CHUNK):
        names: list[str] = []
        for key in keys[start : start + CHUNK]:
            entry = store.keys.entry(key)
            names += [entry, store.keys.entry_gen(entry)]
        left += int(client.exists(*names))
    return left


_PINGER = """
import json, sys, time, redis
client = redis.Redis.from_url(sys.argv[1])
client.ping()
print("ready", flush=True)
latencies = []
deadline = time.monotonic() + 90
import select
while time.monotonic() < deadline and not select.select([sys.stdin], [], [], 0)[0]:
    started = time.perf_counter()
    client.ping()
    latencies.append(time.perf_counter() - started)
latencies.sort()
print(json.dumps({"n": len(latencies), "p99": latencies[int(len(latencies) * 0.99)],
                  "max": latencies[-1]}), flush=True)
"""


class PingLoop:
    """PINGs from another process (no GIL shared with the test) while the
    invalidation runs; :meth:`summary` says what they saw."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.result: dict[str, float] = {}

    def __enter__(self) -> PingLoop:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PINGER, self.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        out, _ = self.proc.communicate("stop\n", timeout=30)
        self.result = json.loads(out.strip().splitlines()[-1])

    def summary(self) -> str:
        r = self.result
        return f"{r['n']:.0f} pings, p99 {r['p99'] * 1e3:.2f} ms, max {r['max'] * 1e3:.2f} ms"


class Calls:
    """Records the size of every script call the store sends."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: RedisStore) -> None:
        self.sizes: list[tuple[int, int]] = []
        evalsha = store.client.evalsha

        def recording(sha: str, numkeys: int, *keys_and_args: Any) -> Any:
            self.sizes.append((numkeys, len(keys_and_args) - numkeys))
            return evalsha(sha, numkeys, *keys_and_args)

        monkeypatch.setattr(store.client, "evalsha", recording)

    def assert_bounded(self) -> None:
        assert self.sizes
        assert max(keys for keys, _ in self.sizes) <= max(3 * BATCH, GEN_BATCH)
        assert max(args for _, args in self.sizes) <= 2 * BATCH


@pytest.fixture
def slowlog(redis_clean_url: str) -> Iterator[redis.Redis]:
    """A raw client; every call of 10 ms or more (wall clock) lands in the SLOWLOG."""
    client = redis.Redis.from_url(redis_clean_url)
    previous = client.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    client.config_set("slowlog-log-slower-than", BLOCK_US)
    try:
        yield client
    finally:
        client.config_set("slowlog-log-slower-than", previous)
        client.close()


def _server_time(client: redis.Redis) -> dict[str, tuple[int, int]]:
    stats = client.info("commandstats")
    return {
        name: (int(value["calls"]), int(value["usec"]))
        for name, value in stats.items()
        if name in ("cmdstat_evalsha", "cmdstat_zscan")
    }


def _check_server(client: redis.Redis, before: dict[str, tuple[int, int]]) -> str:
    """Assert the mean server time per call; describe it and the slowest calls."""
    after = _server_time(client)
    parts = []
    for name, (calls, usec) in after.items():
        calls -= before.get(name, (0, 0))[0]
        usec -= before.get(name, (0, 0))[1]
        assert calls > 0
        assert usec / calls < MEAN_US, (name, calls, usec)
        parts.append(f"{name[8:]} {calls} calls, mean {usec / calls:.0f} us")
    slow = client.slowlog_get(128)
    top = max((entry["duration"] for entry in slow), default=0)
    parts.append(f"{len(slow)} calls of 10 ms or more by the wall clock (max {top} us)")
    return "; ".join(parts)


def test_tag_with_200000_entries(
    redis_clean_url: str, slowlog: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = slowlog
    store = RedisStore(redis_clean_url, timeout=1.0)
    try:
        real_paths = [f"/items/real-{i}" for i in range(5)]
        data = _through_engine(store, real_paths)
        seeded = [_key(f"/items/{i}") for i in range(200_000 - len(real_paths))]
        _seed(client, store, seeded, data)
        keys = [_key(p) for p in real_paths] + seeded
        assert client.zcard(store.keys.tag_index(TAG)) == 200_000
        assert store.get(keys[0]) is not None  # a real entry is a hit before
        assert store.get(seeded[-1]) == data  # and so is a seeded one
        client.slowlog_reset()
        before = _server_time(client)
        calls = Calls(monkeypatch, store)
        with PingLoop(redis_clean_url) as pings:
            started = time.monotonic()
            answered = store.invalidate(tags=[TAG])
            took = time.monotonic() - started
            assert answered == 200_000
            assert _reachable(client, store, keys) == 0  # fenced before the answer
            assert store.sweeps.wait(60)  # the background deletion finishes
            swept = time.monotonic() - started
        calls.assert_bounded()
        server = _check_server(client, before)
        print(
            f"\ninvalidate(tags=) of 200,000 entries: answered in {took:.2f} s, all deleted "
            f"after {swept:.2f} s; {server}; {pings.summary()}"
        )
        assert _existing(client, store, keys) == 0
        assert client.exists(store.keys.tag_index(TAG)) == 0
        engine = SyncEngine(CachePolicy([RULE]), store)
        plan = engine.policy.plan(facts(real_paths[0]))
        assert engine.lookup(plan).kind == VerdictKind.FORWARD
    finally:
        store.close()


def test_path_with_100000_query_strings(
    redis_clean_url: str, slowlog: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = slowlog
    store = RedisStore(redis_clean_url, timeout=1.0)
    try:
        data = _through_engine(store, ["/items/7"])
        keys = [_key("/items/7")] + [_key("/items/7", b"page=%d" % i) for i in range(99_999)]
        _seed(client, store, keys, data)  # the engine's entry too, under the seeded gen
        assert store.get(keys[0]) is not None
        assert store.get(keys[-1]) == data
        client.slowlog_reset()
        before = _server_time(client)
        calls = Calls(monkeypatch, store)
        with PingLoop(redis_clean_url) as pings:
            started = time.monotonic()
            answered = store.invalidate("/items/7")
            took = time.monotonic() - started
            assert answered == 100_000
            assert _reachable(client, store, keys) == 0
            assert store.sweeps.wait(60)
            swept = time.monotonic() - started
        calls.assert_bounded()
        server = _check_server(client, before)
        print(
            f"\ninvalidate(path) with 100,000 query strings: answered in {took * 1e3:.1f} ms, "
            f"all deleted after {swept:.2f} s; {server}; {pings.summary()}"
        )
        assert _existing(client, store, keys) == 0
        assert client.exists(store.keys.path_index(keys[0].path_hash)) == 0
    finally:
        store.close()


@pytest.mark.cluster
def test_batches_on_a_cluster(redis_cluster_clean: RedisCluster) -> None:
    """Several batches, spread over every node: fenced at once, all deleted after."""
    url = f"redis+cluster://127.0.0.1:{redis_cluster_clean.nodes[0].port}"
    store = RedisStore(url, timeout=1.0)
    try:
        engine = SyncEngine(CachePolicy([RULE]), store)
        paths = [f"/items/{i}" for i in range(1_200)]
        for path in paths:
            plan = engine.policy.plan(facts(path))
            exchange = engine.exchange(plan, engine.lookup(plan))
            exchange.start(200, [(b"content-type", b"text/plain")])
            exchange.finish(path.encode())
        keys = [_key(p) for p in paths]
        assert all(store.get(key) is not None for key in keys[:50])
        assert store.invalidate(tags=[TAG]) == len(paths)
        assert all(store.get(key) is None for key in keys)
        assert store.sweeps.wait(60)
        entries = [store.keys.entry(key) for key in keys]
        assert sum(store.client.exists(e, store.keys.entry_gen(e)) for e in entries) == 0
        assert store.client.exists(store.keys.tag_index(TAG)) == 0
    finally:
        store.close()
