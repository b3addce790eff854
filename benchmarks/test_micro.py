"""Micro-benchmarks of the hit path's pure parts: key derivation, codec, policy.

Run with ``python -m pytest benchmarks/test_micro.py --benchmark-only`` (needs the
``bench`` extra, which brings pytest-benchmark). They are not part of the test suite
(``testpaths`` is ``tests``) and assert nothing about time: each checks only that the
benchmarked call gives the right answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from routecache import Codec, Entry, Rule
from routecache.middleware.entry import DecodedEntries, decode_entry
from routecache.middleware.keys import request_key
from routecache.middleware.policy import CachePolicy, RequestFacts

pytest.importorskip("pytest_benchmark")

RULE = Rule("/items/{id}", ttl=300, tags=["item:{id}"])
HEADERS = {"host": "localhost:8000", "user-agent": "wrk", "accept": "*/*"}


def _facts(path: str = "/items/7") -> RequestFacts:
    return RequestFacts(
        method="GET",
        scheme="http",
        host="localhost:8000",
        path=path,
        query=b"fields=name,price&utm_source=x",
        headers=HEADERS,
    )


def _entry(size: int) -> Entry:
    return Entry(
        status=200,
        headers=[
            (b"content-type", b"application/json"),
            (b"date", b"Wed, 25 Nov 2026 22:00:00 GMT"),
            (b"etag", b'"0123456789abcdef01234567"'),
            (b"vary", b"accept-encoding"),
        ],
        body=b"x" * size,
        stored_at=1_790_000_000.0,
        fresh_for=300.0,
        etag=b'"0123456789abcdef01234567"',
        tags=["item:7"],
    )


def test_request_key(benchmark: Any) -> None:
    """Deriving a key from scratch (parse, filter and sort the query, hash)."""
    key = benchmark(
        request_key,
        method="GET",
        scheme="http",
        host="localhost:8000",
        path="/items/7",
        query=b"fields=name,price&utm_source=x",
        headers=HEADERS,
        rule=RULE,
    )
    assert len(key.digest) == 32


def test_plan_memoised(benchmark: Any) -> None:
    """The policy's request decision for a URL it has seen (key memoised)."""
    policy = CachePolicy([RULE])
    facts = _facts()
    policy.plan(facts)
    plan = benchmark(policy.plan, facts)
    assert plan.key is not None


@pytest.mark.parametrize("size", [1024, 65536])
def test_encode(benchmark: Any, size: int) -> None:
    """Encoding an entry (raw below the compression threshold, zstd/zlib above)."""
    codec = Codec(compress_min_size=16384)
    data = benchmark(codec.encode, _entry(size))
    assert data.startswith(b"RCE")


@pytest.mark.parametrize("size", [1024, 65536])
@pytest.mark.parametrize("compression", [None, "auto"])
def test_decode(benchmark: Any, size: int, compression: str | None) -> None:
    """Decoding an entry: the per-hit cost of the codec."""
    data = Codec(compression, compress_min_size=16384).encode(_entry(size))
    entry = benchmark(decode_entry, data)
    assert entry is not None
    assert len(entry.body) == size


@pytest.mark.parametrize("size", [1024, 65536])
def test_decode_memoised(benchmark: Any, size: int) -> None:
    """The hit path's decode of a hot key: the engine's memo of recent writes (the
    checksum is still verified on every call)."""
    data = Codec(None).encode(_entry(size))
    memo = DecodedEntries()
    entry = benchmark(memo.decode, "digest", data)
    assert entry is not None
    assert len(entry.body) == size


def test_serve(benchmark: Any) -> None:
    """Building the replayed response (Age, Cache-Status, Content-Length)."""
    policy = CachePolicy([RULE])
    plan = policy.plan(_facts())
    entry = _entry(1024)
    served = benchmark(policy.serve, plan, entry, 1_790_000_010.0)
    assert served.status == 200
