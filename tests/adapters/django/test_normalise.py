"""``NORMALIZE_ACCEPT_LANGUAGE: True`` reads ``settings.LANGUAGES``, and Django's own
``LocaleMiddleware`` and ``GZipMiddleware`` below the cache act on the normalised
fields: many client spellings, one entry per language and coding."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from django.utils import translation

from routecache import ConfigurationError
from routecache.adapters.django import conf

from .conftest import Configure

CALLS: list[str] = []


def greeting(request: HttpRequest) -> HttpResponse:
    CALLS.append(f"{request.headers.get('accept-language')}|{request.LANGUAGE_CODE}")  # type: ignore[attr-defined]
    return HttpResponse(f"hello in {translation.get_language()} " + "x" * 300)


urlpatterns = [path("greeting", greeting)]

SETTINGS: dict[str, Any] = {
    "ROOT_URLCONF": __name__,
    "USE_I18N": True,
    "LANGUAGES": [("de", "German"), ("en", "English"), ("fr", "French")],
    "LANGUAGE_CODE": "en-us",
    "MIDDLEWARE": [
        "routecache.adapters.django.CacheMiddleware",
        "django.middleware.gzip.GZipMiddleware",
        "django.middleware.locale.LocaleMiddleware",
    ],
}


@pytest.fixture
def i18n(routecache: Configure) -> Iterator[Configure]:
    """``i18n(**ROUTECACHE)``: these settings, this module's URLconf and i18n settings."""
    CALLS.clear()
    overrides: list[Any] = []

    def use(**value: Any) -> None:
        routecache(**value)
        override = override_settings(**SETTINGS)
        override.enable()
        overrides.append(override)

    yield use
    for override in reversed(overrides):
        override.disable()


def test_languages_come_from_settings_and_the_default_from_language_code(
    i18n: Configure,
) -> None:
    i18n(RULES=[{"path": "/greeting", "ttl": 60}], NORMALIZE_ACCEPT_LANGUAGE=True)
    client = Client()
    spellings = ["fr-CH, fr;q=0.9, en;q=0.8", "fr", "FR-fr,de;q=0.5"]
    for spelling in spellings:
        response = client.get("/greeting", headers={"accept-language": spelling})
        assert response.content.startswith(b"hello in fr ")
    # LANGUAGE_CODE en-us resolves to en: the default for a language nobody serves.
    for spelling in ["ja", "en-GB,en;q=0.9", None]:
        headers = {} if spelling is None else {"accept-language": spelling}
        assert client.get("/greeting", headers=headers).content.startswith(b"hello in en ")
    assert CALLS == ["fr|fr", "en|en"]


def test_django_gzip_acts_on_the_normalised_coding(i18n: Configure) -> None:
    i18n(RULES=[{"path": "/greeting", "ttl": 60, "normalize_accept_encoding": True}])
    client = Client()
    # GZipMiddleware alone would gzip this one: its regex ignores the q=0.
    excluded = client.get("/greeting", headers={"accept-encoding": "gzip;q=0, br"})
    assert excluded.get("Content-Encoding") is None
    for spelling in ["gzip, deflate, br", "br;q=1.0, gzip;q=0.8, *;q=0.1"]:
        response = client.get("/greeting", headers={"accept-encoding": spelling})
        assert response["Content-Encoding"] == "gzip"
        assert gzip.decompress(response.content).startswith(b"hello in en ")
    assert len(CALLS) == 2


def test_true_without_languages_is_a_settings_error(routecache: Configure) -> None:
    with (
        override_settings(LANGUAGES=[]),
        pytest.raises(ConfigurationError, match="NORMALIZE_ACCEPT_LANGUAGE"),
    ):
        conf.build({"NORMALIZE_ACCEPT_LANGUAGE": True})
