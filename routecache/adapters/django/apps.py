"""The routecache Django app: system checks and the ``routecache`` command."""

from __future__ import annotations

from django.apps import AppConfig


class RouteCacheConfig(AppConfig):
    """``"routecache.adapters.django"`` in ``INSTALLED_APPS``: registers the system
    checks (``routecache.E001``... and ``routecache.W001``...) and makes
    ``manage.py routecache`` available. The middleware works without it."""

    name = "routecache.adapters.django"
    label = "routecache"
    verbose_name = "routecache"
    default = True

    def ready(self) -> None:
        """Register the system checks."""
        from .checks import register_checks

        register_checks()
