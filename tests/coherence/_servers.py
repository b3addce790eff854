"""The coherence checker's origin under real servers (2 worker processes each)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests._app_servers import serve_app
from tests._redis_servers import LOOPBACK, RedisServer, ServerProcess

#: Longest time a GET view works after reading its version (seconds).
VIEW_DELAY = 0.02
_APPS = {
    "starlette": "tests.coherence._checker_starlette:app",
    "flask": "tests.coherence._checker_flask:app",
}


@contextmanager
def serve(kind: str, redis_server: RedisServer, *, near: bool = False) -> Iterator[ServerProcess]:
    """The checker's origin (``starlette`` under uvicorn, ``flask`` under gunicorn
    gthread), 2 workers, cache in db 0 and versions in db 1 of ``redis_server``;
    ``near``: each worker's store has a near cache (L1)."""
    env = {
        "CK_CACHE_URL": redis_server.url,  # db 0
        "CK_VERSION_URL": f"redis://{LOOPBACK}:{redis_server.port}/1",
        "CK_PREFIX": f"ck-{kind}" + ("-near" if near else ""),
        "CK_NEAR": "1" if near else "",
        "CK_DELAY": str(VIEW_DELAY),
    }
    with serve_app(kind, _APPS[kind], env) as server:
        yield server
