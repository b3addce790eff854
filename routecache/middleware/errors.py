"""Errors routecache raises.

Two kinds, as in h11: :class:`ConfigurationError` means "you misused us" and is raised
at start-up, naming the setting; :class:`StoreError` means "the outside world
misbehaved" (Redis down, slow or full) and never reaches a client: the drivers catch it
and serve the request from the app.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "StoreError"]


class ConfigurationError(ValueError):
    """A setting or rule option is invalid; the message names the setting."""


class StoreError(Exception):
    """The cache store failed (connection, timeout, out of memory, circuit open)."""
