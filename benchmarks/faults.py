"""The fault matrix: what each Redis fault costs each driver, measured.

``python -m benchmarks.faults`` (needs ``redis-server`` on PATH; every case gets its
own private server on a free loopback port, never the shared one) runs, for the ASGI
driver (``AsyncRedisStore``, Starlette) and the bare WSGI driver (``RedisStore``):
Redis killed and restarted empty, Redis stopped (``SIGSTOP``) and resumed, Redis full
(``maxmemory 1``, ``noeviction``), a key of the wrong type at the entry's address, and
a corrupt entry. During each fault 100 requests alternate between a stored page and
new URLs. Reported per case: requests answered, 5xx, bodies of another URL, median and
worst latency during the fault against the median before it, and the time from the
end of the fault until the stored page is a hit again.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import redis

from routecache.middleware.keys import path_hash
from tests._redis_servers import RedisServer, redis_command
from tests.test_redis_faults import Driver

REQUESTS = 100


def _entry_key(client: redis.Redis, driver: Driver) -> bytes:
    match = f"{driver.store.prefix}:{{{path_hash('/page')}}}:*"
    for key in client.scan_iter(match=match):
        if client.type(key) == b"string" and not key.endswith(b":lock"):
            return bytes(key)
    raise RuntimeError("no entry stored for /page")


def _faults(server: RedisServer, driver: Driver) -> dict[str, tuple[Callable[[], None], ...]]:
    client = redis.Redis.from_url(server.url)

    def wrong_type() -> None:
        key = _entry_key(client, driver)
        client.delete(key)
        client.hset(key, "not", "an entry")

    def corrupt() -> None:
        key = _entry_key(client, driver)
        data = bytearray(client.get(key) or b"")
        data[-20] ^= 0xFF
        client.set(key, bytes(data), keepttl=True)

    def nothing() -> None:
        return None

    def fill() -> None:
        redis_command(server.port, "CONFIG", "SET", "maxmemory-policy", "noeviction")
        redis_command(server.port, "CONFIG", "SET", "maxmemory", "1")

    def unfill() -> None:
        redis_command(server.port, "CONFIG", "SET", "maxmemory", "0")

    return {
        "killed, restarted empty": (server.kill, server.start),
        "stopped (SIGSTOP), resumed": (
            lambda: os.kill(server.pid, signal.SIGSTOP),
            lambda: os.kill(server.pid, signal.SIGCONT),
        ),
        "full (OOM on writes)": (fill, unfill),
        "WRONGTYPE key at the entry": (wrong_type, nothing),
        "corrupt entry": (corrupt, nothing),
    }


def _case(kind: str, fault: str) -> dict[str, Any]:
    with RedisServer() as server:
        driver = Driver(kind, server.url, cooldown=0.5)
        try:
            start, end = _faults(server, driver)[fault]
            while not driver.client.request("GET", "/page").hit:
                time.sleep(0.01)
            before = []
            for _ in range(20):
                t0 = time.perf_counter()
                driver.client.request("GET", "/page")
                before.append(time.perf_counter() - t0)
            start()
            answered = errors = wrong = 0
            during = []
            for i in range(REQUESTS):
                path, target = ("/page", "/page") if i % 2 else ("/other", f"/other?n={i}")
                t0 = time.perf_counter()
                resp = driver.client.request("GET", target)
                during.append(time.perf_counter() - t0)
                answered += resp.status != 0
                errors += resp.status >= 500
                wrong += resp.status == 200 and not resp.body.startswith(f"{path} #".encode())
            end()
            ended = time.monotonic()
            recovery = None
            while time.monotonic() - ended < 15:
                if driver.client.request("GET", "/page").hit:
                    recovery = time.monotonic() - ended
                    break
                time.sleep(0.01)
            return {
                "answered": answered,
                "5xx": errors,
                "wrong": wrong,
                "p50_before_ms": statistics.median(before) * 1000,
                "p50_ms": statistics.median(during) * 1000,
                "max_ms": max(during) * 1000,
                "recovery_s": recovery,
                "errors": len(driver.client.errors),
            }
        finally:
            if server.running:
                os.kill(server.pid, signal.SIGCONT)
            driver.close()


def main(argv: list[str]) -> int:
    """Run every fault for both drivers and print a markdown table."""
    print(
        "| fault | driver | answered | 5xx | wrong bodies | p50 before | p50 / max during "
        "| recovery |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for fault in (
        "killed, restarted empty",
        "stopped (SIGSTOP), resumed",
        "full (OOM on writes)",
        "WRONGTYPE key at the entry",
        "corrupt entry",
    ):
        for kind in ("asgi", "wsgi"):
            r = _case(kind, fault)
            recovery = "none in 15 s" if r["recovery_s"] is None else f"{r['recovery_s']:.2f} s"
            print(
                f"| {fault} | {kind} | {r['answered']}/{REQUESTS} | {r['5xx']} | {r['wrong']} "
                f"| {r['p50_before_ms']:.2f} ms | {r['p50_ms']:.2f} / {r['max_ms']:.0f} ms "
                f"| {recovery} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
