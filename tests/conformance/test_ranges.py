"""Conformance: byte ranges answered from a stored complete response (RFC 9110 §14),
through every adapter.

A ``Range`` request on a fresh stored ``200`` gets a ``206`` cut from the stored body;
``If-Range`` is honoured with strong comparison (§13.1.5); a range beyond the body is a
``416``; several ranges, or a field that is not valid ``bytes=``, get the whole ``200``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conformance.harness import Client, Origin
from tests.conformance.helpers import http_date
from tests.conformance.rfc_helpers import is_hit, reply, shared, stored

BODY = b"0123456789abcdefghij"  # 20 bytes


def _primed(
    origin: Origin, make_client: Callable[..., Client], *headers: tuple[str, str]
) -> Client:
    origin.on("/r", reply(("cache-control", "max-age=600"), *headers, body=BODY))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    return client


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-4", 0, 4),
        ("bytes=5-", 5, 19),
        ("bytes=-3", 17, 19),
        ("bytes=15-99", 15, 19),
        ("bytes=-50", 0, 19),
        ("BYTES = 2-2", 2, 2),
        ("bytes=, 3-5 ,", 3, 5),
    ],
)
def test_14_2_a_single_range_is_cut_from_the_stored_body(
    origin: Origin, make_client: Callable[..., Client], spec: str, first: int, last: int
) -> None:
    client = _primed(origin, make_client, ("etag", '"v1"'))
    resp = client.request("GET", "/r", {"range": spec})
    assert resp.status == 206
    assert is_hit(resp)
    assert resp.body == BODY[first : last + 1]
    assert resp.header("content-range") == f"bytes {first}-{last}/20"
    assert resp.header("content-length") == str(last - first + 1)
    assert resp.header("etag") == '"v1"'
    assert resp.header("content-type") == "text/plain"
    assert origin.count("/r") == 1


@pytest.mark.parametrize("spec", ["bytes=20-", "bytes=25-30", "bytes=-0"])
def test_15_5_17_an_unsatisfiable_range_is_416(
    origin: Origin, make_client: Callable[..., Client], spec: str
) -> None:
    client = _primed(origin, make_client)
    resp = client.request("GET", "/r", {"range": spec})
    assert resp.status == 416
    assert resp.body == b""
    assert resp.header("content-range") == "bytes */20"
    assert origin.count("/r") == 1


@pytest.mark.parametrize(
    "spec",
    [
        "bytes=0-1, 5-6",  # several ranges: the whole representation is allowed
        "items=0-4",  # another unit
        "bytes=4-2",  # last before first: invalid, ignored
        "bytes=a-b",
        "bytes 0-4",
        "bytes=",
        "bytes=\xb2-\xb3",  # superscript digits: isdigit() but not DIGIT
    ],
)
def test_14_2_other_ranges_get_the_whole_response(
    origin: Origin, make_client: Callable[..., Client], spec: str
) -> None:
    client = _primed(origin, make_client)
    resp = client.request("GET", "/r", {"range": spec})
    assert (resp.status, resp.body) == (200, BODY)
    assert resp.header("content-range") is None
    assert is_hit(resp)


@pytest.mark.parametrize(
    ("if_range", "partial"),
    [
        ('"v1"', True),
        ('"v2"', False),
        ('W/"v1"', False),  # weak tags never match (§13.1.5)
        ("not a date", False),
    ],
)
def test_13_1_5_if_range_with_an_entity_tag_uses_strong_comparison(
    origin: Origin, make_client: Callable[..., Client], if_range: str, partial: bool
) -> None:
    client = _primed(origin, make_client, ("etag", '"v1"'))
    resp = client.request("GET", "/r", {"range": "bytes=0-4", "if-range": if_range})
    if partial:
        assert (resp.status, resp.body) == (206, b"01234")
    else:
        assert (resp.status, resp.body) == (200, BODY)


def test_13_1_5_a_weak_stored_etag_never_matches(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    client = _primed(origin, make_client, ("etag", 'W/"v1"'))
    resp = client.request("GET", "/r", {"range": "bytes=0-4", "if-range": 'W/"v1"'})
    assert (resp.status, resp.body) == (200, BODY)
    assert client.request("GET", "/r", {"range": "bytes=0-4"}).status == 206


def test_13_1_5_if_range_with_a_date_needs_a_strong_last_modified(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    now = time.time()
    modified = http_date(now - 3600)
    client = _primed(origin, make_client, ("last-modified", modified), ("date", http_date(now)))
    exact = client.request("GET", "/r", {"range": "bytes=0-4", "if-range": modified})
    assert (exact.status, exact.body) == (206, b"01234")
    other = client.request("GET", "/r", {"range": "bytes=0-4", "if-range": http_date(now - 7200)})
    assert (other.status, other.body) == (200, BODY)
    # Last-Modified equal to Date is weak (§8.8.2.2): If-Range cannot match it.
    origin.on(
        "/w",
        reply(
            ("cache-control", "max-age=600"),
            ("last-modified", http_date(now)),
            ("date", http_date(now)),
            body=BODY,
        ),
    )
    client.request("GET", "/w")
    weak = client.request("GET", "/w", {"range": "bytes=0-4", "if-range": http_date(now)})
    assert (weak.status, weak.body) == (200, BODY)


def test_14_2_head_ignores_range(origin: Origin, make_client: Callable[..., Client]) -> None:
    client = _primed(origin, make_client)
    resp = client.request("HEAD", "/r", {"range": "bytes=0-4"})
    assert resp.status == 200
    assert resp.header("content-length") == "20"
    assert resp.header("content-range") is None


def test_a_stored_206_is_never_the_source(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # Nothing stored yet: the Range request goes to the app, and its 206 is not kept.
    origin.on(
        "/r",
        reply(
            ("cache-control", "max-age=600"),
            ("content-range", "bytes 0-4/20"),
            status=206,
            body=b"01234",
        ),
    )
    client = shared(make_client)
    first = client.request("GET", "/r", {"range": "bytes=0-4"})
    assert (first.status, first.body) == (206, b"01234")
    again = client.request("GET", "/r", {"range": "bytes=0-4"})
    assert not is_hit(again)
    assert origin.count("/r") == 2
