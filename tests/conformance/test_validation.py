"""Conformance: validators on the way out, and revalidation with the origin.

Stored 2xx responses get a strong ETag when the app gave none; ``If-None-Match`` /
``If-Modified-Since`` on a hit answer 304 without calling the app; entries that must
be revalidated (``no-cache``, or stale with a validator) send the app a conditional
request and reuse the stored body on its 304.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Seen
from tests.conformance.helpers import http_date

RULES = [Rule("/doc", ttl=60), Rule("/brief", ttl=0.4)]
STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e]+"$')


def test_a_strong_etag_is_added_when_the_app_gave_none(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/doc", Reply(200, [], b"version one"))
    client = make_client(rules=RULES)
    miss = client.request("GET", "/doc")
    hit = client.request("GET", "/doc")
    etag = hit.header("etag")
    assert etag is not None
    assert STRONG_ETAG.match(etag), etag
    # The first response carries it too (its whole body arrived in one piece).
    assert miss.header("etag") == etag
    # Another body gets another ETag; a second client on the same store sees the same.
    other = make_client(rules=[Rule("/doc", ttl=60), Rule("/doc2", ttl=60)])
    assert other.request("GET", "/doc").header("etag") == etag
    origin.on("/doc2", Reply(200, [], b"version two"))
    other.request("GET", "/doc2")
    assert other.request("GET", "/doc2").header("etag") not in (None, etag)
    assert origin.count("/doc") == 1


def test_the_apps_etag_is_kept(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/doc", Reply(200, [("etag", 'W/"app-v1"')], b"body"))
    client = make_client(rules=RULES)
    assert client.request("GET", "/doc").all("etag") == ['W/"app-v1"']
    assert client.request("GET", "/doc").all("etag") == ['W/"app-v1"']


@pytest.mark.parametrize("form", ["exact", "list", "star", "weak"])
def test_if_none_match_on_a_hit_answers_304(
    origin: Origin, make_client: Callable[..., Client], form: str
) -> None:
    origin.on("/doc", Reply(200, [("content-type", "text/plain"), ("x-extra", "1")], b"body"))
    client = make_client(rules=RULES)
    etag = client.request("GET", "/doc").header("etag")
    assert etag is not None
    value = {
        "exact": etag,
        "list": f'"nope", {etag}, "other"',
        "star": "*",
        "weak": f"W/{etag}",  # If-None-Match compares weakly (RFC 9110 §13.1.2)
    }[form]
    resp = client.request("GET", "/doc", {"if-none-match": value})
    assert resp.status == 304
    assert resp.body == b""
    assert resp.header("etag") == etag
    assert resp.hit, resp.cache_status
    assert resp.header("age") is not None
    assert resp.header("x-extra") is None  # a 304 carries only the validator fields
    assert origin.count("/doc") == 1


def test_if_none_match_that_does_not_match_gets_the_body(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/doc", Reply(200, [], b"body"))
    client = make_client(rules=RULES)
    client.request("GET", "/doc")
    resp = client.request("GET", "/doc", {"if-none-match": '"something-else"'})
    assert (resp.status, resp.body) == (200, b"body")
    assert resp.hit
    assert origin.count("/doc") == 1


def test_if_modified_since_on_a_hit(origin: Origin, make_client: Callable[..., Client]) -> None:
    modified = time.time() - 3600
    origin.on("/doc", Reply(200, [("last-modified", http_date(modified))], b"body"))
    client = make_client(rules=RULES)
    client.request("GET", "/doc")
    same = client.request("GET", "/doc", {"if-modified-since": http_date(modified)})
    assert (same.status, same.body) == (304, b"")
    assert same.hit
    later = client.request("GET", "/doc", {"if-modified-since": http_date(modified + 60)})
    assert later.status == 304
    earlier = client.request("GET", "/doc", {"if-modified-since": http_date(modified - 60)})
    assert (earlier.status, earlier.body) == (200, b"body")
    # If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2).
    both = client.request(
        "GET",
        "/doc",
        {"if-none-match": '"not-it"', "if-modified-since": http_date(modified + 60)},
    )
    assert (both.status, both.body) == (200, b"body")
    garbage = client.request("GET", "/doc", {"if-modified-since": "yesterday"})
    assert garbage.status == 200
    assert origin.count("/doc") == 1


def test_conditional_requests_on_a_head_hit(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/doc", Reply(200, [], b"body"))
    client = make_client(rules=RULES)
    etag = client.request("GET", "/doc").header("etag")
    assert etag is not None
    resp = client.request("HEAD", "/doc", {"if-none-match": etag})
    assert resp.status == 304
    assert origin.count("/doc") == 1


def revalidating_view(etag: str, bodies: list[bytes]) -> Callable[[Seen], Reply]:
    """A view with its own ETag that answers 304 to a matching If-None-Match."""

    def view(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == etag:
            return Reply(304, [("etag", etag), ("cache-control", "no-cache")], b"")
        return Reply(200, [("etag", etag), ("cache-control", "no-cache")], bodies.pop(0))

    return view


def test_no_cache_is_stored_but_revalidated_before_every_reuse(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/doc", revalidating_view('"v1"', [b"version one"]))
    client = make_client(rules=RULES)
    first = client.request("GET", "/doc")
    assert first.cache_status == "routecache; fwd=uri-miss; stored"
    for n in (2, 3):
        resp = client.request("GET", "/doc")
        assert (resp.status, resp.body) == (200, b"version one")
        assert not resp.hit
        assert "fwd-status=304" in resp.cache_status, resp.cache_status
        assert origin.count("/doc") == n
        # The app was asked with the entry's validator, not a blind GET.
        assert origin.seen[-1].headers.get("if-none-match") == '"v1"'
    # The client's own matching validator gets a 304 after the revalidation.
    mine = client.request("GET", "/doc", {"if-none-match": '"v1"'})
    assert (mine.status, mine.body) == (304, b"")


def test_a_new_answer_on_revalidation_replaces_the_entry(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    versions = iter(['"v1"', '"v2"'])
    current: list[str] = [next(versions)]

    def view(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == current[0]:
            return Reply(304, [("etag", current[0]), ("cache-control", "no-cache")], b"")
        return Reply(
            200, [("etag", current[0]), ("cache-control", "no-cache")], current[0].encode()
        )

    origin.on("/doc", view)
    client = make_client(rules=RULES)
    assert client.request("GET", "/doc").body == b'"v1"'
    current[0] = next(versions)
    changed = client.request("GET", "/doc")
    assert changed.body == b'"v2"'
    assert changed.header("etag") == '"v2"'
    revalidated = client.request("GET", "/doc")
    assert revalidated.body == b'"v2"'
    assert origin.seen[-1].headers.get("if-none-match") == '"v2"'


def test_no_cache_without_a_validator_is_not_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/doc", Reply(200, [("cache-control", "no-cache")], b"body"))
    client = make_client(rules=RULES)
    first = client.request("GET", "/doc")
    second = client.request("GET", "/doc")
    assert first.cache_status == second.cache_status == "routecache; fwd=uri-miss; detail=no-cache"
    assert origin.count("/doc") == 2


def test_generated_etags_are_never_sent_to_the_app(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    modified = http_date(time.time() - 3600)

    def view(seen: Seen) -> Reply:
        headers = [("last-modified", modified), ("cache-control", "no-cache")]
        if seen.headers.get("if-modified-since") == modified:
            return Reply(304, headers, b"")
        return Reply(200, headers, b"dated body")

    origin.on("/doc", view)
    client = make_client(rules=RULES)
    etag = client.request("GET", "/doc").header("etag")
    assert etag is not None  # routecache made one up
    resp = client.request("GET", "/doc")
    assert (resp.status, resp.body) == (200, b"dated body")
    assert resp.header("etag") == etag
    sent = origin.seen[-1].headers
    assert sent.get("if-modified-since") == modified
    assert "if-none-match" not in sent, "the app was sent an ETag it never made"


def test_a_stale_entry_is_revalidated_and_refreshed_by_a_304(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # The origin's Date is a second old, so the entry (ttl 0.9 s) is stored already
    # stale; stale_if_error keeps it past its freshness, and with its ETag it is
    # revalidated instead of refetched. No sleeping needed.
    def view(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(304, [("etag", '"v1"')], b"")  # no Date, like most apps
        headers = [("etag", '"v1"'), ("date", http_date(time.time() - 1))]
        return Reply(200, headers, b"validated body")

    origin.on("/doc", view)
    client = make_client(rules=[Rule("/doc", ttl=0.9, stale_if_error=30)])
    assert client.request("GET", "/doc").cache_status == "routecache; fwd=uri-miss; stored"
    stale = client.request("GET", "/doc")
    assert (stale.status, stale.body) == (200, b"validated body")
    assert stale.cache_status == "routecache; fwd=stale; fwd-status=304; stored"
    assert origin.seen[-1].headers.get("if-none-match") == '"v1"'
    # The 304 dated the entry anew (RFC 9110 §6.6.1): fresh again, a hit.
    hit = client.request("GET", "/doc")
    assert hit.hit, hit.cache_status
    assert hit.body == b"validated body"
    assert origin.count("/doc") == 2
