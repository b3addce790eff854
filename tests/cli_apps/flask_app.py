"""The Flask app of the command line tests."""

from __future__ import annotations

import os

from flask import Flask

from routecache.adapters.flask import RouteCache

app = Flask(__name__)
app.config["ROUTECACHE_REDIS_URL"] = os.environ.get("CLI_REDIS_URL")
app.config["ROUTECACHE_PREFIX"] = os.environ.get("CLI_PREFIX", "routecache")
app.config["ROUTECACHE_REDIS_OPTIONS"] = {"timeout": 1.0}
if os.environ.get("CLI_SERVER_NAME"):
    app.config["SERVER_NAME"] = os.environ["CLI_SERVER_NAME"]


@app.get("/items/<int:id>")
@RouteCache.route(ttl=300, tags=["items", "item:{id}"])
def item(id: int) -> str:
    return f"item {id}"


@app.get("/about")
@RouteCache.route(ttl=300)
def about() -> str:
    return "about"


@app.get("/broken")
def broken() -> tuple[str, int]:
    return "no", 500


RouteCache(app)
