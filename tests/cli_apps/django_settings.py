"""The Django settings (and URLconf) of the command line tests."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.urls import path

from routecache.adapters.django import cache_route


@cache_route(ttl=300, tags=["items", "item:{id}"])
def item(request: HttpRequest, id: int) -> HttpResponse:
    return HttpResponse(f"item {id}")


@cache_route(ttl=300)
def about(request: HttpRequest) -> HttpResponse:
    return HttpResponse("about")


def broken(request: HttpRequest) -> HttpResponse:
    return HttpResponse("no", status=500)


urlpatterns = [
    path("items/<int:id>", item),
    path("about", about),
    path("broken", broken),
]

DEBUG = False
SECRET_KEY = "routecache-tests-only"
ALLOWED_HOSTS = [os.environ.get("CLI_ALLOWED_HOST", "*")]
ROOT_URLCONF = __name__
MIDDLEWARE = ["routecache.adapters.django.CacheMiddleware"]
INSTALLED_APPS = ["routecache.adapters.django"]
DATABASES: dict[str, object] = {}
USE_TZ = True
LOGGING_CONFIG = None
ROUTECACHE = {
    "REDIS_URL": os.environ.get("CLI_REDIS_URL"),
    "PREFIX": os.environ.get("CLI_PREFIX", "routecache"),
    "REDIS_OPTIONS": {"timeout": 1.0},
}
