"""A Flask app with routecache, configured on Redis as in production."""

import os

from flask import Flask

from routecache.adapters.flask import RouteCache

app = Flask(__name__)
app.config["ROUTECACHE_REDIS_URL"] = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
cache = RouteCache(app)
calls: list[int] = []  # how often the view ran


@app.get("/items/<int:id>")
@cache.route(ttl=60, tags=["item:{id}"])
def read_item(id: int) -> dict[str, int]:
    calls.append(id)
    return {"id": id}


@app.put("/items/<int:id>")
def update_item(id: int) -> dict[str, int]:
    return {"id": id}  # a successful PUT invalidates GET /items/<id>
