"""What the caches of this process did: counters per rule and outcome, read as plain data.

``snapshot()`` is the read API; ``routecache.metrics.prometheus`` and
``routecache.metrics.otel`` export it, ``routecache.metrics.fleet`` flushes it to Redis
for ``routecache stats``. Reading never touches the request path: the engines only
increment in-process counters (``routecache/middleware/metrics.py``).
"""

from __future__ import annotations

from typing import Any

from ..middleware import engine_async, engine_sync
from ..middleware.metrics import METRICS, NO_RULE, REQUEST_OUTCOMES, Metrics

__all__ = ["METRICS", "NO_RULE", "REQUEST_OUTCOMES", "Metrics", "reset", "snapshot", "store_errors"]


def store_errors() -> dict[str, int]:
    """Store faults by kind (``timeout``, ``store_full``, ``ConnectionError``...) summed
    over the stores of this process's engines (each store counted once)."""
    seen: set[int] = set()
    out: dict[str, int] = {}
    engines: list[Any] = [*list(engine_async.ENGINES), *list(engine_sync.ENGINES)]
    for engine in engines:
        faults = getattr(engine.store, "faults", None)
        counts = getattr(faults, "counts", None)
        if counts is None or id(faults) in seen:
            continue
        seen.add(id(faults))
        for kind, n in list(counts.items()):
            if kind != "total":
                out[kind] = out.get(kind, 0) + n
    return out


def snapshot() -> dict[str, Any]:
    """Everything counted in this process, as plain (JSON-ready) data::

        {"rules": {"/items/{id}": {"requests": {"hit": {"": 10}, "miss": {"uri-miss": 1}},
                                   "events": {"stored": {"": 1}}, "stored_bytes": 1290}},
         "lookup_seconds": {"bounds": [...], "counts": [...], "sum": 0.01, "count": 11},
         "body_bytes": {...},
         "invalidations": {"paths": 1, "tags": 0, "entries": 1, "failures": 0, "retried": 0},
         "store_errors": {"timeout": 2}}

    ``requests`` counts each request once by outcome (``hit``, ``stale``,
    ``collapsed``, ``miss``, ``bypass``) and its detail (the ``Cache-Status`` detail
    or ``fwd`` value); ``events`` what followed (``stored``, ``not-stored``,
    ``revalidated``, ``refresh``, ``stale-if-error``, ``fenced``).
    """
    data = METRICS.snapshot()
    data["store_errors"] = store_errors()
    return data


def reset() -> None:
    """Forget every count of this process (for tests)."""
    METRICS.reset()
