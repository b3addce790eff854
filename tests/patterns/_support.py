"""Helpers for the pattern tests: app servers in subprocesses, HTTP clients, Redis.

Every server is a :class:`~tests._redis_servers.ServerProcess` (its own process group,
stopped by PID) listening on a free loopback port; every request has a timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import redis
import redis.cluster

from tests._redis_servers import LOOPBACK, ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
APPS = "tests.patterns.apps"
PREFIX = "pc"
COUNTER = "ctr"
T = TypeVar("T")


def have_module(name: str) -> bool:
    try:
        __import__(name)
    except Exception:
        return False
    return True


def app_env(redis_url: str, **extra: object) -> dict[str, str]:
    """The ``RC_*`` environment of a pattern app (see ``apps/common.py``)."""
    env = {
        "RC_REDIS_URL": redis_url,
        "RC_PREFIX": PREFIX,
        "RC_COUNTER": COUNTER,
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update({f"RC_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def server_argv(kind: str, port: int, *, workers: int = 2, threads: int = 4) -> list[str]:
    """The command line serving the ``kind`` app: ``starlette`` and ``django-asgi`` under
    uvicorn, ``flask`` and ``django`` (WSGI) under gunicorn's threaded workers."""
    if kind in ("starlette", "django-asgi"):
        module = "starlette_app:app" if kind == "starlette" else "django_app:asgi_application"
        return [
            sys.executable, "-m", "uvicorn", f"{APPS}.{module}",
            "--host", LOOPBACK, "--port", str(port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "1",
        ]  # fmt: skip
    module = {"flask": "flask_app:app", "django": "django_app:application"}[kind]
    return [
        sys.executable, "-m", "gunicorn", f"{APPS}.{module}",
        "--bind", f"{LOOPBACK}:{port}", "--workers", str(workers), "--threads", str(threads),
        "--worker-class", "gthread", "--graceful-timeout", "1", "--timeout", "30",
        "--log-level", "warning",
    ]  # fmt: skip


@contextlib.contextmanager
def serve(
    kind: str, env: Mapping[str, str], *, workers: int = 2, threads: int = 4
) -> Iterator[ServerProcess]:
    """Run the ``kind`` app with ``workers`` processes; wait until each one answers."""
    port = free_port()
    argv = server_argv(kind, port, workers=workers, threads=threads)
    server = ServerProcess(argv, port, env=env, cwd=ROOT, startup_timeout=30.0, stop_timeout=5.0)
    with server:
        try:
            wait_workers(server, workers)
        except BaseException:
            print(server.stderr_text(), file=sys.stderr)
            raise
        yield server


class Reply:
    """One HTTP response as the client saw it."""

    def __init__(
        self, status: int, headers: dict[str, str], body: bytes, started: float, ended: float
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.started = started
        self.ended = ended

    @property
    def elapsed(self) -> float:
        return self.ended - self.started

    @property
    def cache_status(self) -> str:
        return self.headers.get("cache-status", "")

    @property
    def pid(self) -> str:
        return self.headers.get("x-worker-pid", "")

    @property
    def hit(self) -> bool:
        return self.cache_status.startswith("routecache; hit")

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:60]!r} {self.cache_status!r} {self.elapsed:.3f}s>"


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> Reply:
    """One request on a new connection (``Connection: close``), so consecutive requests
    are spread over the server's worker processes by the kernel."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request(method, path, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        body = response.read()
        ended = time.monotonic()
        fields = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, fields, body, started, ended)
    finally:
        conn.close()


def concurrently(count: int, task: Callable[[int], T], *, timeout: float = 60.0) -> list[T]:
    """Run ``task(i)`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait(timeout)
        return task(i)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(run, i) for i in range(count)]
        return [f.result(timeout=timeout) for f in futures]


def wait_workers(server: ServerProcess, workers: int, *, timeout: float = 30.0) -> set[str]:
    """Wait until ``workers`` distinct worker processes answered ``/ping``."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            replies = concurrently(8, lambda i: request(server.port, "/ping", timeout=5.0))
            seen.update(r.body.decode() for r in replies if r.status == 200)
        if len(seen) >= workers:
            return seen
        time.sleep(0.05)
    raise TimeoutError(f"only {len(seen)} of {workers} workers answered within {timeout}s")


def redis_client(url: str) -> Any:
    """A redis-py client on the private server or cluster (``redis+cluster://``)."""
    if url.startswith("redis+cluster://"):
        return redis.cluster.RedisCluster.from_url(url.replace("+cluster", "", 1))
    return redis.Redis.from_url(url)


def calls(client: Any, path: str) -> int:
    """How many times the view ran for ``path``."""
    return int(client.get(f"{COUNTER}:calls:{path}") or 0)


def calls_by_pid(client: Any, path: str) -> dict[str, int]:
    raw = client.hgetall(f"{COUNTER}:pids:{path}")
    return {k.decode(): int(v) for k, v in raw.items()}


def entry_keys(client: Any) -> list[bytes]:
    """Entry and variant keys under the cache prefix (no indexes, locks, generations)."""
    keys = []
    for key in client.scan_iter(match=f"{PREFIX}:{{*", count=1000):
        if key.endswith((b":idx", b":lock", b":g", b":gen")):
            continue
        keys.append(key)
    return sorted(keys)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def report(name: str, **numbers: object) -> None:
    """Print a test's measured numbers (shown with ``-s`` or ``-rP``)."""
    text = ", ".join(f"{k}={v}" for k, v in numbers.items())
    print(f"\n[patterns] {name}: {text}")
    path = os.environ.get("RC_PATTERNS_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(f"{name}: {text}\n")


def pids_of(replies: Sequence[Reply]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in replies:
        out[r.pid] = out.get(r.pid, 0) + 1
    return out
