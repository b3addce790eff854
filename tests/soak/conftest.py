"""The soak's option: ``--soak-seconds N`` (for ``pytest tests/soak``) runs each server
kind longer than the suite's bounded run."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Seconds per server kind in the suite (CI): two kinds make about a minute.
DEFAULT_SOAK_SECONDS = 30.0


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--soak-seconds N``: how long the soak runs per server kind."""
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=None,
        help=f"seconds per server kind for the soak (default {DEFAULT_SOAK_SECONDS:g})",
    )


def _seconds(config: pytest.Config) -> float:
    value = config.getoption("soak_seconds", default=None)
    return DEFAULT_SOAK_SECONDS if value is None else float(value)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak runs real servers: slow, with a time limit that grows with the option."""
    for item in items:
        if Path(str(item.path)).name == "test_soak.py":
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(_seconds(config) + 120))


@pytest.fixture
def soak_seconds(request: pytest.FixtureRequest) -> float:
    """How long the soak runs per server kind."""
    return _seconds(request.config)
