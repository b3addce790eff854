"""The near cache (L1): recently read entries kept in process, coherent with Redis.

A hit found here costs no round trip. Coherence comes from Redis server-assisted
client-side caching in broadcasting mode: one dedicated connection per near cache runs
``CLIENT TRACKING on REDIRECT <its own id> BCAST PREFIX <prefix>:`` and subscribes to
``__redis__:invalidate``, so Redis pushes the name of every key under the prefix that
any client modifies, deletes, or that expires or is evicted. Each L1 entry remembers
the three keys it was built from (the entry, its ``:g`` generation, the path's
``:gen``): a message naming any of them drops it. ``BCAST`` rather than default
tracking because the readers need no tracking of their own: the multiplexed hit
connection, every pooled redis-py connection and every reconnection of theirs are
covered by the one tracking connection, whose loss is the single thing to watch. The
price is a message for every write under the prefix (locks and indexes too), to every
process: cheap at cache write rates.

Safety rules, each one guarding a way to serve a stale entry:

* Not ready, no service: until the tracking connection has confirmed its subscription,
  and from the moment it is lost (reset, ``CLIENT KILL``, a missed health check, a
  ``FLUSHALL``'s null message), the L1 is flushed and bypassed; it fills again only
  with reads sent after tracking was re-established.
* The read/invalidation race: an invalidation can be processed before the reply of a
  read that returned the value it invalidates. A read takes a :meth:`NearCache.token`
  (the invalidation sequence number) before it is sent; the reply is admitted only if
  none of its keys was invalidated since, and the tracking connection was not lost.
* Pending pushes first: every lookup first drains the tracking socket without blocking
  (one ``recv``), so an invalidation Redis sent before a request arrived is applied
  before that request is answered, whatever the thread scheduling.
* Deadlines: an entry is admitted with its Redis ``PTTL`` (read in the same write as
  the ``MGET``), counted from before the read was sent, and is never served past it.

One background thread per near cache keeps the connection (connect, handshake,
health-check ``PING`` and reconnection with backoff); lookups from any thread or event
loop share the entries under one lock. A child process after ``fork`` starts empty,
with a tracking connection of its own.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import socket
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError, invalid

__all__ = ["NearCache", "NearEntry", "NearTarget", "near_target"]

hiredis: Any
try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis is an optional extra
    hiredis = None

#: Accounted per entry on top of its bytes and key names (objects, dict slots).
ENTRY_OVERHEAD = 256
#: Invalidated key names remembered to judge the reads in flight (see ``admit``).
RECENT = 8192
#: Seconds of silence on the tracking connection before a health-check ``PING``, and
#: seconds a ``PING`` may go unanswered before the connection is declared lost.
PING_AFTER = 1.0
PING_TIMEOUT = 2.0

_ALL_LIVE: weakref.WeakSet[NearCache] = weakref.WeakSet()


@dataclass(frozen=True)
class NearTarget:
    """Where the tracking connection goes: the Redis server the store reads from."""

    host: str | None
    port: int
    path: str | None
    username: str | None
    password: str | None
    prefix: str
    connect_timeout: float


class NearEntry:
    """One L1 entry: the encoded entry as Redis returned it, the path generation it was
    read with, the keys it was built from and the monotonic deadline of its Redis TTL."""

    __slots__ = ("data", "deadline", "gen", "keys", "size")

    def __init__(
        self, data: bytes, gen: bytes, keys: tuple[bytes, ...], deadline: float, size: int
    ) -> None:
        self.data = data
        self.gen = gen
        self.keys = keys
        self.deadline = deadline
        self.size = size


def _command(*args: bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class NearCache:
    """An in-process near cache (L1) for a Redis store, bounded by bytes (LRU).

    Pass one to ``AsyncRedisStore(url, near_cache=NearCache(...))`` or ``RedisStore``
    (a dict of these options works too, for settings files). Hits served from here
    cost no Redis round trip; the policy judges them exactly as Redis hits. See the
    module docstring for how it stays coherent.

    Args:
        max_bytes: the most the entries may hold, counting their bytes, key names and
            a fixed overhead per entry; the least recently used go first.
    """

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise invalid("NearCache", "max_bytes", "a positive number of bytes", max_bytes)
        if hiredis is None:  # pragma: no cover - hiredis is an optional extra
            raise ConfigurationError(
                "NearCache: near_cache needs hiredis (pip install 'routecache[hiredis]')"
            )
        self.max_bytes = max_bytes
        self.target: NearTarget | None = None
        #: Served from L1, looked up and not there (or not ready), admitted, evicted by
        #: an invalidation message, refused at admission by the race guard, flushes.
        self.counts: collections.Counter[str] = collections.Counter()
        self._reset()
        _ALL_LIVE.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._items: collections.OrderedDict[str, NearEntry] = collections.OrderedDict()
        self._by_key: dict[bytes, set[str]] = {}
        self.size = 0
        #: True only while the tracking connection is subscribed and healthy.
        self.ready = False
        #: One step per invalidated key name (and a jump per loss of tracking).
        self._seq = 0
        #: Tokens below this were taken before the last loss of tracking.
        self._floor = 0
        self._recent: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=RECENT)
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_heard = 0.0
        self._ping_sent = 0.0
        #: Set each time tracking is (re-)established; for tests and tools.
        self.tracking = threading.Event()

    def __repr__(self) -> str:
        return f"NearCache(max_bytes={self.max_bytes})"

    # -- configuration ---------------------------------------------------------------

    def bind(self, target: NearTarget) -> None:
        """Attach to the Redis server and prefix a store reads (no I/O). A near cache
        serves one server and prefix; the sync and async twins of a store may share it."""
        if self.target is not None and self.target != target:
            raise ConfigurationError(
                "NearCache: near_cache is already bound to another Redis server or "
                "prefix; give each store its own NearCache"
            )
        self.target = target

    # -- the hit path -----------------------------------------------------------------

    def get(self, name: str) -> NearEntry | None:
        """The L1 entry named ``name``, or ``None`` (absent, past its deadline, or the
        near cache not ready: the caller reads Redis)."""
        if not self.ready:
            if self._thread is None:
                self.start()
            self.counts["missed"] += 1
            return None
        with self._lock:
            self._drain()
            item = self._items.get(name)
            if item is None or not self.ready:
                self.counts["missed"] += 1
                return None
            if time.monotonic() >= item.deadline:
                self._remove(name)
                self.counts["missed"] += 1
                return None
            self._items.move_to_end(name)
            self.counts["served"] += 1
            return item

    def token(self) -> int | None:
        """Taken before a read is sent: the admission ticket of its reply (``None``
        when not ready: the reply is not admitted)."""
        return self._seq if self.ready else None

    def admit(
        self,
        name: str,
        keys: tuple[str, ...],
        data: bytes,
        gen: bytes,
        deadline: float,
        token: int | None,
    ) -> bool:
        """Keep the reply of a read sent with ``token``, unless one of ``keys`` was
        invalidated since (or tracking was lost): True when kept."""
        if token is None:
            return False
        raw_keys = tuple(key.encode("utf-8", "surrogateescape") for key in keys)
        size = len(data) + len(gen) + sum(len(key) for key in raw_keys) + len(name)
        size += ENTRY_OVERHEAD
        if size > self.max_bytes:
            return False
        with self._lock:
            self._drain()
            if not self.ready or token < self._floor:
                self.counts["refused"] += 1
                return False
            if token != self._seq:
                if self._seq - token > len(self._recent):
                    self.counts["refused"] += 1
                    return False
                for seq, key in reversed(self._recent):
                    if seq <= token:
                        break
                    if key in raw_keys:
                        self.counts["refused"] += 1
                        return False
            if name in self._items:
                self._remove(name)
            self._items[name] = NearEntry(data, gen, raw_keys, deadline, size)
            for key in raw_keys:
                self._by_key.setdefault(key, set()).add(name)
            self.size += size
            while self.size > self.max_bytes:
                self._remove(next(iter(self._items)))
            self.counts["admitted"] += 1
            return True

    def evict_keys(self, keys: list[str] | tuple[str, ...]) -> None:
        """This process changed ``keys``: drop what was built from them now, and refuse
        the replies in flight that read them (their push message follows)."""
        with self._lock:
            self._invalidate([key.encode("utf-8", "surrogateescape") for key in keys])

    def clear(self) -> None:
        """Drop every entry, and refuse every reply in flight."""
        with self._lock:
            self._flush()

    # -- bookkeeping (under the lock) -------------------------------------------------

    def _remove(self, name: str) -> None:
        item = self._items.pop(name, None)
        if item is None:
            return
        self.size -= item.size
        for key in item.keys:
            names = self._by_key.get(key)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_key[key]

    def _invalidate(self, keys: list[bytes]) -> None:
        for key in keys:
            self._seq += 1
            self._recent.append((self._seq, key))
            for name in self._by_key.pop(key, ()):
                if name in self._items:
                    self.counts["evicted"] += 1
                    self._remove(name)

    def _flush(self) -> None:
        self._items.clear()
        self._by_key.clear()
        self._recent.clear()
        self.size = 0
        self._seq += RECENT + 1
        self._floor = self._seq
        self.counts["flushes"] += 1

    def _lost(self) -> None:
        """Tracking state unknown: flush, bypass, refuse every reply in flight."""
        self.ready = False
        self.tracking.clear()
        self._flush()
        sock, self._sock = self._sock, None
        if sock is not None:
            # shutdown() first: it wakes the tracking thread's select() on it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _drain(self) -> None:
        """Apply what the tracking socket holds, without blocking. Anything unexpected
        (a reply that does not parse) is a lost connection, never an error for the
        lookup that drained."""
        try:
            self._drain_socket()
        except Exception:
            self._lost()

    def _drain_socket(self) -> None:
        sock = self._sock
        if sock is None:
            return
        reader = self._reader
        heard = False
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._lost()
                return
            if not chunk:
                self._lost()
                return
            reader.feed(chunk)
            heard = True
        if not heard:
            return
        self._last_heard = time.monotonic()
        self._ping_sent = 0.0
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                keys = reply[2]
                if keys is None:  # FLUSHALL / FLUSHDB: everything is gone
                    self._flush()
                else:
                    self._invalidate(keys)
            elif isinstance(reply, list) and reply and reply[0] == b"pong":
                continue
            else:  # anything else means the connection is not what it should be
                self._lost()
                return

    # -- the tracking connection ------------------------------------------------------

    def start(self) -> None:
        """Start the tracking thread (idempotent; done by the first lookup)."""
        if self.target is None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="routecache-near-cache", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop the tracking thread and drop every entry (the next lookup starts it
        again)."""
        stop, thread = self._stop, self._thread
        stop.set()
        with self._lock:
            self._lost()
            self._stop = threading.Event()
            self._thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)

    def _run(self) -> None:
        stop = self._stop
        backoff = 0.05
        while not stop.is_set():
            try:
                sock, reader = self._connect()
            except Exception:
                stop.wait(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            with self._lock:
                if stop.is_set():
                    sock.close()
                    return
                self._flush()
                self._sock, self._reader = sock, reader
                self._last_heard = time.monotonic()
                self._ping_sent = 0.0
                self.ready = True
                self.tracking.set()
            try:
                self._watch(sock, stop)
            except Exception:
                with self._lock:
                    if self._sock is sock:
                        self._lost()

    def _watch(self, sock: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set() and self._sock is sock:
            try:
                readable, _, _ = select.select([sock], [], [], PING_AFTER / 2)
            except (OSError, ValueError):
                readable = [sock]
            with self._lock:
                if self._sock is not sock:
                    return
                if readable:
                    self._drain()
                    continue
                now = time.monotonic()
                if self._ping_sent and now - self._ping_sent > PING_TIMEOUT:
                    self._lost()
                    return
                if not self._ping_sent and now - self._last_heard > PING_AFTER:
                    try:
                        sock.send(_command(b"PING"))
                    except OSError:
                        self._lost()
                        return
                    self._ping_sent = now

    def _connect(self) -> tuple[socket.socket, Any]:
        target = self.target
        assert target is not None
        timeout = target.connect_timeout
        if target.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(target.path)
        else:
            sock = socket.create_connection((target.host or "localhost", target.port), timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = hiredis.Reader()
        try:
            if target.password is not None:
                auth = [b"AUTH", target.password.encode()]
                if target.username:
                    auth.insert(1, target.username.encode())
                self._ask(sock, reader, _command(*auth))
            my_id = self._ask(sock, reader, _command(b"CLIENT", b"ID"))
            self._ask(
                sock,
                reader,
                _command(
                    b"CLIENT",
                    b"TRACKING",
                    b"on",
                    b"REDIRECT",
                    str(my_id).encode(),
                    b"BCAST",
                    b"PREFIX",
                    f"{target.prefix}:".encode("utf-8", "surrogateescape"),
                ),
            )
            self._ask(sock, reader, _command(b"SUBSCRIBE", b"__redis__:invalidate"))
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        return sock, reader

    @staticmethod
    def _ask(sock: socket.socket, reader: Any, command: bytes) -> Any:
        sock.sendall(command)
        while True:
            reply = reader.gets()
            if reply is not False:
                if isinstance(reply, Exception):
                    raise ConnectionError(f"tracking handshake refused: {reply}")
                return reply
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("Redis closed the tracking connection")
            reader.feed(chunk)

    def _after_fork(self) -> None:
        target, self.target = self.target, None
        self.counts.clear()
        self._reset()
        self.target = target


def _reset_after_fork() -> None:
    for near in list(_ALL_LIVE):
        near._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def near_cache_option(value: Any) -> NearCache | None:
    """The ``near_cache`` store option: a :class:`NearCache`, a dict of its options, or
    ``None``."""
    if value is None or isinstance(value, NearCache):
        return value
    if isinstance(value, dict):
        try:
            return NearCache(**value)
        except TypeError as exc:
            raise ConfigurationError(f"NearCache: {exc}") from None
    raise invalid("Redis store", "near_cache", "a NearCache, a dict of its options or None", value)


def near_target(client: Any, prefix: str, *, cluster: bool, sentinel: bool) -> NearTarget:
    """The tracking connection's target for a store's client; a
    :class:`ConfigurationError` where a near cache is not supported yet."""
    if cluster:
        raise ConfigurationError(
            "Redis store: near_cache is not supported with Redis Cluster yet "
            "(tracking would be needed on every node)"
        )
    if sentinel:
        raise ConfigurationError(
            "Redis store: near_cache is not supported with Redis Sentinel yet "
            "(the tracking connection would not follow a failover)"
        )
    import redis.asyncio.connection
    import redis.connection

    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    connection_class = pool.connection_class
    if connection_class in (redis.connection.Connection, redis.asyncio.connection.Connection):
        path = None
    elif connection_class in (
        redis.connection.UnixDomainSocketConnection,
        redis.asyncio.connection.UnixDomainSocketConnection,
    ):
        path = kwargs.get("path")
    else:
        raise ConfigurationError(
            "Redis store: near_cache is supported over plain TCP or a Unix socket only "
            f"(not {connection_class.__name__}) for now"
        )
    if kwargs.get("credential_provider"):
        raise ConfigurationError(
            "Redis store: near_cache does not support a credential_provider yet"
        )
    return NearTarget(
        host=kwargs.get("host", "localhost"),
        port=int(kwargs.get("port", 6379)),
        path=path,
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        prefix=prefix,
        connect_timeout=float(kwargs.get("socket_connect_timeout") or 5.0),
    )
