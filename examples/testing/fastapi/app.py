"""A FastAPI app with routecache and one module-level store on Redis."""

import os

from fastapi import FastAPI, Response

from routecache import AsyncRedisStore
from routecache.adapters.starlette import CacheMiddleware, cache_route

store = AsyncRedisStore(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
app = FastAPI()
app.add_middleware(CacheMiddleware, store=store)
calls: list[int] = []  # how often the view ran


@app.get("/items/{id}")
@cache_route(ttl=60, tags=["items"])
async def read_item(id: int) -> dict[str, int]:
    calls.append(id)
    return {"id": id}


@app.put("/items/{id}")
async def update_item(id: int) -> dict[str, int]:
    return {"id": id}  # a successful PUT invalidates GET /items/{id}


@app.post("/items")
async def create_item(response: Response) -> dict[str, int]:
    response.headers["Cache-Tag"] = "items"  # invalidated before this answer goes out
    return {"id": 100}


@app.post("/admin/reindex")
async def reindex() -> dict[str, int]:
    return {"removed": await store.invalidate(tags=["items"])}  # AsyncRedisStore: await
