"""Django settings shared by the adapter tests and the conformance bindings.

Django's settings are configured once per process; :func:`configure` does it (and
``django.setup()``) the first time it is called. Tests change what they need with
``override_settings``; the default URLconf is this module's empty ``urlpatterns``,
so no ``@cache_route`` view leaks into another test's rules.
"""

from __future__ import annotations

from typing import Any

urlpatterns: list[Any] = []

SETTINGS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": "routecache-tests-only",
    "ALLOWED_HOSTS": ["*"],
    "ROOT_URLCONF": __name__,
    "MIDDLEWARE": ["routecache.adapters.django.CacheMiddleware"],
    "INSTALLED_APPS": [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django.contrib.sessions",
        "routecache.adapters.django",
        "tests.adapters.django.testapp",
    ],
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    "USE_TZ": True,
    "ROUTECACHE": {"RULES": []},
    "LOGGING_CONFIG": None,
}


def configure() -> None:
    """Configure Django for this test process (idempotent)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(**SETTINGS)
        django.setup()
