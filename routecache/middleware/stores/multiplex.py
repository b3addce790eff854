"""The hit path's read over one multiplexed connection (asyncio + ``hiredis.Reader``).

A cache hit costs one Redis round trip (``MGET`` of the entry and the generations that
fence it; ``GET`` is offered too). Through redis-py's asyncio client each command
checks a connection out of the pool and back in, under locks, with per-command
bookkeeping; measured on the benchmark, that client layer costs more than the round
trip itself. Here every concurrent request's ``GET`` is written on ONE connection
(coalesced into one write per event-loop turn) and the replies, parsed by
``hiredis.Reader``, resolve the waiting futures in order. Only the hit's read goes this way:
everything else (stores, locks, invalidation, pub/sub) stays on redis-py.

It is used only where it is exactly equivalent: a plain ``redis.asyncio.Redis`` on TCP
or a Unix socket, RESP2, with optional ``AUTH`` and ``SELECT``, and ``hiredis``
installed. TLS, Sentinel, Cluster, RESP3 or a custom connection class keep the
redis-py path for GETs too (:func:`async_multiplexer` returns ``None``).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import redis.exceptions

__all__ = ["MultiplexedGet", "async_multiplexer", "sync_multiplexer"]

hiredis: Any
try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis is an optional extra
    hiredis = None


class _Protocol(asyncio.Protocol):
    """Feeds replies to hiredis and resolves waiters in FIFO order.

    Replies come back in order, so one timer watching the oldest waiter enforces the
    per-call timeout for all of them: when the oldest is overdue, the connection is
    stuck, every waiter fails with ``TimeoutError`` and the connection is dropped. That
    costs a clock read per GET instead of a timeout context per GET.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.reader = hiredis.Reader()
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.deadlines: collections.deque[float] = collections.deque()
        self.watchdog: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None
        self.out: list[bytes] = []
        self.flush_scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(ConnectionError(f"Redis connection lost: {exc!r}"))

    def _fail(self, error: Exception) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        self.deadlines.clear()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def _check(self) -> None:
        self.watchdog = None
        if not self.deadlines:
            return
        oldest = self.deadlines[0]
        if oldest <= self.loop.time():
            self._fail(TimeoutError(f"Redis did not answer within {self.timeout:g} s"))
            if self.transport is not None:
                self.transport.close()
            return
        self.watchdog = self.loop.call_at(oldest, self._check)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiters = self.waiters
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if not waiters:  # a reply nobody asked for: the stream is out of step
                if self.transport is not None:
                    self.transport.close()
                return
            waiter = waiters.popleft()
            self.deadlines.popleft()
            if waiter.done():  # its caller went away; the reply is dropped in order
                continue
            if isinstance(reply, Exception):
                # Same exception type as redis-py's, so the store's guard counts it.
                waiter.set_exception(redis.exceptions.ResponseError(str(reply)))
            else:
                waiter.set_result(reply)

    def _flush(self) -> None:
        self.flush_scheduled = False
        out, self.out = self.out, []
        if self.transport is not None and out:
            self.transport.write(b"".join(out))

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("Redis connection is closed")
        self.out.append(command)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)
        waiter = self.loop.create_future()
        self.waiters.append(waiter)
        deadline = self.loop.time() + self.timeout
        self.deadlines.append(deadline)
        if self.watchdog is None:
            self.watchdog = self.loop.call_at(deadline, self._check)
        return waiter


async def _closed(protocol: _Protocol) -> None:
    """Close the transport and let the loop finish closing its socket."""
    if protocol.transport is not None:
        protocol.transport.close()
    await asyncio.sleep(0)


def encode_command(*args: str) -> bytes:
    """A command in RESP, ready for :meth:`MultiplexedGet.send`."""
    return _command(*(arg.encode("utf-8", "surrogateescape") for arg in args))


def _command(*args: bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class MultiplexedGet:
    """``GET`` for asyncio code over one pipelined connection, per event loop."""

    def __init__(
        self,
        *,
        host: str | None,
        port: int,
        path: str | None,
        db: int,
        username: str | None,
        password: str | None,
        connect_timeout: float | None,
        timeout: float = 0.25,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.db = db
        self.username = username
        self.password = password
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        def factory() -> _Protocol:
            return _Protocol(loop, self.timeout)

        if self.path is not None:
            opening = loop.create_unix_connection(factory, self.path)
        else:
            opening = loop.create_connection(factory, self.host or "localhost", self.port)
        _, protocol = await asyncio.wait_for(opening, self.connect_timeout)
        handshake = []
        if self.password is not None:
            if self.username:
                handshake.append(
                    protocol.send(_command(b"AUTH", self.username.encode(), self.password.encode()))
                )
            else:
                handshake.append(protocol.send(_command(b"AUTH", self.password.encode())))
        if self.db:
            handshake.append(protocol.send(_command(b"SELECT", str(self.db).encode())))
        try:
            for reply in handshake:
                await asyncio.wait_for(reply, self.connect_timeout)
        except redis.exceptions.ResponseError as exc:
            await _closed(protocol)
            raise redis.exceptions.ConnectionError(f"Redis refused the handshake: {exc}") from None
        except BaseException:
            await _closed(protocol)
            raise
        return protocol

    async def _ready(self) -> _Protocol:
        protocol = self._protocol
        loop = asyncio.get_running_loop()
        if (
            protocol is not None
            and protocol.transport is not None
            and not protocol.transport.is_closing()
            and protocol.loop is loop
        ):
            return protocol
        # An asyncio.Lock binds to a loop only once contended (``_loop`` is None until
        # then): replace it only when it belongs to another loop, or concurrent first
        # GETs would each get a lock of their own and each open a connection.
        if self._connecting is None or getattr(self._connecting, "_loop", None) not in (None, loop):
            self._connecting = asyncio.Lock()
        async with self._connecting:
            protocol = self._protocol
            if (
                protocol is None
                or protocol.transport is None
                or protocol.transport.is_closing()
                or protocol.loop is not loop
            ):
                protocol = self._protocol = await self._connect(loop)
            return protocol

    async def get(self, key: str) -> bytes | None:
        """The value of ``key`` (``None`` when absent)."""
        protocol = self._protocol
        if (
            protocol is None
            or protocol.transport is None
            or protocol.loop is not asyncio.get_running_loop()
        ):
            protocol = await self._ready()
        raw = key.encode("utf-8", "surrogateescape")
        reply: bytes | None = await protocol.send(
            b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(raw), raw)
        )
        return reply

    async def send(self, command: bytes) -> Any:
        """Send one encoded command (see :func:`encode_command`); its reply."""
        protocol = self._protocol
        if (
            protocol is None
            or protocol.transport is None
            or protocol.loop is not asyncio.get_running_loop()
        ):
            protocol = await self._ready()
        return await protocol.send(command)

    async def send_many(self, commands: tuple[bytes, ...]) -> list[Any]:
        """Send encoded commands in one write; their replies, in order."""
        protocol = self._protocol
        if (
            protocol is None
            or protocol.transport is None
            or protocol.loop is not asyncio.get_running_loop()
        ):
            protocol = await self._ready()
        waiters = [protocol.send(command) for command in commands]
        return [await waiter for waiter in waiters]

    async def close(self) -> None:
        """Close the connection."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            await _closed(protocol)


def async_multiplexer(client: Any, timeout: float = 0.25) -> MultiplexedGet | None:
    """A multiplexed GET equivalent to ``client``'s, or ``None`` when not exactly
    equivalent (see the module docstring)."""
    import redis.asyncio
    import redis.asyncio.connection

    if hiredis is None or type(client) is not redis.asyncio.Redis:
        return None
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    connection_class = pool.connection_class
    if kwargs.get("protocol") not in (None, 2, "2") or kwargs.get("credential_provider"):
        return None
    if connection_class is redis.asyncio.connection.Connection:
        path = None
    elif connection_class is redis.asyncio.connection.UnixDomainSocketConnection:
        path = kwargs.get("path")
    else:  # TLS, Sentinel and custom connection classes keep redis-py
        return None
    return MultiplexedGet(
        host=kwargs.get("host", "localhost"),
        port=int(kwargs.get("port", 6379)),
        path=path,
        db=int(kwargs.get("db", 0) or 0),
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        connect_timeout=kwargs.get("socket_connect_timeout") or 5.0,
        timeout=timeout,
    )


def sync_multiplexer(client: Any, timeout: float = 0.25) -> Any:
    """``None``: threads use redis-py directly (its sync client has no such overhead)."""
    del client, timeout
    return None
