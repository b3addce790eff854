"""The fleet view: each process flushes its counters to Redis; ``routecache stats`` adds
them up, next to the memory the cache takes.

Off by default; the driver option ``metrics_flush=5.0`` (Flask
``ROUTECACHE_METRICS_FLUSH``, Django ``"METRICS_FLUSH"``) turns it on. A daemon thread
per process (one per process, under the first store that asks: the counters are the
process's), every ``metrics_flush`` seconds, sends one pipeline:

- ``HINCRBY {prefix}:metrics:{t}`` per rule and outcome (``/items/{id}|hit``) by what
  changed since the last flush, where ``t`` is the 10-second bucket of the flush, plus
  ``{hostname}:{pid}|process`` (how many processes reported); ``EXPIRE`` it after
  :data:`RETENTION` seconds: at most ``RETENTION / BUCKET`` such keys exist;
- ``HSET {prefix}:metrics:paths`` a few path hashes of each rule seen stored (at most
  :data:`PATHS_PER_FLUSH` per rule per flush; the hash is dropped past
  :data:`PATHS_MAX` fields), so ``stats`` can tell which rule a sampled key belongs to
  (keys are digests and entries do not record their URL).

A failed flush is logged (``routecache.metrics``, WARNING, at most once a minute) and
its counts go out with the next one; it never touches a request.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from typing import Any, Final

from ..middleware.metrics import METRICS, REQUEST_OUTCOMES, Metrics
from .periodic import Periodic

__all__ = [
    "BUCKET",
    "PATHS_MAX",
    "PATHS_PER_FLUSH",
    "RETENTION",
    "Flusher",
    "fleet_stats",
    "memory_stats",
    "start",
]

#: Seconds per time bucket.
BUCKET: Final = 10
#: Seconds a bucket is kept (the longest window ``stats`` can show).
RETENTION: Final = 900
#: Path hashes recorded per rule per flush, and the most kept.
PATHS_PER_FLUSH: Final = 16
PATHS_MAX: Final = 10_000
#: Entries whose ``MEMORY USAGE`` ``stats`` samples.
MEMORY_SAMPLE: Final = 200

logger = logging.getLogger("routecache.metrics")


def bucket_key(prefix: str, bucket: int) -> str:
    """The counters' hash of one time bucket."""
    return f"{prefix}:metrics:{bucket}"


def paths_key(prefix: str) -> str:
    """The hash of path hashes to rules."""
    return f"{prefix}:metrics:paths"


class Flusher(Periodic):
    """Flushes :data:`METRICS` to Redis every ``interval`` seconds (see the module)."""

    def __init__(self, client: Any, prefix: str, interval: float, metrics: Metrics = METRICS):
        super().__init__(interval, "routecache-fleet")
        self.client = client
        self.prefix = prefix
        self.metrics = metrics
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self._sent: dict[tuple[str, str], int] = {}
        self._last_warning = 0.0

    def _totals(self) -> dict[tuple[str, str], int]:
        totals: dict[tuple[str, str], int] = {}
        for label, slot in list(self.metrics.rules.items()):
            if slot.hits:
                totals[label, "hit"] = slot.hits
            for (outcome, _detail), n in list(slot.counts.items()):
                if outcome in REQUEST_OUTCOMES:
                    totals[label, outcome] = totals.get((label, outcome), 0) + n
        return totals

    def flush(self, now: float | None = None) -> None:
        """Send what changed since the last flush (one pipeline); on a fault nothing is
        marked sent, so it goes out with the next flush."""
        with self._lock:
            totals = self._totals()
            deltas = {k: n - self._sent.get(k, 0) for k, n in totals.items()}
            deltas = {k: d for k, d in deltas.items() if d > 0}
            paths: dict[str, str] = {}
            for label, slot in list(self.metrics.rules.items()):
                sampled, slot.paths = slot.paths, set()
                for path_hash in list(sampled)[:PATHS_PER_FLUSH]:
                    paths[path_hash] = label
            bucket = int((time.time() if now is None else now) // BUCKET)
            key = bucket_key(self.prefix, bucket)
            pipe = self.client.pipeline(transaction=False)
            for (label, outcome), delta in deltas.items():
                pipe.hincrby(key, f"{label}|{outcome}", delta)
            pipe.hset(key, f"{self.process}|process", 1)
            pipe.expire(key, RETENTION + BUCKET)
            if paths:
                pipe.hset(paths_key(self.prefix), mapping=paths)
                pipe.expire(paths_key(self.prefix), RETENTION + BUCKET)
                pipe.hlen(paths_key(self.prefix))
            results = pipe.execute()
            if paths and results[-1] > PATHS_MAX:
                self.client.delete(paths_key(self.prefix))
            self._sent.update(totals)

    def failed(self, exc: Exception) -> None:
        """Redis is down: warn at most once a minute; the deltas go with the next flush."""
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            logger.warning("routecache: flushing the metrics to Redis failed: %s", exc)

    def _after_fork(self) -> None:
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        super()._after_fork()


_flusher: Flusher | None = None
_start_lock = threading.Lock()


def start(store: Any, interval: float) -> Flusher | None:
    """Start this process's flusher on ``store`` (a sync Redis store: its ``client``
    and ``prefix``), once per process; ``None`` when the store is not Redis."""
    global _flusher
    client = getattr(store, "client", None)
    if client is None or not hasattr(client, "pipeline"):
        return None
    with _start_lock:
        if _flusher is None:
            _flusher = Flusher(client, store.prefix, interval).start()
            os.register_at_fork(after_in_child=_flusher._after_fork)
        return _flusher


def fleet_stats(client: Any, prefix: str, minutes: float = 5) -> dict[str, Any]:
    """The requests of every process over the last ``minutes``, by rule: counts by
    outcome and the hit ratio (hits, stale and collapsed over all but bypasses)."""
    now = int(time.time() // BUCKET)
    buckets = range(now - int(minutes * 60 // BUCKET), now + 1)
    pipe = client.pipeline(transaction=False)
    for bucket in buckets:
        pipe.hgetall(bucket_key(prefix, bucket))
    rules: dict[str, dict[str, int]] = {}
    processes: set[str] = set()
    for found in pipe.execute():
        for field, value in found.items():
            name, _, outcome = field.decode().rpartition("|")
            if outcome == "process":
                processes.add(name)
                continue
            counts = rules.setdefault(name, {})
            counts[outcome] = counts.get(outcome, 0) + int(value)
    out: dict[str, Any] = {}
    for name, counts in sorted(rules.items()):
        served = counts.get("hit", 0) + counts.get("stale", 0) + counts.get("collapsed", 0)
        looked_up = served + counts.get("miss", 0)
        out[name] = {
            "requests": sum(counts.values()),
            **{k: counts.get(k, 0) for k in ("hit", "stale", "collapsed", "miss", "bypass")},
            "hit_ratio": round(served / looked_up, 4) if looked_up else None,
        }
    return {"minutes": minutes, "processes": len(processes), "rules": out}


def _group(key: bytes, prefix: bytes, rules_by_path: dict[bytes, str]) -> str:
    if key.startswith(prefix + b":metrics:"):
        return "(metrics)"
    if key.startswith(prefix + b":{t"):
        return "(tags)"
    if key.startswith(prefix + b":{"):
        path_hash = key[len(prefix) + 2 : key.find(b"}")]
        return rules_by_path.get(path_hash, "(unknown rule)")
    return "(other)"


def memory_stats(client: Any, prefix: str, sample: int = MEMORY_SAMPLE) -> dict[str, Any]:
    """Bytes under the prefix by rule, estimated from ``MEMORY USAGE`` of a uniform
    sample of the keys (one ``SCAN``), and the server's memory settings with a warning
    when its eviction policy does not suit a cache."""
    raw_prefix = prefix.encode()
    seen = 0
    picked: list[bytes] = []
    for key in client.scan_iter(match=prefix + ":*", count=1000):
        seen += 1
        if len(picked) < sample:
            picked.append(key)
        else:  # reservoir sampling: every key equally likely
            j = random.randrange(seen)
            if j < sample:
                picked[j] = key
    rules_by_path = {k: v.decode() for k, v in (client.hgetall(paths_key(prefix)) or {}).items()}
    pipe = client.pipeline(transaction=False)
    for key in picked:
        pipe.memory_usage(key, samples=0)
    sizes = pipe.execute() if picked else []
    scale = seen / len(picked) if picked else 0.0
    by_rule: dict[str, int] = {}
    for key, size in zip(picked, sizes, strict=True):
        group = _group(key, raw_prefix, rules_by_path)
        by_rule[group] = by_rule.get(group, 0) + int(size or 0)
    by_rule = {k: round(v * scale) for k, v in sorted(by_rule.items())}
    info = client.info("memory")
    if isinstance(info, dict) and info and all(isinstance(v, dict) for v in info.values()):
        info = next(iter(info.values()))  # a cluster: the first node's
    policy = str(info.get("maxmemory_policy", "?"))
    maxmemory = int(info.get("maxmemory", 0) or 0)
    dbsize = int(client.dbsize() or 0)
    warnings = []
    if policy == "noeviction":
        warnings.append(
            "maxmemory-policy is noeviction: a full Redis refuses the cache's writes; "
            "use volatile-lru (every routecache key has a TTL)"
        )
    elif policy.startswith("allkeys-") and dbsize > seen:
        warnings.append(
            f"maxmemory-policy is {policy} and this Redis holds {dbsize - seen} keys outside "
            f"the prefix: a full Redis evicts them too; use volatile-lru or a dedicated Redis"
        )
    if maxmemory == 0:
        warnings.append("maxmemory is not set: Redis grows until the machine runs out")
    return {
        "keys": seen,
        "sampled": len(picked),
        "bytes_by_rule": by_rule,
        "bytes": sum(by_rule.values()),
        "used_memory": int(info.get("used_memory", 0) or 0),
        "maxmemory": maxmemory,
        "maxmemory_policy": policy,
        "warnings": warnings,
    }
