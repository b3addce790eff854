"""The fleet view: two gunicorn workers flush their counters to a private Redis, and
``routecache stats`` (every door) adds them up, with the memory under the prefix."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
import redis

from routecache import ConfigurationError, MemoryStore, RedisStore
from routecache.commands import stats
from routecache.metrics import fleet
from routecache.middleware import wsgi
from tests._app_servers import serve_app
from tests._redis_servers import RedisServer
from tests.patterns._support import concurrently, request
from tests.test_commands import PREFIX, Doors, same


@pytest.mark.redis
def test_stats_adds_up_the_workers_and_shows_memory(
    redis_server: RedisServer, redis_clean_url: str
) -> None:
    env = {"CLI_REDIS_URL": redis_clean_url, "CLI_PREFIX": PREFIX}
    client = redis.Redis.from_url(redis_clean_url)
    with serve_app("flask", "tests.metrics._fleet_app:app", env) as server:
        replies = [request(server.port, "/items/1"), request(server.port, "/items/2")]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until both workers have served hits
            if len({r.pid for r in replies if r.hit}) == 2:
                break
            replies += concurrently(4, lambda i: request(server.port, f"/items/{i % 2 + 1}"))
        replies.append(request(server.port, "/items/1", headers={"If-Match": '"x"'}))
        assert len({r.pid for r in replies if r.hit}) == 2
        outcomes = Counter(
            "hit"
            if r.hit
            else "bypass"
            if "fwd=bypass" in r.cache_status
            else "collapsed"
            if "collapsed" in r.cache_status
            else "miss"
            for r in replies
        )
        expected = {k: outcomes.get(k, 0) for k in ("hit", "stale", "collapsed", "miss", "bypass")}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # each worker flushes every 0.1 s
            found = fleet.fleet_stats(client, PREFIX)
            row = found["rules"].get("/items/{id}", {})
            if {k: row.get(k) for k in expected} == expected and found["processes"] == 2:
                break
            time.sleep(0.05)
        assert {k: row.get(k) for k in expected} == expected
        assert found["processes"] == 2
        assert row["requests"] == len(replies)
        served = expected["hit"] + expected["collapsed"]
        assert row["hit_ratio"] == round(served / (served + expected["miss"]), 4)

    # Every door shows the same fleet and memory (the workers have stopped).
    doors = Doors(redis_clean_url)
    data = json.loads(same(doors.every("stats", "--json"), as_json=True).out)
    assert data["fleet"]["rules"]["/items/{id}"] == row
    memory = data["memory"]
    assert memory["sampled"] == memory["keys"]  # fewer keys than the sample: all of them
    assert set(memory["bytes_by_rule"]) == {"/items/{id}", "(metrics)"}
    assert memory["bytes_by_rule"]["/items/{id}"] > 2 * 500
    assert memory["maxmemory_policy"] == "noeviction"  # redis-server's default
    assert memory["warnings"][0].startswith("maxmemory-policy is noeviction")
    human = same(doors.every("stats")).out
    assert "fleet, last 5 min (2 processes reporting):" in human
    assert f"  /items/{{id}}  {len(replies):>8}  {row['hit_ratio']:>9.1%}" in human
    assert "warning: maxmemory-policy is noeviction" in human
    assert "     metrics: " in human


@pytest.mark.redis
def test_allkeys_eviction_on_a_shared_redis_is_a_warning(redis_clean_url: str) -> None:
    client = redis.Redis.from_url(redis_clean_url)
    client.set("otherapp:1", "kept")
    client.config_set("maxmemory", "100mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        store = RedisStore(redis_clean_url, prefix="alone")
        store.client.set("alone:{abc}:def", "x")
        data = stats(store).data["memory"]
        assert data["warnings"] == [
            "maxmemory-policy is allkeys-lru and this Redis holds 1 keys outside the prefix: "
            "a full Redis evicts them too; use volatile-lru or a dedicated Redis"
        ]
        client.delete("otherapp:1")
        assert stats(store).data["memory"]["warnings"] == []
        assert stats(store).data["fleet"]["rules"] == {}
    finally:
        client.config_set("maxmemory", "0")
        client.config_set("maxmemory-policy", "noeviction")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"metrics_flush": 0},
            "CacheMiddleware: metrics_flush must be a positive number of seconds, got 0",
        ),
        (
            {"metrics_flush": 5, "store": MemoryStore()},
            "CacheMiddleware: metrics_flush needs a Redis store (the fleet view lives in Redis)",
        ),
    ],
)
def test_a_bad_metrics_flush_is_a_configuration_error(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        wsgi.CacheMiddleware(lambda environ, start_response: [], **options)
    assert str(raised.value).startswith(message)
