"""Django's own test ``Client``, the way a Django project tests its views."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adapters.django.settings import configure

configure()  # a Django project has settings; these are the suite's own

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402

from routecache.adapters.django import cache_route  # noqa: E402

calls: list[str] = []


@cache_route(ttl=60)
def item(request: HttpRequest, pk: int) -> JsonResponse:
    calls.append(f"item:{pk}")
    return JsonResponse({"pk": pk})


@cache_route(ttl=60)
def stream(request: HttpRequest) -> StreamingHttpResponse:
    calls.append("stream")
    return StreamingHttpResponse(iter([b"one,", b"two"]))


urlpatterns = [path("items/<int:pk>", item), path("stream", stream)]


@pytest.fixture(autouse=True)
def _site() -> Iterator[None]:
    calls.clear()
    with override_settings(ROOT_URLCONF=__name__, ROUTECACHE={}):
        yield


def test_client_sees_miss_then_hit() -> None:
    client = Client()
    first = client.get("/items/3")
    second = client.get("/items/3")
    assert first.headers["Cache-Status"] == "routecache; fwd=uri-miss; stored"
    assert second.headers["Cache-Status"].startswith("routecache; hit; ttl=")
    assert first.json() == second.json() == {"pk": 3}
    assert calls == ["item:3"]


def test_streaming_response_read_by_the_client_is_stored() -> None:
    client = Client()
    first = client.get("/stream")
    assert b"".join(first.streaming_content) == b"one,two"
    second = client.get("/stream")
    assert second.headers["Cache-Status"].startswith("routecache; hit")
    assert second.content == b"one,two"
    assert calls == ["stream"]


def test_on_redis(redis_clean_url: str) -> None:
    with override_settings(ROUTECACHE={"REDIS_URL": redis_clean_url}):
        client = Client()
        assert client.get("/items/4").json() == {"pk": 4}
        second = client.get("/items/4")
    assert second.headers["Cache-Status"].startswith("routecache; hit")
    assert calls == ["item:4"]
