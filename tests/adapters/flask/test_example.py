"""``examples/flask_app.py``: miss, hit, PUT, miss; imported, and run as users run it."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests._redis_servers import ServerProcess, free_port
from tests.conformance.harness import WSGIClient
from tests.conformance.helpers import FROM_CACHE

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "flask_app.py"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def example(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """The example module, freshly imported (on the private Redis for ``redis``)."""
    if request.param == "redis":
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_clean_url"))
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    spec = importlib.util.spec_from_file_location("routecache_example_flask_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    module.app.extensions["routecache"].store.close()


def test_miss_hit_put_miss(example: ModuleType) -> None:
    client = WSGIClient(example.app)
    started = time.monotonic()
    miss = client.request("GET", "/data/1")
    assert time.monotonic() - started >= example.LOOKUP_SECONDS
    assert miss.status == 200
    assert miss.cache_status == "routecache; fwd=uri-miss; stored"
    started = time.monotonic()
    hit = client.request("GET", "/data/1")
    assert time.monotonic() - started < example.LOOKUP_SECONDS
    assert hit.cache_status.startswith("routecache; hit; ttl=")
    assert hit.body == miss.body
    put = client.request("PUT", "/data/1", body=b"changed")
    assert put.status == 200
    assert put.cache_status == "routecache; fwd=method"
    after = client.request("GET", "/data/1")
    assert after.cache_status == "routecache; fwd=uri-miss; stored"
    assert json.loads(after.body)["value"] == "changed"


def scenario(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        miss = http.get("/data/1")
        assert miss.status_code == 200
        assert miss.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
        hit = http.get("/data/1")
        # Write-behind: the entry is stored after the response went out, so a request
        # sent at once may find the fetch still landing and share it ("collapsed").
        assert FROM_CACHE.match(hit.headers["cache-status"]), hit.headers["cache-status"]
        assert hit.json() == miss.json()
        assert hit.elapsed.total_seconds() < 0.5
        assert http.put("/data/1", content=b"changed").status_code == 200
        after = http.get("/data/1")
        assert after.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
        assert after.json()["value"] == "changed"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flask run", "python"])
@pytest.mark.parametrize("store_kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_runs_as_documented(how: str, store_kind: str, request: pytest.FixtureRequest) -> None:
    port = free_port()
    env = {"PORT": str(port), "REDIS_URL": ""}
    if store_kind == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_clean_url")
    if how == "python":
        argv = [sys.executable, "examples/flask_app.py"]
    else:
        argv = [sys.executable, "-m", "flask", "--app", "examples/flask_app.py", "run"]
        argv += ["--port", str(port), "--no-reload"]
    with ServerProcess(argv, port, env=env, cwd=ROOT) as server:
        scenario(server.base_url)
