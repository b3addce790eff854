"""OpenTelemetry metrics export (``pip install 'routecache[otel]'``).

::

    from routecache.metrics import otel
    otel.instrument()  # the global MeterProvider, or instrument(meter_provider=...)

Observable instruments whose callbacks read :func:`routecache.metrics.snapshot` when
the SDK's reader collects: nothing runs on the request path. Instruments (all
monotonic counters): ``routecache.requests`` {rule, outcome, detail},
``routecache.events`` {rule, event, detail}, ``routecache.stored_bytes`` {rule},
``routecache.invalidations`` {target}, ``routecache.invalidated_entries``,
``routecache.invalidation_failures``, ``routecache.store_errors`` {kind},
``routecache.lookups`` and ``routecache.lookup_time`` (seconds; the histogram's
count and sum: OpenTelemetry has no observable histogram). No spans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

try:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
except ImportError as exc:  # pragma: no cover - the extra is part of [all]
    raise ImportError(
        "routecache.metrics.otel needs opentelemetry-api: pip install 'routecache[otel]'"
    ) from exc

from . import snapshot

__all__ = ["instrument"]

_Extract = Callable[[dict[str, Any]], Iterable[tuple[float, dict[str, str]]]]


def _requests(data: dict[str, Any]) -> Iterable[tuple[float, dict[str, str]]]:
    for rule, counters in data["rules"].items():
        for outcome, by_detail in counters["requests"].items():
            for detail, n in by_detail.items():
                yield n, {"rule": rule, "outcome": outcome, "detail": detail}


def _events(data: dict[str, Any]) -> Iterable[tuple[float, dict[str, str]]]:
    for rule, counters in data["rules"].items():
        for event, by_detail in counters["events"].items():
            for detail, n in by_detail.items():
                yield n, {"rule": rule, "event": event, "detail": detail}


def _stored_bytes(data: dict[str, Any]) -> Iterable[tuple[float, dict[str, str]]]:
    for rule, counters in data["rules"].items():
        yield counters["stored_bytes"], {"rule": rule}


def _invalidations(data: dict[str, Any]) -> Iterable[tuple[float, dict[str, str]]]:
    inv = data["invalidations"]
    yield inv["paths"], {"target": "path"}
    yield inv["tags"], {"target": "tag"}


def _store_errors(data: dict[str, Any]) -> Iterable[tuple[float, dict[str, str]]]:
    for kind, n in data["store_errors"].items():
        yield n, {"kind": kind}


#: (instrument name, unit, description, extractor).
INSTRUMENTS: tuple[tuple[str, str, str, _Extract], ...] = (
    ("routecache.requests", "{request}", "Requests by rule, outcome and detail.", _requests),
    ("routecache.events", "{event}", "What followed a request, by rule.", _events),
    ("routecache.stored_bytes", "By", "Encoded bytes written to the store.", _stored_bytes),
    ("routecache.invalidations", "{target}", "Paths and tags invalidated.", _invalidations),
    (
        "routecache.invalidated_entries",
        "{entry}",
        "Entries removed by invalidations.",
        lambda d: [(d["invalidations"]["entries"], {})],
    ),
    (
        "routecache.invalidation_failures",
        "{invalidation}",
        "Invalidations the store failed (retried).",
        lambda d: [(d["invalidations"]["failures"], {})],
    ),
    ("routecache.store_errors", "{error}", "Store faults by kind.", _store_errors),
    (
        "routecache.lookups",
        "{lookup}",
        "Store reads of lookups.",
        lambda d: [(d["lookup_seconds"]["count"], {})],
    ),
    (
        "routecache.lookup_time",
        "s",
        "Total time of the store reads of lookups.",
        lambda d: [(d["lookup_seconds"]["sum"], {})],
    ),
)


def _callback(extract: _Extract) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, attrs) for value, attrs in extract(snapshot())]

    return observe


def instrument(meter_provider: MeterProvider | None = None) -> Meter:
    """Create routecache's observable instruments on a meter named ``routecache``
    (from ``meter_provider``, default the global one) and return the meter."""
    meter = otel_metrics.get_meter("routecache", meter_provider=meter_provider)
    for name, unit, description, extract in INSTRUMENTS:
        meter.create_observable_counter(
            name, callbacks=[_callback(extract)], unit=unit, description=description
        )
    return meter
