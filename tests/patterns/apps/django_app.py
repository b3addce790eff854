"""Django project in one module with routecache's Django middleware.

``gunicorn -k gthread -w 2 --threads 4 tests.patterns.apps.django_app:application``
(WSGI) or ``uvicorn tests.patterns.apps.django_app:asgi_application`` (ASGI), with
``RC_*`` set (see ``common.py``).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path

from tests.patterns.apps import common

settings.configure(
    DEBUG=False,
    SECRET_KEY="routecache-pattern-tests-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "tests.patterns.apps.django_app.worker_pid",
        "routecache.adapters.django.CacheMiddleware",
    ],
    INSTALLED_APPS=["routecache.adapters.django"],
    DATABASES={},
    USE_TZ=True,
    LOGGING_CONFIG=None,
    ROUTECACHE={
        "REDIS_URL": common.REDIS_URL,
        "PREFIX": common.PREFIX,
        "REDIS_OPTIONS": {"timeout": common.STORE_TIMEOUT},
        "RULES": common.rule_dicts(),
        "LOCK_WAIT": common.LOCK_WAIT,
        "LOCK_TTL": common.LOCK_TTL,
    },
)
django.setup()

_client = common.sync_client()
_async: Any = None


def worker_pid(get_response: Any) -> Any:
    """Outermost middleware: says which worker process answered (hits included)."""
    if asyncio.iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> Any:
            response = await get_response(request)
            response["X-Worker-Pid"] = str(common.PID)
            return response

        return amiddleware

    def middleware(request: HttpRequest) -> Any:
        response = get_response(request)
        response["X-Worker-Pid"] = str(common.PID)
        return response

    return middleware


worker_pid.sync_capable = True  # type: ignore[attr-defined]
worker_pid.async_capable = True  # type: ignore[attr-defined]


def ping(request: HttpRequest) -> HttpResponse:
    time.sleep(0.05)
    return HttpResponse(str(os.getpid()))


def admin(request: HttpRequest, id: int) -> HttpResponse:
    return HttpResponse("updated")


def _response(outcome: common.Outcome) -> HttpResponse:
    if outcome.raise_error:
        raise RuntimeError(f"the view failed on purpose (call {outcome.call})")
    response = HttpResponse(outcome.body, status=outcome.status)
    for name, value in outcome.headers:
        response[name] = value
    return response


def view(request: HttpRequest) -> HttpResponse:
    lang = request.headers.get("accept-language", "")
    outcome = common.sync_view(_client, request.path, lang, request.GET.get("sleep"))
    return _response(outcome)


urlpatterns = [
    path("ping", ping),
    path("admin/items/<int:id>", admin),
    re_path(r"^.*$", view),
]

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
asgi_application = get_asgi_application()
