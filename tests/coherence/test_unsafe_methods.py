"""Unsafe methods always invalidate on success, whatever ``Upgrade`` or ``Accept`` say.

``PUT`` with ``Upgrade: h2c`` (sent by ``curl --http2`` and Java's HttpClient over
cleartext) or ``Accept: text/event-stream`` used to be passed through untouched, so a
successful write invalidated nothing. The pass-through is for safe methods only
(websockets, event streams). One case per driver, on a real private Redis.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable

import pytest

import routecache
from routecache import Rule
from tests._redis_servers import LOOPBACK, RedisServer
from tests.coherence._drivers import DRIVERS
from tests.coherence._servers import serve
from tests.conformance.harness import Client, Origin, Reply, Seen, wait_until

RULES = [Rule("/items/{id}", ttl=300)]
EVENTS = [b"data: saved\n\n", b"data: done\n\n"]


class Item:
    """``/items/1``: GET shows the version, an unsafe request bumps it."""

    def __init__(self) -> None:
        self.version = 1

    def __call__(self, seen: Seen) -> Reply:
        if seen.method in ("GET", "HEAD"):
            return Reply(200, [], f"item v{self.version}".encode())
        self.version += 1
        if "text/event-stream" in seen.headers.get("accept", ""):
            return Reply(200, [("content-type", "text/event-stream")], list(EVENTS))
        return Reply(200, [], b"saved")


def _warm(client: Client, body: bytes) -> None:
    first = client.request("GET", "/items/1")
    assert (first.body, first.cache_status) == (body, "routecache; fwd=uri-miss; stored")
    again = client.request("GET", "/items/1")
    assert again.hit
    assert again.body == body


@pytest.mark.parametrize("kind", DRIVERS)
@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("PUT", {"upgrade": "h2c", "connection": "Upgrade, HTTP2-Settings"}),
        ("POST", {"upgrade": "websocket"}),
        ("PATCH", {"accept": "text/event-stream"}),
        ("DELETE", {"accept": "application/json, text/event-stream"}),
    ],
)
def test_an_unsafe_request_invalidates_whatever_upgrade_or_accept_say(
    make_driver: Callable[..., Client],
    origin: Origin,
    redis_store: routecache.RedisStore,
    kind: str,
    method: str,
    headers: dict[str, str],
) -> None:
    item = Item()
    origin.on("/items/1", item)
    client = make_driver(kind, store=redis_store, rules=RULES)
    _warm(client, b"item v1")

    write = client.request(method, "/items/1", headers, b"{}")
    assert write.status == 200
    assert write.cache_status == "routecache; fwd=method"
    if "text/event-stream" in headers.get("accept", ""):
        assert write.body == b"".join(EVENTS)  # the event stream itself went through

    after = client.request("GET", "/items/1")
    assert (after.body, after.cache_status) == (b"item v2", "routecache; fwd=uri-miss; stored")
    assert origin.count("/items/1") == 3  # GET, the write, the GET after it
    assert client.request("GET", "/items/1").hit


@pytest.mark.parametrize("kind", DRIVERS)
def test_safe_upgrades_and_event_streams_still_pass_through(
    make_driver: Callable[..., Client],
    origin: Origin,
    redis_store: routecache.RedisStore,
    kind: str,
) -> None:
    origin.on("/items/1", Item())
    client = make_driver(kind, store=redis_store, rules=RULES)
    for headers in ({"upgrade": "h2c"}, {"accept": "text/event-stream"}):
        for _ in range(2):
            resp = client.request("GET", "/items/1", headers)
            assert resp.status == 200
            assert resp.cache_status == ""  # untouched: no Cache-Status, nothing stored
    assert origin.count("/items/1") == 4
    assert client.request("GET", "/items/1").cache_status == "routecache; fwd=uri-miss; stored"


def _send(port: int, method: str, headers: dict[str, str] | None = None) -> tuple[str, bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10.0)
    try:
        body = b"{}" if method == "PUT" else None
        conn.request(method, "/k/a", body=body, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        content = response.read()
        assert response.status == 200, (response.status, content)
        return response.getheader("cache-status") or "", content
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["starlette", "flask"])
def test_a_put_with_upgrade_h2c_through_a_real_server_invalidates(
    kind: str, redis_clean_url: str, redis_server: RedisServer
) -> None:
    # What `curl --http2` sends over cleartext; uvicorn and gunicorn answer in HTTP/1.1.
    h2c = {
        "Upgrade": "h2c",
        "Connection": "Upgrade, HTTP2-Settings",
        "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA",
    }
    with serve(kind, redis_server) as server:
        assert _send(server.port, "GET") == ("routecache; fwd=uri-miss; stored", b"a v0")
        # The entry is written after the response went out (write-behind): a GET on the
        # other worker may still collapse onto that store; wait until it is a hit.
        assert wait_until(lambda: _send(server.port, "GET")[0].startswith("routecache; hit"))
        assert _send(server.port, "GET")[1] == b"a v0"
        assert _send(server.port, "PUT", h2c) == ("routecache; fwd=method", b"a v1")
        assert _send(server.port, "GET") == ("routecache; fwd=uri-miss; stored", b"a v1")
