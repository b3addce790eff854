"""The bare WSGI driver, for any WSGI framework (Falcon, Bottle, Pyramid, Flask...).

``from routecache.adapters.wsgi import CacheMiddleware`` is
:class:`routecache.middleware.wsgi.CacheMiddleware`.
"""

from ..middleware.wsgi import CacheMiddleware

__all__ = ["CacheMiddleware"]
