"""Conformance: the per-rule cache patterns beyond cache-aside.

Stampede protection (concurrent misses of one key run the view once), stale serving
(``stale_while_revalidate``, ``stale_if_error``) and ``refresh_ahead``. The time-based
ones share one short sleep to keep the suite fast.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Resp, Seen, wait_until


def test_concurrent_misses_run_the_view_once(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    def slow(seen: Seen) -> Reply:
        return Reply(200, [], f"computed once ({origin.count('/report')})".encode(), delay=0.3)

    origin.on("/report", slow)
    client = make_client(rules=[Rule("/report", ttl=60)])
    start = threading.Barrier(8)

    def fetch(_: int) -> Resp:
        start.wait()
        return client.request("GET", "/report")

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(fetch, range(8)))
    assert origin.count("/report") == 1
    assert {r.body for r in responses} == {b"computed once (1)"}
    assert all(r.status == 200 for r in responses)
    statuses = sorted(r.cache_status for r in responses)
    assert statuses.count("routecache; fwd=uri-miss; stored") == 1, statuses
    assert statuses.count("routecache; fwd=uri-miss; collapsed") == 7, statuses


def test_stale_serving_and_refresh_ahead(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    versions: dict[str, int] = {}
    failing: set[str] = set()

    def view(seen: Seen) -> Reply:
        if seen.path in failing:
            return Reply(error=True)
        versions[seen.path] = versions.get(seen.path, 0) + 1
        return Reply(200, [], f"{seen.path} v{versions[seen.path]}".encode())

    for path in ("/swr", "/sie", "/ahead", "/plain"):
        origin.on(path, view)
    client = make_client(
        rules=[
            Rule("/swr", ttl=0.4, stale_while_revalidate=30),
            Rule("/sie", ttl=0.4, stale_if_error=30),
            Rule("/ahead", ttl=1.5, refresh_ahead=0.3),
            Rule("/plain", ttl=0.4),
        ]
    )
    for path in ("/swr", "/sie", "/ahead", "/plain"):
        client.request("GET", path)
        assert client.request("GET", path).hit
    time.sleep(0.5)

    # stale-while-revalidate: the stale entry answers at once, one refresh follows.
    stale = client.request("GET", "/swr")
    assert stale.body == b"/swr v1"
    assert re.fullmatch(
        r"routecache; hit; ttl=-?\d+; detail=stale-while-revalidate", stale.cache_status
    ), stale.cache_status
    assert wait_until(lambda: origin.count("/swr") == 2)
    refreshed = client.request("GET", "/swr")
    assert refreshed.hit
    assert refreshed.body == b"/swr v2"

    # stale-if-error: the origin fails, the stale entry answers instead of an error.
    failing.add("/sie")
    rescued = client.request("GET", "/sie")
    assert (rescued.status, rescued.body) == (200, b"/sie v1")
    assert re.fullmatch(
        r"routecache; fwd=stale(; fwd-status=500)?; detail=stale-if-error", rescued.cache_status
    ), rescued.cache_status
    failing.discard("/sie")
    recovered = client.request("GET", "/sie")
    assert recovered.body == b"/sie v2"

    # Without a stale window an expired entry is simply gone; a failure is a failure.
    failing.add("/plain")
    assert client.request("GET", "/plain").status == 500

    # refresh-ahead: a hit late in its TTL is served and refreshed in the background.
    late = client.request("GET", "/ahead")
    assert late.body == b"/ahead v1"
    assert late.hit
    assert "detail=refresh-ahead" in late.cache_status
    assert wait_until(lambda: origin.count("/ahead") == 2)
    ahead = client.request("GET", "/ahead")
    assert ahead.hit
    assert ahead.body == b"/ahead v2"
    assert "refresh-ahead" not in ahead.cache_status
