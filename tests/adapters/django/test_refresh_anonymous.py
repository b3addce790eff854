"""Django: a background refresh is an anonymous request built from the key's facts.

A middleware above the cache marks the request as Alice's (``request.user``, a
session, ``REMOTE_USER``); the view renders what it sees. The refresh that a stale hit
starts must render none of it (sync under WSGI, async under ASGI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path

from routecache.adapters.django import middleware as django_middleware
from tests.adapters.django.conftest import Configure, run

RENDERS: list[str] = []


class MarkAlice:
    """An outer middleware (above routecache) that authenticates from a header."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        if "HTTP_X_TEST_USER" in request.META:
            request.user = "alice"  # type: ignore[assignment]
            request.session = {"id": "s3cret"}  # type: ignore[assignment]
            request.META["REMOTE_USER"] = "alice"
        return self.get_response(request)


def whoami(request: HttpRequest) -> HttpResponse:
    cookie = request.META.get("HTTP_COOKIE") or None  # the test client sends ""
    page = (
        f"user={getattr(request, 'user', None)} session={getattr(request, 'session', None)} "
        f"remote={request.META.get('REMOTE_USER')} cookie={cookie} "
        f"who={request.META.get('HTTP_X_TEST_USER')} path={request.path} "
        f"query={request.META.get('QUERY_STRING')}"
    )
    RENDERS.append(page)
    response = HttpResponse(page, content_type="text/plain")
    response["Age"] = "100"  # stale at once: every hit refreshes
    return response


urlpatterns = [path("me", whoami)]

ANONYMOUS = "user=None session=None remote=None cookie=None who=None path=/me query=page=1"
ALICE = {"HTTP_X_TEST_USER": "alice", "HTTP_COOKIE": "sessionid=s3cret"}
ALICE_HEADERS = {"X-Test-User": "alice", "Cookie": "sessionid=s3cret"}


def _configure(routecache: Configure) -> override_settings:
    routecache(
        RULES=[{"path": "/me", "ttl": 60, "stale_while_revalidate": 600, "cookies": "ignore"}]
    )
    RENDERS.clear()
    override = override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[f"{__name__}.MarkAlice", "routecache.adapters.django.CacheMiddleware"],
    )
    override.enable()
    return override


def test_the_sync_refresh_is_anonymous(routecache: Configure) -> None:
    override = _configure(routecache)
    try:
        client = Client()
        assert client.get("/me?page=1").content.decode() == ANONYMOUS
        stale = client.get("/me?page=1", **ALICE)
        assert "stale-while-revalidate" in stale["Cache-Status"]
        assert stale.content.decode() == ANONYMOUS
        assert RENDERS == [ANONYMOUS, ANONYMOUS]
        assert client.get("/me?page=1").content.decode() == ANONYMOUS
    finally:
        override.disable()


def test_the_async_refresh_is_anonymous(routecache: Configure) -> None:
    override = _configure(routecache)

    async def body() -> None:
        client = AsyncClient()
        first = await client.get("/me?page=1")
        assert first.content.decode() == ANONYMOUS
        stale = await client.get("/me?page=1", headers=ALICE_HEADERS)
        assert "stale-while-revalidate" in stale["Cache-Status"]
        assert stale.content.decode() == ANONYMOUS
        # The refresh runs in the background (close() does not wait for it): let it end.
        for _ in range(1000):
            if len(RENDERS) == 2 and not django_middleware._background:
                break
            await asyncio.sleep(0.01)

    try:
        run(body())
        assert RENDERS == [ANONYMOUS, ANONYMOUS]
    finally:
        override.disable()
