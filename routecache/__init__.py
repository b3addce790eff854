"""routecache: HTTP response caching for Starlette/FastAPI, Flask and Django, in Redis.

Add one middleware, write a few per-route rules::

    from routecache import AsyncRedisStore, Rule
    from routecache.adapters.starlette import CacheMiddleware

    app.add_middleware(
        CacheMiddleware,
        store=AsyncRedisStore("redis://localhost:6379/0"),
        rules=[Rule("/items/{id}", ttl=60)],
    )

The core (:mod:`routecache.middleware`) imports no web framework; the adapters
(:mod:`routecache.adapters`) make it native in each one.
"""

from .middleware.config import CacheConfig
from .middleware.entry import Codec, Entry
from .middleware.errors import ConfigurationError, StoreError
from .middleware.policy import CachePolicy
from .middleware.rules import Rule
from .middleware.stores import AsyncRedisStore, MemoryStore, NearCache, RedisStore

__version__ = "0.1.0"

__all__ = [
    "AsyncRedisStore",
    "CacheConfig",
    "CachePolicy",
    "Codec",
    "ConfigurationError",
    "Entry",
    "MemoryStore",
    "NearCache",
    "RedisStore",
    "Rule",
    "StoreError",
    "__version__",
]
