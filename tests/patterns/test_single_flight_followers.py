"""Fast, in-process check of the single-flight fix the multi-process test found.

When another process holds the lock and dies, this process's leader waits
``lock_wait`` for it, gives up and calls the app itself. Its in-process followers must
wait for that call instead of timing out together with the leader and calling the app
each (10 view calls instead of 1 behind a dead lock holder, before the fix). Two
engines on one MemoryStore stand for two processes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from routecache import MemoryStore, Rule
from routecache.middleware.engine_async import AsyncEngine
from routecache.middleware.engine_sync import SyncEngine
from routecache.middleware.policy import CachePolicy, RequestFacts, VerdictKind

RULE = Rule("/items/{id}", ttl=60)
LOCK_WAIT = 0.3
VIEW = 0.1
FOLLOWERS = 6


def _facts() -> RequestFacts:
    return RequestFacts(
        method="GET", scheme="http", host="example.com", path="/items/1", query=b"", headers={}
    )


def test_async_followers_wait_for_a_leader_that_gave_up_on_a_dead_holder() -> None:
    async def main() -> None:
        store = MemoryStore().as_async()
        dead = AsyncEngine(CachePolicy([RULE]), store, lock_ttl=5.0)
        held = await dead.lookup(dead.policy.plan(_facts()))
        assert held.flight is not None  # holds the lock, then dies: never lands
        engine = AsyncEngine(CachePolicy([RULE]), store, lock_wait=LOCK_WAIT, lock_ttl=5.0)
        calls = 0

        async def one() -> Any:
            nonlocal calls
            plan = engine.policy.plan(_facts())
            verdict = await engine.lookup(plan)
            if verdict.kind == VerdictKind.FRESH:
                return verdict
            calls += 1
            await asyncio.sleep(VIEW)  # the view
            exchange = engine.exchange(plan, verdict)
            await exchange.start(200, [(b"content-type", b"text/plain")])
            await exchange.finish(b"body")
            return verdict

        started = time.monotonic()
        verdicts = await asyncio.gather(*(one() for _ in range(FOLLOWERS)))
        elapsed = time.monotonic() - started
        assert calls == 1
        assert sum(v.collapsed for v in verdicts) == FOLLOWERS - 1
        assert elapsed < LOCK_WAIT + VIEW + 0.5
        assert not engine._flights
        assert not engine._fetching

    asyncio.run(main())


def test_sync_followers_wait_for_a_leader_that_gave_up_on_a_dead_holder() -> None:
    store = MemoryStore()
    dead = SyncEngine(CachePolicy([RULE]), store, lock_ttl=5.0)
    assert dead.lookup(dead.policy.plan(_facts())).flight is not None
    engine = SyncEngine(CachePolicy([RULE]), store, lock_wait=LOCK_WAIT, lock_ttl=5.0)
    calls = []
    collapsed = []
    lock = threading.Lock()

    def one() -> None:
        plan = engine.policy.plan(_facts())
        verdict = engine.lookup(plan)
        if verdict.kind == VerdictKind.FRESH:
            with lock:
                collapsed.append(verdict.collapsed)
            return
        with lock:
            calls.append(1)
        time.sleep(VIEW)
        exchange = engine.exchange(plan, verdict)
        exchange.start(200, [(b"content-type", b"text/plain")])
        exchange.finish(b"body")

    threads = [threading.Thread(target=one) for _ in range(FOLLOWERS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert time.monotonic() - started < LOCK_WAIT + VIEW + 0.5
    assert len(calls) == 1
    assert collapsed == [True] * (FOLLOWERS - 1)
    assert not engine._flights
