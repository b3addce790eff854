"""Garbage collections on the hit path: in-process hits with and without routecache.

Run from the repository root (starts its own ``redis-server`` on a free loopback port;
the shared one is never touched)::

    python -m benchmarks.gc_hits [--hits 10000] [--only 'fastapi-*']

Each configuration serves ``GET /items/{id}?fields=name,price`` (1 KiB JSON body) in
this process, called directly (ASGI: ``await app(scope, receive, send)`` on one
asyncio loop; WSGI: ``app(environ, start_response)``, the body read and closed as a
server does), so nothing but the app and its driver allocates. ``bare`` rows return a
prebuilt body; ``routecache`` rows answer hits from a private Redis (warmed first).
For ``--hits`` requests the table shows:

- ``gen0 / gen1 / gen2``: collections of each generation (``gc.callbacks``);
- ``cyclic/hit``: objects the collector found unreachable (garbage in reference
  cycles, which reference counting alone cannot free), per request;
- ``blocks/hit``: net growth of ``sys.getallocatedblocks()`` per request, after the
  run (memory kept, not allocation traffic);
- ``tracked``: objects the collector tracks after warm-up (the heap a full collection
  walks);
- ``gc ms``: time spent in collections, and the longest one;
- ``p50 / p99 / max``: request latency in this process (µs), and ``p99 no-gc``: the
  p99 of the requests during which no collection ran.

``--server-log DIR`` instead prints what real benchmark servers logged: run
``BENCH_GC_LOG=DIR python -m benchmarks.run --only ...`` first (``DIR`` existing), and
every server process keeps its collections per generation, their time and longest
pause, and the objects it tracks in a file there (``benchmarks/apps/gc_log.py``).

``--freeze`` calls ``gc.freeze()`` after warm-up (the start-up objects are then never
walked again). Figures move with the machine's load; compare rows of one run.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import fnmatch
import gc
import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Samples = array.array  # of "d": no object per sample, so the figures exclude our own
Runner = Callable[[int, "GcWatch", Samples, Samples], None]
PATH = "/items/{id}"
TARGET_PATH = "/items/7"
QUERY = "fields=name,price"


@dataclass
class GcWatch:
    """Counts collections per generation, their garbage and their duration."""

    counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    collected: int = 0
    seconds: float = 0.0
    longest: float = 0.0
    running: bool = False
    during: bool = False  # a collection ran since the flag was last cleared
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self.during = True
            return
        took = time.perf_counter() - self._started
        self.counts[info["generation"]] += 1
        self.collected += info["collected"]
        self.seconds += took
        self.longest = max(self.longest, took)


@dataclass
class Result:
    """One configuration's figures."""

    name: str
    hits: int
    watch: GcWatch
    blocks: int
    tracked: int
    latencies: Samples
    clean: Samples

    def row(self) -> list[str]:
        lat = sorted(self.latencies)
        clean = sorted(self.clean) or [0.0]

        def pct(values: list[float], q: float) -> float:
            return values[min(len(values) - 1, int(q * len(values)))] * 1e6

        w = self.watch
        return [
            self.name,
            *(str(c) for c in w.counts),
            f"{w.collected / self.hits:.2f}",
            f"{self.blocks / self.hits:.2f}",
            f"{self.tracked:,}",
            f"{w.seconds * 1e3:.1f} / {w.longest * 1e3:.2f}",
            f"{statistics.median(lat) * 1e6:.0f}",
            f"{pct(lat, 0.99):.0f}",
            f"{lat[-1] * 1e6:.0f}",
            f"{pct(clean, 0.99):.0f}",
        ]


# -- the apps -------------------------------------------------------------------------


def _body() -> bytes:
    from benchmarks.apps import common

    return common.PREBUILT_BODY


def _rule() -> Any:
    import routecache

    return routecache.Rule(PATH, ttl=300)


def starlette_app(url: str | None) -> Any:
    """Starlette returning the prebuilt body; with routecache in front when ``url``."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    import routecache
    from routecache.adapters.starlette import CacheMiddleware

    body = _body()

    async def item(request: Request) -> Response:
        return Response(body, media_type="application/json")

    middleware = []
    if url is not None:
        store = routecache.AsyncRedisStore(url, prefix="gc-starlette")
        middleware = [Middleware(CacheMiddleware, store=store, rules=[_rule()])]
    return Starlette(routes=[Route("/items/{id:int}", item)], middleware=middleware)


def fastapi_app(url: str | None) -> Any:
    """FastAPI returning the prebuilt body; with routecache in front when ``url``."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    import routecache
    from routecache.adapters.starlette import CacheMiddleware

    body = _body()
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int, fields: str = "") -> Response:
        return Response(body, media_type="application/json")

    if url is not None:
        store = routecache.AsyncRedisStore(url, prefix="gc-fastapi")
        app.add_middleware(CacheMiddleware, store=store, rules=[_rule()])
    return app


def flask_app(url: str | None) -> Any:
    """Flask returning the prebuilt body; with routecache in front when ``url``."""
    from flask import Flask, Response

    import routecache
    from routecache.adapters.flask import RouteCache

    body = _body()
    app = Flask("gc_hits")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Response:
        return Response(body, mimetype="application/json")

    if url is not None:
        store = routecache.RedisStore(url, prefix="gc-flask")
        RouteCache(app, store=store, rules=[_rule()])
    return app


# -- the drivers ----------------------------------------------------------------------


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": TARGET_PATH,
        "raw_path": TARGET_PATH.encode(),
        "query_string": QUERY.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }


def asgi_runner(app: Any, concurrency: int) -> Runner:
    """Serve ``n`` requests on a fresh asyncio loop from ``concurrency`` tasks (each
    sending its next request when its last one is answered), timing each."""
    loop = asyncio.new_event_loop()

    async def one() -> bytes:
        out: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        await app(_scope(), receive, send)
        return b"".join(out)

    async def worker(n: int, watch: GcWatch, lat: Samples, clean: Samples) -> None:
        for _ in range(n):
            watch.during = False
            start = time.perf_counter()
            await one()
            took = time.perf_counter() - start
            lat.append(took)
            if not watch.during:
                clean.append(took)

    async def many(n: int, watch: GcWatch, lat: Samples, clean: Samples) -> None:
        share = max(1, n // concurrency)
        await asyncio.gather(*(worker(share, watch, lat, clean) for _ in range(concurrency)))

    def run(n: int, watch: GcWatch, lat: Samples, clean: Samples) -> None:
        loop.run_until_complete(many(n, watch, lat, clean))

    run.loop = loop  # type: ignore[attr-defined]
    return run


def wsgi_runner(app: Any) -> Runner:
    """Serve ``n`` requests through the WSGI callable, reading and closing each body."""
    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": TARGET_PATH,
        "QUERY_STRING": QUERY,
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "bench",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        return None

    def run(n: int, watch: GcWatch, lat: Samples, clean: Samples) -> None:
        for _ in range(n):
            watch.during = False
            start = time.perf_counter()
            environ = dict(base)
            environ["wsgi.input"] = io.BytesIO(b"")
            result = app(environ, start_response)
            try:
                b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            took = time.perf_counter() - start
            lat.append(took)
            if not watch.during:
                clean.append(took)

    return run


CONFIGS: dict[str, tuple[Callable[[str | None], Any], str, bool]] = {
    "starlette-bare": (starlette_app, "asgi", False),
    "starlette-routecache": (starlette_app, "asgi", True),
    "fastapi-bare": (fastapi_app, "asgi", False),
    "fastapi-routecache": (fastapi_app, "asgi", True),
    "flask-bare": (flask_app, "wsgi", False),
    "flask-routecache": (flask_app, "wsgi", True),
}


def _samples() -> Samples:
    return array.array("d")


def measure(name: str, url: str, hits: int, freeze: bool, concurrency: int = 1) -> Result:
    """Warm one configuration up, then serve ``hits`` requests under the GC watch."""
    factory, kind, cached = CONFIGS[name]
    app = factory(url if cached else None)
    run = asgi_runner(app, concurrency) if kind == "asgi" else wsgi_runner(app)
    idle = GcWatch()
    run(
        200, idle, _samples(), _samples()
    )  # the miss (stores the entry), then hits: connections, memos
    gc.collect()
    if freeze:
        gc.freeze()
    tracked = len(gc.get_objects())
    watch = GcWatch()
    latencies, clean = _samples(), _samples()
    gc.callbacks.append(watch)
    blocks = sys.getallocatedblocks()
    try:
        run(hits, watch, latencies, clean)
    finally:
        gc.callbacks.remove(watch)
    blocks = sys.getallocatedblocks() - blocks
    if freeze:
        gc.unfreeze()
    loop = getattr(run, "loop", None)
    if loop is not None:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return Result(name, hits, watch, blocks, tracked, latencies, clean)


HEADER = [
    "configuration",
    "gen0",
    "gen1",
    "gen2",
    "cyclic/hit",
    "blocks/hit",
    "tracked",
    "gc ms (total / longest)",
    "p50 µs",
    "p99 µs",
    "max µs",
    "p99 no-gc µs",
]


def table(results: list[Result]) -> str:
    """The markdown table of ``results``."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(r.row()) + " |" for r in results]
    return "\n".join(lines)


def server_table(path: str) -> str:
    """The markdown table of the server logs in the directory ``path``."""
    import json
    from pathlib import Path

    header = [
        "configuration",
        "pid",
        "gen0 / gen1 / gen2",
        "unreachable (gen0 / gen1 / gen2)",
        "gc ms (gen0 / gen1 / gen2)",
        "longest ms (gen0 / gen1 / gen2)",
        "tracked",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for file in sorted(Path(path).glob("*.json")):
        e = json.loads(file.read_text(encoding="utf-8"))
        cells = [
            e["name"],
            str(e["pid"]),
            " / ".join(str(c) for c in e["collections"]),
            " / ".join(str(c) for c in e["collected"]),
            " / ".join(f"{m:.1f}" for m in e["ms"]),
            " / ".join(f"{m:.2f}" for m in e["longest_ms"]),
            f"{e['tracked']:,}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure the selected configurations and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hits", type=int, default=10_000, help="requests per configuration")
    parser.add_argument("--only", default="", help="comma-separated names or globs")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after warm-up")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="concurrent requests (ASGI rows)"
    )
    parser.add_argument("--server-log", default="", help="print a BENCH_GC_LOG directory instead")
    opts = parser.parse_args(argv)
    if opts.server_log:
        print(server_table(opts.server_log))
        return
    patterns = [p for p in opts.only.split(",") if p]
    names = [n for n in CONFIGS if not patterns or any(fnmatch.fnmatch(n, p) for p in patterns)]
    from tests._redis_servers import RedisServer

    with RedisServer() as server:
        results = [
            measure(name, server.url, opts.hits, opts.freeze, opts.concurrency) for name in names
        ]
    frozen = ", gc.freeze() after warm-up" if opts.freeze else ""
    print(
        f"{opts.hits:,} in-process hits per configuration, {opts.concurrency} at a time "
        f"(ASGI){frozen}; Python {sys.version.split()[0]}"
    )
    print()
    print(table(results))


if __name__ == "__main__":
    main()
