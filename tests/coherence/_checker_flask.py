"""The coherence checker's origin on Flask (run by gunicorn gthread, 2 workers).

The same origin as ``_checker_starlette.py``: ``GET /k/<key>`` reads the version,
then works up to ``CK_DELAY`` seconds; ``PUT /k/<key>`` bumps it. ``CK_NEAR=1``: the
store has a near cache.
"""

from __future__ import annotations

import os
import random
import time

import redis
from flask import Flask

from routecache import NearCache, RedisStore, Rule
from routecache.adapters.flask import RouteCache

DELAY = float(os.environ.get("CK_DELAY", "0.02"))
_versions = redis.Redis.from_url(os.environ["CK_VERSION_URL"])

app = Flask(__name__)


@app.get("/ping")
def ping() -> str:
    return str(os.getpid())


@app.put("/k/<key>")
def write(key: str) -> str:
    return f"{key} v{int(_versions.incr(f'v:{key}'))}"


@app.get("/k/<key>")
def read(key: str) -> str:
    version = int(_versions.get(f"v:{key}") or 0)
    time.sleep(random.uniform(0, DELAY))
    return f"{key} v{version}"


RouteCache(
    app,
    store=RedisStore(
        os.environ["CK_CACHE_URL"],
        prefix=os.environ["CK_PREFIX"],
        near_cache=NearCache() if os.environ.get("CK_NEAR") == "1" else None,
    ),
    rules=[Rule("/k/<key>", ttl=60)],
)
