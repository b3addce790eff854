"""The Redis stores' connections: one set per running event loop (asyncio), one in all
(threads).

redis-py's asyncio connections, its pool's lock, a pub/sub listener task and the
multiplexed GET connection all belong to the event loop that made them; used from
another loop they fail (``Future attached to a different loop``, ``Event loop is
closed``). A process may run many loops over its life with one module-level store:
one Starlette ``TestClient`` per test (each request on a loop of its own without
``with``), ``asyncio.run`` calls, pytest-asyncio's loop per test, async Django views
under ``async_to_sync``. So :class:`AsyncConnections` keeps one :class:`Connections`
per running loop, made on first use there, and closes it while that loop shuts down:
it registers an async generator on the loop, which ``asyncio.run`` (and every runner
built on ``asyncio.Runner``: anyio, pytest-asyncio, asgiref, uvicorn) finalises in
``shutdown_asyncgens()`` before closing the loop. A loop closed without that step
(``loop.close()`` by hand) has its connections dropped the next time a new loop
comes. Code outside any loop (construction, inspection) gets a set of its own, which
never does I/O.

:class:`SyncConnections` is the threaded twin: one set for every thread (redis-py's
sync pool is thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["AsyncConnections", "Connections", "SyncConnections", "script"]


@dataclass
class Connections:
    """What a store talks to Redis through, on one event loop (or in every thread):
    the client, its registered Lua ``scripts`` by name, the pub/sub notifier and the
    multiplexed GET connection (or ``None``)."""

    client: Any
    scripts: dict[str, Any]
    notifier: Any
    fast_get: Any


def script(name: str) -> Any:
    """A store attribute that reads the Lua script ``name`` of the current connections."""
    return property(lambda store: store._connections.current().scripts[name])


class AsyncConnections:
    """One :class:`Connections` per running event loop (see the module docstring).

    Args:
        connect: makes a new set (no I/O: connections open on first use).
        disconnect: closes a set, on its own loop.
    """

    def __init__(
        self,
        connect: Callable[[], Connections],
        disconnect: Callable[[Connections], Awaitable[None]],
    ) -> None:
        self._connect = connect
        self._disconnect = disconnect
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop | None, Connections] = {}
        self._sentinels: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        # Made now, so a bad URL or option fails at construction.
        self._idle = connect()
        self._last: tuple[asyncio.AbstractEventLoop | None, Connections] = (None, self._idle)

    def current(self) -> Connections:
        """The running loop's connections (made on first use on that loop)."""
        loop = asyncio._get_running_loop()  # None outside a loop, and no exception to pay
        last = self._last
        if last[0] is loop:
            return last[1]
        return self._for(loop)

    def _for(self, loop: asyncio.AbstractEventLoop | None) -> Connections:
        with self._lock:
            connections = self._idle
            if loop is not None:
                found = self._by_loop.get(loop)
                if found is not None:
                    connections = found
                else:
                    self._drop_closed_loops()
                    connections = self._by_loop[loop] = self._connect()
                    self._watch(loop, connections)
            self._last = (loop, connections)
            return connections

    def _watch(self, loop: asyncio.AbstractEventLoop, connections: Connections) -> None:
        """Close ``connections`` when ``loop`` shuts down (``shutdown_asyncgens``)."""

        async def sentinel() -> AsyncGenerator[None, None]:
            try:
                yield
            finally:
                self._forget(loop, connections)
                await self._disconnect(connections)

        generator = sentinel()
        # Run it to its first ``yield``: asyncio's first-iteration hook registers it
        # with the running loop, which finalises it while shutting down.
        step = generator.asend(None)
        with contextlib.suppress(StopIteration):
            step.send(None)
        self._sentinels[loop] = generator

    def _forget(self, loop: asyncio.AbstractEventLoop, connections: Connections) -> None:
        with self._lock:
            if self._by_loop.get(loop) is connections:
                del self._by_loop[loop]
                self._sentinels.pop(loop, None)
            if self._last[0] is loop:
                self._last = (None, self._idle)

    def _drop_closed_loops(self) -> None:
        for loop in [loop for loop in self._by_loop if loop is not None and loop.is_closed()]:
            # Its sockets cannot be closed without it; dropping them lets them go.
            del self._by_loop[loop]
            self._sentinels.pop(loop, None)

    async def close(self) -> None:
        """Close the running loop's connections (other loops close theirs when they
        shut down)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            sentinel = self._sentinels.get(loop)
            self._drop_closed_loops()
        if sentinel is not None:
            await sentinel.aclose()  # its ``finally`` forgets and disconnects


class SyncConnections:
    """The threaded twin of :class:`AsyncConnections`: one set for every thread."""

    def __init__(
        self,
        connect: Callable[[], Connections],
        disconnect: Callable[[Connections], None],
    ) -> None:
        self._disconnect = disconnect
        self._connections = connect()

    def current(self) -> Connections:
        """The store's connections."""
        return self._connections

    def close(self) -> None:
        """Close the connections (they reopen on next use)."""
        self._disconnect(self._connections)
