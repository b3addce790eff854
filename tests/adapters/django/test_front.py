"""The front wrappers (``routecache.adapters.django.asgi`` / ``wsgi``): fresh hits are
answered before Django runs, with the bytes the middleware's hit has; everything
else is Django's, where the middleware does what it does without the wrapper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import connection
from django.http import HttpRequest
from django.test import override_settings
from werkzeug.test import EnvironBuilder

from routecache import ConfigurationError
from routecache.adapters.django import CacheMiddleware, asgi, conf, invalidate_on_save, wsgi
from routecache.testing import CacheClock

from . import views
from .conftest import Configure
from .testapp.models import Item

CACHE = "routecache.adapters.django.CacheMiddleware"
BELOW = f"{__name__}.CountingMiddleware"
#: Requests that reached the middleware below the cache, and Django's request_started.
SEEN: dict[str, int] = {}

Sent = tuple[str, list[tuple[str, str]], bytes]


class CountingMiddleware:
    """Below the cache: counts the requests Django's middleware chain handled."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        SEEN["middleware"] = SEEN.get("middleware", 0) + 1
        return self.get_response(request)


class OtherSetting(CacheMiddleware):
    """A second cache, configured by ``ROUTECACHE_OTHER``."""

    setting = "ROUTECACHE_OTHER"


def _started(**kwargs: Any) -> None:
    SEEN["started"] = SEEN.get("started", 0) + 1


@pytest.fixture(autouse=True)
def counted() -> Iterator[None]:
    SEEN.clear()
    request_started.connect(_started, dispatch_uid="test_front")
    yield
    request_started.disconnect(dispatch_uid="test_front")


def _environ(method: str, target: str, headers: dict[str, str]) -> dict[str, Any]:
    path, _, query = target.partition("?")
    builder = EnvironBuilder(
        path=path,
        query_string=query,
        method=method,
        headers=list(headers.items()),
        base_url="http://testserver/",
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


class WSGIDriver:
    """Calls a WSGI app as a server does; records the status line and fields as given."""

    kind = "wsgi"

    def __init__(self) -> None:
        with override_settings(MIDDLEWARE=[CACHE, BELOW]):
            self.django = WSGIHandler()
            self.front = wsgi(self.django)

    def call(
        self, app: Any, method: str, target: str, headers: dict[str, str] | None = None
    ) -> Sent:
        got: dict[str, Any] = {}

        def start_response(status: str, fields: list[tuple[str, str]], exc: Any = None) -> Any:
            got["status"], got["fields"] = status, list(fields)
            return lambda data: None

        result = app(_environ(method, target, headers or {}), start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return got["status"], got["fields"], body

    def run(self, test: Callable[[], Any]) -> Any:
        return test()


class ASGIDriver:
    """Calls an ASGI app on one event loop; records the messages' fields as sent."""

    kind = "asgi"

    def __init__(self) -> None:
        with override_settings(MIDDLEWARE=[CACHE, BELOW]):
            self.django = ASGIHandler()
            self.front = asgi(self.django)
        self.loop = asyncio.new_event_loop()

    def call(
        self, app: Any, method: str, target: str, headers: dict[str, str] | None = None
    ) -> Sent:
        return self.loop.run_until_complete(self._call(app, method, target, headers or {}))

    async def _call(self, app: Any, method: str, target: str, headers: dict[str, str]) -> Sent:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver")]
            + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        done = asyncio.Event()
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        got: dict[str, Any] = {"body": b""}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                got["status"] = str(message["status"])
                fields = message["headers"]
                got["fields"] = [(bytes(k).decode(), bytes(v).decode()) for k, v in fields]
            else:
                got["body"] += message.get("body", b"")

        try:
            await app(scope, receive, send)
        finally:
            done.set()
        return got["status"], got["fields"], got["body"]

    def run(self, test: Callable[[], Any]) -> Any:
        try:
            return test()
        finally:
            self.loop.run_until_complete(conf.aclose())
            self.loop.close()


@pytest.fixture(params=["wsgi", "asgi"])
def driver(request: pytest.FixtureRequest, routecache: Configure) -> Iterator[Any]:
    made = WSGIDriver() if request.param == "wsgi" else ASGIDriver()
    yield made
    if isinstance(made, ASGIDriver) and not made.loop.is_closed():
        made.loop.run_until_complete(conf.aclose())
        made.loop.close()


def _status(sent: Sent) -> str:
    return {k.lower(): v for k, v in sent[1]}.get("cache-status", "")


ITEM = "/shop/items/7?x=1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"If-None-Match": "ETAG"},
        {"Range": "bytes=2-5"},
        {"Accept": "application/json"},
    ],
    ids=["plain", "if-none-match", "range", "accept"],
)
def test_a_front_hit_sends_the_bytes_of_the_middlewares_hit(
    driver: Any, routecache_clock: CacheClock, headers: dict[str, str]
) -> None:
    miss = driver.call(driver.django, "GET", ITEM)
    assert _status(miss) == "routecache; fwd=uri-miss; stored"
    etag = {k.lower(): v for k, v in miss[1]}["etag"]
    headers = {k: v.replace("ETAG", etag) for k, v in headers.items()}
    routecache_clock.advance(3)  # a non-zero Age
    by_middleware = driver.call(driver.django, "GET", ITEM, headers)
    before = dict(SEEN)
    by_front = driver.call(driver.front, "GET", ITEM, headers)
    assert by_front == by_middleware
    assert _status(by_front).startswith("routecache; hit")
    assert before == SEEN  # neither request_started nor any middleware ran
    assert views.COUNTS == {"item:7": 1}


def test_a_head_hit_through_the_front(driver: Any, routecache_clock: CacheClock) -> None:
    driver.call(driver.django, "GET", ITEM)
    by_middleware = driver.call(driver.django, "HEAD", ITEM)
    before = dict(SEEN)
    assert driver.call(driver.front, "HEAD", ITEM) == by_middleware
    assert before == SEEN


def test_django_answers_what_is_not_a_fresh_hit(driver: Any) -> None:
    first = driver.call(driver.front, "GET", ITEM)
    assert _status(first) == "routecache; fwd=uri-miss; stored"
    assert SEEN == {"started": 1, "middleware": 1}
    hit = driver.call(driver.front, "GET", ITEM)
    assert _status(hit).startswith("routecache; hit")
    assert SEEN == {"started": 1, "middleware": 1}
    # A cookie that may make the page personal: bypassed, by the middleware.
    personal = driver.call(driver.front, "GET", ITEM, {"Cookie": "sessionid=1"})
    assert _status(personal) == "routecache; fwd=bypass; detail=cookie"
    # An unsafe method: Django's, and its invalidation is seen by the next request.
    put = driver.call(driver.front, "PUT", "/shop/items/7")
    assert put[0].startswith("204")
    assert _status(put) == "routecache; fwd=method"
    assert SEEN == {"started": 3, "middleware": 3}
    after = driver.call(driver.front, "GET", ITEM)
    assert _status(after) == "routecache; fwd=uri-miss; stored"
    assert views.COUNTS == {"item:7": 4}
    # A path no rule covers: Django's, untouched but for its Cache-Status.
    uncached = driver.call(driver.front, "GET", "/nothing")
    assert _status(uncached) == "routecache; fwd=bypass; detail=no-rule"
    assert SEEN == {"started": 5, "middleware": 5}


def test_a_stale_entry_goes_to_django(driver: Any, routecache_clock: CacheClock) -> None:
    driver.call(driver.front, "GET", "/validated")
    routecache_clock.advance(1)  # no-cache: revalidated before every reuse
    SEEN.clear()
    stale = driver.call(driver.front, "GET", "/validated")
    assert SEEN == {"started": 1, "middleware": 1}  # Django's, revalidated below the cache
    assert _status(stale).startswith("routecache; fwd=stale; fwd-status=304")
    assert views.COUNTS == {"validated": 2}


@pytest.fixture
def items() -> Iterator[type[Item]]:
    with connection.schema_editor() as editor:
        editor.create_model(Item)
    yield Item
    with connection.schema_editor() as editor:
        editor.delete_model(Item)


def test_invalidate_on_save_is_seen_by_the_front_at_once(driver: Any, items: type[Item]) -> None:
    disconnect = invalidate_on_save(items, tags=["item:{pk}"])
    try:
        item = items.objects.create(pk=7, slug="7")
        driver.call(driver.front, "GET", ITEM)
        assert _status(driver.call(driver.front, "GET", ITEM)).startswith("routecache; hit")
        item.save()
        assert _status(driver.call(driver.front, "GET", ITEM)) == (
            "routecache; fwd=uri-miss; stored"
        )
        assert views.COUNTS == {"item:7": 2}
    finally:
        disconnect()


@pytest.mark.redis
def test_the_front_and_the_middleware_share_redis(redis_routecache: Configure) -> None:
    wsgi_side, asgi_side = WSGIDriver(), ASGIDriver()
    try:
        stored = wsgi_side.call(wsgi_side.django, "GET", ITEM)
        assert _status(stored) == "routecache; fwd=uri-miss; stored"
        assert _status(asgi_side.call(asgi_side.front, "GET", ITEM)).startswith("routecache; hit")
        assert _status(wsgi_side.call(wsgi_side.front, "GET", ITEM)).startswith("routecache; hit")
        asgi_side.call(asgi_side.front, "PUT", "/shop/items/7")
        assert _status(wsgi_side.call(wsgi_side.front, "GET", ITEM)) == (
            "routecache; fwd=uri-miss; stored"
        )
        assert views.COUNTS == {"item:7": 3}
    finally:
        asgi_side.loop.run_until_complete(conf.aclose())
        asgi_side.loop.close()


@pytest.mark.parametrize(
    "middleware",
    [[], ["django.middleware.security.SecurityMiddleware", CACHE], ["no.such.Middleware"]],
    ids=["empty", "below-security", "unknown"],
)
@pytest.mark.parametrize("wrap", [asgi, wsgi], ids=["asgi", "wsgi"])
def test_the_front_needs_the_cache_middleware_first(
    routecache: Configure, middleware: list[str], wrap: Any
) -> None:
    with override_settings(MIDDLEWARE=middleware), pytest.raises(ConfigurationError) as info:
        wrap(lambda *args: None)
    assert str(info.value).startswith("MIDDLEWARE: ")
    assert "first" in str(info.value)


def test_the_front_reads_the_setting_of_the_middleware_it_fronts(routecache: Configure) -> None:
    with override_settings(MIDDLEWARE=[f"{__name__}.OtherSetting"], ROUTECACHE_OTHER={"RULES": []}):
        assert wsgi(lambda *args: None).setting == "ROUTECACHE_OTHER"
        with override_settings(ROUTECACHE_OTHER={"TTL": 1}), pytest.raises(ConfigurationError):
            asgi(lambda *args: None)  # bad settings fail when the app is wrapped
