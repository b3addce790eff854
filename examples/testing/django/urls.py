from django.http import HttpRequest, JsonResponse
from django.urls import path

from routecache.adapters.django import cache_route

calls: list[str] = []  # how often the views ran


@cache_route(ttl=30)
def article(request: HttpRequest, pk: int) -> JsonResponse:
    calls.append(f"article:{pk}")
    return JsonResponse({"pk": pk})


@cache_route(ttl=30)
async def feed(request: HttpRequest) -> JsonResponse:
    calls.append("feed")
    return JsonResponse({"items": []})


urlpatterns = [path("articles/<int:pk>", article), path("feed", feed)]
