"""Raw ASGI callables: the reference for a hit and the physical limit.

- ``make_redis``: one ``redis.asyncio`` GET (redis-py, hiredis parser when installed) and
  the bytes go out. This is the reference every ASGI row is compared with.
- ``make_hiredis_mux``: the same GET sent over ONE connection shared by all concurrent
  requests, written in batches (one write per event-loop turn) and parsed with
  ``hiredis.Reader``; replies resolve futures in FIFO order. No client library layer: the
  physical limit of "one Redis round trip, then the bytes".

On a miss both do cache-aside by hand (view, then SET with the TTL), so they also serve as
the reference for the miss phase. They have no stampede protection.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from benchmarks.apps import common

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PREFIX = b"raw:"
_HEADERS_CT = (b"content-type", common.CONTENT_TYPE.encode())


def _parse(scope: Scope) -> tuple[int, str] | None:
    path: str = scope["path"]
    if not path.startswith("/items/"):
        return None
    try:
        item_id = int(path[7:])
    except ValueError:
        return None
    fields = parse_qs(scope["query_string"].decode("latin-1")).get("fields", [""])[0]
    return item_id, fields


async def _lifespan(receive: Receive, send: Send, startup: Callable[[], Awaitable[None]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_HEADERS_CT, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _nothing() -> None:
    return None


def make_redis() -> ASGIApp:
    """Raw ASGI + one ``redis.asyncio`` GET per hit."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(common.REDIS_URL)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, _nothing)
            return
        parsed = _parse(scope)
        if parsed is None:
            await _respond(send, 404, b"not found")
            return
        key = _PREFIX + scope["raw_path"] + b"?" + scope["query_string"]
        body: bytes | None = await client.get(key)  # type: ignore[assignment]
        if body is None:
            body = await common.slow_view_async(*parsed)
            await client.set(key, body, ex=common.TTL)
        await _respond(send, 200, body)

    return app


class _Mux(asyncio.Protocol):
    """One Redis connection, pipelined: commands from concurrent requests share writes."""

    def __init__(self) -> None:
        import hiredis

        self._reader = hiredis.Reader()
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"redis connection lost: {exc!r}")
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(error)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            reply = self._reader.gets()
            if reply is False:
                return
            fut = self._waiters.popleft()
            if fut.done():
                continue
            if isinstance(reply, Exception):
                fut.set_exception(reply)
            else:
                fut.set_result(reply)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is None:
            return
        out, self._out = self._out, []
        self._transport.write(b"".join(out))

    def command(self, *args: bytes) -> asyncio.Future[Any]:
        if self._transport is None:
            raise ConnectionError("redis connection is closed")
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self._out.append(b"".join(parts))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        fut = self._loop.create_future()
        self._waiters.append(fut)
        return fut


def make_hiredis_mux() -> ASGIApp:
    """Raw ASGI + GET over one multiplexed connection parsed by ``hiredis.Reader``."""
    import hiredis  # noqa: F401  (fail at import time when hiredis is missing)

    url = urlsplit(common.REDIS_URL)
    host = url.hostname or "127.0.0.1"
    port = url.port or 6379
    db = (url.path or "/0").lstrip("/") or "0"
    state: dict[str, _Mux] = {}
    ttl = str(common.TTL).encode()

    async def startup() -> None:
        loop = asyncio.get_running_loop()
        _, mux = await loop.create_connection(_Mux, host, port)
        await mux.command(b"SELECT", db.encode())
        state["mux"] = mux

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, startup)
            return
        parsed = _parse(scope)
        if parsed is None:
            await _respond(send, 404, b"not found")
            return
        mux = state["mux"]
        key = _PREFIX + scope["raw_path"] + b"?" + scope["query_string"]
        body = await mux.command(b"GET", key)
        if body is None:
            body = await common.slow_view_async(*parsed)
            await mux.command(b"SET", key, body, b"EX", ttl)
        await _respond(send, 200, body)

    return app


def make_bare() -> ASGIApp:
    """Raw ASGI returning the prebuilt body, no Redis: uvicorn's own ceiling."""
    body = common.PREBUILT_BODY
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [_HEADERS_CT, (b"content-length", str(len(body)).encode())],
    }
    message = {"type": "http.response.body", "body": body}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, _nothing)
            return
        await send(start)
        await send(message)

    return app
