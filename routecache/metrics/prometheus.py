"""Prometheus export (``pip install 'routecache[prometheus]'``).

One call, after the app is built::

    from routecache.metrics import prometheus
    prometheus.register()

- **One process** (no ``PROMETHEUS_MULTIPROC_DIR``): a collector is registered that
  reads :func:`routecache.metrics.snapshot` when Prometheus scrapes; nothing runs
  between scrapes.
- **Several worker processes** (gunicorn, ``uvicorn --workers``) with
  ``PROMETHEUS_MULTIPROC_DIR`` set: ``MultiProcessCollector`` aggregates only the
  metric objects of ``prometheus_client`` (their values live in the shared directory),
  never a custom collector. So each worker *mirrors* its counters into such objects:
  a daemon thread adds what changed every ``interval`` seconds (and at exit), and a
  worker forked from a process that registered starts its own thread. A scrape sees
  each worker's counts at most ``interval`` seconds late.

Both read the counters; neither costs the request path anything.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Iterator
from typing import Any

try:
    import prometheus_client
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as exc:  # pragma: no cover - the extra is part of [all]
    raise ImportError(
        "routecache.metrics.prometheus needs prometheus_client: "
        "pip install 'routecache[prometheus]'"
    ) from exc

from ..middleware.errors import ConfigurationError
from . import snapshot
from .periodic import Periodic

__all__ = ["Mirror", "RoutecacheCollector", "register", "samples"]

logger = logging.getLogger("routecache.metrics")

#: (name without ``_total``, help, label names) of every counter, in export order.
COUNTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "routecache_requests",
        "Requests by rule and outcome (hit, stale, collapsed, miss, bypass) and detail.",
        ("rule", "outcome", "detail"),
    ),
    (
        "routecache_events",
        "What followed a request (stored, not-stored, revalidated, refresh, "
        "stale-if-error, fenced) by rule and detail.",
        ("rule", "event", "detail"),
    ),
    ("routecache_stored_bytes", "Encoded bytes written to the store, by rule.", ("rule",)),
    ("routecache_invalidations", "Paths and tags invalidated, by target.", ("target",)),
    ("routecache_invalidated_entries", "Entries removed by invalidations.", ()),
    ("routecache_invalidation_failures", "Invalidations the store failed (retried).", ()),
    ("routecache_invalidation_retries", "Failed invalidations that landed on a retry.", ()),
    ("routecache_store_errors", "Store faults by kind.", ("kind",)),
)
#: (name, help, snapshot key) of the histograms.
HISTOGRAMS: tuple[tuple[str, str, str], ...] = (
    ("routecache_lookup_seconds", "Time of the store read of a lookup.", "lookup_seconds"),
    ("routecache_body_bytes", "Body size of the responses stored.", "body_bytes"),
)


def samples(data: dict[str, Any]) -> dict[str, dict[tuple[str, ...], float]]:
    """The counters of a snapshot as ``{metric name: {label values: value}}``."""
    out: dict[str, dict[tuple[str, ...], float]] = {name: {} for name, _, _ in COUNTERS}
    for rule, counters in data["rules"].items():
        for outcome, by_detail in counters["requests"].items():
            for detail, n in by_detail.items():
                out["routecache_requests"][rule, outcome, detail] = n
        for event, by_detail in counters["events"].items():
            for detail, n in by_detail.items():
                out["routecache_events"][rule, event, detail] = n
        out["routecache_stored_bytes"][(rule,)] = counters["stored_bytes"]
    inv = data["invalidations"]
    out["routecache_invalidations"][("path",)] = inv["paths"]
    out["routecache_invalidations"][("tag",)] = inv["tags"]
    out["routecache_invalidated_entries"][()] = inv["entries"]
    out["routecache_invalidation_failures"][()] = inv["failures"]
    out["routecache_invalidation_retries"][()] = inv["retried"]
    for kind, n in data["store_errors"].items():
        out["routecache_store_errors"][(kind,)] = n
    return out


class RoutecacheCollector(Collector):  # type: ignore[misc,unused-ignore]
    """Reads the counters at scrape time (one process)."""

    def collect(self) -> Iterator[Any]:
        """The metric families of the current snapshot."""
        data = snapshot()
        values = samples(data)
        for name, help_text, labels in COUNTERS:
            family = CounterMetricFamily(name, help_text, labels=list(labels))
            for label_values, n in sorted(values[name].items()):
                family.add_metric(list(label_values), n)
            yield family
        for name, help_text, key in HISTOGRAMS:
            hist = data[key]
            buckets: list[tuple[str, float]] = []
            total = 0
            for bound, n in zip([*hist["bounds"], float("inf")], hist["counts"], strict=True):
                total += n
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
            family_h = HistogramMetricFamily(name, help_text)
            family_h.add_metric([], buckets, hist["sum"])
            yield family_h


class Mirror(Periodic):
    """Adds the counters' increments to ``prometheus_client`` metric objects, which
    multiprocess mode writes to ``PROMETHEUS_MULTIPROC_DIR`` (see the module doc)."""

    def __init__(self, interval: float = 5.0) -> None:
        super().__init__(interval, "routecache-metrics")
        self._last: dict[str, dict[tuple[str, ...], float]] = {}
        self._last_hist: dict[str, tuple[list[int], float]] = {}
        self._counters = {
            name: prometheus_client.Counter(name, help_text, list(labels), registry=None)
            for name, help_text, labels in COUNTERS
        }
        self._histograms: dict[str, Any] = {}
        data = snapshot()
        for name, help_text, key in HISTOGRAMS:
            self._histograms[key] = prometheus_client.Histogram(
                name, help_text, buckets=data[key]["bounds"], registry=None
            )

    def flush(self) -> None:
        """Add what changed since the last flush (any thread; serialised)."""
        with self._lock:
            data = snapshot()
            for name, values in samples(data).items():
                last = self._last.setdefault(name, {})
                counter = self._counters[name]
                for label_values, n in values.items():
                    delta = n - last.get(label_values, 0)
                    if delta > 0:
                        child = counter.labels(*label_values) if label_values else counter
                        child.inc(delta)
                    last[label_values] = n
            for key, hist in self._histograms.items():
                counts, total = data[key]["counts"], data[key]["sum"]
                before, before_sum = self._last_hist.get(key, ([0] * len(counts), 0.0))
                # prometheus_client keeps per-bucket (not cumulative) values, as we do;
                # the last of ours is +Inf, its last bucket.
                for value, now, then in zip(hist._buckets, counts, before, strict=True):
                    if now > then:
                        value.inc(now - then)
                if total > before_sum:
                    hist._sum.inc(total - before_sum)
                self._last_hist[key] = (list(counts), total)

    def failed(self, exc: Exception) -> None:
        """Log a failed mirror (the next one adds what this one missed)."""
        logger.warning("routecache: mirroring the metrics failed", exc_info=exc)

    def stop(self) -> None:
        """Stop the thread after one last flush."""
        super().stop()
        try:
            self.flush()
        except Exception as exc:
            self.failed(exc)


_registered: Mirror | RoutecacheCollector | None = None


def register(
    registry: CollectorRegistry | None = None, *, interval: float = 5.0
) -> Mirror | RoutecacheCollector:
    """Export the counters: a scrape-time collector on ``registry`` (default
    ``prometheus_client.REGISTRY``), or, with ``PROMETHEUS_MULTIPROC_DIR`` set, a
    :class:`Mirror` flushing every ``interval`` seconds. Idempotent per process."""
    global _registered
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        raise ConfigurationError(
            f"prometheus.register: interval must be a positive number of seconds, got {interval!r}"
        )
    if _registered is not None:
        return _registered
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mirror = Mirror(float(interval)).start()
        os.register_at_fork(after_in_child=mirror._after_fork)
        atexit.register(mirror.stop)
        _registered = mirror
    else:
        collector = RoutecacheCollector()
        (registry if registry is not None else prometheus_client.REGISTRY).register(collector)
        _registered = collector
    return _registered
