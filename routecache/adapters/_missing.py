"""A helpful ImportError when a framework's extra is not installed."""

from __future__ import annotations


def missing(framework: str, extra: str, exc: ImportError) -> ImportError:
    """An ImportError naming the extra that installs ``framework``."""
    return ImportError(
        f"routecache's {framework} adapter needs {framework}: "
        f"pip install 'routecache[{extra}]' ({exc})"
    )
