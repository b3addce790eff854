"""The classic scenario: a slow lookup, cached for 60 seconds, invalidated by PUT."""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from routecache.adapters.django import cache_route

RECORDS: dict[int, dict[str, object]] = {}


@csrf_exempt
@cache_route(ttl=60, tags=["data:{id}"])
def data(request: HttpRequest, id: int) -> HttpResponse:
    """GET: a slow lookup (what a cache is for). PUT: update the record; routecache
    invalidates the cached GET (same path) before this answer goes out."""
    if request.method in ("GET", "HEAD"):
        time.sleep(0.5)
        record = RECORDS.get(id, {"id": id, "value": f"initial {id}"})
        return JsonResponse({**record, "generated_at": time.time()})
    if request.method == "PUT":
        RECORDS[id] = {"id": id, "value": request.body.decode() or "updated"}
        return JsonResponse(RECORDS[id])
    return HttpResponseNotAllowed(["GET", "HEAD", "PUT"])
