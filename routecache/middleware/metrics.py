"""In-process counters of what the cache did, per rule and outcome (sans-I/O).

The engines count into one process-wide :data:`METRICS` at the place each outcome is
decided (where the ``Cache-Status`` member is built); exporters (``routecache.metrics``:
Prometheus, OpenTelemetry, the fleet view) read :meth:`Metrics.snapshot`, never the hot
path.

**Why no lock.** CPython (with the GIL) switches threads only at its "eval breaker"
checks: function entry, backward jumps and after calls. ``slot.hits += 1`` on a
``__slots__`` attribute holding an int, and ``counts[key] += 1`` on a
``defaultdict(int)`` keyed by strings or tuples of strings, run no Python-level code
between the load and the store, so two threads never lose each other's increment
(``tests/metrics/test_counters.py`` hammers it from threads). Free-threaded builds are
not a target; there an increment could be lost, never a request.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Final

from .plans import RequestPlan

__all__ = [
    "BODY_BUCKETS",
    "LOOKUP_BUCKETS",
    "LOOKUP_SAMPLE",
    "METRICS",
    "NO_RULE",
    "REQUEST_OUTCOMES",
    "Histogram",
    "Metrics",
    "RuleCounters",
]

#: The ``rule`` label of requests no rule matches.
NO_RULE: Final = "no-rule"

#: Outcomes counted once per request (``routecache_requests_total``); every other
#: outcome is an event that follows one (``stored``, ``revalidated``, ``refresh``...).
REQUEST_OUTCOMES: Final = frozenset({"hit", "stale", "collapsed", "miss", "bypass"})

#: One lookup in this many is timed for the latency histogram (a sample: its count is
#: about lookups / LOOKUP_SAMPLE).
LOOKUP_SAMPLE: Final = 16
#: Upper bounds (seconds) of the lookup-latency histogram (a store read).
LOOKUP_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
#: Upper bounds (bytes) of the stored body-size histogram.
BODY_BUCKETS: Final = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)

#: Path hashes each rule remembers between two flushes of the fleet view.
PATHS_SAMPLE: Final = 64

#: One DEBUG line per decision (``routecache.policy``), when DEBUG is on for it.
decision_log = logging.getLogger("routecache.policy")
_DEBUG: Final = logging.DEBUG


class Histogram:
    """Fixed buckets (upper bounds, inclusive); ``counts[i]`` is not cumulative and
    ``counts[-1]`` holds what is above the last bound."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def reset(self) -> None:
        """Zero every bucket and the sum (in place: the engines hold it)."""
        self.counts[:] = [0] * len(self.counts)
        self.sum = 0.0

    def snapshot(self) -> dict[str, Any]:
        """Plain data: the bounds, per-bucket counts (last: above), sum and count."""
        counts = list(self.counts)
        return {
            "bounds": list(self.bounds),
            "counts": counts,
            "sum": self.sum,
            "count": sum(counts),
        }


class RuleCounters:
    """The counters of one rule: plain hits apart (the hot path), the rest by
    ``(outcome, detail)``, the bytes stored, and a few path hashes of the entries it
    stored (for the fleet view's memory by rule)."""

    __slots__ = ("counts", "hits", "paths", "rule", "stored_bytes")

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.hits = 0
        self.stored_bytes = 0
        self.counts: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.paths: set[str] = set()


class Metrics:
    """Counters of one process (all its engines), read with :meth:`snapshot`."""

    def __init__(self) -> None:
        #: The counters of each rule, by its path template (``no-rule`` without one).
        self.rules: dict[str, RuleCounters] = {}
        self.lookup_seconds = Histogram(LOOKUP_BUCKETS)
        self.body_bytes = Histogram(BODY_BUCKETS)
        self.invalidations: defaultdict[str, int] = defaultdict(int)
        #: Whether ``routecache.policy`` logs at DEBUG, as last seen: re-read at every
        #: decision but plain hits, and every 256th hit of a rule (a hint: the logger
        #: still decides), so a plain hit does not pay for ``isEnabledFor``.
        self.debug = decision_log.isEnabledFor(_DEBUG)

    def reset(self) -> None:
        """Forget every count (tests; a counter never goes down otherwise)."""
        # In place: the engines hold the counters of the rules they served.
        for slot in self.rules.values():
            slot.hits = slot.stored_bytes = 0
            slot.counts.clear()
        self.lookup_seconds.reset()
        self.body_bytes.reset()
        self.invalidations.clear()
        self.debug = decision_log.isEnabledFor(_DEBUG)

    def slot(self, plan: RequestPlan) -> RuleCounters:
        """The counters of the plan's rule (``no-rule`` without one)."""
        rule = plan.rule
        label = rule.path if rule is not None else NO_RULE
        slot = self.rules.get(label)
        if slot is None:
            slot = self.rules.setdefault(label, RuleCounters(label))
        return slot

    def hit(self, plan: RequestPlan) -> None:
        """A fresh hit without detail: the hot path (one attribute increment)."""
        rule = plan.rule
        slot = self.rules.get(rule.path if rule is not None else NO_RULE)
        if slot is None:
            slot = self.slot(plan)
        slot.hits += 1
        if self.debug or not slot.hits & 255:
            self.log_hit(plan)

    def log_hit(self, plan: RequestPlan) -> None:
        """Re-read the DEBUG flag and log a hit if it is on (see ``debug``)."""
        self.debug = decision_log.isEnabledFor(_DEBUG)
        if self.debug:
            _log_decision(plan, "hit", "")

    def count(self, plan: RequestPlan, outcome: str, detail: str | None = None) -> None:
        """Count one outcome (``hit``, ``stale``, ``bypass``, ``stored``...) with its
        ``Cache-Status`` detail (or ``fwd`` value) for the plan's rule."""
        self.slot(plan).counts[outcome, detail or ""] += 1
        self.debug = decision_log.isEnabledFor(_DEBUG)
        if self.debug:
            _log_decision(plan, outcome, detail or "")

    def stored(self, plan: RequestPlan, body_size: int, entry_size: int) -> None:
        """A response was written: count it, its encoded bytes and its body size."""
        slot = self.slot(plan)
        slot.counts["stored", ""] += 1
        slot.stored_bytes += entry_size
        self.body_bytes.observe(body_size)
        if plan.key is not None and len(slot.paths) < PATHS_SAMPLE:
            slot.paths.add(plan.key.path_hash)
        self.debug = decision_log.isEnabledFor(_DEBUG)
        if self.debug:
            _log_decision(plan, "stored", f"{entry_size} bytes")

    def snapshot(self) -> dict[str, Any]:
        """Plain data (JSON-ready)::

        {"rules": {"/items/{id}": {"requests": {"hit": {"": 10}, "bypass":
          {"cookie": 1}}, "events": {"stored": {"": 3}}, "stored_bytes": 4096}},
         "lookup_seconds": {...}, "body_bytes": {...},
         "invalidations": {"paths": 1, "tags": 0, "entries": 2, "failures": 0}}
        """
        rules: dict[str, Any] = {}
        for label, slot in list(self.rules.items()):
            if not (slot.hits or slot.stored_bytes or slot.counts):
                continue
            requests: dict[str, dict[str, int]] = {}
            events: dict[str, dict[str, int]] = {}
            if slot.hits:
                requests["hit"] = {"": slot.hits}
            for (outcome, detail), n in list(slot.counts.items()):
                group = requests if outcome in REQUEST_OUTCOMES else events
                by_detail = group.setdefault(outcome, {})
                by_detail[detail] = by_detail.get(detail, 0) + n
            rules[label] = {
                "requests": requests,
                "events": events,
                "stored_bytes": slot.stored_bytes,
            }
        return {
            "rules": rules,
            "lookup_seconds": self.lookup_seconds.snapshot(),
            "body_bytes": self.body_bytes.snapshot(),
            "invalidations": {
                k: self.invalidations.get(k, 0)
                for k in ("paths", "tags", "entries", "failures", "retried")
            },
        }


def _log_decision(plan: RequestPlan, outcome: str, detail: str) -> None:
    rule = plan.rule.path if plan.rule is not None else NO_RULE
    facts = plan.facts
    decision_log.debug(
        "%s %s%s: %s%s (rule %s)",
        facts.method,
        facts.path,
        "?" + facts.query.decode("latin-1") if facts.query else "",
        outcome,
        f" ({detail})" if detail else "",
        rule,
    )


#: The counters of this process; every engine counts here.
METRICS: Final = Metrics()
