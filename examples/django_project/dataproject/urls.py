"""``/data/<id>``: GET cached for 60 s, PUT invalidates it."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [path("data/<int:id>", views.data)]
