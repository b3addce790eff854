"""Small helpers shared by the conformance cases.

They use nothing but the harness (:class:`Resp`) and a plain redis-py client, so every
case that uses them still runs unchanged through every adapter binding.
"""

from __future__ import annotations

import re
from email.utils import formatdate

import pytest
import redis

from routecache.middleware.stores.base import KeySpace
from tests.conformance.harness import Resp

#: Run a case on the Redis stores only (it inspects Redis itself), with and without L1.
REDIS_ONLY = pytest.mark.parametrize("store_kind", ["redis", "redis-near"])

#: Fields that legitimately differ between a miss and the hit replaying it.
REPLAY_FIELDS = frozenset({"age", "cache-status"})

_TTL = re.compile(r"(?:^|;\s*)ttl=(-?\d+)")
_HIT = re.compile(r"^routecache; hit; ttl=(-?\d+)$")


def http_date(when: float) -> str:
    """An IMF-fixdate (``Date``, ``Expires``, ``Last-Modified``) for epoch ``when``."""
    return formatdate(when, usegmt=True)


def hit_ttl(resp: Resp) -> int:
    """The ``ttl`` of a plain hit (``routecache; hit; ttl=N``); fails on anything else."""
    match = _HIT.match(resp.cache_status)
    assert match is not None, f"not a plain hit: Cache-Status {resp.cache_status!r}"
    return int(match.group(1))


def status_ttl(resp: Resp) -> int | None:
    """The ``ttl=`` parameter of the response's ``Cache-Status`` (``None`` when absent)."""
    match = _TTL.search(resp.cache_status)
    return None if match is None else int(match.group(1))


def replayed(resp: Resp, *, ignore: frozenset[str] = REPLAY_FIELDS) -> list[tuple[str, str]]:
    """The response's header lines, sorted, without the fields a replay changes."""
    return sorted((k, v) for k, v in resp.headers if k not in ignore)


def age(resp: Resp) -> int:
    """The ``Age`` of a response as an integer (fails when absent or malformed)."""
    value = resp.header("age")
    assert value is not None, f"no Age in {resp.headers}"
    assert value.isdigit(), f"bad Age {value!r}"
    return int(value)


def redis_keys(client: redis.Redis, prefix: str) -> list[bytes]:
    """Every key under the store's prefix (a SCAN, like the store's own purge)."""
    return sorted(client.scan_iter(match=f"{prefix}:*", count=1000))


def entry_keys(client: redis.Redis, prefix: str) -> list[bytes]:
    """The entry keys (primary and variants) under ``prefix``: not indexes, not locks,
    not the generations that fence them."""
    tag_prefix = KeySpace(prefix).tag_prefix.encode()
    return [
        k
        for k in redis_keys(client, prefix)
        if not k.startswith(tag_prefix) and not k.endswith((b":idx", b":lock", b":g", b":gen"))
    ]


def hash_tag(key: bytes) -> bytes:
    """The ``{...}`` part of a Redis key."""
    start = key.index(b"{")
    return key[start + 1 : key.index(b"}", start)]


#: Served by the cache without calling the view again: a hit, or (over a real server)
#: a share of the first request's fetch while its write-behind store is still landing.
FROM_CACHE = re.compile(r"routecache; (hit; ttl=-?\d+|fwd=uri-miss; collapsed)$")
