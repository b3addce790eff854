"""A literal URL listed before a decorated one whose converter would match it too."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from routecache.adapters.django import cache_route

CALLS: dict[str, int] = {"new": 0, "item": 0}


def new_form(request: HttpRequest) -> HttpResponse:
    """Not decorated: never cached."""
    CALLS["new"] += 1
    return HttpResponse(f"form #{CALLS['new']}")


@cache_route(ttl=60)
def item(request: HttpRequest, name: str) -> HttpResponse:
    """Decorated: ``items/<slug:name>``."""
    CALLS["item"] += 1
    return HttpResponse(f"item {name} #{CALLS['item']}")


urlpatterns = [
    path("items/new", new_form),
    path("items/<slug:name>", item),
]
