"""The front wrappers under real servers: uvicorn (2 workers) for ``asgi``, gunicorn
gthread (2 workers x 4 threads) for ``wsgi``, one private Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests._app_servers import serve_app
from tests._redis_servers import RedisServer
from tests.patterns._support import request

pytestmark = pytest.mark.redis

_APPS = {
    "starlette": "tests.adapters.django.front_server_app:asgi_app",  # uvicorn
    "flask": "tests.adapters.django.front_server_app:wsgi_app",  # gunicorn gthread
}


@pytest.mark.parametrize("kind", ["starlette", "flask"], ids=["uvicorn", "gunicorn"])
def test_hits_are_answered_before_django_and_writes_are_seen_at_once(
    kind: str, redis_server: RedisServer
) -> None:
    prefix = f"front-{kind}-{uuid.uuid4().hex[:8]}"
    counts = redis.Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/1")

    def count(name: str) -> int:
        return int(counts.get(f"{prefix}:{name}") or 0)

    env = {"FRONT_REDIS_URL": redis_server.url, "FRONT_PREFIX": prefix}
    with serve_app(kind, _APPS[kind], env) as server:
        miss = request(server.port, "/items/7?a=1")
        assert miss.cache_status == "routecache; fwd=uri-miss; stored"
        for _ in range(4):  # every worker's connection to Redis made
            assert request(server.port, "/items/7?a=1").cache_status.startswith("routecache; hit")
        started = count("started")
        # New connections: the kernel spreads them over both workers.
        hits = [request(server.port, "/items/7?a=1") for _ in range(8)]
        for hit in hits:
            assert hit.status == 200
            assert hit.cache_status.startswith("routecache; hit"), hit.cache_status
            assert hit.body == miss.body
            assert hit.headers["content-length"] == str(len(miss.body))
            assert "age" in hit.headers
        assert hit.headers.get("date")  # the server's own, as on a middleware hit
        assert count("started") == started  # Django never ran
        assert count("calls:7") == 1
        put = request(server.port, "/items/7", method="PUT")
        assert put.status == 204
        assert put.cache_status == "routecache; fwd=method"
        # The write's invalidation is seen by the next request, in any worker.
        after = [request(server.port, "/items/7?a=1") for _ in range(2)]
        assert after[0].cache_status == "routecache; fwd=uri-miss; stored"
        assert after[1].cache_status.startswith("routecache; hit")
        assert count("calls:7") == 3
