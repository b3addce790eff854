"""The engine: lookups, exchanges, single flight, faults; on MemoryStore and Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pytest

from routecache.middleware.engine_async import AsyncEngine
from routecache.middleware.engine_sync import SyncEngine
from routecache.middleware.entry import Entry, encode_entry
from routecache.middleware.policy import (
    Action,
    CachePolicy,
    Served,
    Verdict,
    VerdictKind,
)
from routecache.middleware.rules import Rule
from routecache.middleware.stores import AsyncRedisStore, LockState, MemoryStore, RedisStore
from tests._redis_servers import free_port
from tests.middleware._support import facts, header

RULE = Rule(
    "/items/{id}", ttl=60, tags=["item:{id}"], stale_while_revalidate=30, stale_if_error=300
)
SERVED = (VerdictKind.FRESH, VerdictKind.REFRESH_AHEAD, VerdictKind.STALE_WHILE_REVALIDATE)


class Counting:
    """A store proxy that counts what ``get_or_lock`` answered."""

    def __init__(self, store: Any) -> None:
        self.inner = store
        self.lock_states: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_or_lock(
        self, key: Any, token: str, ttl: float, *, check_entry: bool = True, fence: Any = None
    ) -> tuple[str, bytes | None]:
        result: tuple[str, bytes | None] = await self.inner.get_or_lock(
            key, token, ttl, check_entry=check_entry, fence=fence
        )
        self.lock_states[result[0]] += 1
        return result


class CountingSync(Counting):
    def get_or_lock(  # type: ignore[override]
        self, key: Any, token: str, ttl: float, *, check_entry: bool = True, fence: Any = None
    ) -> tuple[str, bytes | None]:
        result: tuple[str, bytes | None] = self.inner.get_or_lock(
            key, token, ttl, check_entry=check_entry, fence=fence
        )
        self.lock_states[result[0]] += 1
        return result


@asynccontextmanager
async def async_store(kind: str, url: str | None) -> AsyncIterator[Any]:
    if kind == "memory":
        yield MemoryStore().as_async()
        return
    assert url is not None
    store = AsyncRedisStore(url, timeout=2.0)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def kind_url(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if request.param == "redis":
        return "redis", request.getfixturevalue("redis_clean_url")
    return "memory", None


class Runner(Protocol):
    def __call__(
        self, scenario: Callable[[AsyncEngine], Awaitable[None]], **engine_options: Any
    ) -> None: ...


def counted(engine: AsyncEngine) -> Counter[str]:
    """What the engine's store answered to ``get_or_lock`` (see :class:`Counting`)."""
    store = engine.store
    assert isinstance(store, Counting)
    return store.lock_states


@pytest.fixture
def run(kind_url: tuple[str, str | None]) -> Runner:
    def runner(scenario: Callable[[AsyncEngine], Awaitable[None]], **engine_options: Any) -> None:
        async def main() -> None:
            async with async_store(*kind_url) as store:
                engine = AsyncEngine(CachePolicy([RULE]), Counting(store), **engine_options)
                await scenario(engine)

        asyncio.run(main())

    return runner


class View:
    """The app: counts its calls, takes a little time, answers 200."""

    def __init__(
        self,
        delay: float = 0.0,
        status: int = 200,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.calls = 0
        self.delay = delay
        self.status = status
        self.headers = headers if headers is not None else [(b"content-type", b"text/plain")]


async def request(
    engine: AsyncEngine, view: View, path: str = "/items/1", **kw: Any
) -> tuple[Served, Verdict]:
    """What a driver does for one request; returns what the client got."""
    plan = engine.policy.plan(facts(path, **kw))
    assert plan.action == Action.LOOKUP
    verdict = await engine.lookup(plan)
    if verdict.kind in SERVED:
        return engine.serve(plan, verdict), verdict
    exchange = engine.exchange(plan, verdict)
    view.calls += 1
    await asyncio.sleep(view.delay)
    start = await exchange.start(view.status, list(view.headers))
    if start.served is not None:
        await exchange.finish(None)
        return start.served, verdict
    body = f"view {view.calls}".encode()
    await exchange.finish(body if start.keep else None)
    return Served(start.status, start.headers, body), verdict


def status_of(served: Served) -> str | None:
    return header(served.headers, "cache-status")


# == the common flow


def test_miss_store_then_hit(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        view = View()
        first, verdict = await request(engine, view)
        assert verdict.kind == VerdictKind.FORWARD
        assert status_of(first) == "routecache; fwd=uri-miss; stored"
        second, verdict = await request(engine, view)
        assert verdict.kind == VerdictKind.FRESH
        assert second.status == 200
        assert second.body == b"view 1"
        assert status_of(second) == "routecache; hit; ttl=60"
        assert header(second.headers, "age") == "0"
        assert header(second.headers, "etag") is not None
        assert view.calls == 1
        assert engine.counts["miss"] == 1
        assert engine.counts["stored"] == 1
        assert engine.counts["hit"] == 1
        assert counted(engine) == {LockState.ACQUIRED: 1}
        # HEAD is answered from the GET entry.
        head, _ = await request(engine, view, method="HEAD")
        assert head.body == b""
        assert header(head.headers, "content-length") == "6"

    run(scenario)


def test_not_storable_response_is_not_stored_and_releases_the_lock(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        view = View(headers=[(b"cache-control", b"no-store")])
        first, _ = await request(engine, view)
        assert status_of(first) == "routecache; fwd=uri-miss; detail=no-store"
        _second, verdict = await request(engine, view)
        assert verdict.kind == VerdictKind.FORWARD
        assert view.calls == 2
        # The first worker left a pass marker: the next miss did not wait for a lock.
        assert counted(engine)[LockState.PASS] == 1

    run(scenario)


def test_revalidation_after_304_serves_and_refreshes_the_entry(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        plan = engine.policy.plan(facts("/items/5"))
        assert plan.key is not None
        old = Entry(
            status=200,
            headers=[(b"content-type", b"text/plain"), (b"etag", b'"v1"')],
            body=b"old body",
            stored_at=time.time() - 200,
            fresh_for=10.0,
            etag=b'"v1"',
        )
        await engine.store.set(plan.key, encode_entry(old), 60.0)
        verdict = await engine.lookup(plan)
        assert verdict.kind == VerdictKind.REVALIDATE
        exchange = engine.exchange(plan, verdict)
        sent = exchange.request_headers([(b"if-none-match", b'"client"'), (b"accept", b"*/*")])
        assert sent == [(b"accept", b"*/*"), (b"if-none-match", b'"v1"')]
        start = await exchange.start(304, [(b"cache-control", b"max-age=100"), (b"etag", b'"v1"')])
        assert start.served is not None
        assert start.served.status == 200
        assert start.served.body == b"old body"
        assert status_of(start.served) == "routecache; fwd=stale; fwd-status=304; stored"
        await exchange.finish(None)
        again = await engine.lookup(engine.policy.plan(facts("/items/5")))
        assert again.kind == VerdictKind.FRESH
        assert again.entry is not None
        assert again.entry.fresh_for == 100.0
        assert again.entry.body == b"old body"

    run(scenario)


def test_a_304_revalidation_sticks_before_the_answer_goes_out(
    kind_url: tuple[str, str | None],
) -> None:
    # The request after a revalidated one is a hit in any process: the freshened entry
    # is written before the 304's answer is sent, not after it (write-behind).
    kind, url = kind_url

    async def main() -> None:
        async with async_store(kind, url) as one, async_store(kind, url) as other:
            if kind == "memory":
                other = one
            a = AsyncEngine(CachePolicy([RULE]), one)
            b = AsyncEngine(CachePolicy([RULE]), other)
            await _seed_stale(a, "/items/48")
            plan = a.policy.plan(facts("/items/48"))
            verdict = await a.lookup(plan)
            assert verdict.kind == VerdictKind.REVALIDATE
            exchange = a.exchange(plan, verdict)
            start = await exchange.start(
                304, [(b"etag", b'"v1"'), (b"cache-control", b"max-age=100")]
            )
            assert start.served is not None
            # The answer is on its way; finish() (after the last byte) has not run yet.
            for engine in (a, b):
                after = await engine.lookup(engine.policy.plan(facts("/items/48")))
                assert after.kind == VerdictKind.FRESH, engine
                assert after.entry is not None
                assert after.entry.fresh_for == 100.0
            await exchange.finish(None)
            again = await b.lookup(b.policy.plan(facts("/items/48")))
            assert again.kind == VerdictKind.FRESH

    asyncio.run(main())


def test_stale_if_error_serves_the_stale_entry(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        plan = engine.policy.plan(facts("/items/6"))
        assert plan.key is not None
        stale = Entry(
            status=200,
            headers=[(b"content-type", b"text/plain")],
            body=b"stale",
            stored_at=time.time() - 200,
            fresh_for=10.0,
            sie=1000.0,
        )
        await engine.store.set(plan.key, encode_entry(stale), 60.0)
        verdict = await engine.lookup(plan)
        assert (verdict.kind, verdict.stale_ok) == (VerdictKind.FORWARD, True)
        start = await engine.exchange(plan, verdict).start(503, [])
        assert start.served is not None
        assert start.served.body == b"stale"
        assert status_of(start.served) == (
            "routecache; fwd=stale; fwd-status=503; detail=stale-if-error"
        )
        failed = await engine.exchange(plan, verdict).fail()
        assert failed is not None
        assert failed.body == b"stale"
        assert engine.counts["stale_if_error"] == 2

    run(scenario)


def test_stale_while_revalidate_refreshes_once(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        plan = engine.policy.plan(
            facts("/items/7", headers={"authorization": "x", "if-none-match": '"a"'})
        )
        assert plan.key is not None
        stale = Entry(
            status=200,
            headers=[(b"content-type", b"text/plain")],
            body=b"stale",
            stored_at=time.time() - 20,
            fresh_for=10.0,
            swr=100.0,
            flags=4,  # shared: answers the authorised request
        )
        await engine.store.set(plan.key, encode_entry(stale), 60.0)
        verdict = await engine.lookup(plan)
        assert verdict.kind == VerdictKind.STALE_WHILE_REVALIDATE
        served = engine.serve(plan, verdict)
        assert served.body == b"stale"
        refresh = await engine.refresh(plan, verdict)
        assert refresh is not None
        assert refresh.plan.facts.method == "GET"
        assert "authorization" not in refresh.plan.facts.headers
        assert "if-none-match" not in refresh.plan.facts.headers
        assert await engine.refresh(plan, verdict) is None  # one worker only
        start = await refresh.start(200, [(b"content-type", b"text/plain")])
        assert start.keep
        await refresh.finish(b"fresh")
        fresh = await engine.lookup(engine.policy.plan(facts("/items/7")))
        assert fresh.kind == VerdictKind.FRESH
        assert fresh.entry is not None
        assert fresh.entry.body == b"fresh"
        assert await engine.refresh(plan, fresh) is None  # nothing to do for a fresh hit

    run(scenario)


def test_a_failed_refresh_lets_the_next_hit_try_again(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        plan = engine.policy.plan(facts("/items/8"))
        assert plan.key is not None
        stale = Entry(
            status=200,
            headers=[(b"content-type", b"text/plain")],
            body=b"stale",
            stored_at=time.time() - 20,
            fresh_for=10.0,
            swr=100.0,
        )
        await engine.store.set(plan.key, encode_entry(stale), 60.0)
        verdict = await engine.lookup(plan)
        assert verdict.kind == VerdictKind.STALE_WHILE_REVALIDATE
        refresh = await engine.refresh(plan, verdict)
        assert refresh is not None
        await refresh.finish(None)  # the app failed: nothing stored
        # No "pass" mark is left behind: the next stale hit refreshes again at once.
        assert await engine.refresh(plan, await engine.lookup(plan)) is not None

    run(scenario)


def test_unsafe_request_invalidates_before_the_response_starts(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        view = View()
        await request(engine, view, "/items/8")
        await request(engine, view, "/items/8", query=b"page=2")
        plan = engine.policy.plan(facts("/items/8", method="PUT", has_body=True))
        assert plan.action == Action.INVALIDATE
        start = await engine.exchange(plan).start(204, [(b"cache-tag", b"x")])
        assert status_of(Served(204, start.headers, b"")) == "routecache; fwd=method"
        assert header(start.headers, "cache-tag") is None
        assert engine.counts["invalidated"] == 2
        _, verdict = await request(engine, view, "/items/8")
        assert verdict.kind == VerdictKind.FORWARD
        # A failed unsafe request changes nothing.
        plan = engine.policy.plan(facts("/items/8", method="DELETE"))
        await engine.exchange(plan).start(500, [])
        _, verdict = await request(engine, view, "/items/8")
        assert verdict.kind == VerdictKind.FRESH

    run(scenario)


def test_corrupt_entry_is_counted_and_treated_as_a_miss(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        plan = engine.policy.plan(facts("/items/9"))
        assert plan.key is not None
        await engine.store.set(plan.key, b"\x80\x04garbage, not an entry", 60.0)
        view = View()
        first, verdict = await request(engine, view, "/items/9")
        assert verdict.kind == VerdictKind.FORWARD
        assert verdict.fwd == "uri-miss"
        assert engine.counts["corrupt"] == 1
        assert engine.corrupt.counts["total"] == 1
        assert status_of(first) == "routecache; fwd=uri-miss; stored"
        # ...and replaced.
        _, verdict = await request(engine, view, "/items/9")
        assert verdict.kind == VerdictKind.FRESH
        assert engine.counts["corrupt"] == 1

    run(scenario)


def test_an_entry_the_codec_cannot_hold_is_not_stored(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        vary = b", ".join(b"x-h%d" % i for i in range(300))
        view = View(headers=[(b"content-type", b"text/plain"), (b"vary", vary)])
        await request(engine, view, "/items/10")
        assert engine.counts["unencodable"] == 1
        assert engine.counts["stored"] == 0
        _, verdict = await request(engine, view, "/items/10")
        assert verdict.kind == VerdictKind.FORWARD

    run(scenario)


# == single flight


def test_concurrent_misses_run_the_view_once(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        view = View(delay=0.05)
        results = await asyncio.gather(*(request(engine, view, "/items/42") for _ in range(20)))
        assert view.calls == 1
        assert counted(engine) == {LockState.ACQUIRED: 1}
        statuses = Counter(status_of(served) for served, _ in results)
        assert statuses == {
            "routecache; fwd=uri-miss; stored": 1,
            "routecache; fwd=uri-miss; collapsed": 19,
        }
        assert {served.body for served, _ in results} == {b"view 1"}
        assert engine.counts["collapsed"] == 19
        assert not engine._flights  # nothing left behind

    run(scenario)


async def _seed_stale(engine: AsyncEngine, path: str) -> None:
    plan = engine.policy.plan(facts(path))
    assert plan.key is not None
    stale = Entry(
        status=200,
        headers=[(b"content-type", b"text/plain"), (b"etag", b'"v1"')],
        body=b"stored body",
        stored_at=time.time() - 200,
        fresh_for=10.0,
        etag=b'"v1"',
    )
    await engine.store.set(plan.key, encode_entry(stale), 60.0)


def test_concurrent_requests_on_a_stale_entry_revalidate_once(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        await _seed_stale(engine, "/items/46")
        view = View(
            delay=0.05, status=304, headers=[(b"etag", b'"v1"'), (b"cache-control", b"max-age=100")]
        )
        results = await asyncio.gather(*(request(engine, view, "/items/46") for _ in range(10)))
        assert view.calls == 1  # one conditional request, not ten
        statuses = Counter(status_of(served) for served, _ in results)
        assert statuses == {
            "routecache; fwd=stale; fwd-status=304; stored": 1,
            "routecache; fwd=stale; collapsed": 9,
        }
        assert {served.body for served, _ in results} == {b"stored body"}

    run(scenario)


def test_another_process_waits_for_a_stale_entry_being_revalidated(
    kind_url: tuple[str, str | None],
) -> None:
    kind, url = kind_url

    async def main() -> None:
        async with async_store(kind, url) as one, async_store(kind, url) as other:
            if kind == "memory":
                other = one
            a = AsyncEngine(CachePolicy([RULE]), Counting(one))
            b = AsyncEngine(CachePolicy([RULE]), Counting(other), lock_wait=5.0)
            await _seed_stale(a, "/items/47")
            view = View(
                delay=0.2,
                status=304,
                headers=[(b"etag", b'"v1"'), (b"cache-control", b"max-age=100")],
            )
            leader = asyncio.ensure_future(request(a, view, "/items/47"))
            await asyncio.sleep(0.05)
            served, verdict = await request(b, view, "/items/47")
            await leader
            assert view.calls == 1
            assert counted(b)[LockState.BUSY] >= 1
            assert verdict.collapsed
            assert served.body == b"stored body"
            assert status_of(served) == "routecache; fwd=stale; collapsed"

    asyncio.run(main())


def test_followers_give_up_after_lock_wait_when_the_leader_never_finishes(run: Runner) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        leader_plan = engine.policy.plan(facts("/items/77"))
        leader = await engine.lookup(leader_plan)
        assert leader.flight is not None  # holds the lock, and then never finishes
        started = time.monotonic()
        followers = await asyncio.gather(
            *(engine.lookup(engine.policy.plan(facts("/items/77"))) for _ in range(5))
        )
        waited = time.monotonic() - started
        assert 0.25 <= waited < 1.5
        for verdict in followers:
            assert (verdict.kind, verdict.fwd, verdict.collapsed) == (
                VerdictKind.FORWARD,
                "uri-miss",
                False,
            )
        # Once the dead leader's lock expired, the next request leads at once instead
        # of waiting on a leader that will never land.
        await asyncio.sleep(0.15)  # the dead leader's lock expired
        started = time.monotonic()
        fresh_leader = await engine.lookup(engine.policy.plan(facts("/items/77")))
        assert time.monotonic() - started < 0.2  # not another lock_wait (0.3 s)
        assert fresh_leader.flight is not None
        assert counted(engine)[LockState.ACQUIRED] == 2

    run(scenario, lock_wait=0.3, lock_ttl=0.1)


def test_another_process_waits_for_the_lock_holder(kind_url: tuple[str, str | None]) -> None:
    kind, url = kind_url

    async def main() -> None:
        async with async_store(kind, url) as one, async_store(kind, url) as other:
            if kind == "memory":
                other = one  # one process: two engines sharing the store
            a = AsyncEngine(CachePolicy([RULE]), Counting(one))
            b = AsyncEngine(CachePolicy([RULE]), Counting(other), lock_wait=5.0)
            view = View(delay=0.2)
            leader = asyncio.ensure_future(request(a, view, "/items/43"))
            await asyncio.sleep(0.05)
            served, verdict = await request(b, view, "/items/43")
            await leader
            assert view.calls == 1
            assert counted(b)[LockState.BUSY] >= 1
            assert verdict.collapsed
            assert status_of(served) == "routecache; fwd=uri-miss; collapsed"

    asyncio.run(main())


def test_another_process_gives_up_after_lock_wait(kind_url: tuple[str, str | None]) -> None:
    kind, url = kind_url

    async def main() -> None:
        async with async_store(kind, url) as one, async_store(kind, url) as other:
            if kind == "memory":
                other = one
            a = AsyncEngine(CachePolicy([RULE]), one)
            b = AsyncEngine(CachePolicy([RULE]), other, lock_wait=0.1)
            held = await a.lookup(a.policy.plan(facts("/items/44")))
            assert held.flight is not None
            started = time.monotonic()
            verdict = await b.lookup(b.policy.plan(facts("/items/44")))
            assert 0.09 <= time.monotonic() - started < 1.0
            assert verdict.kind == VerdictKind.FORWARD
            assert verdict.flight is not None  # fetches itself, unlocked
            await a.land(a.policy.plan(facts("/items/44")), held.flight, None)

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_sync_engine_threads_run_the_view_once(kind: str, request: pytest.FixtureRequest) -> None:
    store: Any = (
        MemoryStore()
        if kind == "memory"
        else RedisStore(request.getfixturevalue("redis_clean_url"), timeout=2.0)
    )
    counting = CountingSync(store)
    engine = SyncEngine(CachePolicy([RULE]), counting)
    calls = 0
    calls_lock = threading.Lock()
    barrier = threading.Barrier(8)
    results: list[tuple[str | None, bytes]] = []

    def one() -> None:
        nonlocal calls
        barrier.wait()
        plan = engine.policy.plan(facts("/items/99"))
        verdict = engine.lookup(plan)
        if verdict.kind in SERVED:
            served = engine.serve(plan, verdict)
            results.append((status_of(served), served.body))
            return
        exchange = engine.exchange(plan, verdict)
        with calls_lock:
            calls += 1
        time.sleep(0.15)
        start = exchange.start(200, [(b"content-type", b"text/plain")])
        exchange.finish(b"threaded")
        results.append((header(start.headers, "cache-status"), b"threaded"))

    try:
        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert calls == 1
        assert counting.lock_states == {LockState.ACQUIRED: 1}
        assert Counter(s for s, _ in results) == {
            "routecache; fwd=uri-miss; stored": 1,
            "routecache; fwd=uri-miss; collapsed": 7,
        }
        assert {body for _, body in results} == {b"threaded"}
    finally:
        store.close()


# == faults


def test_store_faults_never_reach_the_caller() -> None:
    async def main() -> None:
        store = AsyncRedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
        try:
            engine = AsyncEngine(CachePolicy([RULE]), store)
            view = View()
            served, verdict = await request(engine, view)
            assert (verdict.kind, verdict.fwd, verdict.detail) == (
                VerdictKind.FORWARD,
                "miss",
                "store-unavailable",
            )
            assert status_of(served) == "routecache; fwd=miss; detail=store-unavailable"
            assert engine.counts["store_unavailable"] == 1
            plan = engine.policy.plan(facts("/items/1", method="POST"))
            start = await engine.exchange(plan).start(201, [])
            assert start.status == 201
            assert engine.counts["invalidation_failed"] == 1
            # Writes fail quietly too.
            rp_plan = engine.policy.plan(facts("/items/2"))
            entry = Entry(status=200, headers=[], body=b"x", stored_at=time.time(), fresh_for=5)
            assert await engine.put(rp_plan, entry, 5.0) is None
        finally:
            await store.close()

    asyncio.run(main())


def test_sync_engine_store_faults_never_reach_the_caller() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    try:
        engine = SyncEngine(CachePolicy([RULE]), store)
        plan = engine.policy.plan(facts())
        verdict = engine.lookup(plan)
        assert verdict.detail == "store-unavailable"
        exchange = engine.exchange(plan, verdict)
        start = exchange.start(200, [(b"content-type", b"text/plain")])
        assert not start.keep
        exchange.finish(None)
    finally:
        store.close()
