"""Conformance: what is in the store, and what happens when it holds garbage.

Anything that fails to decode (foreign bytes, a truncated entry, another version) is
a clean miss: the view runs, the response goes out, and the entry is replaced.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from routecache import Rule
from routecache.middleware.keys import request_key
from tests.conformance.harness import Client, Origin, Reply
from tests.conformance.helpers import REDIS_ONLY, entry_keys

RULE = Rule("/items/{id}", ttl=60)
HOST = "shop.example"


def garbage_for(valid: bytes) -> dict[str, bytes]:
    return {
        "foreign": b"this is not a routecache entry",
        "empty": b"",
        "pickle": b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x8c\x07garbage\x94.",
        "truncated": valid[: len(valid) // 2],
        "trailing": valid + b"\x00",
        "other-version": valid[:3] + bytes([valid[3] + 1]) + valid[4:],
    }


@pytest.mark.parametrize(
    "kind", ["foreign", "empty", "pickle", "truncated", "trailing", "other-version"]
)
def test_a_corrupt_entry_is_a_clean_miss_and_is_replaced(
    origin: Origin,
    make_client: Callable[..., Client],
    store: object,
    redis_client: redis.Redis | None,
    kind: str,
) -> None:
    origin.on("/items/1", Reply(200, [("content-type", "text/plain")], b"the real thing"))
    client = make_client(rules=[RULE])
    headers = {"host": HOST}
    client.request("GET", "/items/1", headers)
    key = request_key(
        method="GET",
        scheme="http",
        host=HOST,
        path="/items/1",
        query=b"",
        headers={},
        rule=RULE,
        raw_path=b"/items/1",  # every binding's server gives the raw path
    )
    valid = store.get(key)  # type: ignore[attr-defined]
    assert valid, "the entry is not where the key layout says it is"
    garbage = garbage_for(valid)[kind]
    store.set(key, garbage, 60)  # type: ignore[attr-defined]
    if redis_client is not None:
        (raw_key,) = entry_keys(redis_client, store.prefix)  # type: ignore[attr-defined]
        assert redis_client.get(raw_key) == garbage
    resp = client.request("GET", "/items/1", headers)
    assert (resp.status, resp.body) == (200, b"the real thing")
    assert resp.cache_status == "routecache; fwd=uri-miss; stored"
    assert origin.count("/items/1") == 2
    hit = client.request("GET", "/items/1", headers)
    assert hit.hit
    assert hit.body == b"the real thing"
    assert store.get(key) not in (None, garbage)  # type: ignore[attr-defined]


@REDIS_ONLY
def test_garbage_written_straight_into_redis_is_replaced(
    origin: Origin,
    make_client: Callable[..., Client],
    store: object,
    redis_client: redis.Redis | None,
) -> None:
    assert redis_client is not None
    prefix: str = store.prefix  # type: ignore[attr-defined]
    origin.on("/items/2", Reply(200, [], b"two"))
    client = make_client(rules=[RULE])
    client.request("GET", "/items/2")
    (raw_key,) = entry_keys(redis_client, prefix)
    redis_client.set(raw_key, b"\xde\xad\xbe\xef" * 10, keepttl=True)
    resp = client.request("GET", "/items/2")
    assert (resp.status, resp.body) == (200, b"two")
    assert resp.cache_status == "routecache; fwd=uri-miss; stored"
    stored = redis_client.get(raw_key)
    assert isinstance(stored, bytes)
    assert stored.startswith(b"RCE"), "the garbage was not replaced by a real entry"
    assert 59_000 <= int(redis_client.pttl(raw_key)) <= 60_000
    assert client.request("GET", "/items/2").hit
    assert origin.count("/items/2") == 2
