"""Conformance: streamed bodies, size limits, and responses that fail.

A streamed response is stored once its last chunk went out and only if it stayed
under ``max_body_size``; a larger one streams through whole and unstored. A response
whose view raised (before answering or half-way through its body) is never stored,
and the next request calls the view again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Seen
from tests.conformance.helpers import replayed

CHUNKS = [b"<html>", b"a" * 1000, b"b" * 1000, b"</html>"]
BODY = b"".join(CHUNKS)


def test_a_streamed_response_is_stored_when_complete(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/stream", Reply(200, [("content-type", "text/html")], list(CHUNKS)))
    client = make_client(rules=[Rule("/stream", ttl=60)])
    miss = client.request("GET", "/stream")
    assert miss.body == BODY
    assert miss.cache_status == "routecache; fwd=uri-miss; stored"
    hit = client.request("GET", "/stream")
    assert hit.hit, hit.cache_status
    assert hit.body == BODY
    assert hit.header("content-length") == str(len(BODY))
    assert hit.header("content-type") == "text/html"
    assert hit.header("etag") is not None
    assert origin.count("/stream") == 1
    # Apart from the framing fields the hit adds, the headers are the miss's.
    framing = frozenset({"age", "cache-status", "content-length", "etag", "transfer-encoding"})
    assert replayed(hit, ignore=framing) == replayed(miss, ignore=framing)


@pytest.mark.parametrize("size", [len(BODY), len(BODY) - 1])
def test_max_body_size_is_the_largest_stored_body(
    origin: Origin, make_client: Callable[..., Client], size: int
) -> None:
    origin.on("/stream", Reply(200, [], list(CHUNKS)))
    origin.on("/whole", Reply(200, [], BODY))
    client = make_client(
        rules=[
            Rule("/stream", ttl=60, max_body_size=size),
            Rule("/whole", ttl=60, max_body_size=size),
        ]
    )
    stored = size >= len(BODY)
    for path in ("/stream", "/whole"):
        first = client.request("GET", path)
        second = client.request("GET", path)
        # Too large or not, the client always gets the whole body.
        assert first.body == second.body == BODY
        assert second.hit is stored, (path, size, second.cache_status)
        assert origin.count(path) == (1 if stored else 2)


def test_an_oversized_body_with_a_known_length_says_it_is_not_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/whole", Reply(200, [], BODY))
    client = make_client(rules=[Rule("/whole", ttl=60, max_body_size=100)])
    resp = client.request("GET", "/whole")
    assert resp.body == BODY
    if resp.header("content-length") is not None:
        # The app stated its length: the cache knew before sending a byte.
        assert resp.cache_status == "routecache; fwd=uri-miss; detail=too-large"
    else:
        # (Django's HttpResponse states no length: decided once the body ran over.)
        assert resp.cache_status.startswith("routecache; fwd=uri-miss")
    assert not client.request("GET", "/whole").hit


def test_max_body_size_option_applies_without_a_rule(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/big", Reply(200, [("cache-control", "max-age=60")], list(CHUNKS)))
    origin.on("/small", Reply(200, [("cache-control", "max-age=60")], [b"tiny"]))
    client = make_client(honor_cache_control=True, max_body_size=1000)
    for path in ("/big", "/small", "/big", "/small"):
        client.request("GET", path)
    assert (origin.count("/big"), origin.count("/small")) == (2, 1)


def test_a_view_that_raises_stores_nothing(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    def flaky(seen: Seen) -> Reply:
        if origin.count("/flaky") == 1:
            return Reply(error=True)
        return Reply(200, [], b"recovered")

    origin.on("/flaky", flaky)
    client = make_client(rules=[Rule("/flaky", ttl=60)])
    failed = client.request("GET", "/flaky")
    assert failed.status == 500
    assert b"recovered" not in failed.body
    ok = client.request("GET", "/flaky")
    assert (ok.status, ok.body) == (200, b"recovered")
    assert ok.cache_status == "routecache; fwd=uri-miss; stored"
    assert client.request("GET", "/flaky").hit
    assert origin.count("/flaky") == 2


def test_a_body_that_fails_half_way_is_not_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    def flaky(seen: Seen) -> Reply:
        if origin.count("/flaky") == 1:
            return Reply(200, [], list(CHUNKS), fail_after=2)
        return Reply(200, [], list(CHUNKS))

    origin.on("/flaky", flaky)
    client = make_client(rules=[Rule("/flaky", ttl=60)])
    broken = client.request("GET", "/flaky")
    assert broken.body != BODY, "the origin was meant to fail half-way"
    assert BODY.startswith(broken.body)
    whole = client.request("GET", "/flaky")
    assert whole.body == BODY
    assert not whole.hit, "a truncated body was stored and served"
    hit = client.request("GET", "/flaky")
    assert hit.hit
    assert hit.body == BODY
    assert origin.count("/flaky") == 2


def test_event_streams_pass_through_untouched(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    events = [b"data: one\n\n", b"data: two\n\n"]
    origin.on("/events", Reply(200, [("content-type", "text/event-stream")], list(events)))
    origin.on("/items/1", Reply(200, [], b"item"))
    client = make_client(rules=[Rule("/events", ttl=60), Rule("/items/{id}", ttl=60)])
    for n in (1, 2):
        resp = client.request("GET", "/events")
        assert resp.body == b"".join(events)
        assert resp.header("cache-status") is None
        assert origin.count("/events") == n
    # A client asking for an event stream is passed through too.
    for n in (1, 2):
        asked = client.request("GET", "/items/1", {"accept": "text/event-stream"})
        assert asked.header("cache-status") is None
        assert origin.count("/items/1") == n
