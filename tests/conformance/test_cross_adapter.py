"""One entry format for every adapter: what one framework stored, another serves.

A deployment may run a Django site and a FastAPI service in front of the same Redis, or
move from one framework to another with a warm cache. For every ordered pair of
adapters, a response stored through the first is a hit through the second for the same
request (same store, same key), with the same status, fields and body.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import routecache
from routecache import Rule
from tests.conformance.conftest import _binding_names
from tests.conformance.harness import ADAPTERS, Origin, Reply

PAIRS = list(itertools.permutations(_binding_names(), 2))
RULES = [Rule("/shared/{id}", ttl=60)]
# The replayed fields: everything but what each hop computes itself.
_PER_RESPONSE = {"age", "cache-status", "date", "content-length"}


def _replayed(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k not in _PER_RESPONSE]


@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
@pytest.mark.parametrize("store_kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_an_entry_stored_by_one_adapter_is_a_hit_through_another(
    writer: str, reader: str, store_kind: str, request: pytest.FixtureRequest
) -> None:
    stores: list[Any] = []
    if store_kind == "memory":
        shared = routecache.MemoryStore()
        stores = [shared, shared]
    else:
        url = request.getfixturevalue("redis_clean_url")
        # Two stores on one prefix: two processes of one deployment.
        stores = [
            routecache.RedisStore(url, prefix="cross"),
            routecache.RedisStore(url, prefix="cross"),
        ]
    writing, reading = Origin(), Origin()
    reply = Reply(
        200,
        [("content-type", "application/json"), ("x-made-by", writer)],
        b'{"id": 7, "from": "%s"}' % writer.encode(),
    )
    writing.on("/shared/7", reply)
    reading.on("/shared/7", Reply(200, [("content-type", "text/plain")], b"the reader's own view"))
    first = ADAPTERS[writer]().client(writing, store=stores[0], rules=RULES)
    second = ADAPTERS[reader]().client(reading, store=stores[1], rules=RULES)
    try:
        stored = first.request("GET", "/shared/7?x=1")
        assert stored.cache_status == "routecache; fwd=uri-miss; stored"
        served = second.request("GET", "/shared/7?x=1")
        assert served.hit, served.cache_status
        assert reading.count("/shared/7") == 0  # the reader's view never ran
        assert served.status == stored.status == 200
        assert served.body == stored.body == reply.body
        assert _replayed(served.headers) == _replayed(stored.headers)
        assert served.header("content-length") == str(len(reply.body))
    finally:
        first.close()
        second.close()
        if store_kind == "redis":
            for store in stores:
                store.close()
