"""Django: response caching middleware, settings, ``@cache_route``, checks, command.

Usage (``settings.py``)::

    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "routecache.adapters.django.CacheMiddleware",   # above Session/Auth/Csrf/Locale
        "django.contrib.sessions.middleware.SessionMiddleware",
        ...
    ]
    INSTALLED_APPS = [..., "routecache.adapters.django"]   # checks, manage.py routecache
    ROUTECACHE = {
        "REDIS_URL": "redis://localhost:6379/0",
        "RULES": [{"path": "/items/<int:pk>", "ttl": 60}],
    }

and on views::

    from routecache.adapters.django import cache_route

    @cache_route(ttl=60, tags=["item:{pk}"])
    def item(request, pk): ...

``ROUTECACHE`` keys: ``REDIS_URL``, ``REDIS_OPTIONS`` (``RedisStore`` options:
``timeout``, ``cluster``...), ``PREFIX``, ``RULES`` (dicts of ``Rule`` options, or
``Rule`` objects), ``STORE`` (a store, or its dotted path), ``CACHE`` (the alias of a
Redis entry of ``CACHES`` whose ``LOCATION`` to use), and one key per driver option in
upper case: ``HONOR_CACHE_CONTROL``, ``HONOR_REQUEST_CACHE_CONTROL``, ``DEFAULT_TTL``,
``HEURISTIC_FRESHNESS``, ``CACHE_NAME``, ``TAG_HEADER``, ``EXPOSE_TAG_HEADER``,
``DEBUG``, ``MAX_BODY_SIZE``, ``COLLAPSE``, ``LOCK_TTL``, ``LOCK_WAIT``,
``COMPRESSION``, ``COMPRESS_MIN_SIZE``, ``INVALIDATE_LOCATION``. Without
``REDIS_URL``, ``STORE`` or ``CACHE`` the cache lives in each process's memory (a
warning is logged).

Hits can also be answered before Django runs at all: wrap the application,
``application = asgi(get_asgi_application())`` or ``wsgi(get_wsgi_application())``,
with the middleware first in ``MIDDLEWARE`` (see ``front.py``).
"""

from __future__ import annotations

try:
    import django  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from .._missing import missing

    raise missing("Django", "django", exc) from exc

from .conf import KNOWN_KEYS, SETTING, aclose, get_state
from .front import asgi, wsgi
from .middleware import CacheMiddleware
from .routes import cache_route, discover_rules
from .signals import ainvalidate, invalidate, invalidate_on_save

__all__ = [
    "KNOWN_KEYS",
    "SETTING",
    "CacheMiddleware",
    "aclose",
    "ainvalidate",
    "asgi",
    "cache_route",
    "discover_rules",
    "get_state",
    "invalidate",
    "invalidate_on_save",
    "wsgi",
]
