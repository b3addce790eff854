"""The Django URLconf and views of ``test_fencing_drivers.py`` (a module of its own so
that ``ROOT_URLCONF`` can name it)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from tests.coherence.test_fencing_drivers import ROWS


def read(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the row, read before a (possibly blocked) render."""
    value = ROWS.read()
    ROWS.block_sync()
    return HttpResponse(value, content_type="text/plain")


async def aread(request: HttpRequest, pk: int) -> HttpResponse:
    """GET (async view): the row, read before a (possibly blocked) render."""
    value = ROWS.read()
    await ROWS.block_async()
    return HttpResponse(value, content_type="text/plain")


def write(request: HttpRequest, pk: int) -> HttpResponse:
    """PUT (or GET on a sync route) / POST on the admin route: the write."""
    if request.method == "GET":
        return read(request, pk)
    ROWS.write()
    return HttpResponse(b"ok", content_type="text/plain")


async def awrite(request: HttpRequest, pk: int) -> HttpResponse:
    """The async twin of :func:`write`."""
    if request.method == "GET":
        return await aread(request, pk)
    ROWS.write()
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("items/<int:pk>", write),
    path("admin/items/<int:pk>", write),
    path("aitems/<int:pk>", awrite),
    path("admin/aitems/<int:pk>", awrite),
]
