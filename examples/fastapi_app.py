"""The classic scenario on FastAPI: a slow lookup, cached for 60 seconds.

GET /data/{id} sleeps half a second (standing for a database) and is cached for 60 s;
PUT /data/{id} changes the record, and routecache invalidates the cached page (and
everything tagged ``data:{id}``) before the PUT's answer goes out.

Run it::

    uvicorn --app-dir examples fastapi_app:app          # memory store
    REDIS_URL=redis://127.0.0.1:6379/0 uvicorn --app-dir examples fastapi_app:app
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from fastapi import Body, FastAPI

from routecache import AsyncRedisStore, MemoryStore
from routecache.adapters.starlette import CacheMiddleware, cache_route

RECORDS: dict[int, dict[str, Any]] = {}

url = os.environ.get("REDIS_URL")
app = FastAPI(title="routecache example")
app.add_middleware(CacheMiddleware, store=AsyncRedisStore(url) if url else MemoryStore())


@app.get("/data/{id}")
@cache_route(ttl=60, tags=["data:{id}"])
async def read_data(id: int) -> dict[str, Any]:
    """A slow lookup: what a cache is for."""
    await asyncio.sleep(0.5)
    record = RECORDS.get(id, {"id": id, "value": f"initial {id}"})
    return {**record, "generated_at": time.time()}


@app.put("/data/{id}")
async def write_data(id: int, value: str = Body("updated", embed=True)) -> dict[str, Any]:
    """Update a record; the cache entry of GET /data/{id} is invalidated for us."""
    RECORDS[id] = {"id": id, "value": value}
    return RECORDS[id]


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
