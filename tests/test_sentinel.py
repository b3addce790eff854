"""Redis Sentinel: a real master, replica and sentinel; the master dies, the cache follows.

Each test starts its own PRIVATE set-up on free loopback ports (one master, one
replica, one ``redis-server --sentinel`` with a generated configuration and short
``down-after-milliseconds`` / ``failover-timeout``) and stops every process by PID at
the end. Through a real driver (Starlette in-process with ``AsyncRedisStore``, the WSGI
driver with ``RedisStore``), built once from a ``redis+sentinel://`` URL: a miss, a
hit; SIGKILL the master; requests keep answering 200 while Redis is unavailable
(bypasses); once the sentinel has promoted the replica, a new miss is stored and is a
hit again, without rebuilding the app. The time to recover is printed (``-s``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis.asyncio.sentinel
import redis.sentinel

import routecache
from routecache import ConfigurationError
from routecache.middleware.stores.redis_common import parse_sentinel_url
from tests._redis_servers import LOOPBACK, RedisSentinel, RedisServer, redis_command
from tests.test_redis_faults import Driver

#: Bound on every wait of these tests (set-up, failover, recovery), in seconds.
DEADLINE = 30.0


def _offset(info: bytes, field: bytes) -> int:
    for line in info.splitlines():
        name, _, value = line.partition(b":")
        if name == field:
            return int(value)
    raise AssertionError(f"no {field!r} in INFO replication")


class SentinelSetUp:
    """One master, one replica, one sentinel, all ours."""

    def __init__(self) -> None:
        self.master = RedisServer()
        self.replica = RedisServer()
        self.sentinel: RedisSentinel | None = None

    def start(self) -> SentinelSetUp:
        self.master.start()
        self.replica.extra_args = ("--replicaof", LOOPBACK, str(self.master.port))
        self.replica.start()
        self.sentinel = RedisSentinel(self.master.port)
        self.sentinel.start()
        poll(self._ready, "replica in sync and known to the sentinel")
        return self

    def _ready(self) -> bool:
        info = redis_command(self.replica.port, "INFO", "replication")
        if not isinstance(info, bytes) or b"master_link_status:up" not in info:
            return False
        assert self.sentinel is not None
        replicas = redis_command(self.sentinel.port, "SENTINEL", "REPLICAS", "mymaster")
        if not isinstance(replicas, list) or len(replicas) != 1:
            return False
        fields = replicas[0]
        assert isinstance(fields, list)
        flags = fields[fields.index(b"flags") + 1]
        return flags == b"slave"

    def replica_caught_up(self) -> bool:
        """The replica has acknowledged every write the master has made so far."""
        master = redis_command(self.master.port, "INFO", "replication")
        replica = redis_command(self.replica.port, "INFO", "replication")
        assert isinstance(master, bytes)
        assert isinstance(replica, bytes)
        return _offset(replica, b"slave_repl_offset") >= _offset(master, b"master_repl_offset")

    def promoted(self) -> bool:
        """The sentinel names the replica as the master, and the failover is over."""
        assert self.sentinel is not None
        master = redis_command(self.sentinel.port, "SENTINEL", "MASTER", "mymaster")
        assert isinstance(master, list)
        fields = dict(zip(master[::2], master[1::2], strict=True))
        return fields[b"port"] == str(self.replica.port).encode() and fields[b"flags"] == b"master"

    @property
    def url(self) -> str:
        assert self.sentinel is not None
        return self.sentinel.url

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            if server is not None:
                server.stop()


def poll(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        time.sleep(0.05)


@pytest.fixture
def sentinel_setup() -> Iterator[SentinelSetUp]:
    """A fresh master + replica + sentinel, stopped (by PID) afterwards."""
    setup = SentinelSetUp()
    try:
        yield setup.start()
    finally:
        setup.stop()


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_the_store_follows_a_failover(kind: str, sentinel_setup: SentinelSetUp) -> None:
    driver = Driver(kind, sentinel_setup.url, cooldown=0.5)
    try:
        assert driver.get("/page").cache_status == "routecache; fwd=uri-miss; stored"
        assert driver.get("/page").hit
        # Replication is asynchronous: the crash must come after the replica has the entry.
        poll(sentinel_setup.replica_caught_up, "the replica has every write of the master")

        sentinel_setup.master.kill()  # SIGKILL: a crash
        killed = time.monotonic()
        statuses: set[str] = set()

        def failed_over() -> bool:
            statuses.add(driver.get("/page").cache_status)  # 200 throughout
            return sentinel_setup.promoted()

        poll(failed_over, "the sentinel promotes the replica")
        promoted = time.monotonic()

        def stored_again() -> bool:
            return driver.get("/other").cache_status == "routecache; fwd=uri-miss; stored"

        poll(stored_again, "a miss is stored on the new master")
        assert driver.get("/other").hit
        recovered = time.monotonic()
        # The entry written before the crash was replicated: a hit on the new master.
        assert driver.get("/page").hit
        print(
            f"\nsentinel failover ({kind}): promoted {promoted - killed:.2f} s after the "
            f"kill, hits again after {recovered - killed:.2f} s; answers meanwhile: "
            f"{sorted(statuses)}"
        )
    finally:
        driver.close()


@pytest.mark.redis
@pytest.mark.slow
def test_a_ready_master_for_client_is_accepted(sentinel_setup: SentinelSetUp) -> None:
    assert sentinel_setup.sentinel is not None
    port = sentinel_setup.sentinel.port
    sentinel = redis.sentinel.Sentinel([(LOOPBACK, port)])
    store = routecache.RedisStore(sentinel.master_for("mymaster", socket_timeout=1.0))
    assert store.stats()["store"] == "redis-sentinel"
    async_sentinel = redis.asyncio.sentinel.Sentinel([(LOOPBACK, port)])
    async_store = routecache.AsyncRedisStore(async_sentinel.master_for("mymaster"))
    # The multiplexed GET talks to one fixed address: it is off for Sentinel (redis-py's
    # pool re-resolves the master on each new connection).
    assert async_store._fast_get is None
    assert async_store.sentinel


def test_the_multiplexed_get_is_off_for_sentinel_urls() -> None:
    store = routecache.AsyncRedisStore("redis+sentinel://127.0.0.1:1/mymaster")
    assert store._fast_get is None
    assert store.sentinel


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://h1:26379/", "the path must be /service_name or /service_name/db"),
        ("redis+sentinel://h1:x/m", "the port of sentinel 'h1' must be 1..65535, got 'x'"),
        ("redis+sentinel://h1,/m", "each sentinel must be host[:port]"),
        ("redis+sentinel://h1/m/zero", "the db must be a number >= 0, got 'zero'"),
        ("redis+sentinel://h1/m/0/1", "the path must be"),
        ("redis+sentinel://h1/m?sockettimeout=1", "unknown option 'sockettimeout' (did you"),
        ("redis+sentinel://h1/m?socket_timeout=0", "socket_timeout must be a positive number"),
        ("redis+sentinel://h1/m?min_other_sentinels=-1", "min_other_sentinels must be"),
    ],
)
@pytest.mark.parametrize("store", [routecache.RedisStore, routecache.AsyncRedisStore])
def test_bad_sentinel_urls_fail_at_construction(store: type, url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^redis\+sentinel URL: ") as caught:
        store(url)
    assert message in str(caught.value)


def test_the_url_grammar() -> None:
    parsed = parse_sentinel_url(
        "redis+sentinel://app:s%40cret@h1,h2:26380,[::1]:26381/cache/3"
        "?socket_timeout=0.5&sentinel_password=pw&min_other_sentinels=1"
    )
    assert parsed.sentinels == [("h1", 26379), ("h2", 26380), ("::1", 26381)]
    assert (parsed.service_name, parsed.db) == ("cache", 3)
    assert (parsed.username, parsed.password) == ("app", "s@cret")
    assert parsed.sentinel_kwargs == {"socket_timeout": 0.5, "password": "pw"}
    assert parsed.min_other_sentinels == 1
    lone = parse_sentinel_url("redis+sentinel://:pw@h1/cache")
    assert (lone.username, lone.password, lone.db) == (None, "pw", 0)
