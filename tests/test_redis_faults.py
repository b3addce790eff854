"""Redis faults seen from the HTTP side: down, slow, full, and back again.

Each case runs through Starlette (the ASGI driver, ``AsyncRedisStore``) and through the
bare WSGI driver (``routecache.middleware.wsgi.CacheMiddleware``, ``RedisStore``) against
the session's PRIVATE redis-server, which these tests kill, pause and restart (the
``redis_server`` fixture; never the shared Redis on 6379). Whatever Redis does, the
app answers from the origin, never with a 500; the circuit breaker stops requests
from waiting on a dead or stalled Redis; hits resume once Redis is back.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import routecache
from routecache import Rule
from routecache.adapters.starlette import CacheMiddleware as StarletteCache
from routecache.middleware.wsgi import CacheMiddleware as WSGICache
from tests._redis_servers import RedisServer, redis_command
from tests.conformance.harness import ASGIClient, Resp, WSGIClient, wait_until

#: Per-call time limit of the stores under test (seconds).
TIMEOUT = 0.2
#: Consecutive faults that open the breaker.
THRESHOLD = 3
UNAVAILABLE = "routecache; fwd=miss; detail=store-unavailable"
RULES = [Rule("/page", ttl=60), Rule("/other", ttl=60)]
_prefixes = itertools.count()


class Driver:
    """A cached app (ASGI or WSGI) on the private Redis, counting its view calls."""

    def __init__(self, kind: str, url: str, *, cooldown: float) -> None:
        self.kind = kind
        self.calls: Counter[str] = Counter()
        options: dict[str, Any] = {
            "prefix": f"faults{next(_prefixes)}",
            "timeout": TIMEOUT,
            "breaker_threshold": THRESHOLD,
            "breaker_cooldown": cooldown,
        }
        self.client: ASGIClient | WSGIClient
        if kind == "asgi":
            self.store: Any = routecache.AsyncRedisStore(url, **options)

            async def page(request: Request) -> Response:
                self.calls[request.method] += 1
                self.calls[request.url.path] += 1
                path = request.url.path
                return PlainTextResponse(f"{path} #{self.calls[path]}")

            app = Starlette(
                routes=[
                    Route("/page", page, methods=["GET", "POST"]),
                    Route("/other", page, methods=["GET"]),
                ]
            )
            app.add_middleware(StarletteCache, store=self.store, rules=RULES)
            self.client = ASGIClient(app, store=self.store)
        else:
            self.store = routecache.RedisStore(url, **options)

            def wsgi_page(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
                path = environ["PATH_INFO"]
                self.calls[environ["REQUEST_METHOD"]] += 1
                self.calls[path] += 1
                body = f"{path} #{self.calls[path]}".encode()
                start_response(
                    "200 OK",
                    [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                )
                return [body]

            self.client = WSGIClient(WSGICache(wsgi_page, store=self.store, rules=RULES))

    def get(self, path: str = "/page") -> Resp:
        resp = self.client.request("GET", path)
        assert resp.status == 200, (resp, self.client.errors)
        # Never another path's entry (a reply read off the wrong request).
        assert resp.body.startswith(f"{path} #".encode()), (path, resp.body)
        return resp

    def refused(self) -> int:
        """Calls the breaker refused without touching the network."""
        return int(self.store.faults.counts["refused"])

    def close(self) -> None:
        self.client.close()
        if self.kind == "wsgi":
            self.store.close()


@pytest.fixture(params=["asgi", "wsgi"])
def make_driver(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> Iterator[Callable[..., Driver]]:
    """``make_driver(cooldown=...)`` on a fresh private server; restarted afterwards."""
    redis_server.start()
    redis_server.flush()
    drivers: list[Driver] = []

    def make(*, cooldown: float) -> Driver:
        driver = Driver(str(request.param), redis_server.url, cooldown=cooldown)
        drivers.append(driver)
        return driver

    try:
        yield make
    finally:
        for driver in drivers:
            driver.close()
        # Leave the session's server as the other tests expect it.
        redis_server.start()


def warm(driver: Driver, path: str = "/page") -> None:
    assert driver.get(path).cache_status == "routecache; fwd=uri-miss; stored"
    assert driver.get(path).hit


def test_redis_killed_mid_run_the_app_answers_and_hits_resume(
    make_driver: Callable[..., Driver], redis_server: RedisServer
) -> None:
    driver = make_driver(cooldown=0.5)
    warm(driver)
    assert driver.calls["GET"] == 1

    redis_server.kill()
    for n in range(2, 12):
        resp = driver.get()
        assert resp.cache_status == UNAVAILABLE
        assert resp.body == f"/page #{n}".encode()
    assert driver.calls["GET"] == 11
    # A write still succeeds; its invalidation fault is swallowed.
    post = driver.client.request("POST", "/page", body=b"x")
    assert (post.status, post.cache_status) == (200, "routecache; fwd=method")
    assert driver.client.errors == []
    # The breaker opened: most of those requests never touched the network.
    assert driver.refused() >= 5
    assert driver.store.faults.counts["total"] >= THRESHOLD

    redis_server.start()  # same port, empty (no persistence)
    time.sleep(0.5)  # the breaker's cooldown

    def hit_again() -> bool:
        return driver.get().hit

    # The first trials refill the entry (a miss); then hits resume.
    assert wait_until(hit_again, timeout=5.0), "no hits after Redis came back"
    assert driver.get().hit
    assert driver.client.errors == []


def test_a_stalled_redis_is_a_bounded_bypass_and_the_breaker_stops_waiting(
    make_driver: Callable[..., Driver],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A long cooldown: the burst below must not pay for half-open trials.
    driver = make_driver(cooldown=30.0)
    warm(driver)
    # CLIENT PAUSE stalls every client (CLIENT UNPAUSE included) for 1.5 s.
    assert redis_command(redis_server.port, "CLIENT", "PAUSE", "1500", "ALL") == "OK"
    try:
        caplog.set_level(logging.WARNING, logger="routecache")
        started = time.monotonic()
        first = driver.get()
        first_took = time.monotonic() - started
        assert first.cache_status == UNAVAILABLE
        # Bounded by the store's timeout, not by the stall.
        assert first_took < 1.0, first_took
        for _ in range(THRESHOLD):
            assert driver.get().cache_status == UNAVAILABLE
        burst_started = time.monotonic()
        for _ in range(20):
            assert driver.get().cache_status == UNAVAILABLE
        burst = time.monotonic() - burst_started
        # Without the breaker each request would wait TIMEOUT (20 x 0.2 s = 4 s).
        assert burst < 20 * TIMEOUT / 2, f"20 requests took {burst:.2f}s"
        assert driver.refused() >= 20
        assert driver.calls["GET"] == 1 + 1 + THRESHOLD + 20
        assert driver.client.errors == []
        # Counted every time, logged once (not 24 tracebacks).
        faults = [r for r in caplog.records if r.name.startswith("routecache")]
        assert 1 <= len(faults) <= 2, [r.getMessage() for r in faults]
    finally:
        # Answered once the stall is over.
        assert redis_command(redis_server.port, "PING", timeout=5.0) == "PONG"


def test_a_slow_call_times_out_into_a_bypass_then_hits_resume(
    make_driver: Callable[..., Driver], redis_server: RedisServer
) -> None:
    driver = make_driver(cooldown=0.3)
    warm(driver, "/page")
    warm(driver, "/other")
    # One short stall (under the breaker's threshold): that request bypasses.
    assert redis_command(redis_server.port, "CLIENT", "PAUSE", "600", "ALL") == "OK"
    started = time.monotonic()
    slow = driver.get("/page")
    assert time.monotonic() - started < 0.6
    assert slow.cache_status == UNAVAILABLE
    assert slow.body == b"/page #2"
    assert redis_command(redis_server.port, "PING", timeout=5.0) == "PONG"  # stall over
    # The timed-out call's late reply is not read as the answer to a later call.
    for path in ("/other", "/page", "/other", "/page"):
        resp = driver.get(path)
        assert resp.hit, (path, resp.cache_status)
        assert resp.body == f"{path} #1".encode()
    assert driver.client.errors == []


def test_a_full_redis_still_serves_from_the_app(
    make_driver: Callable[..., Driver], redis_server: RedisServer
) -> None:
    driver = make_driver(cooldown=30.0)
    port = redis_server.port
    assert redis_command(port, "CONFIG", "SET", "maxmemory-policy", "noeviction") == "OK"
    assert redis_command(port, "CONFIG", "SET", "maxmemory", "1") == "OK"
    try:
        for n in range(1, 4):
            resp = driver.get()
            assert resp.body == f"/page #{n}".encode()
            assert not resp.hit
        assert driver.calls["GET"] == 3
        assert driver.client.errors == []
        assert driver.store.faults.counts["total"] >= 1
    finally:
        redis_command(port, "CONFIG", "SET", "maxmemory", "0")
