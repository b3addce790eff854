"""Django (WSGI under gunicorn, ASGI under uvicorn): bare, ``cache_page`` and routecache.

Each factory configures settings for its variant (this module is also the URLconf), then
returns ``get_wsgi_application()`` or ``get_asgi_application()``. ``MIDDLEWARE`` is empty
except for the cache under test, so the rows compare the caches, not Django's stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.apps import common

urlpatterns: list[Any] = []


def _setup(
    *, middleware: list[str], view: Callable[[], Any], extra: dict[str, Any] | None = None
) -> None:
    """Configure settings, then build the view (decorators such as cache_page read settings)."""
    import django
    from django.conf import settings
    from django.urls import path

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=middleware,
        INSTALLED_APPS=[],
        USE_I18N=False,
        USE_TZ=True,
        DATABASES={},
        LOGGING_CONFIG=None,
        **(extra or {}),
    )
    urlpatterns[:] = [path("items/<int:item_id>", view())]
    django.setup()


def _bare_view() -> Any:
    from django.http import HttpResponse

    body = common.PREBUILT_BODY

    def item(request: Any, item_id: int) -> Any:
        return HttpResponse(body, content_type=common.CONTENT_TYPE)

    return item


def _sync_view() -> Any:
    from django.http import HttpResponse

    def item(request: Any, item_id: int) -> Any:
        body = common.slow_view_sync(item_id, request.GET.get("fields", ""))
        return HttpResponse(body, content_type=common.CONTENT_TYPE)

    return item


def _async_view() -> Any:
    from django.http import HttpResponse

    async def item(request: Any, item_id: int) -> Any:
        body = await common.slow_view_async(item_id, request.GET.get("fields", ""))
        return HttpResponse(body, content_type=common.CONTENT_TYPE)

    return item


def _cache_page_settings() -> dict[str, Any]:
    return {
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": common.REDIS_URL,
            }
        }
    }


def _routecache_settings() -> dict[str, Any]:
    return {
        "ROUTECACHE": {
            "REDIS_URL": common.REDIS_URL,
            "RULES": [{"path": common.PATH_TEMPLATE, "ttl": common.TTL}],
        }
    }


_ROUTECACHE_MW = "routecache.adapters.django.CacheMiddleware"


def make_wsgi_bare() -> Any:
    """Bare Django (WSGI) returning the prebuilt body: the ceiling."""
    _setup(middleware=[], view=_bare_view)
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def make_asgi_bare() -> Any:
    """Bare Django (ASGI) returning the prebuilt body from an async view."""
    from django.http import HttpResponse

    body = common.PREBUILT_BODY

    async def item(request: Any, item_id: int) -> Any:
        return HttpResponse(body, content_type=common.CONTENT_TYPE)

    _setup(middleware=[], view=lambda: item)
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def make_wsgi_cache_page() -> Any:
    """Django (WSGI) + ``cache_page`` with the built-in Redis backend, as the docs show.

    ``cache_page(ttl)`` on the view is Django's per-view form of the cache middleware
    (``CacheMiddleware``: a hit reads the header-list key, then the page key, i.e. two
    Redis GETs, and unpickles an ``HttpResponse``).
    """
    from django.views.decorators.cache import cache_page

    _setup(
        middleware=[],
        view=lambda: cache_page(common.TTL)(_sync_view()),
        extra=_cache_page_settings(),
    )
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def make_asgi_cache_page() -> Any:
    """Django (ASGI, async view) + ``cache_page`` with the built-in Redis backend.

    Django's cache backends are sync; under ASGI the cache middleware runs them in a
    thread via ``sync_to_async``.
    """
    from django.views.decorators.cache import cache_page

    _setup(
        middleware=[],
        view=lambda: cache_page(common.TTL)(_async_view()),
        extra=_cache_page_settings(),
    )
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def make_wsgi_routecache() -> Any:
    """Django (WSGI) + routecache's middleware and ``ROUTECACHE`` settings (DESIGN.md)."""
    _setup(middleware=[_ROUTECACHE_MW], view=_sync_view, extra=_routecache_settings())
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def make_asgi_routecache() -> Any:
    """Django (ASGI, async view) + routecache's middleware and ``ROUTECACHE`` settings."""
    _setup(middleware=[_ROUTECACHE_MW], view=_async_view, extra=_routecache_settings())
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def make_wsgi_front() -> Any:
    """Django (WSGI) + routecache's middleware, behind the front wrapper that answers
    fresh hits before Django (``routecache.adapters.django.wsgi``)."""
    _setup(middleware=[_ROUTECACHE_MW], view=_sync_view, extra=_routecache_settings())
    from django.core.wsgi import get_wsgi_application

    from routecache.adapters.django import wsgi

    return wsgi(get_wsgi_application())


def make_asgi_front() -> Any:
    """Django (ASGI, async view) + routecache's middleware, behind the front wrapper
    (``routecache.adapters.django.asgi``)."""
    _setup(middleware=[_ROUTECACHE_MW], view=_async_view, extra=_routecache_settings())
    from django.core.asgi import get_asgi_application

    from routecache.adapters.django import asgi

    return asgi(get_asgi_application())
