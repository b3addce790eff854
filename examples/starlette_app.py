"""The classic scenario on Starlette: a slow lookup, cached for 60 seconds.

GET /data/{id} sleeps half a second (standing for a database) and is cached for 60 s;
PUT /data/{id} changes the record, and routecache invalidates the cached page (and
everything tagged ``data:{id}``) before the PUT's answer goes out.

Run it::

    uvicorn --app-dir examples starlette_app:app        # memory store
    REDIS_URL=redis://127.0.0.1:6379/0 uvicorn --app-dir examples starlette_app:app

then ``curl -i localhost:8000/data/1`` twice and look at ``Cache-Status``.
"""

from __future__ import annotations

import asyncio
import os
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from routecache import AsyncRedisStore, MemoryStore
from routecache.adapters.starlette import CacheMiddleware, cache_route

RECORDS: dict[str, dict[str, object]] = {}


@cache_route(ttl=60, tags=["data:{id}"])
async def read_data(request: Request) -> JSONResponse:
    """A slow lookup: what a cache is for."""
    record_id = request.path_params["id"]
    await asyncio.sleep(0.5)
    record = RECORDS.get(record_id, {"id": record_id, "value": f"initial {record_id}"})
    return JSONResponse({**record, "generated_at": time.time()})


async def write_data(request: Request) -> JSONResponse:
    """Update a record; the cache entry of GET /data/{id} is invalidated for us."""
    record_id = request.path_params["id"]
    RECORDS[record_id] = {"id": record_id, "value": (await request.body()).decode() or "updated"}
    return JSONResponse(RECORDS[record_id])


def build_app() -> Starlette:
    """The app, on Redis when ``REDIS_URL`` is set, else on the in-process store."""
    url = os.environ.get("REDIS_URL")
    store = AsyncRedisStore(url) if url else MemoryStore()
    app = Starlette(
        routes=[
            Route("/data/{id}", read_data, methods=["GET"]),
            Route("/data/{id}", write_data, methods=["PUT"]),
        ]
    )
    app.add_middleware(CacheMiddleware, store=store)
    return app


app = build_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
