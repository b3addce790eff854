"""Warming: ``routecache warm`` (the CLI) and ``routecache.warm.warm()`` fill the cache
through the app itself, so the next real request, on a real server, is a hit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.patterns._support import APPS, ROOT, app_env, calls, report, request, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

MODULES = {"starlette": f"{APPS}.starlette_app:app", "flask": f"{APPS}.flask_app:app"}
API = """
import sys
from routecache.warm import load_app, warm
results = warm(load_app(sys.argv[1]), sys.argv[3:], host=sys.argv[2])
print(results)
sys.exit(any(status != 200 for _, status, _ in results))
"""


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("kind", ["starlette", "flask"])
def test_warming_fills_the_cache(kind: str, redis_clean_url: str, rc: Any) -> None:
    env = app_env(redis_clean_url)
    cli = str(Path(sys.executable).with_name("routecache"))
    with serve(kind, env) as server:
        host = f"127.0.0.1:{server.port}"  # what real clients send
        by_cli = _run(
            [cli, "warm", "--app", MODULES[kind], "--host", host, "/warm/a", "/warm/b"], env
        )
        assert by_cli.returncode == 0, by_cli.stdout + by_cli.stderr
        assert by_cli.stdout.count("fwd=uri-miss; stored") == 2, by_cli.stdout
        by_api = _run([sys.executable, "-c", API, MODULES[kind], host, "/warm/c", "/warm/d"], env)
        assert by_api.returncode == 0, by_api.stdout + by_api.stderr
        replies = {p: request(server.port, p) for p in ("/warm/a", "/warm/b", "/warm/c", "/warm/d")}
    report(
        f"warm[{kind}]",
        cli=by_cli.stdout.strip().replace("\n", " | "),
        next_requests=sorted({r.cache_status.split(";")[1].strip() for r in replies.values()}),
        view_calls={p: calls(rc, p) for p in replies},
    )
    for path, r in replies.items():
        assert r.status == 200, (path, r)
        assert r.hit, (path, r)
        assert r.body.startswith(f"path={path} call=1 ".encode()), r
        assert calls(rc, path) == 1
