"""Flask app with routecache's WSGI middleware (run by gunicorn gthread workers).

``gunicorn -k gthread -w 2 --threads 4 tests.patterns.apps.flask_app:app`` with
``RC_*`` set (see ``common.py``).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, request

from routecache import RedisStore
from tests.patterns.apps import common

app = Flask(__name__)
_client = common.sync_client()


@app.route("/ping")
def ping() -> str:
    return str(os.getpid())


@app.route("/admin/items/<int:item_id>", methods=["POST"])
def admin(item_id: int) -> str:
    return "updated"


@app.route("/<path:rest>", methods=["GET", "HEAD"])
def view(rest: str) -> Response:
    path = request.path
    lang = request.headers.get("accept-language", "")
    outcome = common.sync_view(_client, path, lang, request.args.get("sleep"))
    if outcome.raise_error:
        raise RuntimeError(f"the view failed on purpose (call {outcome.call})")
    return Response(outcome.body, status=outcome.status, headers=outcome.headers)


def _install() -> str:
    """Install routecache: the Flask extension when it exists, else the bare driver."""
    store = RedisStore(common.REDIS_URL, **common.store_options())
    try:
        from routecache.adapters.flask import RouteCache
    except ImportError:
        from routecache.middleware.wsgi import CacheMiddleware

        app.wsgi_app = CacheMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, store=store, rules=common.rule_dicts(), **common.engine_options()
        )
        return "wsgi"
    try:
        RouteCache(app, store=store, rules=common.rule_dicts(), **common.engine_options())
    except TypeError:  # driver options only as ROUTECACHE_* config keys
        for name, value in common.engine_options().items():
            app.config[f"ROUTECACHE_{name.upper()}"] = value
        RouteCache(app, store=store, rules=common.rule_dicts())
    return "flask"


INSTALLED = _install()


class WorkerPid:
    """Outermost WSGI wrapper: says which worker process answered (hits included)."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: Any, start_response: Any) -> Any:
        def tagged(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("x-worker-pid", str(common.PID))], exc_info)

        return self.wsgi_app(environ, tagged)


app.wsgi_app = WorkerPid(app.wsgi_app)  # type: ignore[method-assign]
