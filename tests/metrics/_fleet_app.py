"""A Flask app flushing its counters for the fleet view (gunicorn, 2 workers, in
``test_fleet.py``). Env: ``CLI_REDIS_URL``, ``CLI_PREFIX``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from flask import Flask

from routecache import RedisStore, Rule
from routecache.adapters.flask import RouteCache

app = Flask(__name__)


@app.get("/ping")
def ping() -> str:
    return str(os.getpid())


@app.get("/items/<id>")
def item(id: str) -> str:
    return "item " + id * 500


RouteCache(
    app,
    store=RedisStore(os.environ["CLI_REDIS_URL"], prefix=os.environ["CLI_PREFIX"]),
    rules=[Rule("/items/{id}", ttl=300)],
    metrics_flush=0.1,
)
inner = app.wsgi_app


def with_pid(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Adds ``x-worker-pid`` to every response (outside the cache: hits too)."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("x-worker-pid", str(os.getpid()))], exc_info)

    return inner(environ, start)


app.wsgi_app = with_pid  # type: ignore[method-assign]
