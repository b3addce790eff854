"""Fixtures of the Flask adapter tests.

``serve(app)`` sends requests through werkzeug's ``LintMiddleware`` and closes every
response like a server does (the store happens on close); ``cleanup(app)`` closes the
Redis connections of an app's cache after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from routecache.adapters.flask import RouteCacheState
from tests.conformance.harness import WSGIClient

Serve = Callable[[Flask], WSGIClient]
Cleanup = Callable[[Flask], Flask]


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    """``cleanup(app)``: close the app's store after the test; returns the app."""
    apps: list[Flask] = []

    def track(app: Flask) -> Flask:
        apps.append(app)
        return app

    yield track
    for app in apps:
        state = app.extensions.get("routecache")
        if isinstance(state, RouteCacheState) and state.store is not None:
            state.store.close()


@pytest.fixture
def serve(cleanup: Cleanup) -> Serve:
    """``serve(app)``: a WSGI client for the app (its store closed after the test)."""

    def make(app: Flask) -> WSGIClient:
        return WSGIClient(cleanup(app))

    return make
