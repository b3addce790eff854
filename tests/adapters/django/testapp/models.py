"""The model of the signal-helper tests."""

from __future__ import annotations

from django.db import models


class Item(models.Model):
    """A row whose saves and deletes invalidate cached pages."""

    slug = models.CharField(max_length=50)

    class Meta:
        app_label = "testapp"
