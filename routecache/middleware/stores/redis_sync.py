# Generated from redis_async.py by scripts/unasync.py: do not edit.
"""The Redis store for threaded or sync code (redis-py with hiredis, Redis Cluster aware).

``redis_sync.py`` is generated from this file by ``scripts/unasync.py``: edit this one,
then run the script. A hit costs one round trip (``MGET`` of the entry, the generation
it was written under and the path's generation: a fenced entry is a miss); a store is
one round trip for the entry (a Lua script refusing the write when the path was
invalidated since the fetch began), preceded by one pipelined round trip of the tag
indexes when the response has tags; every call has a timeout and goes through a circuit
breaker, except invalidations (never refused, each call bounded by the timeout).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ..concurrency_sync import Background
from ..errors import CheckedOptions, ConfigurationError, StoreError
from ..keys import CacheKey, path_hash
from .base import FENCE_TTL, Fence, KeySpace, LockState, as_paths
from .connections import Connections, SyncConnections, script
from .faults import CircuitBreaker, FaultLog
from .multiplex import encode_command, sync_multiplexer
from .near import NearCache, near_cache_option, near_target
from .notify import SyncNotifier
from .redis_common import (
    BATCH,
    GEN_BATCH,
    LOCK_STATES,
    PASS_MARKER,
    SCAN_COUNT,
    SCRIPTS,
    SYNC_CLIENT_TYPES,
    StoreGuard,
    classify_keys,
    failed,
    group_by_slot,
    is_cluster_client,
    is_entry_key,
    is_sentinel_client,
    make_sync_client,
    now_ms,
    refused,
    sentinels_of,
    twin_store,
)

__all__ = ["RedisStore"]

#: How many keys' hit reads are kept formatted (cleared when full: cheap to rebuild).
_HIT_READS = 4096


class _HitRead:
    """The hit's ``MGET`` of one key: the entry, the generation it was written under,
    and its path's generation (and, for a near cache, the entry's ``PTTL``)."""

    __slots__ = ("command", "names", "pttl")

    def __init__(self, names: tuple[str, str, str, str]) -> None:
        self.names = names
        self.command = encode_command(*names)
        self.pttl = encode_command("PTTL", names[1])


class RedisStore(CheckedOptions):
    """Keeps entries in Redis for threaded or sync code (WSGI apps, sync Django).

    Args:
        url_or_client: a URL (``redis://``, ``rediss://``, ``unix://``,
            ``redis+cluster://`` for Redis Cluster, or
            ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]``
            for a master watched by Redis Sentinel) or a ready redis-py asyncio client
            (``Sentinel.master_for(...)`` too).
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
        near_cache: a :class:`~routecache.middleware.stores.near.NearCache` (or a dict
            of its options): recently read entries kept in process, served with no
            round trip, evicted through Redis client-side caching (tracking) when any
            process writes or invalidates them. Plain TCP or Unix socket servers only
            (not Cluster, Sentinel or TLS yet); see ``stores/near.py``.
    """

    is_async = False

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
        near_cache: NearCache | dict[str, Any] | None = None,
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
        near = near_cache_option(near_cache)
        self.settings["near_cache"] = near
        if isinstance(url_or_client, str):
            self.url: str | None = url_or_client
            self._given: Any = None
            self._owns_client = True
        elif isinstance(url_or_client, SYNC_CLIENT_TYPES):
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
        self._connections = SyncConnections(self._connect, self._disconnect)
        self.cluster = is_cluster_client(self.client)
        self.sentinel = is_sentinel_client(self.client)
        #: The near cache (L1), or ``None``.
        self.near: NearCache | None = near
        if near is not None:
            near.bind(
                near_target(self.client, prefix, cluster=self.cluster, sentinel=self.sentinel)
            )
        self._twin: Any = None
        self.breaker = CircuitBreaker(breaker_threshold, breaker_cooldown)
        self.faults = FaultLog(f"{type(self).__name__}({prefix})")
        #: Batch deletions of large invalidations, continuing after the call returned.
        self.sweeps = Background()

        #: The hit's read of recently looked-up keys, names formatted and encoded once.
        self._hit_reads: dict[Any, _HitRead] = {}

    def _connect(self) -> Connections:
        settings = self.settings
        if self._given is not None:
            client = self._given
        else:
            client = make_sync_client(
                self.url,  # type: ignore[arg-type]
                cluster=settings["cluster"],
                timeout=settings["timeout"],
                connect_timeout=settings["connect_timeout"],
                options=dict(settings["client_options"]),
            )
        return Connections(
            client=client,
            scripts={name: client.register_script(text) for name, text in SCRIPTS.items()},
            notifier=SyncNotifier(client, self.keys.channel),
            fast_get=sync_multiplexer(client, self.timeout) if settings["multiplex"] else None,
        )

    def _disconnect(self, connections: Connections) -> None:
        with contextlib.suppress(Exception):
            connections.notifier.close()
        if connections.fast_get is not None:
            with contextlib.suppress(Exception):
                connections.fast_get.close()
        if self._owns_client:
            with contextlib.suppress(Exception):
                connections.client.close()
            # A redis+sentinel:// URL also made the clients that ask the sentinels.
            for sentinel in sentinels_of(connections.client):
                with contextlib.suppress(Exception):
                    sentinel.close()

    # The running event loop's connections (every thread's, in the sync store).
    @property
    def client(self) -> Any:
        """The redis-py client (of the running event loop, for the asyncio store)."""
        return self._connections.current().client

    _set_entry = script("set_entry")
    _tag_add = script("tag_add")
    _invalidate_path = script("invalidate_path")
    _sweep_path = script("sweep_path")
    _sweep_entries = script("sweep_entries")
    _tag_remove = script("tag_remove")
    _mark_tag = script("mark_tag")
    _bump_gens = script("bump_gens")
    _get_or_lock = script("get_or_lock")
    _lock = script("lock")
    _release = script("release")

    @property
    def _notifier(self) -> Any:
        return self._connections.current().notifier

    @property
    def _fast_get(self) -> Any:
        return self._connections.current().fast_get

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url or self.client!r}, prefix={self.prefix!r})"

    def _guard(
        self, operation: str, *, admin: bool = False, timed: bool = True, force: bool = False
    ) -> StoreGuard:
        # Purges and stats scan the keyspace: they get a longer time limit.
        limit = max(self.timeout * 40, 10.0) if admin else self.timeout
        return StoreGuard(
            self.breaker, self.faults, operation, limit if timed else None, force=force
        )

    def as_async(self) -> Any:
        """The store for threaded or sync code on the same Redis (built from the URL if needed)."""
        return twin_store(self, want_async=True)

    def as_sync(self) -> Any:
        """The store for threaded or sync code on the same Redis (built from the URL if needed)."""
        return twin_store(self, want_async=False)

    def get(
        self, key: CacheKey, variant: str | None = None, *, fence: Fence | None = None
    ) -> bytes | None:
        """One ``MGET`` (entry, its generation, the path's): the encoded entry, or
        ``None`` when absent or fenced. Fills ``fence`` with the path generation."""
        memo = key.digest if variant is None else (key.digest, variant)
        hit = self._hit_reads.get(memo)
        if hit is None:
            hit = self._hit_read(key, variant, memo)
        near = self.near
        if near is not None:
            found = near.get(hit.names[1])
            if found is not None:
                if fence is not None:
                    fence.gen = found.gen
                return found.data
            return self._get_near(near, hit, fence)
        fast_get = self._fast_get
        if fast_get is None and self.is_async:
            with self._guard("get"):
                reply = self.client.execute_command(*hit.names)
        else:
            # The hot path, with the guard's work inline (no guard object, no context
            # manager): the multiplexed connection enforces the timeout itself (one
            # timer), and the sync client has its socket timeout.
            breaker = self.breaker
            if not breaker.allow():
                raise refused(self.faults, "get")
            try:
                if fast_get is not None:
                    reply = fast_get.send(hit.command)
                else:
                    reply = self.client.execute_command(*hit.names)
            except Exception as exc:
                raise failed(breaker, self.faults, "get", exc) from exc
            except BaseException:
                breaker.abandon()
                raise
            breaker.success()
        data, written, gen = reply
        if fence is not None:
            fence.gen = gen or b""
        if data is None:
            return None
        if gen is None or written != gen:
            self._sweep_fenced(hit)
            return None
        fast: bytes = data
        return fast

    def _sweep_fenced(self, hit: _HitRead) -> None:
        # Fenced by an invalidation, or not written by routecache at all: never served,
        # and removed now rather than left to its TTL (a foreign value may have none).
        # A miss either way, whatever this cleanup meets.
        try:
            with self._guard("sweep"):
                self._sweep_entries(keys=list(hit.names[1:]), args=[])
        except StoreError:
            pass

    def _get_near(self, near: NearCache, hit: _HitRead, fence: Fence | None) -> bytes | None:
        """A lookup the near cache missed: the ``MGET`` and the entry's ``PTTL`` in one
        write; the reply is admitted to the near cache when no invalidation of its keys
        was seen since before it was sent (``token``)."""
        token = near.token()
        sent = time.monotonic()
        fast_get = self._fast_get
        with self._guard("get"):
            if fast_get is not None:
                reply, ttl_ms = fast_get.send_many((hit.command, hit.pttl))
            else:
                pipe = self.client.pipeline(transaction=False)
                pipe.execute_command(*hit.names)
                pipe.pttl(hit.names[1])
                reply, ttl_ms = pipe.execute()
        data, written, gen = reply
        if fence is not None:
            fence.gen = gen or b""
        if data is None:
            return None
        if gen is None or written != gen:
            self._sweep_fenced(hit)
            return None
        if int(ttl_ms) > 0:
            near.admit(hit.names[1], hit.names[1:], data, gen, sent + int(ttl_ms) / 1000, token)
        found: bytes = data
        return found

    def _hit_read(self, key: CacheKey, variant: str | None, memo: Any) -> _HitRead:
        name = self.keys.entry(key, variant)
        hit = _HitRead(("MGET", name, name + ":g", self.keys.path_gen(key.path_hash)))
        if len(self._hit_reads) >= _HIT_READS:
            self._hit_reads.clear()
        self._hit_reads[memo] = hit
        return hit

    def set(
        self,
        key: CacheKey,
        data: bytes,
        ttl: float,
        *,
        variant: str | None = None,
        tags: Sequence[str] = (),
        fence: Fence | None = None,
    ) -> bool:
        """Store the entry, index it by path and by tag; with a ``fence``, refuse (and
        return False) when the path or a tag was invalidated since the fetch began.

        The tag indexes are written first, each reporting how long ago its tag was
        last invalidated: a tag invalidated after the fetch began refuses the write.
        An invalidation that comes later finds the entry in the tag index and replaces
        its path's generation, which either refuses the entry's own write (compared in
        the same script) or fences it once written.
        """
        ttl_ms = max(1, int(ttl * 1000))
        now = now_ms()
        expires = now + ttl_ms
        entry = self.keys.entry(key)
        second = self.keys.entry(key, variant) if variant is not None else entry
        members = [entry] if variant is None else [entry, second]
        gen_key = self.keys.path_gen(key.path_hash)
        entry_keys = [
            entry,
            second,
            self.keys.path_index(key.path_hash),
            gen_key,
            self.keys.entry_gen(entry),
            self.keys.entry_gen(second),
        ]
        expected = "*" if fence is None or fence.gen is None else fence.gen
        entry_args = [
            data,
            ttl_ms,
            expires,
            now,
            0 if variant is None else 1,
            expected,
            "w" + uuid.uuid4().hex,
        ]
        flight = self.keys.flight(key)
        with self._guard("set"):
            if fence is not None and fence.elapsed() >= FENCE_TTL:
                return False  # longer than any record of an invalidation is kept
            if tags:
                marks = self._add_tags(tags, [expires, now, ttl_ms, *members])
                if fence is not None and self._tag_refused(marks, fence):
                    return False
            try:
                if self.cluster:
                    stored = self._set_entry(keys=entry_keys, args=entry_args)
                    self.client.publish(self.keys.channel, flight)
                    return bool(stored)
                pipe = self.client.pipeline(transaction=False)
                self._set_entry(keys=entry_keys, args=entry_args, client=pipe)
                pipe.publish(self.keys.channel, flight)
                stored, _ = pipe.execute()
                return bool(stored)
            finally:
                if self.near is not None:
                    self.near.evict_keys(members)

    def _add_tags(self, tags: Sequence[str], args: list[Any]) -> list[int]:
        """Index the members under each tag; how long ago each tag was invalidated."""
        if self.cluster:
            return [
                int(
                    self._tag_add(
                        keys=[self.keys.tag_index(tag), self.keys.tag_mark(tag)], args=args
                    )
                )
                for tag in tags
            ]
        pipe = self.client.pipeline(transaction=False)
        for tag in tags:
            self._tag_add(
                keys=[self.keys.tag_index(tag), self.keys.tag_mark(tag)], args=args, client=pipe
            )
        return [int(mark) for mark in pipe.execute()]

    @staticmethod
    def _tag_refused(ages: list[int], fence: Fence) -> bool:
        # A mark's age is measured by its Redis node, the fetch's by this process after
        # the reply: durations on two clocks, never their readings, so clock skew does
        # not matter, and the comparison leans towards refusing (by the reply's way back).
        elapsed_us = fence.elapsed() * 1e6
        return any(0 <= age <= elapsed_us for age in ages)

    def delete(self, key: CacheKey) -> None:
        """Remove one entry (its primary key)."""
        with self._guard("delete"):
            try:
                self.client.delete(self.keys.entry(key))
            finally:
                if self.near is not None:
                    self.near.evict_keys([self.keys.entry(key)])

    def get_or_lock(
        self,
        key: CacheKey,
        token: str,
        ttl: float,
        *,
        check_entry: bool = True,
        fence: Fence | None = None,
    ) -> tuple[str, bytes | None]:
        """The entry if stored (and not fenced); else take the fetch lock (``SET NX
        PX``) if free. Fills ``fence`` with the path generation, in the same script.

        ``check_entry=False`` skips the entry (it is known to be stale) and only
        reports the lock: acquired, busy or passed.
        """
        entry = self.keys.entry(key)
        with self._guard("get_or_lock"):
            reply = self._get_or_lock(
                keys=[
                    entry,
                    self.keys.lock(key),
                    self.keys.entry_gen(entry),
                    self.keys.path_gen(key.path_hash),
                ],
                args=[token, max(1, int(ttl * 1000)), PASS_MARKER, "1" if check_entry else "0"],
            )
        state = LOCK_STATES.get(int(reply[0]), LockState.BUSY)
        if fence is not None:
            fence.gen = reply[-1] or b""
        return state, (reply[1] if state == LockState.FOUND else None)

    def lock(self, key: CacheKey, token: str, ttl: float, *, fence: Fence | None = None) -> bool:
        """Take the entry's lock (``SET NX PX``) if it is free; True when taken. Fills
        ``fence`` with the path generation, in the same script."""
        with self._guard("lock"):
            reply = self._lock(
                keys=[self.keys.lock(key), self.keys.path_gen(key.path_hash)],
                args=[token, max(1, int(ttl * 1000))],
            )
        taken = int(reply[0]) == 1
        if taken and fence is not None:
            fence.gen = reply[1] or b""
        return taken

    def release(self, key: CacheKey, token: str, *, passed: bool = False) -> None:
        """Drop the lock if ``token`` still holds it; ``passed`` leaves a pass marker."""
        with self._guard("release"):
            self._release(
                keys=[self.keys.lock(key)], args=[token, PASS_MARKER if passed else b"", 5000]
            )
            if passed:
                self.client.publish(self.keys.channel, self.keys.flight(key))

    def wait_stored(self, key: CacheKey, timeout: float) -> bool:
        """Wait (pub/sub) up to ``timeout`` for another worker to store ``key``."""
        woken: bool = self._notifier.wait(self.keys.flight(key), timeout)
        return woken

    def invalidate(
        self,
        path: str | Iterable[str] | None = None,
        tags: Iterable[str] = (),
        everything: bool = False,
    ) -> int:
        """Fence every entry (all variants) of the paths and tags before returning, and
        delete them; or delete everything under the prefix.

        Never refused by the circuit breaker, and every Redis call is bounded by the
        store's ``timeout`` (a fault raises :class:`StoreError`; what was fenced stays
        fenced, what was not is still indexed, so calling again finishes the job). A
        path is fenced by one script (its generation replaced), a tag by marking it and
        replacing the generation of every path in its index, in bounded batches.
        Deletion runs in batches too: inline for up to one batch, in the
        background (:attr:`sweeps`) beyond. Returns the entries deleted, plus those
        fenced and left for the background.
        """
        if everything:
            with self._guard("invalidate", admin=True, force=True):
                try:
                    return self._purge_prefix()
                finally:
                    if self.near is not None:
                        self.near.clear()
        gen = "i" + uuid.uuid4().hex
        removed = 0
        for p in as_paths(path):
            removed += self._invalidate_one_path(p, gen)
        for tag in tags:
            removed += self._invalidate_tag(tag, gen)
        return removed

    def _invalidate_one_path(self, path: str, gen: str) -> int:
        phash = path_hash(path)
        index = self.keys.path_index(phash)
        gen_key = self.keys.path_gen(phash)
        with self._guard("invalidate", force=True):
            try:
                deleted, left = self._invalidate_path(
                    keys=[gen_key, index], args=[gen, int(FENCE_TTL * 1000), BATCH]
                )
            finally:
                if self.near is not None:
                    self.near.evict_keys([gen_key])
        if int(left):
            self.sweeps.start(self._sweep_path_index, phash)
        return int(deleted) + int(left)

    def _sweep_path_index(self, phash: str) -> None:
        index, gen_key = self.keys.path_index(phash), self.keys.path_gen(phash)
        cursor = 0
        try:
            while True:
                with self._guard("invalidate", force=True):
                    cursor, pairs = self.client.zscan(index, cursor, count=SCAN_COUNT)
                members = [member for member, _ in pairs]
                for start in range(0, len(members), BATCH):
                    with self._guard("invalidate", force=True):
                        self._sweep_path(keys=[index, gen_key], args=members[start : start + BATCH])
                if not cursor:
                    return
        except StoreError:
            return  # counted and logged; what is left is fenced, indexed, and expires

    def _invalidate_tag(self, tag: str, gen: str) -> int:
        index = self.keys.tag_index(tag)
        with self._guard("invalidate", force=True):
            self._mark_tag(keys=[self.keys.tag_mark(tag), index], args=[int(FENCE_TTL * 1000)])
        fenced: list[tuple[bytes, float]] = []
        bumped: set[str] = set()
        cursor = 0
        while True:
            with self._guard("invalidate", force=True):
                cursor, pairs = self.client.zscan(index, cursor, count=SCAN_COUNT)
            gens = {self.keys.path_gen_of(member) for member, _ in pairs} - bumped
            if gens:
                self._bump(sorted(gens), gen)
                bumped |= gens
            fenced.extend(pairs)
            if not cursor:
                break
        if len(fenced) <= BATCH:
            return self._sweep_tag(index, fenced)
        self.sweeps.start(self._sweep_tag_quietly, index, fenced)
        return len(fenced)

    def _bump(self, gens: list[str], gen: str) -> None:
        try:
            self._bump_batches(gens, gen)
        finally:
            if self.near is not None:
                self.near.evict_keys(gens)

    def _bump_batches(self, gens: list[str], gen: str) -> None:
        args = [gen, int(FENCE_TTL * 1000)]
        if not self.cluster:
            for start in range(0, len(gens), GEN_BATCH):
                with self._guard("invalidate", force=True):
                    self._bump_gens(keys=gens[start : start + GEN_BATCH], args=args)
            return
        # A script is one slot: on a cluster, plain SETs in a pipeline instead (sent to
        # the nodes side by side). A replaced generation that expires before entries
        # written under the old one is safe: a missing generation matches no entry.
        for start in range(0, len(gens), GEN_BATCH):
            pipe = self.client.pipeline(transaction=False)
            for name in gens[start : start + GEN_BATCH]:
                pipe.set(name, gen, px=args[1])
            with self._guard("invalidate", force=True):
                pipe.execute()

    def _sweep_tag_quietly(self, index: str, fenced: list[tuple[bytes, float]]) -> None:
        try:
            self._sweep_tag(index, fenced)
        except StoreError:
            return  # counted and logged; what is left is fenced, indexed, and expires

    def _sweep_tag(self, index: str, fenced: list[tuple[bytes, float]]) -> int:
        deleted = 0
        for start in range(0, len(fenced), BATCH):
            batch = fenced[start : start + BATCH]
            gone: list[tuple[bytes, float]] = []
            if self.cluster:
                slots: dict[str, list[tuple[bytes, float]]] = {}
                for pair in batch:
                    slots.setdefault(self.keys.path_gen_of(pair[0]), []).append(pair)
                for group in slots.values():
                    deleted += self._sweep_group(group, gone)
            else:
                deleted += self._sweep_group(batch, gone)
            if gone:
                args: list[Any] = []
                for member, score in gone:
                    args.extend((member, int(score)))
                with self._guard("invalidate", force=True):
                    self._tag_remove(keys=[index], args=args)
        return deleted

    def _sweep_group(
        self, group: list[tuple[bytes, float]], gone: list[tuple[bytes, float]]
    ) -> int:
        """Delete the fenced entries of ``group`` (one slot on a cluster); append what
        may leave the tag index to ``gone``; return how many entries existed."""
        keys: list[Any] = []
        for member, _ in group:
            keys.extend((member, member + b":g", self.keys.path_gen_of(member)))
        with self._guard("invalidate", force=True):
            positions = self._sweep_entries(keys=keys)
        existed = 0
        for position in positions:
            gone.append(group[abs(int(position)) - 1])
            existed += int(position) > 0
        return existed

    def _purge_prefix(self) -> int:
        removed = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=self.keys.match, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                removed += self._unlink(batch)
                batch = []
        if batch:
            removed += self._unlink(batch)
        return removed

    def _unlink(self, keys: list[bytes]) -> int:
        if not self.cluster:
            return int(self.client.unlink(*keys))
        removed = 0
        for group in group_by_slot(keys).values():
            removed += int(self.client.unlink(*group))
        return removed

    def stats(self) -> dict[str, Any]:
        """Keys under the prefix by kind (a ``SCAN``, never ``KEYS``), faults, breaker."""
        keys: list[bytes] = []
        with self._guard("stats", admin=True):
            for key in self.client.scan_iter(match=self.keys.match, count=1000):
                keys.append(key)
        counts = classify_keys(keys, self.prefix)
        return {
            "store": "redis-cluster"
            if self.cluster
            else "redis-sentinel"
            if self.sentinel
            else "redis",
            "prefix": self.prefix,
            **counts,
            "faults": dict(self.faults.counts),
            "breaker_open": self.breaker.is_open,
        }

    def inspect(
        self,
        *,
        path: str | None = None,
        tag: str | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[tuple[str, bytes | None, float | None]]:
        """For the command line: stored entries as ``(key, data, seconds left)``,
        sorted by key: the entry ``key`` (only under the prefix), the entries of the
        URL ``path`` or of ``tag`` (their index), or else the first ``limit`` a
        ``SCAN`` finds."""
        with self._guard("inspect", admin=True):
            names: list[str] = []
            if key is not None:
                if key.startswith(self.keys.match[:-1]) and is_entry_key(key, self.prefix):
                    names.append(key)
            elif path is not None or tag is not None:
                if path is not None:
                    index = self.keys.path_index_for(path)
                else:
                    index = self.keys.tag_index(str(tag))
                members = self.client.zrange(index, 0, limit - 1)
                names = [member.decode("utf-8", "surrogateescape") for member in members]
            else:
                for raw in self.client.scan_iter(match=self.keys.match, count=1000):
                    name = raw.decode("utf-8", "surrogateescape")
                    if is_entry_key(name, self.prefix):
                        names.append(name)
                        if len(names) >= limit:
                            break
            names.sort()
            if not names:
                return []
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.get(name)
                pipe.pttl(name)
            replies = pipe.execute()
        found = []
        for i, name in enumerate(names):
            data, ttl_ms = replies[2 * i], int(replies[2 * i + 1])
            if data is not None:
                found.append((name, data, ttl_ms / 1000 if ttl_ms >= 0 else None))
        return found

    def close(self) -> None:
        """Wait (briefly) for background deletions, then close the connections of the
        running event loop (the client only if this store created it); other loops'
        connections close when their loop shuts down."""
        self.sweeps.wait(max(self.timeout * 40, 10.0))
        if self.near is not None:
            self.near.close()
        self._connections.close()
