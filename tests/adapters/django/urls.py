"""The URLconf of the adapter tests (``include()`` prefixes, converters, re_path)."""

from __future__ import annotations

from django.urls import include, path, re_path

from routecache.adapters.django import cache_route

from . import views

catalog = [
    path("items/<int:pk>", views.item),
    path("async/<slug:slug>", views.async_item),
    path("class/<int:pk>", views.ClassView.as_view()),
    path("plain", cache_route(ttl=15)(views.PlainView.as_view())),
    path("method/<uuid:u>", views.MethodView.as_view()),
    path("files/<path:rest>", views.files),
    re_path(r"^year/(?P<year>[0-9]{4})/$", views.year),
    re_path(r"^fancy/(\d+)|other$", views.fancy),
]

urlpatterns = [
    path("shop/", include(catalog)),
    path("stream", views.stream),
    path("astream", views.astream),
    path("download", views.download),
    path("cookie", views.cookie),
    path("uncached", views.uncached),
    path("varies", views.varies),
    path("swr", views.swr),
    path("validated", views.validated),
    path("nothing", views.plain),
]
