"""Memory bounds of the cache, measured in fresh processes.

``python -m benchmarks.memory`` runs two measurements, each in its own Python process
so that its resident set starts clean, and prints a markdown table:

1. **MemoryStore bound**: 10,000 distinct 64 KiB responses (incompressible bytes, so
   compression cannot hide anything) go through the ASGI driver into a
   ``MemoryStore(max_bytes=64 MiB)``. Reported: the process's resident set before (the
   app's baseline, after one warm-up request) and its peak (``VmHWM``) after, against
   the target ``baseline + 64 MiB + 20%``.
2. **Streaming pass-through**: one 100 MiB response streamed in 64 KiB chunks through
   the driver with a rule whose ``max_body_size`` is 1 MiB: the body is relayed, not
   kept. Reported: the peak resident set above the baseline.
3. **Unstorable URLs**: 1,000,000 distinct query strings whose responses are not
   storable (``Cache-Control: private``, ``honor_cache_control=True``) through the
   driver into a ``MemoryStore(max_bytes=64 MiB)``: each leaves a single-flight record,
   which must stay within ``max_bytes``. Reported: the resident set after 200,000 and
   after 1,000,000 URLs (``python -m benchmarks.memory --one unstorable`` alone).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

MIB = 1024 * 1024


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "server": ("localhost", 80),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def store_bound() -> dict[str, Any]:
    """Fill a 64 MiB MemoryStore with 10,000 distinct 64 KiB responses."""
    from routecache import MemoryStore, Rule
    from routecache.middleware.asgi import CacheMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = os.urandom(64 * 1024)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    store = MemoryStore(max_bytes=64 * MIB)
    middleware = CacheMiddleware(
        app, store=store, rules=[Rule("/items/{id}", ttl=300)], collapse=False
    )
    received = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal received
        received += len(message.get("body", b""))

    async def main() -> tuple[int, int]:
        await middleware(_scope("/warm-up"), _receive, send)
        await middleware(_scope("/items/warm-up"), _receive, send)
        baseline = _rss_kib("VmRSS")
        for i in range(10_000):
            await middleware(_scope(f"/items/{i}"), _receive, send)
        return baseline, _rss_kib("VmHWM")

    baseline, peak = asyncio.run(main())
    return {
        "responses": 10_000,
        "bytes_sent_mib": round(received / MIB, 1),
        "store_entries": len(store),
        "store_mib": round(store.size / MIB, 1),
        "baseline_mib": round(baseline / 1024, 1),
        "peak_mib": round(peak / 1024, 1),
        "target_mib": round(baseline / 1024 + 64 * 1.2, 1),
    }


def streaming() -> dict[str, Any]:
    """Stream 100 MiB through a rule that keeps at most 1 MiB."""
    from routecache import MemoryStore, Rule
    from routecache.middleware.asgi import CacheMiddleware

    chunk = os.urandom(64 * 1024)
    chunks = 1600  # 100 MiB

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        if scope["path"] != "/big":  # the warm-up request
            await send({"type": "http.response.body", "body": b"warm"})
            return
        for i in range(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < chunks - 1})

    store = MemoryStore()
    middleware = CacheMiddleware(app, store=store, rules=[Rule("/big", ttl=300, max_body_size=MIB)])
    received = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal received
        received += len(message.get("body", b""))

    async def main() -> tuple[int, int]:
        nonlocal received
        await middleware(_scope("/other"), _receive, send)
        received = 0
        baseline = _rss_kib("VmRSS")
        await middleware(_scope("/big"), _receive, send)
        return baseline, _rss_kib("VmHWM")

    baseline, peak = asyncio.run(main())
    return {
        "streamed_mib": round(received / MIB, 1),
        "stored_entries": len(store),
        "baseline_mib": round(baseline / 1024, 1),
        "peak_mib": round(peak / 1024, 1),
        "peak_over_baseline_mib": round((peak - baseline) / 1024, 1),
    }


def unstorable(total: int = 1_000_000) -> dict[str, Any]:
    """Send ``total`` distinct URLs whose responses are not storable."""
    from routecache import MemoryStore
    from routecache.middleware.asgi import CacheMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"cache-control", b"private")],
            }
        )
        await send({"type": "http.response.body", "body": b"personal"})

    store = MemoryStore(max_bytes=64 * MIB)
    middleware = CacheMiddleware(app, store=store, honor_cache_control=True)

    async def send(message: dict[str, Any]) -> None:
        return None

    async def main() -> tuple[int, int, int]:
        await middleware(_scope("/warm-up"), _receive, send)
        baseline = _rss_kib("VmRSS")
        at_200k = 0
        for i in range(total):
            scope = _scope("/search")
            scope["query_string"] = f"q={i}".encode()
            await middleware(scope, _receive, send)
            if i + 1 == total // 5:
                at_200k = _rss_kib("VmRSS")
        return baseline, at_200k, _rss_kib("VmRSS")

    baseline, at_200k, at_end = asyncio.run(main())
    stats = store.stats()
    return {
        "urls": total,
        "baseline_mib": round(baseline / 1024, 1),
        "rss_at_fifth_mib": round(at_200k / 1024, 1),
        "rss_at_end_mib": round(at_end / 1024, 1),
        "lock_records": stats["locks"],
        "lock_mib": round(stats["lock_bytes"] / MIB, 1),
        "entries": stats["entries"],
    }


def _in_subprocess(name: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--one", name],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    """Run both measurements (each in a fresh process) and print the table."""
    if argv[:1] == ["--one"]:
        measure = {"store": store_bound, "streaming": streaming, "unstorable": unstorable}
        print(json.dumps(measure[argv[1]]()))
        return 0
    bound = _in_subprocess("store")
    stream = _in_subprocess("streaming")
    flat = _in_subprocess("unstorable")
    verdict = "met" if bound["peak_mib"] <= bound["target_mib"] else "MISSED"
    print("| measurement | result | target |")
    print("|---|---|---|")
    print(
        f"| 10,000 x 64 KiB through MemoryStore(64 MiB) | baseline {bound['baseline_mib']} MiB, "
        f"peak {bound['peak_mib']} MiB; store holds {bound['store_entries']} entries, "
        f"{bound['store_mib']} MiB | peak <= {bound['target_mib']} MiB "
        f"(baseline + 64 MiB + 20%): {verdict} |"
    )
    print(
        f"| 100 MiB streamed, rule max_body_size 1 MiB | {stream['streamed_mib']} MiB relayed, "
        f"{stream['stored_entries']} entries stored, peak {stream['peak_over_baseline_mib']} MiB "
        f"over the baseline | bounded (no full buffering) |"
    )
    print(
        f"| {flat['urls']:,} unstorable URLs, MemoryStore(64 MiB) | baseline "
        f"{flat['baseline_mib']} MiB, RSS {flat['rss_at_fifth_mib']} MiB after a fifth, "
        f"{flat['rss_at_end_mib']} MiB at the end; {flat['lock_records']:,} lock/pass "
        f"records ({flat['lock_mib']} MiB) | flat after the records fill their quarter "
        f"of max_bytes |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
