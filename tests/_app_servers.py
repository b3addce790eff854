"""An app module under a real server with several worker processes: uvicorn for the
ASGI kinds (``starlette``), gunicorn gthread for the WSGI ones (``flask``)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests._redis_servers import LOOPBACK, ServerProcess, free_port
from tests.patterns._support import wait_workers

ROOT = Path(__file__).resolve().parents[1]


def server_argv(kind: str, app: str, port: int, *, workers: int, threads: int) -> list[str]:
    """The command line serving ``app`` (``module:attribute``) on ``port``."""
    if kind == "starlette":
        # h11 whether or not httptools is installed (CI's install has no httptools): with
        # httptools, uvicorn answers 400 to a request body that arrives after an
        # `Upgrade: h2c` header block, depending on how the bytes were split.
        return [
            sys.executable, "-m", "uvicorn", app, "--http", "h11",
            "--host", LOOPBACK, "--port", str(port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "1",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", app,
        "--bind", f"{LOOPBACK}:{port}", "--workers", str(workers), "--threads", str(threads),
        "--worker-class", "gthread", "--graceful-timeout", "1", "--timeout", "30",
        "--log-level", "warning",
    ]  # fmt: skip


@contextlib.contextmanager
def serve_app(
    kind: str, app: str, env: Mapping[str, str], *, workers: int = 2, threads: int = 4
) -> Iterator[ServerProcess]:
    """Serve ``app`` with ``env`` (plus the repository on ``PYTHONPATH``) until every
    worker answers ``/ping``; stopped (by PID) when the block ends."""
    port = free_port()
    env = {**env, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = server_argv(kind, app, port, workers=workers, threads=threads)
    with ServerProcess(argv, port, env=env, cwd=ROOT, stop_timeout=5.0) as server:
        try:
            wait_workers(server, workers)
        except BaseException:
            print(server.stderr_text(), file=sys.stderr)
            raise
        yield server
