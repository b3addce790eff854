"""A failed invalidation is not forgotten: retried until it lands, bypassed meanwhile.

The store's ``invalidate`` is made to raise ``StoreError`` (as it does when Redis is
down, slow or refusing) on a real private Redis that still holds the old entry. The
write's response goes out; this process bypasses the cache for the path (or tag)
while the engine retries in the background; once the retry lands, the old entry is
gone and caching resumes. The async engine (ASGI) and its generated sync twin (WSGI)
are both exercised. Real Redis faults (SIGSTOP, kill, breaker) are in
``test_durable_faults.py``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import routecache
from routecache import Rule
from routecache.middleware import pending as pending_module
from routecache.middleware.errors import StoreError
from routecache.middleware.pending import PendingInvalidations
from routecache.middleware.policy import Invalidation
from tests.coherence._drivers import make_client
from tests.conformance.harness import Client, Origin, Reply, Seen, wait_until
from tests.conformance.helpers import entry_keys

PENDING = "routecache; fwd=bypass; detail=invalidation-pending"
RULES = [
    Rule("/items/{id}", ttl=300, tags=["item:{id}"]),
    Rule("/lists/{id}", ttl=300, tags=["items"]),
    Rule("/lists/{id}", methods=["PUT"], invalidates=["items"]),
]


class Versioned:
    """GET shows the path's version; an unsafe request bumps it."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}

    def __call__(self, seen: Seen) -> Reply:
        if seen.method in ("PUT", "POST", "DELETE", "PATCH"):
            self.versions[seen.path] = self.versions.get(seen.path, 1) + 1
            return Reply(200, [], b"saved")
        return Reply(200, [], f"{seen.path} v{self.versions.get(seen.path, 1)}".encode())


class Faulty:
    """Makes the engine's store fail its invalidations while ``failing`` is set."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.failing = threading.Event()
        self.calls = 0
        real = engine.store.invalidate

        def invalidate(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.failing.is_set():
                if engine.store.is_async:

                    async def fail() -> int:
                        raise StoreError("injected: Redis unreachable")

                    return fail()
                raise StoreError("injected: Redis unreachable")
            return real(*args, **kwargs)

        engine.store.invalidate = invalidate


def _engine(kind: str, client: Client) -> Any:
    app = client.app if kind == "asgi" else client.head_app  # type: ignore[attr-defined]
    return app.engine


@pytest.fixture(params=["asgi", "wsgi"])
def setup(
    request: pytest.FixtureRequest, redis_clean_url: str
) -> Iterator[tuple[Client, Faulty, redis.Redis]]:
    origin = Origin()
    view = Versioned()
    for path in ("/items/1", "/items/2", "/lists/1"):
        origin.on(path, view)
    store = routecache.RedisStore(redis_clean_url, prefix="durable")
    client = make_client(str(request.param), origin, store=store, rules=RULES)
    raw = redis.Redis.from_url(redis_clean_url)
    yield client, Faulty(_engine(str(request.param), client)), raw
    client.close()
    store.close()
    raw.close()


def _entries(raw: redis.Redis) -> int:
    return len(entry_keys(raw, "durable"))


def _warm(client: Client, path: str) -> None:
    assert client.request("GET", path).cache_status == "routecache; fwd=uri-miss; stored"
    assert client.request("GET", path).hit


def test_a_failed_invalidation_bypasses_the_path_until_its_retry_lands(
    setup: tuple[Client, Faulty, redis.Redis], caplog: pytest.LogCaptureFixture
) -> None:
    client, faulty, raw = setup
    engine = faulty.engine
    _warm(client, "/items/1")
    _warm(client, "/items/2")
    stored = _entries(raw)
    faulty.failing.set()
    caplog.set_level(logging.WARNING, logger="routecache")
    for _ in range(3):
        put = client.request("PUT", "/items/1", body=b"{}")
        assert (put.status, put.cache_status) == (200, "routecache; fwd=method")
    assert engine.counts["invalidation_failed"] == 3
    # The old entry is still in Redis, but this process does not serve it.
    assert _entries(raw) == stored
    for _ in range(3):
        resp = client.request("GET", "/items/1")
        assert (resp.status, resp.body, resp.cache_status) == (200, b"/items/1 v4", PENDING)
    # Other paths are served as usual.
    assert client.request("GET", "/items/2").hit
    # Logged at ERROR once for the path, not once per failure.
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name.startswith("routecache")
    ]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "/items/1" in errors[0].getMessage()

    faulty.failing.clear()
    assert wait_until(lambda: not engine.pending, timeout=10.0), "the retry never landed"
    assert engine.counts["invalidation_retried"] >= 1
    assert _entries(raw) == stored - 1  # the old entry is gone
    after = client.request("GET", "/items/1")
    assert (after.body, after.cache_status) == (b"/items/1 v4", "routecache; fwd=uri-miss; stored")
    assert client.request("GET", "/items/1").hit


def test_a_failed_tag_invalidation_bypasses_entries_with_the_tag(
    setup: tuple[Client, Faulty, redis.Redis],
) -> None:
    client, faulty, _ = setup
    engine = faulty.engine
    _warm(client, "/items/2")
    _warm(client, "/lists/1")
    faulty.failing.set()
    # The rule of /lists/{id} makes PUT /lists/1 invalidate the tag "items" (the
    # path /lists/1 too).
    assert client.request("PUT", "/lists/1", body=b"{}").status == 200
    assert engine.pending.tags.keys() == {"items"}
    resp = client.request("GET", "/lists/1")
    assert (resp.body, resp.cache_status) == (b"/lists/1 v2", PENDING)
    assert client.request("GET", "/items/2").hit  # tagged item:2 only: served

    faulty.failing.clear()
    assert wait_until(lambda: not engine.pending, timeout=10.0), "the retry never landed"
    after = client.request("GET", "/lists/1")
    assert (after.body, after.cache_status) == (b"/lists/1 v2", "routecache; fwd=uri-miss; stored")


def test_a_later_successful_invalidation_settles_the_pending_one(
    setup: tuple[Client, Faulty, redis.Redis],
) -> None:
    client, faulty, _ = setup
    engine = faulty.engine
    _warm(client, "/items/1")
    faulty.failing.set()
    assert client.request("PUT", "/items/1", body=b"{}").status == 200
    assert engine.pending.paths.keys() == {"/items/1"}
    faulty.failing.clear()
    # The next write's invalidation works and covers the earlier one at once.
    assert client.request("PUT", "/items/1", body=b"{}").status == 200
    assert not engine.pending.paths
    after = client.request("GET", "/items/1")
    assert (after.body, after.cache_status) == (b"/items/1 v3", "routecache; fwd=uri-miss; stored")


def test_retries_back_off_while_the_store_keeps_failing(
    setup: tuple[Client, Faulty, redis.Redis],
) -> None:
    client, faulty, _ = setup
    engine = faulty.engine
    _warm(client, "/items/1")
    faulty.failing.set()
    assert client.request("PUT", "/items/1", body=b"{}").status == 200
    # 0.05 + 0.1 + 0.2 + 0.4 s: the fourth retry has failed after about 0.75 s.
    assert wait_until(lambda: engine.counts["invalidation_retry_failed"] >= 4, timeout=5.0)
    calls = faulty.calls
    # Then one try per second at most (RETRY_MAX), not a busy loop.
    assert not wait_until(lambda: faulty.calls > calls + 2, timeout=1.2)
    faulty.failing.clear()
    assert wait_until(lambda: not engine.pending, timeout=5.0)


# -- the bookkeeping itself (no Redis) --------------------------------------------------


def test_one_retry_loop_and_later_failures_survive_an_earlier_success() -> None:
    pending = PendingInvalidations()
    fault = StoreError("down")
    assert pending.add(Invalidation(["/a"], ["t"]), fault) is True  # start the loop
    assert pending.add(Invalidation(["/b"]), fault) is False  # one loop per engine
    batch = pending.due()
    assert batch is not None
    assert batch.invalidation.paths == ("/a", "/b")
    assert batch.invalidation.tags == ("t",)
    # /a fails again while the batch is in flight: its success must not settle that.
    pending.add(Invalidation(["/a"]), fault)
    assert sorted(pending.landed(batch.invalidation, batch.seq)) == ["/b", "t"]
    assert pending.blocks_path("/a")
    assert not pending.blocks_path("/b")
    assert not pending.blocks_tags(["t", "u"])
    again = pending.due()
    assert again is not None
    assert pending.landed(again.invalidation, again.seq) == ["/a"]
    assert pending.due() is None
    assert pending.retrying is False  # the loop ends; the next failure starts another


def test_targets_are_given_up_after_retry_for(monkeypatch: pytest.MonkeyPatch) -> None:
    pending = PendingInvalidations()
    monkeypatch.setattr(pending_module, "RETRY_FOR", 0.0)
    pending.add(Invalidation(["/a"], ["t"]), StoreError("down"))
    assert not pending.blocks_path("/a")
    assert not pending.blocks_tags(["t"])
    assert pending.due() is None
    assert not pending
