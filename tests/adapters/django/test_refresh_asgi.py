"""Django under ASGI: a stale-while-revalidate hit is answered before its refresh runs.

Django's ``ASGIHandler`` runs sync views, and ``response.close()``, through
``sync_to_async(thread_sensitive=True)``: one executor thread per request. The
refresh a stale hit starts from ``close()`` must not need that thread while
``close()`` holds it (it used to: the hit's ``close()`` waited up to 30 s for a
refresh whose sync view was queued behind it; and with an async view, or the
middleware in sync mode, ``close()`` still held the answer for the whole refresh).
The refresh view here blocks until the test has the stale answer, so an answer that
waits for the refresh does not come back in time. Sync and async views, the
middleware in async mode and in sync mode (a sync-only middleware below it).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from routecache.adapters.django import middleware as django_middleware
from tests.adapters.django.conftest import Configure, run

#: Set by the test once the stale answer is in; the refresh (second render) waits.
RELEASE = threading.Event()
RENDERS: list[str] = []


def _render(kind: str) -> HttpResponse:
    RENDERS.append(kind)
    if len(RENDERS) > 1 and not RELEASE.wait(10):
        raise RuntimeError("the refresh ran before the stale hit was answered")
    response = HttpResponse(f"{kind} {len(RENDERS)}", content_type="text/plain")
    if len(RENDERS) == 1:
        response["Age"] = "100"  # stale at once: the second request is a stale hit
    return response


def sync_page(request: HttpRequest, mode: str) -> HttpResponse:
    """A sync view: under ASGI it runs in the request's thread-sensitive executor."""
    return _render("sync")


async def async_page(request: HttpRequest, mode: str) -> HttpResponse:
    """An async view (its blocking part in a thread of its own)."""
    return await asyncio.to_thread(_render, "async")


class SyncOnly:
    """A sync-only middleware below the cache: the cache runs in sync mode."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)


urlpatterns = [
    path("<str:mode>/sync", sync_page),
    path("<str:mode>/async", async_page),
]


async def _get(handler: ASGIHandler, target: str) -> tuple[int, dict[str, str], bytes]:
    """One GET through the whole ASGI application: it returns when the app does."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    received = False
    done = asyncio.Event()
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    try:
        await handler(scope, receive, send)
    finally:
        done.set()
    start = messages[0]
    headers = {bytes(k).decode().lower(): bytes(v).decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], headers, body


async def _eventually(check: Any, timeout: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["async", "sync"], ids=lambda m: f"{m}-middleware")
@pytest.mark.parametrize("kind", ["sync", "async"], ids=lambda k: f"{k}-view")
def test_a_stale_hit_is_answered_before_its_refresh_runs(
    routecache: Configure, kind: str, mode: str
) -> None:
    target = f"/{mode}/{kind}"
    routecache(RULES=[{"path": target, "ttl": 60, "stale_while_revalidate": 600}])
    RENDERS.clear()
    RELEASE.clear()
    middleware = ["routecache.adapters.django.CacheMiddleware"]
    if mode == "sync":
        middleware.append(f"{__name__}.SyncOnly")
    override = override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=middleware)
    override.enable()

    async def body() -> None:
        handler = ASGIHandler()
        status, headers, first = await _get(handler, target)
        assert (status, first) == (200, f"{kind} 1".encode()), headers
        assert "stored" in headers["cache-status"]
        # The stale answer comes back while the refresh view is still held back.
        status, headers, stale = await asyncio.wait_for(_get(handler, target), 5)
        assert (status, stale) == (200, f"{kind} 1".encode())
        assert "stale-while-revalidate" in headers["cache-status"]
        RELEASE.set()

        def refresh_over() -> bool:
            return len(RENDERS) == 2 and not django_middleware._background

        # ...and the refresh still runs, once, to its end (entry stored, lock released).
        assert await _eventually(lambda: asyncio.sleep(0, refresh_over()))
        status, headers, fresh = await _get(handler, target)
        assert (status, fresh) == (200, f"{kind} 2".encode())
        assert headers["cache-status"].startswith("routecache; hit"), headers
        assert [kind, kind] == RENDERS

    try:
        run(body())
    finally:
        RELEASE.set()
        override.disable()
