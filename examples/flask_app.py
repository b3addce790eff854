"""The classic scenario on Flask: a slow lookup, cached for 60 seconds.

GET /data/<id> sleeps half a second (standing for a database) and is cached for 60 s;
PUT /data/<id> changes the record, and routecache invalidates the cached page (every
query string and variant of /data/<id>) before the PUT's answer goes out.

Run it::

    flask --app examples/flask_app.py run                  # memory store
    REDIS_URL=redis://127.0.0.1:6379/0 flask --app examples/flask_app.py run
    python examples/flask_app.py                           # the same, on $PORT or 5000

then ``curl -i localhost:5000/data/1`` twice and look at ``Cache-Status``;
``curl -X PUT -d changed localhost:5000/data/1`` and GET it again. With Redis,
``flask --app examples/flask_app.py routecache stats`` counts the entries.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, jsonify, request

from routecache.adapters.flask import RouteCache

#: How long the simulated lookup takes.
LOOKUP_SECONDS = 0.5
RECORDS: dict[int, dict[str, object]] = {}

cache = RouteCache()
data = Blueprint("data", __name__, url_prefix="/data")


@data.get("/<int:id>")
@cache.route(ttl=60, tags=["data:{id}"])
def read_data(id: int) -> Response:
    """A slow lookup: what a cache is for."""
    time.sleep(LOOKUP_SECONDS)
    record = RECORDS.get(id, {"id": id, "value": f"initial {id}"})
    return jsonify({**record, "generated_at": time.time()})


@data.put("/<int:id>")
def write_data(id: int) -> Response:
    """Update a record; the cached GET /data/<id> is invalidated for us (same path).
    Other pages showing the record would go with ``cache.invalidate(tags=[...])``."""
    RECORDS[id] = {"id": id, "value": request.get_data(as_text=True) or "updated"}
    return jsonify(RECORDS[id])


def create_app() -> Flask:
    """The app, on Redis when ``REDIS_URL`` is set, else on the in-process store."""
    app = Flask(__name__)
    app.config["ROUTECACHE_REDIS_URL"] = os.environ.get("REDIS_URL") or None
    app.register_blueprint(data)
    cache.init_app(app)
    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
