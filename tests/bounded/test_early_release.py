"""A slow or unstorable leader never makes the requests waiting on it wait.

The requests that collapse onto one fetch (single flight) are released the moment the
leader knows its response will not be stored: from its start (status, headers, a
declared size past the limit) or when its streamed body outgrows the limit; not when
the leader's client has read the last byte. Before, they waited up to ``lock_wait``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from routecache import MemoryStore, Rule
from routecache.adapters.starlette import CacheMiddleware
from routecache.middleware.engine_async import AsyncEngine
from routecache.middleware.policy import Action, CachePolicy, VerdictKind
from routecache.middleware.stores import AsyncRedisStore
from tests.middleware._support import facts

#: Far longer than any test here may take: a waiter that is not released times out.
LOCK_WAIT = 20.0
RELEASED_WITHIN = 5.0


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


async def _get(app: Any, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    messages: list[dict[str, Any]] = []
    requested = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays connected until its response is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    try:
        await app(_scope(path), receive, send)
    finally:
        done.set()
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], dict(start["headers"]), body


@pytest.mark.parametrize("kind", ["no-store", "too-large"])
def test_waiters_are_released_when_the_leaders_body_will_not_be_stored(kind: str) -> None:
    async def main() -> None:
        calls = 0
        first_sent = asyncio.Event()
        finish = asyncio.Event()

        async def stream() -> AsyncIterator[bytes]:
            yield b"x" * 4096  # past max_body_size (1 KiB) for "too-large"
            first_sent.set()
            await finish.wait()  # the leader's body stalls (a slow client, a slow view)
            yield b"end"

        async def page(request: Request) -> Response:
            nonlocal calls
            calls += 1
            headers = {"cache-control": "no-store"} if kind == "no-store" else {}
            if calls > 1:
                return Response(b"second", headers=headers)
            return StreamingResponse(stream(), headers=headers)

        app = Starlette(routes=[Route("/page", page)])
        app.add_middleware(
            CacheMiddleware,
            store=MemoryStore(),
            rules=[Rule("/page", ttl=60, max_body_size=1024)],
            lock_wait=LOCK_WAIT,
        )
        leader = asyncio.ensure_future(_get(app, "/page"))
        await asyncio.wait_for(first_sent.wait(), RELEASED_WITHIN)
        # The leader has not finished; the next request must not wait for it.
        status, headers, body = await asyncio.wait_for(_get(app, "/page"), RELEASED_WITHIN)
        assert not leader.done()
        assert (status, body) == (200, b"second")
        assert b"collapsed" not in headers[b"cache-status"], headers
        assert calls == 2
        finish.set()
        status, _, body = await asyncio.wait_for(leader, RELEASED_WITHIN)
        assert (status, body) == (200, b"x" * 4096 + b"end")

    asyncio.run(main())


@pytest.mark.redis
def test_another_process_is_released_by_the_pass_mark_at_once(redis_clean_url: str) -> None:
    # Two engines on one Redis (two processes): the leader learns at its start that
    # the response is not storable; the other's lookup finds the pass mark and fetches
    # for itself instead of waiting lock_wait for the leader's last byte.
    async def main() -> None:
        rule = Rule("/items/{id}", ttl=60)
        one, other = AsyncRedisStore(redis_clean_url), AsyncRedisStore(redis_clean_url)
        try:
            leader = AsyncEngine(CachePolicy([rule]), one, lock_wait=LOCK_WAIT)
            follower = AsyncEngine(CachePolicy([rule]), other, lock_wait=LOCK_WAIT)
            plan = leader.policy.plan(facts("/items/9"))
            assert plan.action == Action.LOOKUP
            verdict = await leader.lookup(plan)
            assert verdict.kind == VerdictKind.FORWARD
            exchange = leader.exchange(plan, verdict)
            start = await exchange.start(200, [(b"cache-control", b"no-store")])
            assert not start.keep
            # The leader's client is still reading; the follower looks up now.
            theirs = follower.policy.plan(facts("/items/9"))
            found = await asyncio.wait_for(follower.lookup(theirs), RELEASED_WITHIN)
            assert found.kind == VerdictKind.FORWARD
            assert not found.collapsed
            await exchange.finish(None)
        finally:
            await one.close()
            await other.close()

    asyncio.run(main())
