"""Redis error replies prove Redis is up: they never open the circuit breaker.

On a private redis-server (``CONFIG SET`` on it alone), through the ASGI driver
(``AsyncRedisStore``) and the bare WSGI driver (``RedisStore``):

- ``OOM`` (``maxmemory`` reached under ``noeviction``): writes are skipped and counted
  as ``store_full``; lookups go on, so stored entries are still hits.
- ``WRONGTYPE`` (a key of another Redis type at an entry address): a miss, and the key
  is replaced by the entry; the rest of the cache keeps working.
- a string that is not an entry: a miss, and it is deleted when the response that
  follows cannot replace it.

Only connectivity faults (refused, reset, timeouts) open the breaker: see
``tests/test_redis_faults.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from routecache.middleware.keys import path_hash
from tests._redis_servers import RedisServer, redis_command
from tests.test_redis_faults import THRESHOLD, UNAVAILABLE, Driver, warm


@pytest.fixture(scope="module")
def own_server() -> Iterator[RedisServer]:
    """A private server of this module's own: its memory settings are changed."""
    from tests.conftest import _require_redis_binaries

    _require_redis_binaries("redis-server")
    with RedisServer() as server:
        yield server


@pytest.fixture(params=["asgi", "wsgi"])
def make_driver(
    request: pytest.FixtureRequest, own_server: RedisServer
) -> Iterator[Callable[[], Driver]]:
    own_server.flush()
    drivers: list[Driver] = []

    def make() -> Driver:
        driver = Driver(str(request.param), own_server.url, cooldown=30.0)
        drivers.append(driver)
        return driver

    try:
        yield make
    finally:
        redis_command(own_server.port, "CONFIG", "SET", "maxmemory", "0")
        for driver in drivers:
            driver.close()


def _entry_key(client: redis.Redis, driver: Driver, path: str) -> bytes:
    """The key of the one entry stored for ``path``."""
    match = f"{driver.store.prefix}:{{{path_hash(path)}}}:*"
    keys = [
        k
        for k in client.scan_iter(match=match)
        if client.type(k) == b"string" and not k.endswith((b":lock", b":g", b":gen"))
    ]
    assert len(keys) == 1, keys
    return keys[0]


def test_oom_on_writes_skips_them_and_lookups_go_on(
    make_driver: Callable[[], Driver], own_server: RedisServer
) -> None:
    driver = make_driver()
    warm(driver, "/page")
    port = own_server.port
    assert redis_command(port, "CONFIG", "SET", "maxmemory-policy", "noeviction") == "OK"
    assert redis_command(port, "CONFIG", "SET", "maxmemory", "1") == "OK"
    for n in range(1, 4 * THRESHOLD + 1):  # misses in a row, each write refused
        resp = driver.client.request("GET", f"/other?n={n}")
        assert resp.status == 200
        assert resp.body == f"/other #{n}".encode()
        assert resp.cache_status != UNAVAILABLE  # the lookup worked: a plain miss
    for _ in range(THRESHOLD):
        # The stored entry is still served: the breaker did not open.
        page = driver.get("/page")
        assert page.hit, page.cache_status
        assert page.body == b"/page #1"
    assert not driver.store.breaker.is_open
    assert driver.refused() == 0
    assert driver.store.faults.counts["store_full"] >= 4 * THRESHOLD
    assert driver.client.errors == []

    assert redis_command(port, "CONFIG", "SET", "maxmemory", "0") == "OK"
    assert driver.get("/other").cache_status == "routecache; fwd=uri-miss; stored"
    assert driver.get("/other").hit


def test_a_key_of_the_wrong_type_at_an_entry_address_is_a_miss_and_is_replaced(
    make_driver: Callable[[], Driver], own_server: RedisServer
) -> None:
    driver = make_driver()
    warm(driver, "/page")
    warm(driver, "/other")
    client = redis.Redis.from_url(own_server.url)
    try:
        key = _entry_key(client, driver, "/page")
        client.delete(key)
        client.hset(key, "not", "an entry")
        for _ in range(4 * THRESHOLD):
            other = driver.get("/other")
            assert other.hit, other.cache_status
        resp = driver.get("/page")
        assert resp.body == b"/page #2"
        assert resp.cache_status == "routecache; fwd=uri-miss; stored"
        for _ in range(4 * THRESHOLD):
            page = driver.get("/page")
            assert page.hit, page.cache_status
            assert page.body == b"/page #2"
        assert client.type(key) == b"string"
        assert not driver.store.breaker.is_open
        assert driver.refused() == 0
        assert driver.client.errors == []
    finally:
        client.close()


def test_a_string_that_is_not_an_entry_is_deleted_when_nothing_replaces_it(
    make_driver: Callable[[], Driver], own_server: RedisServer
) -> None:
    driver = make_driver()
    warm(driver, "/page")
    client = redis.Redis.from_url(own_server.url)
    try:
        key = _entry_key(client, driver, "/page")
        client.set(key, b"foreign bytes, no TTL")
        # A HEAD miss is never stored: the foreign value must go all the same.
        head = driver.client.request("HEAD", "/page")
        assert head.status == 200
        assert client.exists(key) == 0
        assert driver.get("/page").cache_status == "routecache; fwd=uri-miss; stored"
        assert driver.get("/page").hit
        assert not driver.store.breaker.is_open
    finally:
        client.close()
