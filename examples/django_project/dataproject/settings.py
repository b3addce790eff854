"""Settings of the example project: routecache on Redis (``REDIS_URL``) or in memory."""

from __future__ import annotations

import os

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = "example-only-not-secret"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
ROOT_URLCONF = "dataproject.urls"
WSGI_APPLICATION = "dataproject.wsgi.application"
INSTALLED_APPS = ["routecache.adapters.django"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "routecache.adapters.django.CacheMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES: dict[str, object] = {}
USE_TZ = True

ROUTECACHE = {
    # Unset: an in-process MemoryStore (a warning says so in the log).
    "REDIS_URL": os.environ.get("REDIS_URL"),
    "PREFIX": "django-example",
}
