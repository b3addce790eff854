"""Which pattern apps can run here: Starlette and Flask always; Django when its adapter
imports (another engineer is writing it)."""

from __future__ import annotations

import pytest

from tests.patterns._support import have_module


def _django(kind: str) -> object:
    if have_module("django") and have_module("routecache.adapters.django"):
        return kind
    return pytest.param(
        kind, marks=pytest.mark.skip(reason="routecache.adapters.django is not available yet")
    )


#: Starlette under uvicorn, Flask and Django (WSGI) under gunicorn gthread, Django's ASGI
#: handler under uvicorn.
FRAMEWORKS = ["starlette", "flask", _django("django"), _django("django-asgi")]
