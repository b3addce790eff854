"""CPU cost of one cache hit through a whole app, driven in-process (no HTTP server).

Starlette (``CacheMiddleware`` + ``AsyncRedisStore``) or Flask (``RouteCache`` +
``RedisStore``) against a private ``redis-server``; ``GET /items/1`` is stored once,
then served ``--hits`` times by calling the ASGI / WSGI app directly. Prints the
median CPU time (``time.process_time``) per hit over ``--rounds`` rounds, which the
load of other processes on the machine barely moves. For instruction counts, run it
twice under callgrind with two ``--hits`` values and ``--rounds 1``: the difference of
the totals divided by the difference of hits is the instructions per hit::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python -m benchmarks.hit_cost starlette --hits 500 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from tests._redis_servers import RedisServer

BODY = b"x" * 1024


def _starlette(url: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from routecache import AsyncRedisStore, Rule
    from routecache.adapters.starlette import CacheMiddleware

    async def item(request: Request) -> Response:
        return Response(BODY, media_type="application/json")

    app = Starlette(routes=[Route("/items/{id}", item)])
    app.add_middleware(
        CacheMiddleware, store=AsyncRedisStore(url), rules=[Rule("/items/{id}", ttl=300)]
    )
    return app


def _flask(url: str) -> Any:
    from flask import Flask

    from routecache import RedisStore, Rule
    from routecache.adapters.flask import RouteCache

    app = Flask(__name__)

    @app.get("/items/<id>")
    def item(id: str) -> Any:
        return BODY, 200, {"content-type": "application/json"}

    RouteCache(app, store=RedisStore(url), rules=[Rule("/items/{id}", ttl=300)])
    return app


def run_starlette(url: str, hits: int, rounds: int) -> list[float]:
    """CPU seconds per hit of each round."""
    app = _starlette(url)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items/1",
        "raw_path": b"/items/1",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    statuses: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            for k, v in message["headers"]:
                if k == b"cache-status":
                    statuses.append(v)

    async def main() -> list[float]:
        await app(dict(scope), receive, send)  # stored
        await asyncio.sleep(0.05)
        for _ in range(200):  # warm the memos
            await app(dict(scope), receive, send)
        assert b"hit" in statuses[-1], statuses[-1]
        out = []
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(hits):
                await app(dict(scope), receive, send)
            out.append((time.process_time() - start) / hits)
        assert b"hit" in statuses[-1], statuses[-1]
        return out

    return asyncio.run(main())


def run_flask(url: str, hits: int, rounds: int) -> list[float]:
    """CPU seconds per hit of each round."""
    app = _flask(url)
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/items/1",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "HTTP_HOST": "bench",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.extend(v for k, v in headers if k.lower() == "cache-status")
        return lambda data: None

    def once() -> None:
        import io
        import sys

        env = dict(environ, **{"wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr})
        body = app(env, start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    once()
    for _ in range(200):
        once()
    assert "hit" in statuses[-1], statuses[-1]
    out = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(hits):
            once()
        out.append((time.process_time() - start) / hits)
    assert "hit" in statuses[-1], statuses[-1]
    return out


def main() -> None:
    """Command line: ``python -m benchmarks.hit_cost starlette|flask``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["starlette", "flask"])
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with RedisServer() as server:
        run = run_starlette if args.kind == "starlette" else run_flask
        per_hit = run(server.url, args.hits, args.rounds)
    print(
        f"{args.kind}: median {statistics.median(per_hit) * 1e6:.2f} us CPU per hit "
        f"(min {min(per_hit) * 1e6:.2f}, {args.rounds} rounds of {args.hits})"
    )


if __name__ == "__main__":
    main()
