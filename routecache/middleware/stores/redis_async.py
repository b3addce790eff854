"""The Redis store for asyncio code (redis-py with hiredis, Redis Cluster aware).

``redis_sync.py`` is generated from this file by ``scripts/unasync.py``: edit this one,
then run the script. A hit costs one round trip (``GET``); a store is one pipelined
round trip of Lua scripts (entry plus path index, then one per tag) after the response
went out; every call has a timeout and goes through a circuit breaker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import CheckedOptions, ConfigurationError
from ..keys import CacheKey
from .base import KeySpace, LockState, as_paths
from .connections import AsyncConnections, Connections
from .faults import CircuitBreaker, FaultLog
from .multiplex import async_multiplexer
from .notify import AsyncNotifier
from .redis_common import (
    ASYNC_CLIENT_TYPES,
    GET_OR_LOCK,
    INVALIDATE_PATH,
    LOCK_STATES,
    PASS_MARKER,
    RELEASE,
    SET_ENTRY,
    TAG_ADD,
    TAG_POP,
    StoreGuard,
    classify_keys,
    group_by_slot,
    is_cluster_client,
    make_async_client,
    now_ms,
    twin_store,
)

__all__ = ["AsyncRedisStore"]


class AsyncRedisStore(CheckedOptions):
    """Keeps entries in Redis for asyncio code (ASGI apps, async Django).

    Args:
        url_or_client: a URL (``redis://``, ``rediss://``, ``unix://``, or
            ``redis+cluster://`` for Redis Cluster) or a ready redis-py asyncio client.
        prefix: every key lives under ``prefix:``; purge and stats never touch others.
        timeout: per-call socket timeout in seconds (URL form only; a ready client
            keeps its own settings).
        connect_timeout: connection timeout (default: ``timeout``).
        cluster: treat the URL as a Redis Cluster node.
        breaker_threshold: consecutive faults that open the circuit breaker.
        breaker_cooldown: seconds the breaker stays open before one trial call.
        client_options: extra keyword arguments for the redis-py client.
        multiplex: send the hit path's GETs over one pipelined connection when that is
            exactly equivalent (plain TCP or Unix socket, hiredis installed); see
            ``stores/multiplex.py``.
    """

    is_async = True

    def __init__(
        self,
        url_or_client: str | Any,
        *,
        prefix: str = "routecache",
        timeout: float = 0.25,
        connect_timeout: float | None = None,
        cluster: bool = False,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 5.0,
        client_options: dict[str, Any] | None = None,
        multiplex: bool = True,
    ) -> None:
        self.keys = KeySpace(prefix)
        self.prefix = prefix
        self.timeout = timeout
        self.settings: dict[str, Any] = {
            "prefix": prefix,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "cluster": cluster,
            "breaker_threshold": breaker_threshold,
            "breaker_cooldown": breaker_cooldown,
            "client_options": dict(client_options or {}),
            "multiplex": multiplex,
        }
        if isinstance(url_or_client, str):
            self.url: str | None = url_or_client
            self._given: Any = None
            self._owns_client = True
        elif isinstance(url_or_client, ASYNC_CLIENT_TYPES):
            self.url = None
            self._given = url_or_client
            self._owns_client = False
        else:
            raise ConfigurationError(
                f"{type(self).__name__} needs a Redis URL or a matching redis-py client, "
                f"got {type(url_or_client).__name__}"
            )
        # Built from a URL, the store has its own connections per event loop; a ready
        # client is the caller's, used as given.
        self._connections = AsyncConnections(self._connect, self._disconnect)
        self.cluster = is_cluster_client(self.client)
        self._twin: Any = None
        self.breaker = CircuitBreaker(breaker_threshold, breaker_cooldown)
        self.faults = FaultLog(f"{type(self).__name__}({prefix})")

    def _connect(self) -> Connections:
        settings = self.settings
        if self._given is not None:
            client = self._given
        else:
            client = make_async_client(
                self.url,  # type: ignore[arg-type]
                cluster=settings["cluster"],
                timeout=settings["timeout"],
                connect_timeout=settings["connect_timeout"],
                options=dict(settings["client_options"]),
            )
        return Connections(
            client=client,
            set_entry=client.register_script(SET_ENTRY),
            tag_add=client.register_script(TAG_ADD),
            tag_pop=client.register_script(TAG_POP),
            invalidate_path=client.register_script(INVALIDATE_PATH),
            get_or_lock=client.register_script(GET_OR_LOCK),
            release=client.register_script(RELEASE),
            notifier=AsyncNotifier(client, self.keys.channel),
            fast_get=async_multiplexer(client, self.timeout) if settings["multiplex"] else None,
        )

    async def _disconnect(self, connections: Connections) -> None:
        with contextlib.suppress(Exception):
            await connections.notifier.close()
        if connections.fast_get is not None:
            with contextlib.suppress(Exception):
                await connections.fast_get.close()
        if self._owns_client:
            with contextlib.suppress(Exception):
                await connections.client.aclose()

    # The running event loop's connections (every thread's, in the sync store).
    @property
    def client(self) -> Any:
        """The redis-py client (of the running event loop, for the asyncio store)."""
        return self._connections.current().client

    @property
    def _set_entry(self) -> Any:
        return self._connections.current().set_entry

    @property
    def _tag_add(self) -> Any:
        return self._connections.current().tag_add

    @property
    def _tag_pop(self) -> Any:
        return self._connections.current().tag_pop

    @property
    def _invalidate_path(self) -> Any:
        return self._connections.current().invalidate_path

    @property
    def _get_or_lock(self) -> Any:
        return self._connections.current().get_or_lock

    @property
    def _release(self) -> Any:
        return self._connections.current().release

    @property
    def _notifier(self) -> Any:
        return self._connections.current().notifier

    @property
    def _fast_get(self) -> Any:
        return self._connections.current().fast_get

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url or self.client!r}, prefix={self.prefix!r})"

    def _guard(self, operation: str, *, admin: bool = False, timed: bool = True) -> StoreGuard:
        # Purges and stats scan the keyspace: they get a longer time limit.
        limit = max(self.timeout * 40, 10.0) if admin else self.timeout
        return StoreGuard(self.breaker, self.faults, operation, limit if timed else None)

    def as_async(self) -> Any:
        """The store for asyncio code on the same Redis (built from the URL if needed)."""
        return twin_store(self, want_async=True)

    def as_sync(self) -> Any:
        """The store for threaded or sync code on the same Redis (built from the URL if needed)."""
        return twin_store(self, want_async=False)

    async def get(self, key: CacheKey, variant: str | None = None) -> bytes | None:
        """One ``GET``: the encoded entry, or ``None``."""
        name = self.keys.entry(key, variant)
        fast_get = self._fast_get
        if fast_get is not None:
            # The multiplexed connection enforces the timeout itself (one timer).
            async with self._guard("get", timed=False):
                fast: bytes | None = await fast_get.get(name)
                return fast
        async with self._guard("get"):
            data: bytes | None = await self.client.get(name)
            return data

    async def set(
        self,
        key: CacheKey,
        data: bytes,
        ttl: float,
        *,
        variant: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        """Store the entry, index it by path and by tag, in one round trip."""
        ttl_ms = max(1, int(ttl * 1000))
        now = now_ms()
        expires = now + ttl_ms
        entry = self.keys.entry(key)
        second = self.keys.entry(key, variant) if variant is not None else entry
        members = [entry] if variant is None else [entry, second]
        entry_keys = [entry, second, self.keys.path_index(key.path_hash)]
        entry_args = [data, ttl_ms, expires, now, 0 if variant is None else 1]
        flight = self.keys.flight(key)
        async with self._guard("set"):
            if self.cluster:
                await self._set_entry(keys=entry_keys, args=entry_args)
                for tag in tags:
                    await self._tag_add(
                        keys=[self.keys.tag_index(tag)], args=[expires, now, ttl_ms, *members]
                    )
                await self.client.publish(self.keys.channel, flight)
                return
            pipe = self.client.pipeline(transaction=False)
            await self._set_entry(keys=entry_keys, args=entry_args, client=pipe)
            for tag in tags:
                await self._tag_add(
                    keys=[self.keys.tag_index(tag)],
                    args=[expires, now, ttl_ms, *members],
                    client=pipe,
                )
            pipe.publish(self.keys.channel, flight)
            await pipe.execute()

    async def delete(self, key: CacheKey) -> None:
        """Remove one entry (its primary key)."""
        async with self._guard("delete"):
            await self.client.delete(self.keys.entry(key))

    async def get_or_lock(
        self, key: CacheKey, token: str, ttl: float, *, check_entry: bool = True
    ) -> tuple[str, bytes | None]:
        """The entry if stored; else take the fetch lock (``SET NX PX``) if free.

        ``check_entry=False`` skips the entry (it is known to be stale) and only
        reports the lock: acquired, busy or passed.
        """
        async with self._guard("get_or_lock"):
            reply = await self._get_or_lock(
                keys=[self.keys.entry(key), self.keys.lock(key)],
                args=[token, max(1, int(ttl * 1000)), PASS_MARKER, "1" if check_entry else "0"],
            )
        state = LOCK_STATES.get(int(reply[0]), LockState.BUSY)
        return state, (reply[1] if state == LockState.FOUND else None)

    async def lock(self, key: CacheKey, token: str, ttl: float) -> bool:
        """Take the entry's lock (``SET NX PX``) if it is free; True when taken."""
        async with self._guard("lock"):
            taken = await self.client.set(
                self.keys.lock(key), token, nx=True, px=max(1, int(ttl * 1000))
            )
        return bool(taken)

    async def release(self, key: CacheKey, token: str, *, passed: bool = False) -> None:
        """Drop the lock if ``token`` still holds it; ``passed`` leaves a pass marker."""
        async with self._guard("release"):
            await self._release(
                keys=[self.keys.lock(key)], args=[token, PASS_MARKER if passed else b"", 5000]
            )
            if passed:
                await self.client.publish(self.keys.channel, self.keys.flight(key))

    async def wait_stored(self, key: CacheKey, timeout: float) -> bool:
        """Wait (pub/sub) up to ``timeout`` for another worker to store ``key``."""
        woken: bool = await self._notifier.wait(self.keys.flight(key), timeout)
        return woken

    async def invalidate(
        self,
        path: str | Iterable[str] | None = None,
        tags: Iterable[str] = (),
        everything: bool = False,
    ) -> int:
        """Remove every entry (all variants) of the paths and tags, or everything under
        the prefix; atomic per path (one cluster slot). Returns how many were removed."""
        removed = 0
        async with self._guard("invalidate", admin=True):
            if everything:
                return await self._purge_prefix()
            for p in as_paths(path):
                removed += int(await self._invalidate_path(keys=[self.keys.path_index_for(p)]))
            for tag in tags:
                members = await self._tag_pop(keys=[self.keys.tag_index(tag)])
                for group in group_by_slot(members).values():
                    removed += int(await self.client.delete(*group))
        return removed

    async def _purge_prefix(self) -> int:
        removed = 0
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=self.keys.match, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                removed += await self._unlink(batch)
                batch = []
        if batch:
            removed += await self._unlink(batch)
        return removed

    async def _unlink(self, keys: list[bytes]) -> int:
        if not self.cluster:
            return int(await self.client.unlink(*keys))
        removed = 0
        for group in group_by_slot(keys).values():
            removed += int(await self.client.unlink(*group))
        return removed

    async def stats(self) -> dict[str, Any]:
        """Keys under the prefix by kind (a ``SCAN``, never ``KEYS``), faults, breaker."""
        keys: list[bytes] = []
        async with self._guard("stats", admin=True):
            async for key in self.client.scan_iter(match=self.keys.match, count=1000):
                keys.append(key)
        counts = classify_keys(keys, self.prefix)
        return {
            "store": "redis-cluster" if self.cluster else "redis",
            "prefix": self.prefix,
            **counts,
            "faults": dict(self.faults.counts),
            "breaker_open": self.breaker.is_open,
        }

    async def close(self) -> None:
        """Close the connections of the running event loop (the client only if this
        store created it); other loops' connections close when their loop shuts down."""
        await self._connections.close()
