"""A Django project behind the front wrappers, for real servers (``test_front_servers``).

``asgi_app`` (uvicorn) and ``wsgi_app`` (gunicorn) are the same project, the first
wrapped by ``routecache.adapters.django.asgi``, the second by ``wsgi``; the cache is on
``FRONT_REDIS_URL`` (db 0) under ``FRONT_PREFIX``. Each view call and each request
Django's handler started (``request_started``) is counted in db 1 under that prefix,
so a test can tell a hit answered by the front (neither counted) from one answered by
the middleware (started only).
"""

from __future__ import annotations

import os
from typing import Any

import django
import redis
from django.conf import settings
from django.core.signals import request_started
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from routecache.adapters.django import asgi, cache_route, wsgi

_URL = os.environ["FRONT_REDIS_URL"]
_PREFIX = os.environ["FRONT_PREFIX"]
_counts = redis.Redis.from_url(_URL.rsplit("/", 1)[0] + "/1")


@cache_route(ttl=300)
def item(request: HttpRequest, pk: int) -> HttpResponse:
    """A cached view; a PUT changes the item (and invalidates its path)."""
    calls = _counts.incr(f"{_PREFIX}:calls:{pk}")
    if request.method == "PUT":
        return HttpResponse(status=204)
    return JsonResponse({"pk": pk, "call": calls})


def ping(request: HttpRequest) -> HttpResponse:
    """The worker's pid (``serve_app`` waits for every worker)."""
    return HttpResponse(str(os.getpid()))


urlpatterns = [path("items/<int:pk>", item), path("ping", ping)]

settings.configure(
    DEBUG=False,
    SECRET_KEY="routecache-tests-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["routecache.adapters.django.CacheMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
    LOGGING_CONFIG=None,
    # A store fault makes the wrapper hand a hit to Django (counted): not on a busy
    # machine's first connection.
    ROUTECACHE={"REDIS_URL": _URL, "PREFIX": _PREFIX, "REDIS_OPTIONS": {"timeout": 5.0}},
)
django.setup()


def _started(**kwargs: Any) -> None:
    _counts.incr(f"{_PREFIX}:started")


request_started.connect(_started)

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

asgi_app = asgi(get_asgi_application())
wsgi_app = wsgi(get_wsgi_application())
