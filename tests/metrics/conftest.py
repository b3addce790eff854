"""Each metrics test starts from zero counts (the counters are process-wide)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import routecache.metrics


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    """Forget the counts of earlier tests, before and after."""
    routecache.metrics.reset()
    yield
    routecache.metrics.reset()
