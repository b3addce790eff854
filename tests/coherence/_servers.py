"""The coherence checker's origin under real servers (2 worker processes each)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tests._redis_servers import LOOPBACK, RedisServer, ServerProcess, free_port
from tests.patterns._support import wait_workers

ROOT = Path(__file__).resolve().parents[2]
#: Longest time a GET view works after reading its version (seconds).
VIEW_DELAY = 0.02


def _argv(kind: str, port: int) -> list[str]:
    if kind == "starlette":
        return [
            sys.executable, "-m", "uvicorn", "tests.coherence._checker_starlette:app",
            "--host", LOOPBACK, "--port", str(port), "--workers", "2",
            "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "1",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", "tests.coherence._checker_flask:app",
        "--bind", f"{LOOPBACK}:{port}", "--workers", "2", "--threads", "4",
        "--worker-class", "gthread", "--graceful-timeout", "1", "--timeout", "30",
        "--log-level", "warning",
    ]  # fmt: skip


@contextlib.contextmanager
def serve(kind: str, redis_server: RedisServer) -> Iterator[ServerProcess]:
    """The checker's origin (``starlette`` under uvicorn, ``flask`` under gunicorn
    gthread), 2 workers, cache in db 0 and versions in db 1 of ``redis_server``."""
    port = free_port()
    env = {
        "CK_CACHE_URL": redis_server.url,  # db 0
        "CK_VERSION_URL": f"redis://{LOOPBACK}:{redis_server.port}/1",
        "CK_PREFIX": f"ck-{kind}",
        "CK_DELAY": str(VIEW_DELAY),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with ServerProcess(_argv(kind, port), port, env=env, cwd=ROOT, stop_timeout=5.0) as server:
        try:
            wait_workers(server, 2)
        except BaseException:
            print(server.stderr_text(), file=sys.stderr)
            raise
        yield server
