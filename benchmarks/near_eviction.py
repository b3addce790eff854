"""Cross-process eviction latency of the near cache (L1).

How long after one process invalidates an entry has another process's near cache
dropped it? A private ``redis-server`` on loopback; a reader process holds a
``RedisStore`` with a ``NearCache`` and the entry in it (checked); this process, the
writer, invalidates the entry's path (``store.invalidate(path=...)``, or a write of a
new version with ``--write``). The reader's tracking thread notes when the entry left
its L1 (``CLOCK_MONOTONIC`` is one clock for every process). Reported: the time from
just before the writer's call to the eviction, and from the call's return to the
eviction (negative: evicted before the writer got its reply), as p50 / p99 / max over
``--count`` invalidations, idle reader (no lookup drains the socket for it: the
tracking thread alone). Every run is bounded in count and time, loopback only.

    python -m benchmarks.near_eviction              # 1,000 invalidations
    python -m benchmarks.near_eviction --count 200 --write
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.run import RedisServer, stop_process

PREFIX = "near-bench"


def _key(i: int) -> Any:
    from routecache.middleware.keys import request_key

    return request_key(
        method="GET",
        scheme="http",
        host="bench",
        path=f"/items/{i}",
        query=b"",
        headers={},
        rule=None,
    )


def _reader(url: str, pipe: Connection) -> None:
    """The other process: admit entry i when asked, report when it was evicted."""
    from routecache import NearCache, RedisStore

    near = NearCache()
    store = RedisStore(url, prefix=PREFIX, near_cache=near)
    near.start()
    if not near.tracking.wait(10):
        pipe.send(("error", "tracking did not come up"))
        return
    watched: list[str | None] = [None]
    evicted = threading.Event()
    at: list[float] = [0.0]
    original = near._invalidate

    def invalidate(keys: list[bytes]) -> None:
        name = watched[0]
        had = name is not None and name in near._items
        original(keys)
        if had and name not in near._items:
            at[0] = time.monotonic()
            evicted.set()

    near._invalidate = invalidate  # type: ignore[method-assign]
    pipe.send(("ready", None))
    while True:
        message, i = pipe.recv()
        if message == "stop":
            break
        key = _key(i)
        with near._lock:
            watched[0] = None
            evicted.clear()
        store.get(key)
        store.get(key)
        name = store.keys.entry(key)
        with near._lock:
            if name not in near._items:
                pipe.send(("error", f"entry {i} was not admitted: {dict(near.counts)}"))
                continue
            watched[0] = name
        pipe.send(("admitted", None))
        if not evicted.wait(5):
            pipe.send(("error", f"entry {i} was not evicted within 5 s"))
            continue
        pipe.send(("evicted", at[0]))
    store.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="invalidations (default 1000)")
    parser.add_argument(
        "--write", action="store_true", help="write a new version instead of invalidating"
    )
    opts = parser.parse_args()
    from routecache import RedisStore

    workdir = Path(tempfile.mkdtemp(prefix="near-eviction-"))
    server = RedisServer(workdir, None, 1)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    reader = context.Process(target=_reader, args=(server.url(0), theirs), daemon=True)
    writer = RedisStore(server.url(0), prefix=PREFIX)
    from_call: list[float] = []
    from_return: list[float] = []
    deadline = time.monotonic() + 600
    try:
        reader.start()
        if not ours.poll(30) or ours.recv()[0] != "ready":
            raise SystemExit("the reader process did not start")
        for i in range(opts.count):
            if time.monotonic() > deadline:
                break
            key = _key(i)
            writer.set(key, b"x" * 1024, 300)
            ours.send(("admit", i))
            message, detail = ours.recv()
            if message != "admitted":
                raise SystemExit(f"reader: {detail}")
            start = time.monotonic()
            if opts.write:
                writer.set(key, b"y" * 1024, 300)
            else:
                writer.invalidate(path=f"/items/{i}")
            returned = time.monotonic()
            if not ours.poll(10):
                raise SystemExit("the reader did not answer")
            message, detail = ours.recv()
            if message != "evicted":
                raise SystemExit(f"reader: {detail}")
            from_call.append((detail - start) * 1000)
            from_return.append((detail - returned) * 1000)
        ours.send(("stop", 0))
        reader.join(10)
    finally:
        if reader.is_alive():
            reader.kill()
        writer.close()
        stop_process(server.proc)
        shutil.rmtree(workdir, ignore_errors=True)
    what = "a write of a new version" if opts.write else "store.invalidate(path=...)"
    print(f"\nNear cache eviction in another process after {what}, {len(from_call)} runs:\n")
    print("| measured from | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|")
    for label, values in (
        ("the writer's call", from_call),
        ("the writer's call returning", from_return),
    ):
        print(
            f"| {label} | {statistics.median(values):.3f} | {_percentile(values, 0.99):.3f} "
            f"| {max(values):.3f} |"
        )


if __name__ == "__main__":
    main()
