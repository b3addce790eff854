"""``examples/proxy_app.py``: routecache as a caching reverse proxy for any HTTP origin.

A real upstream (``http.server`` in a thread, on a free loopback port) counts what
reaches it. The proxy runs in-process through the conformance harness's ASGI client
(on the memory store and on a private Redis), and once under uvicorn, as users run it.
"""

from __future__ import annotations

import gzip
import importlib.util
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import routecache
from tests._redis_servers import ServerProcess, free_port
from tests.conformance.harness import ASGIClient
from tests.conformance.helpers import FROM_CACHE
from tests.conformance.rfc_helpers import ours

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "proxy_app.py"
ETAG = '"v1"'
GZIPPED = gzip.compress(b"compressed " * 100)


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("routecache_example_proxy_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Upstream:
    """A tiny HTTP/1.1 origin on a free loopback port; ``hits`` counts requests by
    ``(method, path, status)`` and ``seen`` keeps each request's headers."""

    def __init__(self) -> None:
        self.hits: Counter[tuple[str, str, int]] = Counter()
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                upstream.handle(self)

            def do_HEAD(self) -> None:
                upstream.handle(self)

            def do_POST(self) -> None:
                upstream.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, path: str, status: int | None = None, method: str = "GET") -> int:
        """How many ``method`` requests for ``path`` were answered (with ``status``)."""
        with self.lock:
            return sum(
                n
                for (m, p, s), n in self.hits.items()
                if m == method and p == path and status in (None, s)
            )

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?")[0]
        headers = {k.lower(): v for k, v in request.headers.items()}
        length = int(headers.get("content-length") or 0)
        if length:
            request.rfile.read(length)
        status, fields, body = self.answer(request.command, path, headers)
        with self.lock:
            self.hits[(request.command, path, status)] += 1
            self.seen.append((request.command, path, headers))
        request.send_response(status)
        for name, value in fields:
            request.send_header(name, value)
        if status != 304:
            request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD" and status != 304:
            request.wfile.write(body)

    def answer(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        text = [("Content-Type", "text/plain")]
        if method == "POST":
            return 204, [], b""
        if path == "/cached":
            return 200, [*text, ("Cache-Control", "max-age=60")], b"cached body"
        if path == "/aged":
            # Stale on arrival (100 s old, fresh for 1), kept for the stale window.
            return 200, [*text, ("Cache-Control", "max-age=1"), ("Age", "100")], b"aged body"
        if path == "/nostore":
            cookies = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
            return 200, [*text, ("Cache-Control", "no-store"), *cookies], b"fresh every time"
        if path == "/validated":
            validator = [("ETag", ETAG), ("Cache-Control", "no-cache")]
            if headers.get("if-none-match") == ETAG:
                return 304, validator, b""
            return 200, [*text, *validator], b"validated body"
        if path == "/hop":
            fields = [("Connection", "x-hop"), ("X-Hop", "1"), ("X-End", "2")]
            return 200, [*text, ("Cache-Control", "max-age=60"), *fields], b"hop"
        if path == "/gzip":
            if "gzip" not in headers.get("accept-encoding", ""):
                return 406, text, b"gzip only"
            fields = [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
            return 200, [*text, ("Cache-Control", "max-age=60"), *fields], GZIPPED
        return 404, [*text, ("Cache-Control", "max-age=60")], b"not found"

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def proxy(request: pytest.FixtureRequest, upstream: Upstream) -> Iterator[ASGIClient]:
    """The example proxy for ``upstream``, in-process, on each kind of store."""
    if request.param == "memory":
        store: Any = routecache.MemoryStore()
    else:
        store = routecache.RedisStore(request.getfixturevalue("redis_clean_url"), prefix="proxy")
    module = _load_example()
    app = module.build_app(upstream.url, store=store)
    client = ASGIClient(app, store=store)
    yield client
    client.run(app.state.http.aclose())
    client.close()
    if request.param == "redis":
        store.close()


def test_a_cacheable_response_is_served_from_the_cache(
    proxy: ASGIClient, upstream: Upstream
) -> None:
    first = proxy.request("GET", "/cached")
    assert (first.status, first.body) == (200, b"cached body")
    assert ours(first) == {"fwd": "uri-miss", "stored": True}
    for _ in range(3):
        again = proxy.request("GET", "/cached")
        assert (again.status, again.body) == (200, b"cached body")
        assert ours(again)["hit"] is True
        assert again.header("content-type") == "text/plain"
    assert upstream.count("/cached") == 1
    head = proxy.request("HEAD", "/cached")
    assert head.status == 200
    assert head.header("content-length") == str(len(b"cached body"))
    assert ours(head)["hit"] is True
    assert upstream.count("/cached") == 1


def test_no_store_is_never_cached_and_every_field_line_is_relayed(
    proxy: ASGIClient, upstream: Upstream
) -> None:
    for _ in range(3):
        resp = proxy.request("GET", "/nostore")
        assert (resp.status, resp.body) == (200, b"fresh every time")
        assert ours(resp) == {"fwd": "uri-miss", "detail": "no-store"}
        assert resp.all("set-cookie") == ["a=1", "b=2"]
    assert upstream.count("/nostore") == 3


def test_validation_round_trip_with_the_upstream(proxy: ASGIClient, upstream: Upstream) -> None:
    first = proxy.request("GET", "/validated")
    assert (first.status, first.body, first.header("etag")) == (200, b"validated body", ETAG)
    assert ours(first) == {"fwd": "uri-miss", "stored": True}
    for n in (1, 2):
        resp = proxy.request("GET", "/validated")
        # The upstream was asked with the entry's ETag and answered 304 (no body)...
        assert upstream.seen[-1][2].get("if-none-match") == ETAG
        assert upstream.count("/validated", 304) == n
        # ...and the client got the cached body.
        assert (resp.status, resp.body) == (200, b"validated body")
        status = ours(resp)
        assert (status["fwd"], status["fwd-status"]) == ("stale", 304)
    # The client's own conditional request is answered 304 after the validation.
    mine = proxy.request("GET", "/validated", {"if-none-match": ETAG})
    assert (mine.status, mine.body) == (304, b"")
    assert upstream.count("/validated", 200) == 1


def test_hop_by_hop_fields_are_not_relayed(proxy: ASGIClient, upstream: Upstream) -> None:
    for _ in range(2):
        resp = proxy.request("GET", "/hop")
        assert resp.header("x-end") == "2"
        assert resp.header("x-hop") is None
        assert resp.header("connection") is None
    assert upstream.count("/hop") == 1
    sent = upstream.seen[-1][2]
    assert sent.get("x-forwarded-for") == "127.0.0.1"
    assert sent.get("x-forwarded-host") == "testserver"


def test_encoded_bodies_are_relayed_and_cached_as_they_are(
    proxy: ASGIClient, upstream: Upstream
) -> None:
    plain = proxy.request("GET", "/gzip")
    assert plain.status == 406  # the client asked for nothing: the upstream saw identity
    for _ in range(2):
        resp = proxy.request("GET", "/gzip", {"accept-encoding": "gzip"})
        assert resp.header("content-encoding") == "gzip"
        assert resp.body == GZIPPED
    assert upstream.count("/gzip", 200) == 1


def test_unsafe_requests_are_forwarded_and_invalidate(
    proxy: ASGIClient, upstream: Upstream
) -> None:
    proxy.request("GET", "/cached")
    assert ours(proxy.request("GET", "/cached"))["hit"] is True
    posted = proxy.request("POST", "/cached", {"content-type": "text/plain"}, b"change")
    assert posted.status == 204
    assert upstream.count("/cached", method="POST") == 1
    assert ours(proxy.request("GET", "/cached"))["fwd"] == "uri-miss"
    assert upstream.count("/cached") == 2


def test_an_unreachable_upstream_is_a_bad_gateway() -> None:
    module = _load_example()
    app = module.build_app(f"http://127.0.0.1:{free_port()}", store=routecache.MemoryStore())
    client = ASGIClient(app)
    try:
        resp = client.request("GET", "/anything")
        assert resp.status == 502
        assert ours(resp)["fwd"] == "uri-miss"
    finally:
        client.run(app.state.http.aclose())
        client.close()


def test_a_stale_copy_stands_in_for_an_upstream_that_went_away(upstream: Upstream) -> None:
    # Two proxies on one store, like two processes: the second one's upstream is gone.
    module = _load_example()
    store = routecache.MemoryStore()
    alive = module.build_app(upstream.url, store=store)
    dead = module.build_app(f"http://127.0.0.1:{free_port()}", store=store)
    clients = [ASGIClient(alive, store=store), ASGIClient(dead, store=store)]
    try:
        first = clients[0].request("GET", "/aged")
        assert ours(first).get("stored") is True
        resp = clients[1].request("GET", "/aged")
        assert (resp.status, resp.body) == (200, b"aged body")
        status = ours(resp)
        assert (status["fwd"], status["fwd-status"], status["detail"]) == (
            "stale",
            502,
            "stale-if-error",
        )
        assert upstream.count("/aged") == 1
    finally:
        for client, app in zip(clients, (alive, dead), strict=True):
            client.run(app.state.http.aclose())
            client.close()


def test_the_example_under_uvicorn(upstream: Upstream) -> None:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(ROOT / "examples"),
        "proxy_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = {"UPSTREAM": upstream.url, "REDIS_URL": ""}
    with ServerProcess(argv, port, env=env, cwd=ROOT) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            first = http.get("/cached")
            second = http.get("/cached")
        # One client each: it sets cookies, and a request with a cookie bypasses.
        nostore = [httpx.get(server.base_url + "/nostore", timeout=10) for _ in range(2)]
    assert first.text == second.text == "cached body"
    assert first.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
    # Write-behind: the entry is stored after the response went out, so a request sent
    # at once may find the fetch still landing and share it ("collapsed").
    assert FROM_CACHE.match(second.headers["cache-status"]), second.headers["cache-status"]
    assert upstream.count("/cached") == 1
    assert [r.headers["cache-status"] for r in nostore] == [
        "routecache; fwd=uri-miss; detail=no-store"
    ] * 2
    assert upstream.count("/nostore") == 2
