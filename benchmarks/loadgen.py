"""Fallback load generator, used only when ``wrk`` is not on PATH.

A small asyncio HTTP/1.1 keep-alive client: N connections, each sending one request at a
time for a bounded duration, recording every latency. It prints the same ``BENCH ...``
line as the wrk scripts in ``benchmarks/wrk/``. Being Python on one core, it saturates
far below wrk (roughly 5-10k requests/s here), so the fastest rows are then measured
against the client's own ceiling: install wrk (``apt-get install wrk``) for real numbers.

    python -m benchmarks.loadgen --port 8000 --mode hit --ids 50 --duration 3
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable


def _percentile(sorted_values: list[int], pct: float) -> int:
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


async def _connection(
    host: str,
    port: int,
    next_path: Callable[[], str],
    deadline: float,
    latencies: list[int],
    counters: dict[str, int],
) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        counters["connect"] += 1
        return
    hostname = f"{host}:{port}".encode()
    try:
        while time.monotonic() < deadline:
            request = b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (next_path().encode(), hostname)
            start = time.perf_counter_ns()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await asyncio.wait_for(reader.readexactly(length), 10)
            latencies.append((time.perf_counter_ns() - start) // 1000)
            counters["requests"] += 1
            counters["bytes"] += len(head) + len(body)
            status = int(head.split(b" ", 2)[1])
            if status >= 400:
                counters["status"] += 1
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        counters["read"] += 1
    finally:
        writer.close()


async def run(
    host: str, port: int, connections: int, duration: float, mode: str, ids: int, base: int
) -> str:
    """Drive the load and return the ``BENCH ...`` result line."""
    state = {"i": 0}

    def hit_path() -> str:
        state["i"] = state["i"] % ids + 1
        return f"/items/{state['i']}?fields=name,price"

    def miss_path() -> str:
        state["i"] += 1
        return f"/items/{base + state['i']}?fields=name,price"

    next_path = hit_path if mode == "hit" else miss_path
    latencies: list[int] = []
    counters = dict.fromkeys(("requests", "bytes", "connect", "read", "status"), 0)
    start = time.perf_counter()
    deadline = time.monotonic() + duration
    await asyncio.gather(
        *(
            _connection(host, port, next_path, deadline, latencies, counters)
            for _ in range(connections)
        )
    )
    elapsed_us = int((time.perf_counter() - start) * 1e6)
    latencies.sort()
    return (
        f"BENCH requests={counters['requests']} duration_us={elapsed_us} "
        f"bytes={counters['bytes']} p50_us={_percentile(latencies, 50)} "
        f"p99_us={_percentile(latencies, 99)} max_us={latencies[-1] if latencies else 0} "
        f"connect={counters['connect']} read={counters['read']} write=0 "
        f"status={counters['status']} timeout=0"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--mode", choices=("hit", "miss"), default="hit")
    parser.add_argument("--ids", type=int, default=50)
    parser.add_argument("--base", type=int, default=1_000_000)
    args = parser.parse_args()
    loop_factory = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        pass
    coro = run(
        args.host, args.port, args.connections, args.duration, args.mode, args.ids, args.base
    )
    if hasattr(asyncio, "Runner"):  # Python 3.11+
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            line = runner.run(coro)
    else:
        line = asyncio.run(coro)
    print(line, flush=True)


if __name__ == "__main__":
    main()
