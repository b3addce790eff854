"""Fixtures of the pattern tests (the private Redis fixtures come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.patterns._support import redis_client


@pytest.fixture
def rc(redis_clean_url: str) -> Iterator[Any]:
    """A redis-py client on the (flushed) private Redis."""
    client = redis_client(redis_clean_url)
    try:
        yield client
    finally:
        client.close()
