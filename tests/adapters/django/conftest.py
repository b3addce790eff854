"""Django is configured for the whole test process before these tests are collected.

Fixtures: ``routecache`` swaps in a fresh ``ROUTECACHE`` (and the test URLconf) for one
test, so every test starts with an empty in-memory cache; ``redis_routecache`` does
the same on the private Redis server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from routecache.adapters.django import conf
from tests.adapters.django.settings import configure

configure()

from . import views  # noqa: E402  (needs the app registry)

URLS = "tests.adapters.django.urls"
Configure = Callable[..., None]


@pytest.fixture
def routecache() -> Iterator[Configure]:
    """``routecache(**ROUTECACHE)``: use these settings (and the test URLconf) for the
    rest of the test."""
    views.COUNTS.clear()
    overrides: list[Any] = []

    def use(**value: Any) -> None:
        override = override_settings(ROOT_URLCONF=URLS, ROUTECACHE=value)
        override.enable()
        overrides.append(override)

    use()
    yield use
    for override in reversed(overrides):
        override.disable()


@pytest.fixture
def redis_routecache(routecache: Configure, redis_clean_url: str) -> Iterator[Configure]:
    """Like ``routecache``, with ``REDIS_URL`` set to the private server."""

    def use(**value: Any) -> None:
        routecache(REDIS_URL=redis_clean_url, **value)

    use()
    yield use
    conf.reset()


def run(coro: Any) -> Any:
    """Run an async test body on a fresh loop, closing the loop's store after it."""

    async def main() -> Any:
        try:
            return await coro
        finally:
            await conf.aclose()

    return asyncio.run(main())
