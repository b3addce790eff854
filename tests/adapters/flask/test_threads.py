"""Threads: 8 threads x 200 requests over 20 keys through the WSGI driver (a Flask app
with ``RouteCache``): every response body belongs to its own request.

Twenty keys: ten paths times two ``Accept-Language`` values (a rule-declared ``vary``,
so part of the key). Each body names its path, its language and a version; a hit must
carry the body of its own key, whichever thread stored it. Run on the real private
Redis and on ``MemoryStore``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import pytest
from flask import Flask, Response, request

from routecache import MemoryStore, RedisStore
from routecache.adapters.flask import RouteCache
from tests.conformance.harness import Resp, WSGIClient

THREADS = 8
REQUESTS = 200
PATHS = 10
LANGS = ("en", "fr")


def make_app(store: Any) -> tuple[Flask, Counter[tuple[int, str]]]:
    calls: Counter[tuple[int, str]] = Counter()
    lock = threading.Lock()
    app = Flask(__name__)

    @app.get("/k/<int:n>")
    @RouteCache.route(ttl=60, vary=["accept-language"])
    def key(n: int) -> Response:
        lang = request.headers.get("Accept-Language", "")
        with lock:
            calls[(n, lang)] += 1
            version = calls[(n, lang)]
        body = f"key={n};lang={lang};v={version}"
        return Response(body, headers={"X-Key": f"{n}/{lang}"}, mimetype="text/plain")

    @app.put("/k/<int:n>")
    def update(n: int) -> str:
        return f"updated {n}"

    RouteCache(app, store=store)
    return app, calls


def _outcome(resp: Resp) -> str:
    if resp.hit:
        return "hit"
    return "collapsed" if "collapsed" in resp.cache_status else "miss"


def hammer(client: WSGIClient, *, writes: bool) -> tuple[list[str], Counter[str]]:
    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        for i in range(REQUESTS):
            n, lang = rng.randrange(PATHS), rng.choice(LANGS)
            if writes and i % 25 == 24:
                resp = client.request("PUT", f"/k/{n}")
                if resp.status != 200 or resp.body != f"updated {n}".encode():
                    with lock:
                        problems.append(f"PUT /k/{n}: {resp}")
                continue
            resp = client.request("GET", f"/k/{n}", {"Accept-Language": lang})
            expected = f"key={n};lang={lang};v="
            ok = (
                resp.status == 200
                and resp.body.decode().startswith(expected)
                and resp.header("x-key") == f"{n}/{lang}"
            )
            with lock:
                outcomes[_outcome(resp)] += 1
                if not ok:
                    problems.append(f"GET /k/{n} [{lang}] got {resp.status} {resp.body!r}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return problems, outcomes


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(request.getfixturevalue("redis_clean_url"), prefix="threads")
    yield redis_store
    redis_store.close()


def test_every_body_belongs_to_its_request(store: Any) -> None:
    app, calls = make_app(store)
    client = WSGIClient(app)
    problems, outcomes = hammer(client, writes=False)
    assert problems == []
    assert client.errors == []
    assert sum(outcomes.values()) == THREADS * REQUESTS
    # Single flight: concurrent misses of one key ran the view once; the requests
    # that waited for it were answered with its response ("collapsed").
    assert calls == Counter({(n, lang): 1 for n in range(PATHS) for lang in LANGS})
    assert outcomes["miss"] == len(calls)
    assert outcomes["hit"] + outcomes["collapsed"] == THREADS * REQUESTS - len(calls)


def test_every_body_belongs_to_its_request_with_concurrent_writes(store: Any) -> None:
    app, _ = make_app(store)
    client = WSGIClient(app)
    problems, outcomes = hammer(client, writes=True)
    assert problems == []
    assert client.errors == []
    assert outcomes["hit"] > outcomes["miss"] > 0
