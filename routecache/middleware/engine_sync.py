# Generated from engine_async.py by scripts/unasync.py: do not edit.
"""The cache engine for asyncio drivers: carries the policy's decisions to a store.

``engine_sync.py`` is generated from this file by ``scripts/unasync.py``: edit this one,
then run the script. The engine never raises a store fault to its caller: Redis being
down, slow or full turns into a forwarded request (``Cache-Status: ...; detail=
store-unavailable``), counted and logged by the store.

A driver uses it like this (the ASGI driver is the reference)::

    plan = policy.plan(facts)                 # sans-I/O
    verdict = engine.lookup(plan)       # one GET in the common case
    if verdict.kind <= VerdictKind.STALE_WHILE_REVALIDATE:
        send(engine.serve(plan, verdict))     # a hit
        refresh = engine.refresh(plan, verdict)   # background, one worker
    else:
        exchange = engine.exchange(plan, verdict)
        start = exchange.start(status, headers)   # when the app answers
        ...stream the body, keeping a copy while start.keep...
        exchange.finish(body or None)   # after the last byte went out
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Final

from .concurrency_sync import Background, Signal, sleep
from .entry import Codec, DecodedEntries, Entry, decode_entry
from .errors import StoreError
from .keys import path_hash, variant_hash
from .metrics import LOOKUP_SAMPLE, METRICS, Metrics, RuleCounters
from .pending import RETRY_FIRST, RETRY_MAX, PendingInvalidations
from .policy import (
    Action,
    CachePolicy,
    HeaderList,
    Invalidation,
    RequestFacts,
    RequestPlan,
    ResponsePlan,
    Served,
    Verdict,
    VerdictKind,
    make_etag,
)
from .refresh import refresh_headers
from .stores.base import Fence, LockState, Store
from .stores.faults import CircuitBreaker, FaultLog

__all__ = ["ENGINES", "ON_NEW_ENGINE", "Exchange", "Start", "SyncEngine"]

#: Every engine alive in this process (held weakly), and functions called with each new
#: one: ``routecache.testing`` gives them a test's store and clock.
ENGINES: weakref.WeakSet[SyncEngine] = weakref.WeakSet()
ON_NEW_ENGINE: list[Callable[[SyncEngine], None]] = []


def _wall_clock() -> float:
    # ``time.time`` looked up at each call: a test patching it (freezegun) still works.
    return time.time()


logger = logging.getLogger("routecache.invalidation")
_perf_counter = time.perf_counter

#: Request fields replaced when the engine sends its own conditional request.
_CONDITIONALS: Final = frozenset(
    {b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since", b"if-range"}
)


class Start:
    """What a driver does when the app's response starts.

    With ``served`` set, the driver discards the app's response (drains and closes
    it) and sends ``served`` instead (a refreshed entry after a ``304``, or a stale
    one when the app failed). Otherwise it sends ``status`` and ``headers`` and
    streams the app's body, keeping a copy of up to ``limit`` bytes while ``keep``.
    """

    __slots__ = ("headers", "keep", "limit", "served", "status")

    def __init__(
        self,
        status: int = 0,
        headers: HeaderList | None = None,
        *,
        keep: bool = False,
        limit: int = 0,
        served: Served | None = None,
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else []
        self.keep = keep
        self.limit = limit
        self.served = served


class _Flight:
    """A single-flight ticket: the fetching request wakes the others when done."""

    __slots__ = ("locked", "name", "signal", "token")

    def __init__(self, name: str, token: str, signal: Signal | None, locked: bool) -> None:
        self.name = name
        self.token = token
        self.signal = signal
        self.locked = locked


class Exchange:
    """One request forwarded to the app; its response goes through here."""

    __slots__ = (
        "_fence",
        "_flight",
        "_freshened",
        "_rp",
        "engine",
        "plan",
        "request_time",
        "verdict",
    )

    def __init__(self, engine: SyncEngine, plan: RequestPlan, verdict: Verdict) -> None:
        self.engine = engine
        self.plan = plan
        self.verdict = verdict
        self.request_time = self.engine.clock()
        self._rp: ResponsePlan | None = None
        self._freshened: bytes | None = None
        self._flight = verdict.flight if isinstance(verdict.flight, _Flight) else None
        self._fence = verdict.fence if isinstance(verdict.fence, Fence) else None

    def request_headers(self, headers: HeaderList) -> HeaderList | None:
        """The request fields to send the app, or ``None`` to send the client's as-is.

        When the engine revalidates an entry, the client's own conditionals are
        replaced by the entry's validators (§4.3.1).
        """
        entry = self.verdict.entry
        if self.verdict.kind != VerdictKind.REVALIDATE or entry is None:
            return None
        kept = [h for h in headers if h[0] not in _CONDITIONALS]
        kept.extend(self.engine.policy.conditional_headers(entry))
        return kept

    def etag_for(self, body: bytes) -> bytes | None:
        """The ETag to add to the response when its whole body is known up front."""
        rp = self._rp
        if rp is None or not rp.store or not rp.generate_etag or len(body) > rp.max_body_size:
            return None
        if not rp.complete(body):
            return None
        return make_etag(body)  # the stored entry derives the same one

    def start(self, status: int, headers: HeaderList) -> Start:
        """Decide what happens to the app's response once its status is known."""
        plan, verdict, policy = self.plan, self.verdict, self.engine.policy
        now = self.engine.clock()
        if plan.action == Action.INVALIDATE:
            invalidation = policy.invalidation(plan, status, headers)
            if invalidation:
                self.engine.invalidate(invalidation)
            return Start(status, policy.forwarded_headers(headers, policy.forward_member("method")))
        entry = verdict.entry
        if verdict.kind == VerdictKind.REVALIDATE and status == 304 and entry is not None:
            rp = policy.freshen(
                plan, entry, headers, request_time=self.request_time, response_time=now
            )
            updated = rp.entry(entry.body)
            if rp.store:
                # Written before the answer goes out (it is small: the body is the one
                # stored), so the next request in any process is a hit, not another
                # revalidation racing a write-behind.
                self._freshened = self.engine.put(plan, updated, rp.storage_ttl, fence=self._fence)
                # The waiters get the refreshed entry now, not after this body is sent.
                flight, self._flight = self._flight, None
                if flight is not None:
                    self.engine.land(plan, flight, self._freshened)
            else:
                self.engine.delete(plan)
            self.engine.metrics.count(plan, "revalidated")
            served = policy.serve(
                plan,
                updated,
                now,
                hit=False,
                fwd=verdict.fwd or "stale",
                fwd_status=304,
                stored=rp.store,
                detail=rp.detail,
            )
            return Start(served=served)
        if verdict.stale_ok and entry is not None and status >= 500:
            return Start(served=self._stale_if_error(entry, now, status))
        rp = policy.on_response(
            plan,
            status,
            headers,
            request_time=self.request_time,
            response_time=now,
            fwd=verdict.fwd or "uri-miss",
            detail=verdict.detail,
        )
        self._rp = rp
        if not rp.store:
            self.engine.metrics.count(plan, "not-stored", rp.detail)
            # Known now (status, headers, declared size): the requests waiting on this
            # fetch go and fetch for themselves at once, not when this client has read
            # the last byte.
            self.release()
        return Start(status, rp.headers, keep=rp.store, limit=rp.max_body_size)

    def release(self) -> None:
        """This response will not be stored (known from its start, or its streamed body
        outgrew the limit): wake the requests waiting on this fetch now. ``finish`` is
        still called once at the end."""
        flight, self._flight = self._flight, None
        if flight is not None:
            self.engine.land(self.plan, flight, None)

    def _stale_if_error(self, entry: Entry, now: float, status: int | None) -> Served:
        self.engine.counts["stale_if_error"] += 1
        self.engine.metrics.count(self.plan, "stale-if-error")
        return self.engine.policy.serve(
            self.plan,
            entry,
            now,
            hit=False,
            fwd="stale",
            fwd_status=status,
            detail="stale-if-error",
        )

    def fail(self) -> Served | None:
        """The app raised before answering: a stale entry to serve, or ``None``."""
        entry = self.verdict.entry
        if self.verdict.stale_ok and entry is not None:
            return self._stale_if_error(entry, self.engine.clock(), None)
        return None

    def finish(self, body: bytes | None) -> None:
        """Store the response (``body`` is ``None`` when incomplete, failed or too
        large) and wake the requests waiting on it. Call it exactly once, after the
        response went out, also when it failed."""
        data = self._freshened
        try:
            rp = self._rp
            if (
                body is not None
                and rp is not None
                and rp.store
                and rp.complete(body)  # not what its Content-Length said: never stored
            ):
                data = self.engine.put(self.plan, rp.entry(body), rp.storage_ttl, fence=self._fence)
        finally:
            fenced = self._fence is not None and self._fence.refused
            self.engine.land(self.plan, self._flight, data, fenced=fenced)


class SyncEngine:
    """Looks entries up, stores responses, invalidates, and runs the single flight.

    Args:
        policy: the decisions.
        store: an async store (``RedisStore`` or ``MemoryStore().as_async()``).
        codec: how entries are encoded (compression threshold).
        collapse: single-flight misses (in this process, and across processes through
            the store's lock).
        lock_ttl: seconds a fetch lock lives (bounds how long a dead worker blocks).
        lock_wait: seconds a waiting request waits before calling the app itself (for
            another process's lock; a request of this process waits up to that long
            for its leader's call of the app, once the leader makes it).

    A failed invalidation is retried in the background (see ``pending.py``); until it
    lands, lookups of its paths and entries with its tags bypass the cache. After
    the store's circuit breaker was open, lookups bypass the cache for
    ``unsure_window`` seconds once the store answers again: long enough for another
    process's pending invalidation to land.
    """

    def __init__(
        self,
        policy: CachePolicy,
        store: Store,
        *,
        codec: Codec | None = None,
        collapse: bool = True,
        lock_ttl: float = 10.0,
        lock_wait: float = 10.0,
    ) -> None:
        self.policy = policy
        self.store = store
        self.codec = codec or Codec()
        self.collapse = collapse
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_wait
        #: The wall clock read for ages and freshness (``routecache.testing`` moves it).
        self.clock: Callable[[], float] = _wall_clock
        self.counts: Counter[str] = Counter()
        #: Per-rule counters (``metrics.py``), shared by the engines of the process.
        self.metrics: Metrics = METRICS
        #: The hit counters of each rule (``None``: no rule), found without a call.
        self._hit_slots: dict[object, RuleCounters] = {}
        #: Counts lookups modulo ``LOOKUP_SAMPLE``: the one at 0 is timed.
        self._lookup_tick = 0
        self.corrupt = FaultLog("routecache entries", interval=60.0)
        self.decoded = DecodedEntries()
        self._flights: dict[str, Signal] = {}
        #: When the leader of each flight of this process starts calling the app.
        self._fetching: dict[str, float] = {}
        self._refreshing: set[str] = set()
        #: Invalidations that failed, retried in the background until they land.
        self.pending = PendingInvalidations()
        #: The retry loop of failed invalidations (one at a time per engine).
        self.background = Background()
        self._breaker: CircuitBreaker | None = getattr(store, "breaker", None)
        #: A retry sleeps at most ``RETRY_MAX``, then takes at most the store's timeout.
        self.unsure_window = RETRY_MAX + 2 * float(getattr(store, "timeout", 0.25))
        #: 0: sure; inf: the breaker was open (unsure from the next answer); else the
        #: monotonic time the unsure window ends.
        self._unsure_until = 0.0
        ENGINES.add(self)
        for hook in ON_NEW_ENGINE:
            hook(self)

    # -- lookups --------------------------------------------------------------------

    def _decode(self, data: bytes | None, plan: RequestPlan) -> Entry | None:
        if data is None:
            return None
        key = plan.key
        entry = self.decoded.decode(key.digest, data) if key is not None else decode_entry(data)
        if entry is None:
            self.counts["corrupt"] += 1
            self.corrupt.record(f"decoding the entry for {plan.facts.path}", ValueError("corrupt"))
        return entry

    def lookup(self, plan: RequestPlan, *, collapse: bool = True) -> Verdict:
        """Find and judge the entry for ``plan`` (a ``LOOKUP`` plan).

        ``collapse=False`` never joins (nor leads) a single flight: for a caller that
        serves only a fresh entry and hands anything else to a driver that looks it
        up again (the Django front wrappers).
        """
        key = plan.key
        assert key is not None
        pending = self.pending
        if pending.paths and pending.blocks_path(plan.facts.path):
            return self._bypass(plan, "invalidation-pending")
        # Read with the entry: a fetch that follows writes only if nothing was
        # invalidated since (the store compares when it writes).
        fence = Fence()
        # One lookup in LOOKUP_SAMPLE is timed: two clock reads and a bisect cost
        # more than the rest of the counting on a hit.
        tick = self._lookup_tick = (self._lookup_tick + 1) % LOOKUP_SAMPLE
        started = _perf_counter() if not tick else 0.0
        try:
            data = self.store.get(key, fence=fence)
        except StoreError:
            return self._unavailable(plan)
        if not tick:
            self.metrics.lookup_seconds.observe(_perf_counter() - started)
        if self._unsure_until and self._unsure():
            return self._bypass(plan, "store-recovering")
        now = self.clock()
        entry = self._decode(data, plan)
        if entry is not None and pending.tags and pending.blocks_tags(entry.tags):
            return self._bypass(plan, "invalidation-pending")
        if entry is None and data is not None:
            self.delete(plan)  # not an entry: never left to be read again
        verdict = self.policy.judge(plan, entry, now)
        if verdict.kind == VerdictKind.NEED_VARIANT:
            try:
                data = self.store.get(key, verdict.variant, fence=fence)
            except StoreError:
                return self._unavailable(plan)
            entry = self._decode(data, plan)
            if entry is not None and pending.tags and pending.blocks_tags(entry.tags):
                return self._bypass(plan, "invalidation-pending")
            verdict = self.policy.judge(plan, entry, now, variant=True)
        verdict.fence = fence
        if collapse and self.collapse and plan.store_ok and verdict.collapsible:
            verdict = self._single_flight(plan, verdict)
        return verdict

    def _unavailable(self, plan: RequestPlan) -> Verdict:
        plan.store_ok = False
        self.counts["store_unavailable"] += 1
        if self._breaker is not None and self._breaker.is_open:
            # Another process's invalidation may have failed meanwhile: be unsure for
            # a while once the store answers again (``_unsure``).
            self._unsure_until = float("inf")
        return Verdict(VerdictKind.FORWARD, fwd="miss", detail="store-unavailable")

    def _unsure(self) -> bool:
        """Whether the unsure window after a breaker event is still running."""
        now = time.monotonic()
        if self._unsure_until == float("inf"):
            self._unsure_until = now + self.unsure_window
        if now < self._unsure_until:
            return True
        self._unsure_until = 0.0
        return False

    def _bypass(self, plan: RequestPlan, detail: str) -> Verdict:
        plan.store_ok = False
        self.counts[detail.replace("-", "_")] += 1
        return Verdict(VerdictKind.FORWARD, fwd="bypass", detail=detail)

    def _single_flight(self, plan: RequestPlan, verdict: Verdict) -> Verdict:
        key = plan.key
        assert key is not None
        name = f"{key.path_hash}:{key.digest}"
        mine = Signal()
        flight = self._flights.setdefault(name, mine)
        if flight is not mine:
            arrived = time.monotonic()
            while True:
                # Wait up to ``lock_wait`` for the leader's own call of the app, which
                # starts at the latest ``lock_wait`` after it began to wait for another
                # process's lock: never fetch alongside a leader that just gave up on a
                # dead lock holder. Bounded by twice ``lock_wait``.
                fetching = max(arrived, self._fetching.get(name, arrived))
                remaining = fetching + self.lock_wait - time.monotonic()
                if remaining <= 0:
                    break
                if flight.wait(remaining):
                    if flight.value is not None:
                        return self._collapsed(plan, flight.value, verdict)
                    return verdict
                if self._flights.get(name) is not flight:
                    return verdict
            # The leader never landed (it died or hangs): stop sending later
            # requests to wait on it; the next one leads (the store lock expires).
            del self._flights[name]
            self._fetching.pop(name, None)
            return verdict
        token = uuid.uuid4().hex
        fence = verdict.fence if isinstance(verdict.fence, Fence) else None
        deadline = time.monotonic() + self.lock_wait
        self._fetching[name] = deadline  # at the latest; updated when it starts
        delay = 0.01
        # A stale entry is known to be there: only the lock matters, and after each
        # wake-up the entry is read again to see whether another worker refreshed it.
        stale = verdict.entry is not None
        try:
            while True:
                try:
                    state, data = self.store.get_or_lock(
                        key, token, self.lock_ttl, check_entry=not stale, fence=fence
                    )
                except StoreError:
                    break
                if state == LockState.ACQUIRED:
                    self._fetching[name] = time.monotonic()
                    verdict.flight = _Flight(name, token, mine, locked=True)
                    return verdict
                if state == LockState.FOUND:
                    collapsed = self._collapsed(plan, data, verdict)
                    if collapsed is not verdict:
                        self._settle(name, mine, data)
                        return collapsed
                    break
                remaining = deadline - time.monotonic()
                if state == LockState.PASS or remaining <= 0:
                    break
                # Woken by the store's announcement; the timeout is only a backstop.
                self.store.wait_stored(key, min(delay, remaining))
                delay = min(delay * 2, 0.25)
                if stale:
                    try:
                        data = self.store.get(key)
                    except StoreError:
                        break
                    collapsed = self._collapsed(plan, data, verdict)
                    if collapsed is not verdict:
                        self._settle(name, mine, data)
                        return collapsed
        except BaseException:
            # Cancelled while waiting (the client went away): let the waiters go now.
            self._settle(name, mine, None)
            raise
        # No lock: fetch ourselves, and share the result with this process's waiters.
        self._fetching[name] = time.monotonic()
        verdict.flight = _Flight(name, token, mine, locked=False)
        return verdict

    def _collapsed(self, plan: RequestPlan, data: bytes | None, verdict: Verdict) -> Verdict:
        # Not ``_decode``: a corrupt entry found here was counted by the lookup already.
        entry = decode_entry(data) if data is not None else None
        if entry is None:
            return verdict
        judged = self.policy.judge(plan, entry, self.clock())
        if judged.kind != VerdictKind.FRESH:
            return verdict
        judged.collapsed = True
        judged.fwd = verdict.fwd
        self.counts["collapsed"] += 1
        return judged

    def _settle(self, name: str, signal: Signal | None, data: bytes | None) -> None:
        if signal is not None:
            if self._flights.get(name) is signal:
                del self._flights[name]
                self._fetching.pop(name, None)
            signal.set(data)

    def land(
        self, plan: RequestPlan, flight: object, data: bytes | None, *, fenced: bool = False
    ) -> None:
        """Release a single-flight ticket: unlock, and wake the waiters with ``data``.

        ``fenced``: the write was refused (an invalidation since the fetch began). The
        lock is then released without the "pass" mark: the response was storable, so
        the next request leads a fresh fetch that the others collapse onto again.
        """
        if not isinstance(flight, _Flight):
            return
        self._refreshing.discard(flight.name)
        self._settle(flight.name, flight.signal, data)
        if flight.locked and plan.key is not None:
            # A fetch that stored nothing leaves a short "pass" mark so that the requests
            # waiting on it fetch for themselves at once. A background refresh (no
            # waiters, no signal) leaves none: the next hit may try again.
            passed = data is None and flight.signal is not None and not fenced
            # On a fault the lock simply expires by itself.
            with contextlib.suppress(StoreError):
                self.store.release(plan.key, flight.token, passed=passed)

    def _detach_flights(self, invalidation: Invalidation) -> None:
        if invalidation.tags:
            names = list(self._flights)
        else:
            prefixes = tuple(f"{path_hash(p)}:" for p in invalidation.paths)
            names = [name for name in self._flights if name.startswith(prefixes)]
        for name in names:
            del self._flights[name]
            self._fetching.pop(name, None)

    # -- hits -----------------------------------------------------------------------

    def serve(self, plan: RequestPlan, verdict: Verdict) -> Served:
        """The response for a verdict that serves the entry (fresh, stale or collapsed)."""
        entry = verdict.entry
        assert entry is not None
        now = self.clock()
        if verdict.collapsed:
            self.metrics.count(plan, "collapsed", verdict.fwd)
            return self.policy.serve(
                plan, entry, now, hit=False, fwd=verdict.fwd or "uri-miss", collapsed=True
            )
        self.counts["hit"] += 1
        detail = verdict.detail
        if detail is None:
            # ``Metrics.hit`` inlined (the hot path): one dict lookup, one increment.
            slot = self._hit_slots.get(plan.rule)
            if slot is None:
                slot = self._hit_slots[plan.rule] = self.metrics.slot(plan)
            slot.hits += 1
            if self.metrics.debug or not slot.hits & 255:
                self.metrics.log_hit(plan)
        else:
            kind = verdict.kind
            stale = kind == VerdictKind.STALE_WHILE_REVALIDATE or detail == "max-stale"
            self.metrics.count(plan, "stale" if stale else "hit", detail)
        return self.policy.serve(plan, entry, now, detail=detail)

    def gateway_timeout(self, plan: RequestPlan) -> Served:
        """The ``504`` for ``only-if-cached`` with nothing usable."""
        self.metrics.count(plan, "miss", "only-if-cached")
        return self.policy.gateway_timeout(plan)

    def refresh(self, plan: RequestPlan, verdict: Verdict) -> Exchange | None:
        """An exchange to refresh a served entry in the background, or ``None`` when
        nothing needs doing or another worker (any process) already refreshes it.

        Its ``plan.facts`` describe the request to send the app: an anonymous ``GET``
        built from the key's facts (see ``refresh.py``).
        """
        entry, key = verdict.entry, plan.key
        if (
            entry is None
            or key is None
            or verdict.kind
            not in (
                VerdictKind.REFRESH_AHEAD,
                VerdictKind.STALE_WHILE_REVALIDATE,
            )
        ):
            return None
        name = f"{key.path_hash}:{key.digest}"
        if name in self._refreshing:
            return None
        token = uuid.uuid4().hex
        self._refreshing.add(name)
        fence = Fence()
        try:
            taken = self.store.lock(key, token, self.lock_ttl, fence=fence)
        except StoreError:
            taken = False
        if not taken:
            self._refreshing.discard(name)
            return None
        facts = plan.facts
        headers = refresh_headers(plan, entry)
        refresh_plan = self.policy.plan(
            RequestFacts(
                method="GET",
                scheme=facts.scheme,
                host=facts.host,
                path=facts.path,
                query=facts.query,
                headers=headers,
                raw_path=facts.raw_path,
                prefix=facts.prefix,
                lines=facts.lines,
                trusted=facts.trusted,
                unkeyable=facts.unkeyable,
            )
        )
        kind = (
            VerdictKind.REVALIDATE
            if self.policy.conditional_headers(entry)
            else VerdictKind.FORWARD
        )
        refresh_verdict = Verdict(kind, entry, fwd="stale")
        refresh_verdict.flight = _Flight(name, token, None, locked=True)
        refresh_verdict.fence = fence
        self.counts["refresh"] += 1
        self.metrics.count(plan, "refresh")
        return Exchange(self, refresh_plan, refresh_verdict)

    # -- forwarding -----------------------------------------------------------------

    def exchange(self, plan: RequestPlan, verdict: Verdict | None = None) -> Exchange:
        """Forward ``plan`` to the app (a miss, a revalidation or an unsafe request)."""
        if verdict is None:
            verdict = Verdict(VerdictKind.FORWARD, fwd=plan.fwd or "method")
        if plan.action == Action.LOOKUP:
            self.counts["miss"] += 1
            if verdict.fwd == "bypass":
                self.metrics.count(plan, "bypass", verdict.detail)
            else:
                self.metrics.count(plan, "miss", verdict.detail or verdict.fwd)
        else:
            self.metrics.count(plan, "bypass", plan.detail or verdict.fwd)
        return Exchange(self, plan, verdict)

    def bypass_member(self, plan: RequestPlan) -> bytes:
        """The ``Cache-Status`` member of a request the cache stays out of (a
        ``BYPASS`` plan: no rule, a cookie, a safe uncached method...), counted."""
        self.metrics.count(plan, "bypass", plan.detail or plan.fwd)
        return self.policy.forward_member(plan.fwd or "bypass", plan.detail)

    # -- writes ---------------------------------------------------------------------

    def put(
        self, plan: RequestPlan, entry: Entry, ttl: float, *, fence: Fence | None = None
    ) -> bytes | None:
        """Encode and store ``entry`` for ``ttl`` seconds; its bytes, or ``None`` when
        the store failed or refused it (``fence``: the path or one of the entry's tags
        was invalidated since the fetch began, so the entry may be older than the
        write that invalidated it)."""
        key = plan.key
        if key is None or ttl <= 0:
            return None
        try:
            data = self.codec.encode(entry)
        except ValueError:  # a response the entry format cannot hold: not stored
            self.counts["unencodable"] += 1
            return None
        variant = None
        if entry.vary:
            variant = variant_hash([n for n, _ in entry.vary], plan.facts.headers)
        try:
            stored = self.store.set(key, data, ttl, variant=variant, tags=entry.tags, fence=fence)
        except StoreError:
            return None
        if stored is False:
            self.counts["fenced"] += 1
            self.metrics.count(plan, "fenced")
            if fence is not None:
                fence.refused = True
            return None
        self.counts["stored"] += 1
        self.metrics.stored(plan, len(entry.body), len(data))
        return data

    def delete(self, plan: RequestPlan) -> None:
        """Remove the entry of ``plan`` (it may no longer be reused)."""
        if plan.key is not None:
            with contextlib.suppress(StoreError):
                self.store.delete(plan.key)

    def invalidate(self, invalidation: Invalidation) -> int:
        """Remove what a successful unsafe request invalidates. A store fault is not
        raised: the invalidation is retried in the background and, until it lands,
        this engine bypasses the cache for its paths and tags.

        First, this process's flights on those paths (on any path for a tag: a
        flight's tags are known only when its response arrives) stop taking
        followers: a request arriving from now on starts a fetch of its own instead of
        waiting for one that began before the write. Their fetches' own writes are
        refused by the store's fence.
        """
        self._detach_flights(invalidation)
        counted = self.metrics.invalidations
        counted["paths"] += len(invalidation.paths)
        counted["tags"] += len(invalidation.tags)
        pending = self.pending
        seq = pending.mark() if pending else 0
        try:
            removed = self.store.invalidate(path=list(invalidation.paths), tags=invalidation.tags)
        except StoreError as exc:
            self.counts["invalidation_failed"] += 1
            counted["failures"] += 1
            if pending.add(invalidation, exc):
                self.background.start(self._retry)
            return 0
        if seq:
            pending.landed(invalidation, seq)  # it covers earlier failures of its targets
        self.counts["invalidated"] += removed
        counted["entries"] += removed
        return removed

    def _retry(self) -> None:
        """Retry the pending invalidations with exponential backoff until none is left
        (one loop per engine: a task, or a thread in the sync engine)."""
        pending = self.pending
        delay = RETRY_FIRST
        try:
            while True:
                sleep(delay)
                batch = pending.due()
                if batch is None:
                    return
                invalidation = batch.invalidation
                try:
                    removed = self.store.invalidate(
                        path=list(invalidation.paths), tags=invalidation.tags
                    )
                except StoreError:
                    self.counts["invalidation_retry_failed"] += 1
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                settled = pending.landed(invalidation, batch.seq)
                self.counts["invalidated"] += removed
                self.counts["invalidation_retried"] += 1
                self.metrics.invalidations["entries"] += removed
                self.metrics.invalidations["retried"] += 1
                logger.warning("routecache: pending invalidation of %s landed", ", ".join(settled))
                if pending.due() is None:
                    return  # nothing left: end now, not one sleep later
                delay = RETRY_FIRST
        except BaseException:
            # Cancelled (the loop closes) or a bug: the next failure starts a new loop;
            # the pending targets keep bypassing the cache meanwhile.
            pending.retrying = False
            raise
