"""A Django project's settings, with routecache on Redis as in production."""

import os

SECRET_KEY = "not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["routecache.adapters.django"]
MIDDLEWARE = ["routecache.adapters.django.CacheMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
ROUTECACHE = {"REDIS_URL": os.environ.get("REDIS_URL", "redis://localhost:6379/0")}
