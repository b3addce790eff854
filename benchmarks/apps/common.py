"""The shared workload: environment, the JSON body, the view's 20 ms "database" and the counter.

Every app reads its settings from the environment the runner sets:

- ``BENCH_REDIS_URL``: the private redis-server of this run (one database per configuration);
- ``BENCH_BODY_SIZE``: body size in bytes, 1024 (default) or 65536;
- ``BENCH_NAME``: the configuration's name (used for the view-call counter key).

Each call of a caching view increments ``bench:calls`` in the configuration's Redis
database, so the runner can check that the hit phase served only hits and count view
calls in the miss storm.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from functools import lru_cache
from typing import Any

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6399/0")
BODY_SIZE = int(os.environ.get("BENCH_BODY_SIZE", "1024"))
NAME = os.environ.get("BENCH_NAME", "bench")
TTL = 300
VIEW_DELAY = 0.020  # the "database"
CALLS_KEY = "bench:calls"
CONTENT_TYPE = "application/json"
PATH_TEMPLATE = "/items/{id}"

# Same encoding as Starlette's JSONResponse, so a library that decodes and re-encodes the
# payload (fastapi-cache2) produces the same bytes.
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _item(item_id: int, n: int) -> dict[str, Any]:
    # Fixed-width fields so every item has the same length.
    return {
        "sku": f"sku-{item_id % 1000000:06d}-{n:05d}",
        "name": f"Item number {n:05d}",
        "price": 10000 + n,
        "tags": ["red", "large"],
        "stock": 500,
    }


_ITEM_LEN = len(_dumps(_item(0, 0))) + 1


@lru_cache(maxsize=8)
def _item_count(size: int) -> int:
    # Leave room for the envelope ({"id":...,"fields":...,"items":[...],"pad":""}).
    return max(0, (size - 160) // _ITEM_LEN)


def make_payload(item_id: int, fields: str, size: int = BODY_SIZE) -> dict[str, Any]:
    """The view's result as a dict whose compact JSON encoding is exactly ``size`` bytes."""
    fields = fields[:40]
    payload: dict[str, Any] = {
        "id": item_id,
        "fields": fields,
        "items": [_item(item_id, n) for n in range(_item_count(size))],
        "pad": "",
    }
    missing = size - len(_dumps(payload).encode())
    if missing < 0:
        raise ValueError(f"body size {size} is too small for the envelope")
    payload["pad"] = "x" * missing
    return payload


def make_body(item_id: int, fields: str, size: int = BODY_SIZE) -> bytes:
    """The view's JSON body, exactly ``size`` bytes (one encoding pass, then the padding)."""
    fields = fields[:40]
    payload = {
        "id": item_id,
        "fields": fields,
        "items": [_item(item_id, n) for n in range(_item_count(size))],
        "pad": "",
    }
    base = _dumps(payload).encode()  # ends with b'"pad":""}'
    missing = size - len(base)
    if missing < 0:
        raise ValueError(f"body size {size} is too small for the envelope")
    return b"%s%s%s" % (base[:-2], b"x" * missing, base[-2:])


PREBUILT_BODY = make_body(1, "name,price")
"""What the bare-framework ceilings return for every request."""

if os.environ.get("BENCH_GC_LOG"):  # benchmarks.gc_hits --server-log
    from benchmarks.apps import gc_log

    gc_log.install(os.environ["BENCH_GC_LOG"], NAME)


_async_redis: Any = None
_sync_redis: Any = None


async def count_call_async() -> None:
    """INCR the view-call counter (one redis.asyncio round trip, on misses only)."""
    global _async_redis
    if _async_redis is None:
        import redis.asyncio

        _async_redis = redis.asyncio.Redis.from_url(REDIS_URL)
    await _async_redis.incr(CALLS_KEY)


def count_call_sync() -> None:
    """INCR the view-call counter with the sync client (thread-safe pool)."""
    global _sync_redis
    if _sync_redis is None:
        import redis

        _sync_redis = redis.Redis.from_url(REDIS_URL)
    _sync_redis.incr(CALLS_KEY)


async def slow_view_async(item_id: int, fields: str) -> bytes:
    """The async view: count the call, sleep 20 ms, build the body."""
    await count_call_async()
    await asyncio.sleep(VIEW_DELAY)
    return make_body(item_id, fields)


def slow_view_sync(item_id: int, fields: str) -> bytes:
    """The sync view: count the call, sleep 20 ms, build the body."""
    count_call_sync()
    time.sleep(VIEW_DELAY)
    return make_body(item_id, fields)
