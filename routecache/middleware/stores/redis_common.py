"""What the sync and async Redis stores share: Lua scripts, clients, fault handling.

The stores themselves (``redis_async.py`` and its generated twin ``redis_sync.py``)
only issue commands; everything here is plain code with no I/O of its own.

Every multi-key script touches keys of one path only (one ``{hash tag}``), so each is
atomic on a single Redis Cluster slot.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.backoff
import redis.cluster
import redis.exceptions
import redis.retry
import redis.sentinel

from ..errors import ConfigurationError, StoreError, invalid, unknown_option
from .base import KeySpace, LockState
from .faults import CircuitBreaker, FaultLog

__all__ = [
    "ASYNC_CLIENT_TYPES",
    "BATCH",
    "BUMP_GENS",
    "CONNECTIVITY",
    "FAULTS",
    "GEN_BATCH",
    "GET_OR_LOCK",
    "INVALIDATE_PATH",
    "LOCK",
    "MARK_TAG",
    "PASS_MARKER",
    "RELEASE",
    "SCAN_COUNT",
    "SCRIPTS",
    "SET_ENTRY",
    "SWEEP_ENTRIES",
    "SWEEP_PATH",
    "SYNC_CLIENT_TYPES",
    "TAG_ADD",
    "TAG_REMOVE",
    "SentinelURL",
    "StoreGuard",
    "failed",
    "group_by_slot",
    "is_entry_key",
    "is_out_of_memory",
    "is_sentinel_client",
    "make_async_client",
    "make_sync_client",
    "parse_sentinel_url",
    "refused",
    "sentinels_of",
    "twin_store",
]

PASS_MARKER = b"\x00pass"

#: Entries deleted per call by the invalidation scripts (four commands each): about
#: half a millisecond of Redis time per call, whatever the size of the path or tag.
BATCH = 100
#: Path generations replaced per call when a tag is fenced (two commands each).
GEN_BATCH = 250
#: Members asked of ``ZSCAN`` per page of an index.
SCAN_COUNT = 500

#: KEYS: entry, variant (or entry again), path index, path gen, entry gen, variant gen.
#: ARGV: data, ttl ms, expiry ms (score), now ms, has variant, expected gen ('*': any),
#: new gen (used when the path has none; it starts with 'w').
#: Returns 0, writing nothing, when the path generation is not the expected one (the
#: path was invalidated since the fetch began). A fetch that found no generation
#: accepts one created by another write (it starts with 'w'), never one an
#: invalidation set (it starts with 'i'): concurrent first writes of a path's keys do
#: not refuse each other.
SET_ENTRY = """
local g = redis.call('GET', KEYS[4])
if ARGV[6] == '' then
  if g and string.sub(g, 1, 1) ~= 'w' then return 0 end
elseif ARGV[6] ~= '*' and g ~= ARGV[6] then
  return 0
end
if not g then
  g = ARGV[7]
  redis.call('SET', KEYS[4], g, 'PX', ARGV[2])
else
  local t = redis.call('PTTL', KEYS[4])
  if t >= 0 and t < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[4], ARGV[2]) end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[5], g, 'PX', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], KEYS[1])
if ARGV[5] == '1' then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[6], g, 'PX', ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[3], KEYS[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
local t = redis.call('PTTL', KEYS[3])
if t == -1 or t < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
return 1
"""

#: KEYS: tag index, tag mark. ARGV: expiry ms (score), now ms, ttl ms, member keys...
#: Returns how many microseconds ago (by this Redis node's clock) the tag was last
#: invalidated, or -1 when it was not lately.
TAG_ADD = """
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local t = redis.call('PTTL', KEYS[1])
if t == -1 or t < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local m = redis.call('GET', KEYS[2])
if not m then return -1 end
local now = redis.call('TIME')
return math.max(0, tonumber(now[1]) * 1000000 + tonumber(now[2]) - tonumber(m))
"""

#: KEYS: path gen, path index. ARGV: new gen, fence ttl ms, batch size.
#: Replaces the generation, kept at least as long as the old one (every entry of the
#: path is unservable from here on), then deletes up to one batch of the (now fenced)
#: entries. Returns {deleted, left in index}.
#: The entries share the index's hash tag, so this stays on one slot.
INVALIDATE_PATH = """
local t = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(t, tonumber(ARGV[2])))
local members = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[3]) - 1)
local n = 0
for i = 1, #members do
  n = n + redis.call('UNLINK', members[i])
  redis.call('UNLINK', members[i] .. ':g')
end
if #members > 0 then redis.call('ZREM', KEYS[2], unpack(members)) end
return {n, redis.call('ZCARD', KEYS[2])}
"""

#: KEYS: path index, path gen. ARGV: member keys (one batch, from ZSCAN).
#: Deletes the members that are fenced (written under another generation) and drops
#: them from the index; members written after the invalidation stay. Returns how many
#: entries it deleted.
SWEEP_PATH = """
local g = redis.call('GET', KEYS[2])
local n = 0
for i = 1, #ARGV do
  local m = ARGV[i]
  if not g or redis.call('GET', m .. ':g') ~= g then
    n = n + redis.call('UNLINK', m)
    redis.call('UNLINK', m .. ':g')
    redis.call('ZREM', KEYS[1], m)
  end
end
return n
"""

#: KEYS: triples (entry, entry gen, path gen) of one batch of a tag's members.
#: Deletes the fenced ones; returns the positions (1-based triples) it handled, so the
#: caller drops exactly those from the tag index: positive when the entry existed,
#: negative when it was already gone.
SWEEP_ENTRIES = """
local gone = {}
for i = 1, #KEYS, 3 do
  local g = redis.call('GET', KEYS[i + 2])
  if not g or redis.call('GET', KEYS[i + 1]) ~= g then
    local n = redis.call('UNLINK', KEYS[i])
    redis.call('UNLINK', KEYS[i + 1])
    gone[#gone + 1] = n == 1 and (i + 2) / 3 or -(i + 2) / 3
  end
end
return gone
"""

#: KEYS: tag index. ARGV: pairs (member, score). Drops a member only when its score is
#: still the one seen when it was fenced: a member written again since (a new expiry)
#: stays reachable by tag.
TAG_REMOVE = """
local n = 0
for i = 1, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[i + 1]) then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return n
"""

#: KEYS: tag mark, tag index. ARGV: fence ttl ms. Marks the tag invalidated now (the
#: node's clock, in microseconds: writers in flight compare its age with theirs and are
#: refused); returns how many members the index has.
MARK_TAG = """
if redis.replicate_commands then redis.replicate_commands() end
local now = redis.call('TIME')
redis.call('SET', KEYS[1], now[1] .. string.format('%06d', tonumber(now[2])), 'PX', ARGV[1])
return redis.call('ZCARD', KEYS[2])
"""

#: KEYS: path gens. ARGV: new gen, fence ttl ms. Replaces each generation, keeping it
#: at least as long as the old one (so it outlives every entry written under that).
BUMP_GENS = """
for i = 1, #KEYS do
  local t = redis.call('PTTL', KEYS[i])
  redis.call('SET', KEYS[i], ARGV[1], 'PX', math.max(t, tonumber(ARGV[2])))
end
return #KEYS
"""

#: KEYS: entry, lock, entry gen, path gen.
#: ARGV: token, lock ttl ms, pass marker, '1' to look at the entry.
#: Returns {1, data, gen} found, {2, gen} lock acquired, {3, gen} pass marker,
#: {4, gen} busy (gen: the path generation, '' when none). A fenced entry is not found,
#: nor a key of another type at the entry's address (``pcall``: no error).
GET_OR_LOCK = """
local g = redis.call('GET', KEYS[4])
if ARGV[4] == '1' and g then
  local v = redis.pcall('GET', KEYS[1])
  if type(v) == 'string' and redis.call('GET', KEYS[3]) == g then return {1, v, g} end
end
g = g or ''
local l = redis.call('GET', KEYS[2])
if not l then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {2, g}
end
if l == ARGV[3] then return {3, g} end
return {4, g}
"""

#: KEYS: lock, path gen. ARGV: token, lock ttl ms. Returns {1, gen} taken, {0} not.
LOCK = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GET', KEYS[2]) or ''}
end
return {0}
"""

#: KEYS: lock. ARGV: token, pass marker or '' , pass ttl ms.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  else
    redis.call('DEL', KEYS[1])
  end
  return 1
end
return 0
"""

#: Every script a store registers, by the name its connections keep it under.
SCRIPTS: Final = {
    "set_entry": SET_ENTRY,
    "tag_add": TAG_ADD,
    "invalidate_path": INVALIDATE_PATH,
    "sweep_path": SWEEP_PATH,
    "sweep_entries": SWEEP_ENTRIES,
    "tag_remove": TAG_REMOVE,
    "mark_tag": MARK_TAG,
    "bump_gens": BUMP_GENS,
    "get_or_lock": GET_OR_LOCK,
    "lock": LOCK,
    "release": RELEASE,
}

LOCK_STATES = {1: LockState.FOUND, 2: LockState.ACQUIRED, 3: LockState.PASS, 4: LockState.BUSY}

#: Errors that mean "Redis misbehaved" (down, slow, full, read-only, cluster moving).
FAULTS: tuple[type[BaseException], ...] = (
    redis.exceptions.RedisError,
    OSError,
    TimeoutError,
    EOFError,
)
#: The faults that say Redis cannot be reached (refused, reset, timed out, a cluster
#: or master down): only these open the circuit breaker. Any other error is a reply,
#: and a reply proves Redis is up (``OOM``, ``WRONGTYPE``, ``READONLY``...).
CONNECTIVITY: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.MasterDownError,
    redis.exceptions.TryAgainError,
    OSError,
    TimeoutError,
    EOFError,
)


def is_out_of_memory(exc: BaseException) -> bool:
    """An ``OOM`` reply: ``maxmemory`` reached under ``noeviction`` (writes refused)."""
    return isinstance(exc, redis.exceptions.OutOfMemoryError) or (
        isinstance(exc, redis.exceptions.ResponseError) and str(exc).startswith("OOM")
    )


class StoreGuard:
    """Wraps one store call: refuses while the breaker is open, turns faults into
    :class:`StoreError` after counting and (rate-limited) logging them.

    Usable with ``with`` and ``async with`` (the sync store is generated from the
    async one, so both forms are needed).
    """

    __slots__ = ("_deadline", "breaker", "faults", "force", "operation", "timeout")

    def __init__(
        self,
        breaker: CircuitBreaker,
        faults: FaultLog,
        operation: str,
        timeout: float | None = None,
        *,
        force: bool = False,
    ) -> None:
        self.breaker = breaker
        self.faults = faults
        self.operation = operation
        #: Never refused by an open breaker (invalidations: the breaker protects
        #: lookups, not the writes that keep the cache correct).
        self.force = force
        #: asyncio only: the whole call's time limit (the sync client uses socket
        #: timeouts; redis-py's asyncio socket timeout costs a task per command).
        self.timeout = timeout
        self._deadline: AbstractAsyncContextManager[Any] | None = None

    def __enter__(self) -> None:
        if not self.force and not self.breaker.allow():
            raise refused(self.faults, self.operation)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.breaker.success()
            return
        if isinstance(exc, Exception):
            raise failed(self.breaker, self.faults, self.operation, exc) from exc
        # Cancelled: never leave a half-open breaker waiting for this trial.
        if not self.force:
            self.breaker.abandon()

    async def __aenter__(self) -> None:
        self.__enter__()
        if self.timeout is not None:
            self._deadline = async_timeout(self.timeout)
            await self._deadline.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        deadline, self._deadline = self._deadline, None
        if deadline is not None:
            try:
                await deadline.__aexit__(exc_type, exc, tb)
            except TimeoutError as timed_out:
                exc_type, exc, tb = TimeoutError, timed_out, timed_out.__traceback__
        self.__exit__(exc_type, exc, tb)


def refused(faults: FaultLog, operation: str) -> StoreError:
    """Count a call the open breaker refused; the error to raise."""
    faults.counts["refused"] += 1
    return StoreError(f"{faults.name}: circuit open, {operation} refused")


def failed(breaker: CircuitBreaker, faults: FaultLog, operation: str, exc: Exception) -> StoreError:
    """Count and log what a store call raised; the error to raise (``from exc``).

    Only connectivity faults count towards opening the breaker. Any other Redis error
    is a reply, and a reply proves Redis is up (``OOM`` is counted as ``store_full``).
    Anything else (a connection of a closed event loop, a client misused by the
    caller...) is still a bypass for the caller, never a 500, logged with its traceback
    since it may be a bug.
    """
    if isinstance(exc, CONNECTIVITY):
        breaker.failure()
        faults.record(operation, exc)
    elif isinstance(exc, FAULTS):
        breaker.success()
        faults.record(operation, exc, "store_full" if is_out_of_memory(exc) else None)
    else:
        breaker.failure()
        faults.record(operation, exc, traceback=True)
    return StoreError(f"{operation} failed: {exc}")


if sys.version_info >= (3, 11):
    from asyncio import timeout as async_timeout
else:  # pragma: no cover - Python 3.10: redis-py depends on async-timeout there
    from async_timeout import timeout as async_timeout


def now_ms() -> int:
    """Wall-clock milliseconds (index scores are expiry times)."""
    return int(time.time() * 1000)


def group_by_slot(keys: Iterable[bytes | str]) -> dict[str, list[str]]:
    """Group keys by their ``{hash tag}``: each group lives on one cluster slot."""
    groups: dict[str, list[str]] = defaultdict(list)
    for raw in keys:
        key = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        groups[KeySpace.hash_tag(key)].append(key)
    return groups


def _is_cluster_url(url: str) -> tuple[str, bool]:
    for scheme in ("redis+cluster://", "rediss+cluster://"):
        if url.startswith(scheme):
            return url.replace("+cluster", "", 1), True
    return url, False


SENTINEL_SCHEME: Final = "redis+sentinel://"
SENTINEL_PORT: Final = 26379
#: Query options of a ``redis+sentinel://`` URL, with their parsers.
SENTINEL_OPTIONS: Final = (
    "min_other_sentinels",
    "sentinel_password",
    "sentinel_username",
    "socket_connect_timeout",
    "socket_timeout",
)


@dataclass(frozen=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL (see :func:`parse_sentinel_url`)."""

    sentinels: list[tuple[str, int]]
    service_name: str
    db: int
    username: str | None
    password: str | None
    #: Keyword arguments for the connections to the sentinels themselves.
    sentinel_kwargs: dict[str, Any]
    min_other_sentinels: int


def _seconds(where: str, name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise invalid(where, name, "a positive number of seconds", raw)
    return value


def parse_sentinel_url(url: str) -> SentinelURL:
    """Parse ``redis+sentinel://[[username]:password@]host[:port][,host[:port]...]
    /service_name[/db][?option=value&...]``.

    The credentials are the master's (and replicas'); ports default to 26379; ``db``
    to 0. Options: ``sentinel_username`` / ``sentinel_password`` (when the sentinels
    require AUTH), ``socket_timeout`` / ``socket_connect_timeout`` (seconds, for the
    sentinel connections; default the store's ``timeout`` / ``connect_timeout``),
    ``min_other_sentinels`` (peers a sentinel must see for its answer to count,
    default 0). Anything else is a :class:`ConfigurationError` naming the bad part.
    """
    where = "redis+sentinel URL"
    if not url.startswith(SENTINEL_SCHEME):
        raise invalid(where, "the scheme", f"{SENTINEL_SCHEME!r}", url.partition("://")[0])
    parts = urlsplit(url)
    if parts.fragment:
        raise invalid(where, "the URL", "without a #fragment", url)
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
        if password is None:
            # redis:// reads a lone userinfo as the password: do the same.
            username, password = None, unquote(user)
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        if item.startswith("["):  # [IPv6]:port
            host, bracket, rest = item[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else rest
            if not bracket or (rest and not rest.startswith(":")):
                raise invalid(where, "each sentinel", "host[:port]", item)
        else:
            host, _, port_text = item.partition(":")
        if not host:
            raise invalid(where, "each sentinel", "host[:port] (comma-separated)", item)
        try:
            port = int(port_text) if port_text else SENTINEL_PORT
        except ValueError:
            port = -1
        if not 0 < port < 65536:
            raise invalid(where, f"the port of sentinel {host!r}", "1..65535", port_text)
        sentinels.append((host, port))
    segments = [unquote(segment) for segment in parts.path.split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash
    if not segments or not segments[0] or len(segments) > 2:
        raise invalid(where, "the path", "/service_name or /service_name/db", parts.path)
    service_name = segments[0]
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise invalid(where, "the db", "a number >= 0", segments[1])
        db = int(segments[1])
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise invalid(where, "the query", "option=value pairs joined by &", parts.query) from None
    sentinel_kwargs: dict[str, Any] = {}
    min_other = 0
    for name, value in query:
        if name not in SENTINEL_OPTIONS:
            raise unknown_option(where, name, SENTINEL_OPTIONS)
        if name in ("socket_timeout", "socket_connect_timeout"):
            sentinel_kwargs[name] = _seconds(where, name, value)
        elif name == "min_other_sentinels":
            if not value.isdigit():
                raise invalid(where, name, "a number >= 0", value)
            min_other = int(value)
        else:
            sentinel_kwargs[name.removeprefix("sentinel_")] = value
    return SentinelURL(
        sentinels=sentinels,
        service_name=service_name,
        db=db,
        username=username,
        password=password,
        sentinel_kwargs=sentinel_kwargs,
        min_other_sentinels=min_other,
    )


def _sentinel_client(url: str, *, asyncio: bool, opts: dict[str, Any]) -> Any:
    """The master client of a ``redis+sentinel://`` URL, through redis-py's own
    ``Sentinel.master_for``: its connection pool asks the sentinels for the master's
    address on every new connection, and drops its idle connections when the address
    changed, so the store follows a failover."""
    parsed = parse_sentinel_url(url)
    sentinel_kwargs = {
        "socket_timeout": opts["socket_timeout"] or opts["socket_connect_timeout"],
        "socket_connect_timeout": opts["socket_connect_timeout"],
        **parsed.sentinel_kwargs,
    }
    master_kwargs = dict(opts, db=parsed.db)
    if parsed.username is not None:
        master_kwargs["username"] = parsed.username
    if parsed.password is not None:
        master_kwargs["password"] = parsed.password
    module: Any = redis.asyncio.sentinel if asyncio else redis.sentinel
    try:
        sentinel = module.Sentinel(
            parsed.sentinels,
            min_other_sentinels=parsed.min_other_sentinels,
            sentinel_kwargs=sentinel_kwargs,
        )
        return sentinel.master_for(parsed.service_name, **master_kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"bad Redis Sentinel URL or option: {exc}") from None


def is_sentinel_client(client: Any) -> bool:
    """True for a client made by redis-py's ``Sentinel.master_for`` (sync or async)."""
    pool = getattr(client, "connection_pool", None)
    return isinstance(
        pool, (redis.sentinel.SentinelConnectionPool, redis.asyncio.sentinel.SentinelConnectionPool)
    )


def sentinels_of(client: Any) -> list[Any]:
    """The clients a ``Sentinel.master_for`` client asks the sentinels through (none
    for any other client)."""
    if not is_sentinel_client(client):
        return []
    return list(client.connection_pool.sentinel_manager.sentinels)


def _client_options(
    timeout: float, connect_timeout: float | None, extra: dict[str, Any]
) -> dict[str, Any]:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    opts = {
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout if connect_timeout is not None else timeout,
    }
    opts.update(extra)
    return opts


def _make_client(
    url: str,
    *,
    asyncio: bool,
    cluster: bool,
    timeout: float,
    connect_timeout: float | None,
    options: dict[str, Any],
) -> Any:
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(f"Redis URL must look like redis://host:port/db, got {url!r}")
    url, from_scheme = _is_cluster_url(url)
    cluster = cluster or from_scheme
    sentinel = url.startswith(SENTINEL_SCHEME)
    if sentinel and cluster:
        raise invalid("Redis store", "cluster", "False with a redis+sentinel:// URL", cluster)
    opts = _client_options(timeout, connect_timeout, options)
    if asyncio:
        # The store applies the timeout to each whole call (see StoreGuard); redis-py's
        # own socket timeout (5 s by default) would wrap every send in a task.
        opts["socket_timeout"] = None
    retry = redis.asyncio.retry.Retry if asyncio else redis.retry.Retry
    # No retries of our own: a fault is a bypass, and the breaker decides when to retry.
    opts.setdefault("retry", retry(redis.backoff.NoBackoff(), 1 if cluster else 0))
    if sentinel:
        return _sentinel_client(url, asyncio=asyncio, opts=opts)
    factory: Any
    if cluster:
        factory = redis.asyncio.cluster.RedisCluster if asyncio else redis.cluster.RedisCluster
    else:
        factory = redis.asyncio.Redis if asyncio else redis.Redis
    try:
        return factory.from_url(url, **opts)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"bad Redis URL or option: {exc}") from None


def make_sync_client(
    url: str,
    *,
    cluster: bool,
    timeout: float,
    connect_timeout: float | None,
    options: dict[str, Any],
) -> Any:
    """A redis-py client for ``url`` (``redis+cluster://`` or ``cluster=True`` for a cluster)."""
    return _make_client(
        url,
        asyncio=False,
        cluster=cluster,
        timeout=timeout,
        connect_timeout=connect_timeout,
        options=options,
    )


def make_async_client(
    url: str,
    *,
    cluster: bool,
    timeout: float,
    connect_timeout: float | None,
    options: dict[str, Any],
) -> Any:
    """A redis-py asyncio client for ``url`` (see :func:`make_sync_client`)."""
    return _make_client(
        url,
        asyncio=True,
        cluster=cluster,
        timeout=timeout,
        connect_timeout=connect_timeout,
        options=options,
    )


def is_cluster_client(client: Any) -> bool:
    """True for redis-py's sync or async ``RedisCluster``."""
    return isinstance(client, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster))


def is_entry_key(key: str, prefix: str) -> bool:
    """True for the key of an entry or a variant under ``prefix`` (not an index, a
    lock or a fence)."""
    if not key.startswith(f"{prefix}:{{") or key.startswith(f"{prefix}:{{t"):
        return False
    return not key.endswith((":g", ":gen", ":inv", ":idx", ":lock"))


def classify_keys(keys: Iterable[bytes], prefix: str) -> dict[str, int]:
    """Count keys under ``prefix`` by kind (entries, variants, indexes, locks, and the
    generation keys and tag marks of the fencing, as ``fences``; the fleet view's
    counters as ``metrics``)."""
    counts = {
        "entries": 0,
        "variants": 0,
        "path_indexes": 0,
        "tag_indexes": 0,
        "locks": 0,
        "fences": 0,
        "metrics": 0,
    }
    tag_prefix = f"{prefix}:{{t".encode()
    metrics_prefix = f"{prefix}:metrics:".encode()
    for key in keys:
        if key.startswith(metrics_prefix):
            counts["metrics"] += 1
        elif key.endswith((b":g", b":gen", b":inv")):
            counts["fences"] += 1
        elif key.startswith(tag_prefix):
            counts["tag_indexes"] += 1
        elif key.endswith(b":idx"):
            counts["path_indexes"] += 1
        elif key.endswith(b":lock"):
            counts["locks"] += 1
        elif key.count(b":", key.find(b"}")) >= 2:
            counts["variants"] += 1
        else:
            counts["entries"] += 1
    return counts


#: Client classes each store accepts ready-made.
ASYNC_CLIENT_TYPES: tuple[type, ...] = (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)
SYNC_CLIENT_TYPES: tuple[type, ...] = (redis.Redis, redis.cluster.RedisCluster)


def twin_store(store: Any, *, want_async: bool) -> Any:
    """``store`` itself if it has the wanted flavour, else its twin on the same URL.

    A store built around a ready client cannot be twinned (we do not know how to make
    the other kind of client): that is a configuration error naming the fix.
    """
    if store.is_async == want_async:
        return store
    if store.url is None:
        wanted = "AsyncRedisStore" if want_async else "RedisStore"
        raise ConfigurationError(
            f"this driver needs a {wanted}; {type(store).__name__} was given a ready client, "
            f"so pass a {wanted} (or a URL) instead"
        )
    twin = getattr(store, "_twin", None)
    if twin is None:
        if want_async:
            from .redis_async import AsyncRedisStore as cls
        else:
            from .redis_sync import RedisStore as cls  # type: ignore[assignment]
        twin = cls(store.url, **store.settings)
        store._twin = twin
        twin._twin = store
    return twin
