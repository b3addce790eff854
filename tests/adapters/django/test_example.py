"""The example project under ``manage.py runserver``: miss, hit, PUT, miss."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests._redis_servers import ServerProcess, free_port
from tests.conformance.helpers import FROM_CACHE

MANAGE = Path(__file__).resolve().parents[3] / "examples" / "django_project" / "manage.py"


def scenario(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        miss = http.get("/data/1")
        assert miss.status_code == 200
        assert miss.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
        assert miss.elapsed.total_seconds() >= 0.5
        hit = http.get("/data/1")
        # Write-behind: the entry is stored after the response went out, so a request
        # sent at once may find the fetch still landing and share it ("collapsed").
        assert FROM_CACHE.match(hit.headers["cache-status"]), hit.headers["cache-status"]
        assert hit.json() == miss.json()
        assert hit.elapsed.total_seconds() < 0.5
        put = http.put("/data/1", content=b"changed")
        assert put.status_code == 200
        assert put.headers["cache-status"] == "routecache; fwd=method"
        after = http.get("/data/1")
        assert after.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
        assert after.json()["value"] == "changed"


@pytest.mark.slow
@pytest.mark.parametrize("store_kind", ["memory", "redis"])
def test_runserver_miss_hit_put_miss(store_kind: str, request: pytest.FixtureRequest) -> None:
    env = {"DJANGO_DEBUG": "0"}
    if store_kind == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_clean_url")
    port = free_port()
    argv = [sys.executable, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{port}"]
    with ServerProcess(argv, port, env=env) as server:
        scenario(server.base_url)
