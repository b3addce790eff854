"""The bare ASGI driver, for any ASGI framework (Litestar, Quart, Starlette...).

``from routecache.adapters.asgi import CacheMiddleware`` is
:class:`routecache.middleware.asgi.CacheMiddleware`.
"""

from ..middleware.asgi import CacheMiddleware

__all__ = ["CacheMiddleware"]
