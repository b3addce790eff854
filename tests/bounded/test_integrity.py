"""A stored entry whose bytes changed is a miss, never served; replay never breaks HTTP.

Through a real uvicorn server and a private redis-server: the entry routecache wrote is
changed in Redis (a same-length body change that keeps the old checksum; a header
with CR/LF whose checksum was made to match, as a writer of Redis could do), then
requested again. The view runs, the client gets a clean response on a connection that
stays open, the fault is counted, and the entry is overwritten by a good one.
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
import redis
import xxhash
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import routecache
from routecache import Rule
from routecache.adapters.starlette import CacheMiddleware
from routecache.middleware.entry import decode_entry
from tests.bounded._support import RawClient, uvicorn_thread
from tests.conformance.harness import wait_until

_prefixes = itertools.count()


class Site:
    """A Starlette app cached in the private Redis, served by uvicorn."""

    def __init__(self, url: str) -> None:
        self.calls: Counter[str] = Counter()
        self.prefix = f"integrity{next(_prefixes)}"
        self.redis = redis.Redis.from_url(url)
        self.store = routecache.AsyncRedisStore(url, prefix=self.prefix)

        async def page(request: Request) -> Response:
            self.calls["page"] += 1
            return PlainTextResponse(f"page #{self.calls['page']}")

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            await self.store.close()  # its connections belong to the server's loop

        app = Starlette(routes=[Route("/page", page)], lifespan=lifespan)
        app.add_middleware(CacheMiddleware, store=self.store, rules=[Rule("/page", ttl=60)])
        self.app = app

    def entry_key(self) -> bytes | None:
        """The one entry key under the prefix (the others are indexes and locks)."""
        keys = [
            k
            for k in self.redis.scan_iter(match=f"{self.prefix}:{{*")
            if self.redis.type(k) == b"string" and (self.redis.get(k) or b"").startswith(b"RCE")
        ]
        assert len(keys) <= 1, keys
        return keys[0] if keys else None

    def stored_body(self) -> bytes | None:
        key = self.entry_key()
        entry = None if key is None else decode_entry(self.redis.get(key))
        return None if entry is None else entry.body


@pytest.fixture
def site(redis_clean_url: str) -> Iterator[Site]:
    made = Site(redis_clean_url)
    yield made
    made.redis.close()


def _reseal(data: bytes) -> bytes:
    """What a writer of Redis could do: make the checksum match changed bytes."""
    head = data[:-8]
    return head + struct.pack(">Q", xxhash.xxh3_64_intdigest(head))


def _served_then_hit(site: Site, client: RawClient) -> None:
    first = client.get("/page")
    assert first.body == b"page #1"
    assert wait_until(lambda: site.stored_body() == b"page #1")
    hit = client.get("/page")  # decoded once: the in-process memo knows this write
    assert hit.body == b"page #1"
    assert "; hit" in (hit.header("cache-status") or "")
    assert site.calls["page"] == 1


def test_a_same_length_body_change_is_a_miss_and_is_overwritten(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "routecache")
    with uvicorn_thread(site.app) as port:
        client = RawClient(port)
        try:
            _served_then_hit(site, client)
            key = site.entry_key()
            assert key is not None
            data = site.redis.get(key)
            assert data is not None
            tampered = data.replace(b"page #1", b"EVIL #1")
            assert len(tampered) == len(data)
            assert tampered != data
            site.redis.set(key, tampered, keepttl=True)

            resp = client.get("/page")
            assert resp.status == 200
            assert resp.body == b"page #2"  # the view ran; the changed bytes never went out
            assert "fwd=uri-miss" in (resp.header("cache-status") or "")
            assert site.calls["page"] == 2
            assert wait_until(lambda: site.stored_body() == b"page #2")  # overwritten

            again = client.get("/page")
            assert again.body == b"page #2"
            assert "; hit" in (again.header("cache-status") or "")
            assert site.calls["page"] == 2
        finally:
            client.close()
    corrupt = [r for r in caplog.records if "decoding the entry" in r.getMessage()]
    assert len(corrupt) == 1  # counted, logged once


@pytest.mark.parametrize(
    "injected",
    [
        b"text/plain\r\nx-injected: 1",
        b"text/plain\nx-injected: 1x",
        b"text/plain\x00x-injected: 1",
        b"text/plain\x7fx-injected: 1",
    ],
)
def test_a_stored_header_with_cr_lf_is_a_miss_on_a_connection_that_stays_open(
    site: Site, injected: bytes
) -> None:
    with uvicorn_thread(site.app) as port:
        client = RawClient(port)
        try:
            _served_then_hit(site, client)
            key = site.entry_key()
            assert key is not None
            data = site.redis.get(key)
            assert data is not None
            original = b"text/plain; charset=utf-8"
            assert original in data
            forged = _reseal(data.replace(original, injected.ljust(len(original), b"x")))
            site.redis.set(key, forged, keepttl=True)

            resp = client.get("/page")  # raises ConnectionError if the connection broke
            assert resp.status == 200
            assert resp.body == b"page #2"
            assert resp.all("x-injected") == []
            assert resp.all("content-type") == ["text/plain; charset=utf-8"]
            assert site.calls["page"] == 2
            assert wait_until(lambda: site.stored_body() == b"page #2")
            assert client.get("/page").body == b"page #2"  # the same connection, a hit
            assert site.calls["page"] == 2
        finally:
            client.close()
