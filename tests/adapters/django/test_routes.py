"""``@cache_route`` discovery through the URLconf."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from routecache import ConfigurationError
from routecache.adapters.django import cache_route, discover_rules
from routecache.adapters.django.routes import regex_template

URLS = "tests.adapters.django.urls"


@override_settings(ROOT_URLCONF=URLS)
def test_every_decorated_view_becomes_a_rule_with_its_include_prefix() -> None:
    rules, problems = discover_rules()
    found = {rule.path: rule for rule in rules}
    assert list(found) == [
        "/shop/items/<int:pk>",
        "/shop/async/<slug:slug>",
        "/shop/class/<int:pk>",
        "/shop/plain",
        "/shop/method/<uuid:u>",
        "/shop/files/<path:rest>",
        "/shop/year/<int:year>/",
        "/stream",
        "/astream",
        "/download",
        "/cookie",
        "/uncached",
        "/varies",
        "/swr",
        "/validated",
    ]
    assert found["/shop/items/<int:pk>"].tags == ("item:{pk}", "items")
    assert found["/shop/class/<int:pk>"].ttl == 30
    assert found["/shop/plain"].ttl == 15
    assert found["/shop/method/<uuid:u>"].ttl == 45
    assert found["/swr"].stale_while_revalidate == 60
    assert [p.id for p in problems] == ["routecache.W002"]
    assert "fancy" in problems[0].message


@override_settings(ROOT_URLCONF=URLS)
def test_the_script_prefix_starts_every_path() -> None:
    rules, _ = discover_rules(prefix="/app/")
    assert rules[0].path == "/app/shop/items/<int:pk>"
    assert rules[0].compiled.fullmatch("/app/shop/items/7")
    assert not rules[0].compiled.fullmatch("/app/shop/items/x")


def test_decorator_rejects_unknown_options_at_once() -> None:
    with pytest.raises(ConfigurationError, match=r"cache_route: unknown option 'tll' \(did you"):
        cache_route(ttl=5, tll=3)


def test_a_rule_that_does_not_fit_its_url_is_reported() -> None:
    @cache_route(ttl=5, tags=["thing:{missing}"])
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponse()

    class URLs:
        urlpatterns: ClassVar[list[Any]] = [path("things/<int:pk>", view, name="thing")]

    with override_settings(ROOT_URLCONF=URLs):
        rules, problems = discover_rules()
    assert rules == []
    assert [p.id for p in problems] == ["routecache.E010"]
    assert "'thing'" in problems[0].message


@pytest.mark.parametrize(
    ("regex", "template"),
    [
        (r"^articles/(?P<year>[0-9]{4})/$", "articles/<int:year>/"),
        (r"^a/(?P<pk>\d+)/(?P<slug>[-\w]+)$", "a/<int:pk>/<slug:slug>"),
        (r"^files/(?P<rest>.+)\Z", "files/<path:rest>"),
        (r"^feed\.xml$", "feed.xml"),
        (r"^api/", "api/"),
        (r"^(\d+)/$", None),
        (r"^a|b$", None),
        (r"^feed.xml$", None),
        (r"^x/(?P<v>[a-c]+)$", None),
    ],
)
def test_regex_conversion(regex: str, template: Any) -> None:
    assert regex_template(regex) == template
