"""MemoryStore holds its lock and pass records within ``max_bytes`` and their expiry.

Every distinct URL whose response is not storable leaves a single-flight record (the
lock, then a pass marker): client-chosen query strings must not grow the process.
The one-million-URL run is ``python -m benchmarks.memory --one unstorable``.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import pytest

from routecache import MemoryStore
from routecache.middleware.asgi import CacheMiddleware
from routecache.middleware.keys import request_key
from routecache.middleware.stores import memory as memory_module
from routecache.middleware.stores.base import LockState

MAX_BYTES = 256 * 1024


def _key(i: int) -> Any:
    return request_key(
        method="GET",
        scheme="http",
        host="example.com",
        path="/search",
        query=f"q={i}".encode(),
        headers={},
        rule=None,
    )


def _unstorable_miss(store: MemoryStore, i: int) -> None:
    """What the engine does for a miss whose response is not stored."""
    key = _key(i)
    assert store.get(key) is None
    state, _ = store.get_or_lock(key, f"token-{i}", 10.0)
    assert state == LockState.ACQUIRED
    store.release(key, f"token-{i}", passed=True)  # the pass marker


def test_lock_and_pass_records_stay_within_max_bytes() -> None:
    store = MemoryStore(max_bytes=MAX_BYTES)
    keys = [_key(i) for i in range(30_000)]  # made up front: not part of the measure
    tracemalloc.start()
    try:
        for i in range(10_000):
            _unstorable_miss(store, i)
        settled, _ = tracemalloc.get_traced_memory()
        for i in range(10_000, 30_000):
            key = keys[i]
            store.get_or_lock(key, "t", 10.0)
            store.release(key, "t", passed=True)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stats = store.stats()
    assert stats["lock_bytes"] <= MAX_BYTES // 4
    assert stats["bytes"] + stats["lock_bytes"] <= MAX_BYTES
    # 20,000 more distinct URLs: flat (a leak of one record each would be ~7 MB).
    assert after - settled < 64 * 1024, after - settled
    # The newest records are kept: the pass marker still spares the next requests.
    assert store.get_or_lock(keys[-1], "late", 10.0) == (LockState.PASS, None)


def test_expired_lock_and_pass_records_are_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(memory_module.time, "time", lambda: now[0])
    store = MemoryStore()
    for i in range(1000):
        _unstorable_miss(store, i)
    assert store.stats()["locks"] == 1000
    now[0] += 60  # past every pass marker (5 s) and lock (10 s)
    _unstorable_miss(store, 5000)
    assert store.stats()["locks"] == 1
    assert store.stats()["lock_bytes"] < 1024


def test_entries_and_records_share_max_bytes() -> None:
    store = MemoryStore(max_bytes=MAX_BYTES)
    for i in range(100):
        store.set(_key(100_000 + i), b"x" * 2000, 60)
    for i in range(20_000):
        _unstorable_miss(store, i)
    stats = store.stats()
    assert stats["bytes"] + stats["lock_bytes"] <= MAX_BYTES
    assert stats["entries"] > 0  # locks are capped at a quarter: entries keep the rest


def test_unstorable_urls_through_the_middleware_leave_the_store_flat() -> None:
    store = MemoryStore(max_bytes=MAX_BYTES)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"cache-control", b"private")],
            }
        )
        await send({"type": "http.response.body", "body": b"personal"})

    middleware = CacheMiddleware(app, store=store, honor_cache_control=True)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def main() -> None:
        for i in range(5_000):
            scope = {
                "type": "http",
                "method": "GET",
                "scheme": "http",
                "path": "/search",
                "query_string": f"q={i}".encode(),
                "headers": [(b"host", b"example.com")],
                "server": ("example.com", 80),
            }
            await middleware(scope, receive, send)

    asyncio.run(main())
    stats = store.stats()
    assert stats["entries"] == 0
    assert 0 < stats["lock_bytes"] <= MAX_BYTES // 4
    assert stats["locks"] < 5_000
