"""Views of the adapter tests: every form ``@cache_route`` takes, and helpers."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
    JsonResponse,
    StreamingHttpResponse,
)
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.vary import vary_on_cookie

from routecache.adapters.django import cache_route

calls: itertools.count[int] = itertools.count()
COUNTS: dict[str, int] = {}


def _count(name: str) -> int:
    COUNTS[name] = COUNTS.get(name, 0) + 1
    return COUNTS[name]


@cache_route(ttl=60, tags=["item:{pk}", "items"])
def item(request: HttpRequest, pk: int) -> HttpResponse:
    """A sync function view; PUT changes it."""
    n = _count(f"item:{pk}")
    if request.method == "PUT":
        return HttpResponse(status=204)
    return JsonResponse({"pk": pk, "call": n})


@cache_route(ttl=60)
async def async_item(request: HttpRequest, slug: str) -> HttpResponse:
    """An async function view."""
    n = _count(f"async:{slug}")
    await asyncio.sleep(0)
    return JsonResponse({"slug": slug, "call": n})


@cache_route(ttl=30, tags=["klass"])
class ClassView(View):
    """A class decorated directly."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponse(f"class {pk} {_count(f'class:{pk}')}")


class PlainView(View):
    """Decorated through ``as_view()`` in the URLconf."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"plain {_count('plain')}")


@method_decorator(cache_route(ttl=45), name="get")
class MethodView(View):
    """Decorated through ``method_decorator``."""

    def get(self, request: HttpRequest, u: Any) -> HttpResponse:
        return HttpResponse(f"method {u} {_count('method')}")


@cache_route(ttl=60)
def files(request: HttpRequest, rest: str) -> HttpResponse:
    """A ``<path:...>`` converter."""
    return HttpResponse(f"file {rest} {_count('files:' + rest)}")


@cache_route(ttl=60)
def year(request: HttpRequest, year: str) -> HttpResponse:
    """A ``re_path`` with a simple named group."""
    return HttpResponse(f"year {year} {_count('year:' + year)}")


@cache_route(ttl=60)
def fancy(request: HttpRequest, *args: Any) -> HttpResponse:
    """A ``re_path`` that cannot be a rule (W002)."""
    return HttpResponse("fancy")


@cache_route(ttl=60)
def stream(request: HttpRequest) -> StreamingHttpResponse:
    """A sync streamed body."""
    n = _count("stream")

    def chunks() -> Iterator[bytes]:
        yield b"part one, "
        yield f"call {n}".encode()

    return StreamingHttpResponse(chunks(), content_type="text/plain")


@cache_route(ttl=60)
async def astream(request: HttpRequest) -> StreamingHttpResponse:
    """An async streamed body."""
    n = _count("astream")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"async part, "
        yield f"call {n}".encode()

    return StreamingHttpResponse(chunks(), content_type="text/plain")


@cache_route(ttl=60)
def download(request: HttpRequest) -> FileResponse:
    """A file: passed through, never kept."""
    _count("download")
    return FileResponse(io.BytesIO(b"file body"), content_type="application/octet-stream")


@cache_route(ttl=60)
def cookie(request: HttpRequest) -> HttpResponse:
    """Sets a cookie: never stored."""
    response = HttpResponse(f"cookie {_count('cookie')}")
    response.set_cookie("session-ish", "secret")
    return response


@cache_route(ttl=60)
@never_cache
def uncached(request: HttpRequest) -> HttpResponse:
    """``never_cache`` wins over the rule."""
    return HttpResponse(f"never {_count('never')}")


@cache_route(ttl=60)
@vary_on_cookie
def varies(request: HttpRequest) -> HttpResponse:
    """Wrapped by another decorator: still discovered."""
    return HttpResponse(f"varies {_count('varies')}")


@cache_route(ttl=60, stale_while_revalidate=60)
def swr(request: HttpRequest) -> HttpResponse:
    """Served stale while one refresh runs in the background."""
    return HttpResponse(f"swr {_count('swr')}")


@cache_route(ttl=60)
def validated(request: HttpRequest) -> HttpResponse:
    """Has its own ETag and answers If-None-Match."""
    _count("validated")
    if request.headers.get("If-None-Match") == '"v1"':
        return HttpResponseNotModified()
    response = HttpResponse("validated body")
    response["ETag"] = '"v1"'
    response["Cache-Control"] = "no-cache"  # stored, revalidated before every reuse
    return response


def plain(request: HttpRequest) -> HttpResponse:
    """No rule: bypassed."""
    return HttpResponse(f"plain {_count('plainfn')}")
