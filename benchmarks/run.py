"""Run the routecache benchmark suite: hits, misses and the miss storm, in one run.

    python -m benchmarks.run              # full run: 1 KiB and 64 KiB bodies, 3 repeats
    python -m benchmarks.run --quick      # smoke run, about 2 minutes
    python -m benchmarks.run --only 'fastapi-*,flask-*' --body 64k --repeats 5

What it does (see benchmarks/README.md for the method):

1. starts a private ``redis-server`` on a free loopback port (no persistence, temp dir,
   one database per configuration), never the shared one;
2. starts every configuration's server at once, each on its own loopback port, pinned to
   CPU 0 (uvicorn with 1 worker for ASGI, gunicorn gthread 1 worker x 4 threads for WSGI);
3. warms the cache for ids 1..50, then measures hits with ``wrk`` (pinned to CPU 1,
   32 connections, bounded duration), repeats alternating between configurations, and
   reads each server's peak RSS;
4. measures misses (each request a distinct cold key);
5. restarts each caching configuration with 2 worker processes and fires 50 concurrent
   clients at one cold key, counting view calls (once per run, first body size only);
6. prints a markdown table per body size and writes it to ``benchmarks/results/``.

Configurations whose imports fail (routecache before it exists) are listed as
"not available: <error>" and the run goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import fnmatch
import http.client
import importlib.metadata
import importlib.util
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = ROOT / "benchmarks" / "wrk"
RESULTS_DIR = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"
CALLS_KEY = "bench:calls"
BODY_SIZES = {"1k": 1024, "64k": 65536}
HIT_PATH = "/items/{id}?fields=name,price"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class Config:
    """One row: a server type, a factory for the app, and how it is compared."""

    slug: str
    label: str
    server: str  # "asgi" (uvicorn) or "wsgi" (gunicorn gthread)
    kind: str  # "reference", "limit", "ceiling", "anchor", "routecache"
    target: str  # "module:factory"
    group: str = ""  # anchor group for the "vs best anchor" column
    requires: tuple[str, ...] = ()
    lifespan: str = "on"  # uvicorn --lifespan ("off" for Django, which has no lifespan)

    @property
    def caches(self) -> bool:
        """Whether the row caches (ceilings just return prebuilt bytes)."""
        return self.kind != "ceiling"


_A = "benchmarks.apps."
CONFIGS: tuple[Config, ...] = (
    # ASGI, uvicorn 1 worker
    Config(
        "asgi-raw-redis",
        "raw ASGI + redis.asyncio GET (reference)",
        "asgi",
        "reference",
        _A + "raw_asgi:make_redis",
        requires=("redis.asyncio",),
    ),
    Config(
        "asgi-raw-mux",
        "raw ASGI + hiredis.Reader, 1 multiplexed conn (limit)",
        "asgi",
        "limit",
        _A + "raw_asgi:make_hiredis_mux",
        requires=("hiredis",),
    ),
    Config(
        "starlette-bare",
        "bare Starlette, prebuilt body (ceiling)",
        "asgi",
        "ceiling",
        _A + "starlette_app:make_bare",
        "fastapi",
        ("starlette",),
    ),
    Config(
        "fastapi-bare",
        "bare FastAPI, prebuilt body (ceiling)",
        "asgi",
        "ceiling",
        _A + "fastapi_app:make_bare",
        "fastapi",
        ("fastapi",),
    ),
    Config(
        "django-asgi-bare",
        "bare Django ASGI, prebuilt body (ceiling)",
        "asgi",
        "ceiling",
        _A + "django_app:make_asgi_bare",
        "django",
        ("django",),
        lifespan="off",
    ),
    Config(
        "fastapi-cashews",
        "FastAPI + cashews (anchor)",
        "asgi",
        "anchor",
        _A + "fastapi_app:make_cashews",
        "fastapi",
        ("fastapi", "cashews"),
    ),
    Config(
        "fastapi-cache2",
        "FastAPI + fastapi-cache2 (anchor)",
        "asgi",
        "anchor",
        _A + "fastapi_app:make_fastapi_cache2",
        "fastapi",
        ("fastapi", "fastapi_cache"),
    ),
    Config(
        "django-asgi-cache_page",
        "Django ASGI + cache_page/RedisCache (anchor)",
        "asgi",
        "anchor",
        _A + "django_app:make_asgi_cache_page",
        "django",
        ("django",),
        lifespan="off",
    ),
    Config(
        "starlette-routecache",
        "Starlette + routecache",
        "asgi",
        "routecache",
        _A + "starlette_app:make_routecache",
        "fastapi",
        ("starlette", "routecache.adapters.starlette"),
    ),
    Config(
        "starlette-routecache-near",
        "Starlette + routecache, near cache (L1)",
        "asgi",
        "routecache",
        _A + "starlette_app:make_routecache_near",
        "fastapi",
        ("starlette", "routecache.adapters.starlette"),
    ),
    Config(
        "fastapi-routecache",
        "FastAPI + routecache",
        "asgi",
        "routecache",
        _A + "fastapi_app:make_routecache",
        "fastapi",
        ("fastapi", "routecache.adapters.starlette"),
    ),
    Config(
        "django-asgi-routecache",
        "Django ASGI + routecache",
        "asgi",
        "routecache",
        _A + "django_app:make_asgi_routecache",
        "django",
        ("django", "routecache.adapters.django"),
        lifespan="off",
    ),
    # WSGI, gunicorn gthread 1 worker x 4 threads
    Config(
        "wsgi-raw-redis",
        "raw WSGI + redis-py GET (reference)",
        "wsgi",
        "reference",
        _A + "raw_wsgi:make_redis",
        requires=("redis",),
    ),
    Config(
        "flask-bare",
        "bare Flask, prebuilt body (ceiling)",
        "wsgi",
        "ceiling",
        _A + "flask_app:make_bare",
        "flask",
        ("flask",),
    ),
    Config(
        "django-wsgi-bare",
        "bare Django WSGI, prebuilt body (ceiling)",
        "wsgi",
        "ceiling",
        _A + "django_app:make_wsgi_bare",
        "django",
        ("django",),
    ),
    Config(
        "flask-caching",
        "Flask + Flask-Caching RedisCache (anchor)",
        "wsgi",
        "anchor",
        _A + "flask_app:make_flask_caching",
        "flask",
        ("flask", "flask_caching"),
    ),
    Config(
        "django-wsgi-cache_page",
        "Django WSGI + cache_page/RedisCache (anchor)",
        "wsgi",
        "anchor",
        _A + "django_app:make_wsgi_cache_page",
        "django",
        ("django",),
    ),
    Config(
        "flask-routecache",
        "Flask + routecache",
        "wsgi",
        "routecache",
        _A + "flask_app:make_routecache",
        "flask",
        ("flask", "routecache.adapters.flask"),
    ),
    Config(
        "flask-routecache-near",
        "Flask + routecache, near cache (L1)",
        "wsgi",
        "routecache",
        _A + "flask_app:make_routecache_near",
        "flask",
        ("flask", "routecache.adapters.flask"),
    ),
    Config(
        "django-wsgi-routecache",
        "Django WSGI + routecache",
        "wsgi",
        "routecache",
        _A + "django_app:make_wsgi_routecache",
        "django",
        ("django", "routecache.adapters.django"),
    ),
)
# Issue 15: each server's own ceiling (a raw callable, no Redis), and Django behind the
# front wrappers that answer fresh hits before Django runs. Kept apart and merged by
# server type, so the report lists every ASGI row before the WSGI ones.
FRONT_CONFIGS: tuple[Config, ...] = (
    Config(
        "asgi-raw-bare",
        "raw ASGI, prebuilt body, no Redis (ceiling)",
        "asgi",
        "ceiling",
        _A + "raw_asgi:make_bare",
    ),
    Config(
        "django-asgi-front",
        "Django ASGI + routecache front wrapper",
        "asgi",
        "routecache",
        _A + "django_app:make_asgi_front",
        "django",
        ("django", "routecache.adapters.django"),
        lifespan="off",
    ),
    Config(
        "wsgi-raw-bare",
        "raw WSGI, prebuilt body, no Redis (ceiling)",
        "wsgi",
        "ceiling",
        _A + "raw_wsgi:make_bare",
    ),
    Config(
        "django-wsgi-front",
        "Django WSGI + routecache front wrapper",
        "wsgi",
        "routecache",
        _A + "django_app:make_wsgi_front",
        "django",
        ("django", "routecache.adapters.django"),
    ),
)
CONFIGS = tuple(sorted(CONFIGS + FRONT_CONFIGS, key=lambda c: c.server != "asgi"))
REFERENCE = {"asgi": "asgi-raw-redis", "wsgi": "wsgi-raw-redis"}
GROUP_NAMES = {"fastapi": "FastAPI", "flask": "Flask", "django": "Django"}


def check_imports(config: Config) -> str | None:
    """Return why the configuration cannot run, or None. Finds modules without running apps."""
    for module in config.requires:
        try:
            spec = importlib.util.find_spec(module)
        except Exception as exc:  # a parent package failed to import
            return f"{type(exc).__name__}: {exc}"
        if spec is None:
            return f"ModuleNotFoundError: No module named {module!r}"
    return None


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pinning(cpu: int | None) -> Callable[[], None] | None:
    """A preexec_fn pinning the child (and everything it forks) to one CPU.

    ``None`` lets the child run on every CPU (the runner itself is pinned, and children
    would otherwise inherit that).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = {cpu} if cpu is not None else set(range(os.cpu_count() or 1))

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid`` (scans /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def vm_hwm_kib(pid: int) -> int:
    """Peak resident set size (VmHWM) of one process, in KiB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pids: Iterable[int]) -> int:
    """utime + stime of the given processes, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total


def stop_process(proc: subprocess.Popen[Any], extra_pids: Sequence[int] = ()) -> None:
    """Stop a process we started (SIGTERM, then SIGKILL) and any of its leftover children."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for pid in extra_pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class StartError(Exception):
    """A server did not come up; the message is the tail of its stderr."""


class RedisServer:
    """A private redis-server on a free loopback port, stopped by PID."""

    def __init__(self, workdir: Path, cpu: int | None, databases: int) -> None:
        self.port = free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir()
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--databases",
            str(databases),
            "--logfile",
            "",
            "--daemonize",
            "no",
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=pinning(cpu),
            start_new_session=True,
        )
        import redis

        self._redis = redis
        self._clients: dict[int, Any] = {}
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client(0).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def url(self, db: int) -> str:
        """The URL of database ``db``."""
        return f"redis://{HOST}:{self.port}/{db}"

    def client(self, db: int) -> Any:
        """A sync client for database ``db``."""
        if db not in self._clients:
            self._clients[db] = self._redis.Redis(host=HOST, port=self.port, db=db)
        return self._clients[db]

    def calls(self, db: int) -> int:
        """The view-call counter of one configuration's database."""
        value = self.client(db).get(CALLS_KEY)
        return int(value) if value is not None else 0

    def stop(self) -> None:
        """Stop the server by PID."""
        for client in self._clients.values():
            client.close()
        stop_process(self.proc)


@dataclass
class Server:
    """One configuration's server process (uvicorn or gunicorn), pinned to ``cpu``."""

    config: Config
    db: int
    env: dict[str, str]
    workers: int
    cpu: int | None
    logdir: Path
    port: int = 0
    proc: subprocess.Popen[Any] | None = None
    started: float = 0.0

    def command(self) -> list[str]:
        """The server's command line (module paths only, relative to the repo root)."""
        if self.config.server == "asgi":
            cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                self.config.target,
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-access-log",
                "--log-level",
                "warning",
                "--lifespan",
                self.config.lifespan,
            ]
            cmd += uvicorn_speedups()
            return cmd
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(self.workers),
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--bind",
            f"{HOST}:{self.port}",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "2",
            "--timeout",
            "60",
            self.config.target + "()",
        ]

    @property
    def stderr_path(self) -> Path:
        """Where the server's stderr goes."""
        return self.logdir / f"{self.config.slug}-{self.workers}w-{self.port}.log"

    def start(self) -> None:
        """Start the process (not yet ready)."""
        self.port = free_port()
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                preexec_fn=pinning(self.cpu),
                start_new_session=True,
            )
        self.started = time.monotonic()

    def error_tail(self) -> str:
        """The exception line of the last traceback in the server's output, or its last line."""
        try:
            lines = [
                line.rstrip()
                for line in self.stderr_path.read_text(errors="replace").splitlines()
                if line.strip()
            ]
        except OSError:
            return "no output"
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
        if starts:
            for line in lines[starts[-1] + 1 :]:
                if not line[0].isspace():
                    return line[:300]
        return lines[-1].strip()[:300] if lines else "no output"

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the port accepts connections and the workers are idle (booted)."""
        assert self.proc is not None
        deadline = self.started + timeout
        while True:
            if self.proc.poll() is not None:
                raise StartError(f"exited with {self.proc.returncode}: {self.error_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise StartError(f"not listening after {timeout:.0f}s: {self.error_tail()}")
            time.sleep(0.05)
        # gunicorn and uvicorn --workers bind before the workers have imported the app:
        # wait until the expected workers exist and the process tree stops using CPU.
        quiet, last = 0, -1
        while quiet < 3:
            if self.proc.poll() is not None:
                raise StartError(f"exited with {self.proc.returncode}: {self.error_tail()}")
            if time.monotonic() > deadline:
                raise StartError(f"workers not idle after {timeout:.0f}s: {self.error_tail()}")
            pids = self.pids()
            ticks = cpu_ticks(pids)
            need = 1 if (self.config.server == "asgi" and self.workers == 1) else self.workers + 1
            quiet = quiet + 1 if (ticks == last and len(pids) >= need) else 0
            last = ticks
            time.sleep(0.15)

    def pids(self) -> list[int]:
        """The server process and its workers."""
        assert self.proc is not None
        return [self.proc.pid, *descendants(self.proc.pid)]

    def peak_rss_mib(self) -> float:
        """The largest VmHWM among the server process and its workers (the serving process)."""
        return max((vm_hwm_kib(pid) for pid in self.pids()), default=0) / 1024

    def stop(self) -> None:
        """Stop the server and its workers, by PID."""
        if self.proc is not None:
            stop_process(self.proc, descendants(self.proc.pid))


def uvicorn_speedups() -> list[str]:
    """``--loop uvloop --http httptools`` for each one that is installed."""
    flags: list[str] = []
    if importlib.util.find_spec("uvloop"):
        flags += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        flags += ["--http", "httptools"]
    return flags


# --------------------------------------------------------------------------- load


@dataclass
class Sample:
    """One load run's result."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    bytes: int
    server_cpu: float = 0.0  # the server's CPU use during the run, % of one core

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def parse_bench_line(output: str) -> Sample:
    """Parse the ``BENCH key=value ...`` line the wrk scripts and loadgen print."""
    for line in output.splitlines():
        if line.startswith("BENCH "):
            values = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
            errors = sum(values[k] for k in ("connect", "read", "write", "status", "timeout"))
            return Sample(
                requests=values["requests"],
                seconds=values["duration_us"] / 1e6,
                p50_ms=values["p50_us"] / 1000,
                p99_ms=values["p99_us"] / 1000,
                errors=errors,
                bytes=values["bytes"],
            )
    raise RuntimeError(f"no BENCH line in load generator output: {output[-500:]!r}")


@dataclass(frozen=True)
class LoadGen:
    """wrk (or the Python fallback) pinned to the load CPU."""

    wrk: str | None
    cpu: int | None
    connections: int
    env: dict[str, str]

    @property
    def name(self) -> str:
        """What the report calls it."""
        return "wrk" if self.wrk else "python fallback (benchmarks/loadgen.py)"

    def run(self, port: int, mode: str, duration: int, arg: int) -> Sample:
        """Load ``port`` for ``duration`` seconds; ``arg`` is the id count (hit) or base (miss)."""
        if self.wrk:
            cmd = [
                self.wrk,
                "-t1",
                f"-c{self.connections}",
                f"-d{max(1, duration)}s",
                "--timeout",
                "5s",
                "-s",
                str(LUA_DIR / f"{mode}.lua"),
                f"http://{HOST}:{port}/",
                "--",
                str(arg),
            ]
        else:
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.loadgen",
                "--port",
                str(port),
                "--connections",
                str(self.connections),
                "--duration",
                f"{duration:g}",
                "--mode",
                mode,
                "--ids" if mode == "hit" else "--base",
                str(arg),
            ]
        result = subprocess.run(
            cmd,
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=duration + 30,
            preexec_fn=pinning(self.cpu),
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"load generator failed: {result.stderr[-500:]}")
        return parse_bench_line(result.stdout)


def measure(loadgen: LoadGen, server: Server, mode: str, duration: int, arg: int) -> Sample:
    """One load run, with the server's CPU use over it."""
    pids = server.pids()
    ticks = cpu_ticks(pids)
    sample = loadgen.run(server.port, mode, duration, arg)
    if sample.seconds:
        sample.server_cpu = (cpu_ticks(pids) - ticks) / CLOCK_TICKS / sample.seconds * 100
    return sample


def http_get(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """One GET on a fresh connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def warm(server: Server, ids: int, size: int) -> str:
    """Fill the cache for ids 1..N; return "" or a note about what looked wrong."""
    status, first = http_get(server.port, HIT_PATH.format(id=1))
    if status != 200:
        raise StartError(f"warm-up GET returned {status}: {server.error_tail()}")
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: http_get(server.port, HIT_PATH.format(id=i)), range(2, ids + 1))
        )
    bad = [s for s, body in results if s != 200 or len(body) != size]
    if bad or len(first) != size:
        raise StartError(f"warm-up answered {len(bad)} bad responses (status/size)")
    status, again = http_get(server.port, HIT_PATH.format(id=1))
    if status != 200 or again != first:
        return "hit body differs from the miss body"
    return ""


@dataclass
class StormResult:
    """The miss storm on one configuration."""

    view_calls: int
    ok: int
    clients: int
    slowest_ms: float


async def _storm_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, start: float
) -> tuple[int, float]:
    data = await reader.read()
    elapsed = (time.perf_counter() - start) * 1000
    writer.close()
    try:
        status = int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, elapsed


async def _storm(port: int, path: str, clients: int) -> tuple[int, float]:
    conns = await asyncio.gather(*(asyncio.open_connection(HOST, port) for _ in range(clients)))
    request = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n").encode()
    await asyncio.sleep(0.2)  # let the workers accept every connection first
    start = time.perf_counter()
    for _, writer in conns:
        writer.write(request)
    results = await asyncio.wait_for(
        asyncio.gather(*(_storm_client(r, w, start) for r, w in conns)), timeout=30
    )
    ok = sum(1 for status, _ in results if status == 200)
    return ok, max(elapsed for _, elapsed in results)


def run_storm(server: Server, redis: RedisServer, clients: int, item_id: int) -> StormResult:
    """Fire ``clients`` concurrent GETs at one cold key and count the view calls."""
    before = redis.calls(server.db)
    ok, slowest = asyncio.run(_storm(server.port, HIT_PATH.format(id=item_id), clients))
    time.sleep(0.2)
    return StormResult(redis.calls(server.db) - before, ok, clients, slowest)


# --------------------------------------------------------------------------- the run


@dataclass
class Row:
    """Everything measured for one configuration in one body pass."""

    config: Config
    unavailable: str = ""
    note: str = ""
    hits: list[Sample] = field(default_factory=list)
    misses: list[Sample] = field(default_factory=list)
    miss_calls: int = 0
    hit_calls: int | None = None
    rss_mib: float = 0.0
    storm: StormResult | None = None
    storm_error: str = ""

    def fail(self, message: str) -> None:
        """Record a failure after the server came up."""
        message = message[:300]
        if self.hits:
            self.note = f"{self.note}; {message}" if self.note else message
        else:
            self.unavailable = message

    def median(self, samples: list[Sample] | None = None) -> float:
        """Median requests/s."""
        samples = self.hits if samples is None else samples
        return statistics.median(s.rps for s in samples) if samples else 0.0


@dataclass(frozen=True)
class Options:
    """Parsed command line."""

    bodies: tuple[str, ...]
    duration: int
    repeats: int
    miss_duration: int
    miss_repeats: int
    warm_duration: int
    connections: int
    ids: int
    storm_clients: int
    misses: bool
    storm: bool
    quick: bool
    patterns: tuple[str, ...]
    redis_cpu: str
    command: str
    loadgen: str


def log(message: str) -> None:
    """Progress, on stderr."""
    print(message, file=sys.stderr, flush=True)


def select(patterns: Sequence[str]) -> list[Config]:
    """The configurations matching ``--only`` (plus the raw references they are compared to)."""
    if not patterns:
        return list(CONFIGS)
    chosen = [
        c for c in CONFIGS if any(fnmatch.fnmatch(c.slug, p) or p in c.slug for p in patterns)
    ]
    servers = {c.server for c in chosen}
    refs = {REFERENCE[s] for s in servers}
    return [c for c in CONFIGS if c in chosen or c.slug in refs]


def server_env(base: dict[str, str], redis_url: str, size: int, name: str) -> dict[str, str]:
    """The environment a server process gets."""
    env = dict(base)
    env["BENCH_REDIS_URL"] = redis_url
    env["BENCH_BODY_SIZE"] = str(size)
    env["BENCH_NAME"] = name
    return env


def run_pass(
    body: str,
    pass_index: int,
    configs: list[Config],
    opts: Options,
    redis: RedisServer,
    loadgen: LoadGen,
    server_cpu: int | None,
    workdir: Path,
    base_env: dict[str, str],
) -> list[Row]:
    """Measure every configuration with one body size."""
    size = BODY_SIZES[body]
    redis.client(0).flushall()
    rows = [Row(c) for c in configs]
    db_of = {c.slug: i + 1 for i, c in enumerate(CONFIGS)}
    servers: dict[str, Server] = {}
    try:
        for row in rows:
            reason = check_imports(row.config)
            if reason:
                row.unavailable = f"not available: {reason}"
                continue
            db = db_of[row.config.slug]
            env = server_env(base_env, redis.url(db), size, row.config.slug)
            server = Server(row.config, db, env, 1, server_cpu, workdir)
            server.start()
            servers[row.config.slug] = server
        log(f"[{body}] started {len(servers)} servers, waiting for them")
        for row in rows:
            starting = servers.get(row.config.slug)
            if starting is None:
                continue
            try:
                starting.wait_ready()
                row.note = warm(starting, opts.ids, size)
            except (StartError, OSError, http.client.HTTPException) as exc:
                row.unavailable = f"not available: {exc}"
                starting.stop()
                del servers[row.config.slug]
        live = [r for r in rows if r.config.slug in servers]
        calls_before = {r.config.slug: redis.calls(servers[r.config.slug].db) for r in live}

        # Phase 1: hits, alternating configurations (reversed order on odd repeats).
        failed: set[str] = set()
        for rep in range(opts.repeats):
            order = live if rep % 2 == 0 else list(reversed(live))
            for row in order:
                if row.config.slug in failed:
                    continue
                server = servers[row.config.slug]
                try:
                    if rep == 0 and opts.warm_duration > 0:
                        loadgen.run(server.port, "hit", opts.warm_duration, opts.ids)
                    sample = measure(loadgen, server, "hit", opts.duration, opts.ids)
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    failed.add(row.config.slug)
                    row.fail(f"hit run {rep + 1} failed: {exc}; {server.error_tail()}")
                    log(f"[{body}] hits {row.config.slug}: {row.note}")
                    continue
                row.hits.append(sample)
                log(
                    f"[{body}] hits {rep + 1}/{opts.repeats} {row.config.slug:24} "
                    f"{sample.rps:9.0f} req/s  p50 {sample.p50_ms:6.2f} ms  "
                    f"p99 {sample.p99_ms:6.2f} ms  cpu {sample.server_cpu:3.0f}%  "
                    f"errors {sample.errors}"
                )
        for row in live:
            server = servers[row.config.slug]
            row.rss_mib = server.peak_rss_mib()
            if row.config.caches:
                row.hit_calls = redis.calls(server.db) - calls_before[row.config.slug]

        # Phase 2: misses, every request a distinct cold key.
        if opts.misses:
            cache_rows = [r for r in live if r.config.caches]
            for rep in range(opts.miss_repeats):
                order = cache_rows if rep % 2 == 0 else list(reversed(cache_rows))
                for row in order:
                    if row.config.slug in failed:
                        continue
                    server = servers[row.config.slug]
                    before = redis.calls(server.db)
                    base = 1_000_000 * (rep + 1)
                    try:
                        sample = measure(loadgen, server, "miss", opts.miss_duration, base)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                        failed.add(row.config.slug)
                        row.fail(f"miss run failed: {exc}; {server.error_tail()}")
                        log(f"[{body}] misses {row.config.slug}: {row.note}")
                        continue
                    row.misses.append(sample)
                    row.miss_calls += redis.calls(server.db) - before
                    # Drop this configuration's entries so Redis memory stays bounded.
                    redis.client(server.db).flushdb()
                    log(
                        f"[{body}] misses {rep + 1}/{opts.miss_repeats} "
                        f"{row.config.slug:24} {sample.rps:7.0f} req/s  "
                        f"p50 {sample.p50_ms:6.2f} ms  p99 {sample.p99_ms:6.2f} ms"
                    )
    finally:
        for server in servers.values():
            server.stop()

    # Phase 3: the miss storm, 2 worker processes per configuration.
    if opts.storm and pass_index == 0:  # once per run: the body size hardly matters there
        for row in rows:
            if row.unavailable or not row.config.caches:
                continue
            db = db_of[row.config.slug]
            redis.client(db).flushdb()
            env = server_env(base_env, redis.url(db), size, row.config.slug)
            server = Server(row.config, db, env, 2, server_cpu, workdir)
            server.start()
            try:
                server.wait_ready()
                row.storm = run_storm(server, redis, opts.storm_clients, 9_000_000 + pass_index)
                log(
                    f"[{body}] storm {row.config.slug:24} view calls "
                    f"{row.storm.view_calls}  ok {row.storm.ok}/{row.storm.clients}  "
                    f"slowest {row.storm.slowest_ms:.0f} ms"
                )
            except (StartError, OSError, asyncio.TimeoutError) as exc:
                row.storm_error = f"{type(exc).__name__}: {exc}"[:200]
                log(f"[{body}] storm {row.config.slug}: {row.storm_error}")
            finally:
                server.stop()
    return rows


# --------------------------------------------------------------------------- report


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


PACKAGES = (
    "routecache",
    "starlette",
    "fastapi",
    "uvicorn",
    "uvloop",
    "httptools",
    "flask",
    "werkzeug",
    "django",
    "gunicorn",
    "redis",
    "hiredis",
    "cashews",
    "fastapi-cache2",
    "flask-caching",
    "cachelib",
)


def _command_output(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def machine_facts(loadgen: LoadGen) -> list[tuple[str, str]]:
    """CPU, cores, kernel, Python, redis-server and load generator versions."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    redis_version = _command_output(["redis-server", "--version"])
    match = re.search(r"v=(\S+)", redis_version)
    return [
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("redis-server", match.group(1) if match else redis_version),
        (
            "load generator",
            _command_output([loadgen.wrk, "-v"]).split(" [")[0] if loadgen.wrk else loadgen.name,
        ),
    ]


def _fmt_ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference > 0 and value > 0 else "—"


def _spread(samples: list[Sample]) -> str:
    if len(samples) < 2:
        return "n=1"
    rates = [s.rps for s in samples]
    return f"{(max(rates) - min(rates)) / statistics.median(rates) * 100:.1f}%"


def _median_of(samples: list[Sample], attr: str) -> float:
    return float(statistics.median(float(getattr(s, attr)) for s in samples))


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def render(
    body: str,
    rows: list[Row],
    opts: Options,
    facts: list[tuple[str, str]],
    loadgen: LoadGen,
    pinned: tuple[int | None, int | None, int | None],
    elapsed: float,
) -> str:
    """The markdown report of one body pass."""
    today = datetime.date.today().isoformat()
    by_slug = {r.config.slug: r for r in rows if r.hits}
    best_anchor: dict[str, float] = {}
    for row in rows:
        if row.config.kind == "anchor" and row.hits:
            best_anchor[row.config.group] = max(
                best_anchor.get(row.config.group, 0.0), row.median()
            )
    server_cpu, load_cpu, redis_cpu = pinned
    mode = " (quick)" if opts.quick else ""
    out = [
        f"# routecache benchmark: {body.upper().replace('K', ' KiB')} body, {today}{mode}",
        "",
        f"Produced by `{opts.command}` (this file: the {body} pass; wall time "
        f"{elapsed:.0f} s for the whole run).",
        "",
        "## Machine",
        "",
        *[f"- {name}: {value}" for name, value in facts],
        f"- pinning: servers on CPU {server_cpu}, load generator on CPU {load_cpu}, "
        f"redis-server on {'CPU ' + str(redis_cpu) if redis_cpu is not None else 'any CPU'}"
        if server_cpu is not None
        else "- pinning: none (fewer than 2 CPUs available)",
        "",
        "## Method",
        "",
        f"- Workload: `GET /items/{{id}}?fields=name,price`, JSON body of exactly "
        f"{BODY_SIZES[body]} bytes, view sleeping 20 ms, TTL 300 s.",
        "- ASGI rows: `uvicorn --factory benchmarks.apps.<module>:<factory> --workers 1 "
        f"--no-access-log {' '.join(uvicorn_speedups())}`. WSGI rows: `gunicorn "
        "--workers 1 --worker-class gthread --threads 4 benchmarks.apps.<module>:<factory>()`.",
        f"- Hits: cache warmed for ids 1..{opts.ids}, then {loadgen.name} with "
        f"{opts.connections} connections, 1 thread, {opts.duration:g} s per run, cycling the "
        f"{opts.ids} ids; {opts.repeats} repeat(s) alternating between configurations "
        "(reversed order on odd repeats). req/s is the median, spread is (max - min) / "
        "median, p50/p99 are medians of the runs' percentiles. Peak RSS is VmHWM of the "
        "serving process (the largest among the server process and its workers) after "
        "the hit phase. `server CPU` is the server's CPU time over the run's wall time "
        "(one core = 100%): a row well below 100% was bounded by something else (the "
        "load generator's core, Redis, or threads waiting).",
        "- `vs raw ref`: median req/s over the raw reference of the same server type (raw "
        "ASGI + one redis.asyncio GET for ASGI rows, raw WSGI + one redis-py GET for WSGI "
        "rows). `vs best anchor`: over the best anchor of the same framework (Starlette is "
        "compared with the FastAPI anchors; Django rows with the better of the two "
        "`cache_page` rows).",
        "- `view calls` checks that the hit phase served only hits (0 expected).",
        "",
        "## Hits",
        "",
    ]
    hit_rows: list[list[str]] = []
    for row in rows:
        c = row.config
        if not row.hits:
            reason = row.unavailable or "no samples"
            hit_rows.append([c.label, c.server.upper(), reason, *["—"] * 8])
            continue
        ref = by_slug.get(REFERENCE[c.server])
        ref_rps = ref.median() if ref else 0.0
        anchor = best_anchor.get(c.group, 0.0) if c.group else 0.0
        errors = sum(s.errors for s in row.hits)
        check = "—" if row.hit_calls is None else str(row.hit_calls)
        notes = [n for n in (row.note, f"{errors} errors" if errors else "") if n]
        if notes:
            check += " (" + "; ".join(notes) + ")"
        hit_rows.append(
            [
                c.label,
                c.server.upper(),
                f"{row.median():,.0f}",
                _spread(row.hits),
                f"{_median_of(row.hits, 'p50_ms'):.2f}",
                f"{_median_of(row.hits, 'p99_ms'):.2f}",
                f"{_median_of(row.hits, 'server_cpu'):.0f}%",
                f"{row.rss_mib:.1f}",
                _fmt_ratio(row.median(), ref_rps) if c.kind != "reference" else "1.00x",
                _fmt_ratio(row.median(), anchor) if c.group else "—",
                check,
            ]
        )
    out += _table(
        [
            "configuration",
            "server",
            "req/s (median)",
            "spread",
            "p50 ms",
            "p99 ms",
            "server CPU",
            "peak RSS MiB",
            "vs raw ref",
            "vs best anchor",
            "view calls",
        ],
        hit_rows,
    )
    if any(r.misses for r in rows):
        out += [
            "",
            "## Misses",
            "",
            f"Every request a distinct cold key (`/items/<unique id>`), {opts.connections} "
            f"connections, {opts.miss_duration:g} s per run, {opts.miss_repeats} repeat(s); "
            "the 20 ms view bounds it (gthread: 4 threads -> at most ~200 req/s). "
            "`view calls/req` should be 1 (a little more: requests still in flight when a run "
            "ends ran the view but are not counted as completed).",
            "",
        ]
        miss_rows = []
        for row in rows:
            if not row.misses:
                continue
            requests = sum(s.requests for s in row.misses)
            miss_rows.append(
                [
                    row.config.label,
                    row.config.server.upper(),
                    f"{row.median(row.misses):,.0f}",
                    f"{_median_of(row.misses, 'p50_ms'):.2f}",
                    f"{_median_of(row.misses, 'p99_ms'):.2f}",
                    f"{row.miss_calls / requests:.2f}" if requests else "—",
                ]
            )
        out += _table(
            [
                "configuration",
                "server",
                "req/s (median)",
                "p50 ms",
                "p99 ms",
                "view calls/req",
            ],
            miss_rows,
        )
    if opts.storm and any(r.storm or r.storm_error for r in rows):
        out += [
            "",
            "## Miss storm",
            "",
            f"{opts.storm_clients} clients connect, then send the same cold-key GET at once, "
            "to the server started with 2 worker processes (uvicorn `--workers 2`; gunicorn "
            "2 gthread workers x 4 threads). `view calls` is how often the view ran.",
            "",
        ]
        storm_rows = []
        for row in rows:
            if row.storm is not None:
                s = row.storm
                storm_rows.append(
                    [
                        row.config.label,
                        row.config.server.upper(),
                        str(s.view_calls),
                        f"{s.ok}/{s.clients}",
                        f"{s.slowest_ms:.0f}",
                    ]
                )
            elif row.storm_error:
                storm_rows.append(
                    [row.config.label, row.config.server.upper(), row.storm_error, "—", "—"]
                )
        out += _table(
            ["configuration", "server", "view calls", "200 responses", "slowest ms"],
            storm_rows,
        )
    elif opts.storm:
        out += [
            "",
            "## Miss storm",
            "",
            f"Measured once per run, with the first body size ({opts.bodies[0]}): see that report.",
        ]
    out += [
        "",
        "## Packages",
        "",
        ", ".join(f"{name} {_version(name)}" for name in PACKAGES),
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Command line -> Options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description="routecache benchmark suite"
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (~2 minutes)")
    parser.add_argument("--duration", type=int, help="seconds per hit run (default 3)")
    parser.add_argument("--repeats", type=int, help="hit repeats per configuration (default 3)")
    parser.add_argument("--miss-duration", type=int, help="seconds per miss run (default 2)")
    parser.add_argument("--miss-repeats", type=int, help="miss repeats (default 1)")
    parser.add_argument("--only", default="", help="comma-separated slugs or globs")
    parser.add_argument("--body", help="comma-separated body sizes: 1k,64k (default both)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--ids", type=int, default=50, help="ids warmed and cycled in hits")
    parser.add_argument("--storm-clients", type=int, default=50)
    parser.add_argument(
        "--redis-cpu",
        choices=("load", "server", "any"),
        default="load",
        help="where redis-server runs: with the load generator (default), with the server, "
        "or unpinned",
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "python"),
        default="auto",
        help="auto: wrk when on PATH, else the Python fallback; python: force the fallback",
    )
    parser.add_argument("--no-misses", action="store_true", help="skip the miss phase")
    parser.add_argument("--no-storm", action="store_true", help="skip the miss storm")
    parser.add_argument("--list", action="store_true", help="list the configurations and exit")
    args = parser.parse_args(argv)
    if args.list:
        for c in CONFIGS:
            print(f"{c.slug:24} {c.server}  {c.kind:10} {c.label}")
        raise SystemExit(0)
    quick = bool(args.quick)
    bodies = tuple(
        b.strip().lower() for b in (args.body or ("1k" if quick else "1k,64k")).split(",")
    )
    for b in bodies:
        if b not in BODY_SIZES:
            parser.error(f"unknown body size {b!r} (choose from {', '.join(BODY_SIZES)})")
    return Options(
        bodies=bodies,
        duration=args.duration or (2 if quick else 3),
        repeats=args.repeats or (1 if quick else 3),
        miss_duration=args.miss_duration or (1 if quick else 2),
        miss_repeats=args.miss_repeats or 1,
        warm_duration=0 if quick else 1,
        connections=args.connections,
        ids=args.ids,
        storm_clients=args.storm_clients,
        misses=not args.no_misses,
        storm=not args.no_storm,
        quick=quick,
        patterns=tuple(p.strip() for p in args.only.split(",") if p.strip()),
        redis_cpu=args.redis_cpu,
        loadgen=args.loadgen,
        command=shlex.join(["python", "-m", "benchmarks.run", *(argv or sys.argv[1:])]),
    )


@contextlib.contextmanager
def _pinned_self(cpu: int | None) -> Iterator[None]:
    """Keep the runner itself (warm-ups, storm client) off the server's CPU."""
    if cpu is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything and write the reports."""
    opts = parse_args(argv)
    configs = select(opts.patterns)
    if not configs:
        log("no configuration matches --only")
        return 2
    if shutil.which("redis-server") is None:
        log("redis-server is not on PATH (Debian: apt-get install redis-server)")
        return 2
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu, load_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    redis_cpu = {"load": load_cpu, "server": server_cpu, "any": None}[opts.redis_cpu]
    wrk = shutil.which("wrk") if opts.loadgen == "auto" else None
    if wrk is None:
        log("using the Python fallback load generator (wrk: apt-get install -y wrk)")
    base_env = dict(os.environ)
    base_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), base_env.get("PYTHONPATH", "")) if p
    )
    base_env["PYTHONUNBUFFERED"] = "1"
    loadgen = LoadGen(wrk, load_cpu, opts.connections, base_env)
    facts = machine_facts(loadgen)
    started = time.monotonic()
    results: list[tuple[str, list[Row]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="routecache-bench-") as tmp,
        _pinned_self(load_cpu),
    ):
        workdir = Path(tmp)
        redis = RedisServer(workdir, redis_cpu, databases=len(CONFIGS) + 1)
        try:
            for index, body in enumerate(opts.bodies):
                rows = run_pass(
                    body, index, configs, opts, redis, loadgen, server_cpu, workdir, base_env
                )
                results.append((body, rows))
        finally:
            redis.stop()
    elapsed = time.monotonic() - started
    RESULTS_DIR.mkdir(exist_ok=True)
    today = datetime.date.today().isoformat()
    for body, rows in results:
        report = render(
            body, rows, opts, facts, loadgen, (server_cpu, load_cpu, redis_cpu), elapsed
        )
        print(report)
        suffix = "-quick" if opts.quick else ""
        if opts.patterns:
            suffix += "-partial"
        path = RESULTS_DIR / f"{today}-{body}{suffix}.md"
        path.write_text(report)
        log(f"wrote {path.relative_to(ROOT)}")
    log(f"total {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
