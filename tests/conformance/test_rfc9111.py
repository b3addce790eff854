"""Conformance: RFC 9111 (HTTP Caching), section by section, through every adapter.

Each test name cites the section it checks (``test_4_2_1_...`` is RFC 9111 §4.2.1).
Most cases configure routecache as a standards-following shared cache in front of
any app: ``honor_cache_control=True`` and no rules at all. Where the RFC meets the
rules (a rule's ``ttl`` as the default freshness, ``override=True``) the case says so.

Elapsed time is simulated with the origin's ``Age``, ``Date`` and ``Expires`` fields
(an entry born 100 seconds old is stale at once), so almost nothing here sleeps.
Every ``Cache-Status`` a case looks at is parsed as an RFC 8941 list on the way
(:func:`~tests.conformance.rfc_helpers.ours`), so each case also checks that the
field is well-formed (RFC 9211).

RFC 5861 (stale-while-revalidate, stale-if-error) lives in ``test_rfc5861.py`` and
RFC 9211 (Cache-Status) in ``test_rfc9211.py``; all three share ``rfc_helpers.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Seen
from tests.conformance.helpers import age, http_date
from tests.conformance.rfc_helpers import (
    is_hit,
    near,
    ours,
    reply,
    shared,
    stored,
    ttl,
    validating,
)

# -- §3 Storing responses in caches --------------------------------------------------


@pytest.mark.parametrize(
    "cache_control",
    [["no-store"], ["No-StOrE"], ["max-age=10000, no-store"], ["max-age=10000", "no-store"]],
)
def test_3_no_store_is_never_stored(
    origin: Origin, make_client: Callable[..., Client], cache_control: list[str]
) -> None:
    headers = [("cache-control", v) for v in cache_control]
    origin.on("/r", reply(*headers, ("expires", http_date(time.time() + 10000))))
    client = shared(make_client)
    first, second = client.request("GET", "/r"), client.request("GET", "/r")
    assert origin.count("/r") == 2
    for resp in (first, second):
        assert ours(resp) == {"fwd": "uri-miss", "detail": "no-store"}


def test_3_no_store_answer_leaves_the_older_entry_alone(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # A fresh entry keeps answering: a later no-store response never reached it.
    origin.on("/r", reply(("cache-control", "max-age=600"), ("x-v", "1")))
    client = shared(make_client)
    client.request("GET", "/r")
    origin.on("/r", reply(("cache-control", "no-store"), ("x-v", "2")))
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert hit.header("x-v") == "1"


@pytest.mark.parametrize("cache_control", ["private, max-age=3600", "PRIVATE, s-maxage=60"])
def test_5_2_2_7_private_is_never_stored_by_a_shared_cache(
    origin: Origin, make_client: Callable[..., Client], cache_control: str
) -> None:
    origin.on("/r", reply(("cache-control", cache_control)))
    client = shared(make_client)
    for _ in range(2):
        assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "private"}
    assert origin.count("/r") == 2


@pytest.mark.parametrize(
    ("cache_control", "dropped"),
    [
        ('private="x-user", max-age=600', ["x-user"]),
        ('private="X-User, x-token", max-age=600', ["x-user", "x-token"]),
        ('max-age=600, private="x-token", private="x-user"', ["x-user", "x-token"]),
    ],
)
def test_5_2_2_7_private_field_strips_only_that_field(
    origin: Origin, make_client: Callable[..., Client], cache_control: str, dropped: list[str]
) -> None:
    origin.on(
        "/r",
        reply(
            ("cache-control", cache_control),
            ("x-user", "alice"),
            ("x-token", "t0k3n"),
            ("x-public", "kept"),
        ),
    )
    client = shared(make_client)
    miss = client.request("GET", "/r")
    assert stored(miss)
    # The response that went to its own client keeps every field...
    assert miss.header("x-user") == "alice"
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    # ...but the shared entry never had the private ones.
    for name in dropped:
        assert hit.header(name) is None, hit.headers
    assert hit.header("x-public") == "kept"
    for name in {"x-user", "x-token"} - set(dropped):
        assert hit.header(name) is not None
    assert hit.body == miss.body
    assert origin.count("/r") == 1


@pytest.mark.parametrize(
    ("cache_control", "dropped"),
    [
        ('no-cache="x-a", max-age=3600', ["x-a"]),
        ('max-age=3600, no-cache="x-a, X-B"', ["x-a", "x-b"]),
    ],
)
def test_5_2_2_4_qualified_no_cache_omits_the_listed_fields_and_reuses_the_rest(
    origin: Origin, make_client: Callable[..., Client], cache_control: str, dropped: list[str]
) -> None:
    origin.on(
        "/r", reply(("cache-control", cache_control), ("x-a", "1"), ("x-b", "2"), ("x-c", "3"))
    )
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    hit = client.request("GET", "/r")
    # §5.2.2.4: the response may be reused without revalidation if the listed fields
    # are left out of it.
    assert is_hit(hit)
    for name in dropped:
        assert hit.header(name) is None, hit.headers
    assert hit.header("x-c") == "3"
    assert origin.count("/r") == 1


@pytest.mark.parametrize(
    ("cache_control", "validator"),
    [
        ("no-cache, max-age=10000", "etag"),
        ("no-cache", "etag"),  # no lifetime at all: stored all the same
        ("no-cache", "last-modified"),
        ("max-age=0, must-revalidate", "etag"),  # the same meaning, spelled out
    ],
)
def test_5_2_2_4_no_cache_is_stored_but_revalidated_before_every_reuse(
    origin: Origin, make_client: Callable[..., Client], cache_control: str, validator: str
) -> None:
    etag = '"v1"' if validator == "etag" else None
    modified = http_date(time.time() - 3600) if validator == "last-modified" else None
    origin.on(
        "/r",
        validating(
            etag,
            b"the body",
            [("cache-control", cache_control)],
            [("x-seen", "304")],
            last_modified=modified,
        ),
    )
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    for n in (2, 3):
        resp = client.request("GET", "/r")
        assert origin.seen[-1].headers.get("if-none-match") == etag
        assert origin.seen[-1].headers.get("if-modified-since") == modified
        assert origin.count("/r") == n
        assert (resp.status, resp.body) == (200, b"the body")
        status = ours(resp)
        assert (status["fwd"], status["fwd-status"]) == ("stale", 304)
        assert "hit" not in status


def test_5_2_2_4_no_cache_without_a_validator_is_not_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=10000, No-CaChE")))
    client = shared(make_client)
    for _ in range(2):
        assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "no-cache"}
    assert origin.count("/r") == 2


def test_5_2_2_3_must_understand_stores_understood_statuses_despite_no_store(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    cc = ("cache-control", "must-understand, no-store, max-age=600")
    origin.on("/ok", reply(cc))
    origin.on("/odd", reply(cc, status=299))
    client = shared(make_client)
    assert stored(client.request("GET", "/ok"))
    assert is_hit(client.request("GET", "/ok"))
    # A status routecache does not implement: must-understand forbids storing it.
    odd = client.request("GET", "/odd")
    assert odd.status == 299
    assert ours(odd) == {"fwd": "uri-miss", "detail": "must-understand"}
    client.request("GET", "/odd")
    assert (origin.count("/ok"), origin.count("/odd")) == (1, 2)


AUTH = {"authorization": "Bearer s3cret"}


@pytest.mark.parametrize(
    ("cache_control", "reusable"),
    [
        ("max-age=600", False),
        ("max-age=600, public", True),
        ("s-maxage=600", True),
        ("max-age=600, must-revalidate", True),
    ],
)
def test_3_5_authorization_responses_are_shared_only_when_explicitly_allowed(
    origin: Origin, make_client: Callable[..., Client], cache_control: str, reusable: bool
) -> None:
    origin.on("/r", reply(("cache-control", cache_control)))
    client = shared(make_client)
    first = client.request("GET", "/r", AUTH)
    assert origin.seen[-1].headers.get("authorization") == AUTH["authorization"]
    if reusable:
        assert stored(first)
        for headers in (AUTH, {}, {"authorization": "Bearer other"}):
            assert is_hit(client.request("GET", "/r", headers))
        assert origin.count("/r") == 1
    else:
        assert ours(first) == {"fwd": "uri-miss", "detail": "authorization"}
        assert not is_hit(client.request("GET", "/r"))
        assert origin.count("/r") == 2


def test_3_5_an_entry_made_without_authorization_does_not_answer_an_authorized_request(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600")))
    client = shared(make_client)
    client.request("GET", "/r")
    resp = client.request("GET", "/r", AUTH)
    assert ours(resp) == {"fwd": "bypass", "detail": "authorization"}
    assert origin.count("/r") == 2
    assert is_hit(client.request("GET", "/r"))  # still there for everyone else


HEURISTIC = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]
NOT_HEURISTIC = [201, 202, 302, 303, 307, 400, 403, 500, 502, 503, 504]


def test_3_heuristically_cacheable_statuses_need_no_explicit_freshness(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    last_modified = http_date(time.time() - 10 * 86400)
    for code in HEURISTIC + NOT_HEURISTIC:
        body = b"" if code == 204 else b"status %d" % code
        origin.on(f"/s{code}", reply(("last-modified", last_modified), status=code, body=body))
    client = shared(make_client, heuristic_freshness=True)
    for code in HEURISTIC:
        first = client.request("GET", f"/s{code}")
        assert first.status == code
        assert stored(first), (code, first.cache_status)
        second = client.request("GET", f"/s{code}")
        assert is_hit(second), (code, second.cache_status)
        assert (second.status, second.body) == (code, first.body)
    for code in NOT_HEURISTIC:
        first = client.request("GET", f"/s{code}")
        assert first.status == code
        assert ours(first) == {"fwd": "uri-miss", "detail": "status"}, code
        assert not is_hit(client.request("GET", f"/s{code}")), code
        assert origin.count(f"/s{code}") == 2


def test_3_other_statuses_are_stored_with_explicit_freshness(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # §3: any final status the cache understands is storable when the response says
    # how long it stays fresh (here max-age, Expires or public with a default).
    cases = {
        302: ("cache-control", "max-age=600"),
        307: ("expires", http_date(time.time() + 600)),
        400: ("cache-control", "s-maxage=600"),
        500: ("cache-control", "max-age=600"),
        503: ("cache-control", "max-age=600"),
    }
    for code, header in cases.items():
        headers = [header, ("location", "/elsewhere")] if code in (302, 307) else [header]
        origin.on(f"/s{code}", reply(*headers, status=code))
    client = shared(make_client)
    for code in cases:
        assert stored(client.request("GET", f"/s{code}")), code
        second = client.request("GET", f"/s{code}")
        assert is_hit(second), code
        assert second.status == code
        assert origin.count(f"/s{code}") == 1


def test_3_public_makes_a_non_heuristic_status_storable_with_heuristic_freshness(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    last_modified = ("last-modified", http_date(time.time() - 86400))
    origin.on("/plain", reply(last_modified, status=599))
    origin.on("/public", reply(last_modified, ("cache-control", "public"), status=599))
    client = shared(make_client, heuristic_freshness=True)
    assert ours(client.request("GET", "/plain")) == {"fwd": "uri-miss", "detail": "status"}
    assert stored(client.request("GET", "/public"))
    assert is_hit(client.request("GET", "/public"))


@pytest.mark.parametrize("vary", [["*"], ["*, *"], ["Accept, *"], [", *"], ["accept", "*"]])
def test_4_1_vary_star_is_never_stored(
    origin: Origin, make_client: Callable[..., Client], vary: list[str]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600"), *[("vary", v) for v in vary]))
    client = shared(make_client)
    for _ in range(2):
        assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "vary-star"}
    assert origin.count("/r") == 2


def test_3_partial_content_is_never_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on(
        "/r",
        reply(
            ("cache-control", "max-age=3600"),
            ("content-range", "bytes 4-8/10"),
            status=206,
            body=b"45678",
        ),
    )
    client = shared(make_client)
    first = client.request("GET", "/r", {"range": "bytes=4-8"})
    assert origin.seen[-1].headers.get("range") == "bytes=4-8"
    assert (first.status, first.body) == (206, b"45678")
    assert ours(first) == {"fwd": "uri-miss", "detail": "partial"}
    # Neither the same range nor the whole representation is answered from it.
    assert not is_hit(client.request("GET", "/r", {"range": "bytes=4-8"}))
    assert not is_hit(client.request("GET", "/r"))
    assert origin.count("/r") == 3


def test_3_3_a_complete_200_with_content_range_is_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # Content-Range means nothing on a 200 (RFC 9110 §14.4): the body is complete, and
    # §3.3's rule on incomplete responses does not apply.
    origin.on(
        "/r",
        reply(
            ("cache-control", "max-age=600"),
            ("content-range", "bytes 0-9/10"),
            body=b"0123456789",
        ),
    )
    client = shared(make_client)
    first = client.request("GET", "/r")
    assert stored(first)
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert (hit.status, hit.body) == (200, b"0123456789")
    assert hit.header("content-range") == "bytes 0-9/10"
    assert origin.count("/r") == 1


def test_3_3_a_body_that_fails_half_way_is_not_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on(
        "/r",
        Reply(200, [("cache-control", "max-age=600")], [b"one ", b"two ", b"three"], fail_after=1),
    )
    client = shared(make_client)
    client.request("GET", "/r")
    origin.on("/r", Reply(200, [("cache-control", "max-age=600")], [b"whole"]))
    resp = client.request("GET", "/r")
    assert resp.body == b"whole"
    assert not is_hit(resp)
    assert is_hit(client.request("GET", "/r"))
    assert origin.count("/r") == 2


@pytest.mark.filterwarnings(
    # werkzeug's lint (under the WSGI clients) rightly flags the broken origin.
    "ignore:Content-Length and the number of bytes sent:werkzeug.middleware.lint.WSGIWarning"
)
def test_3_3_a_body_shorter_than_its_content_length_is_not_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # RFC 9112 §6.3: a message whose body is shorter than its Content-Length is
    # incomplete; §3.3: an incomplete response is never used to answer a request.
    origin.on(
        "/r",
        Reply(200, [("cache-control", "max-age=600"), ("content-length", "10")], [b"abc", b"de"]),
    )
    client = shared(make_client)
    client.request("GET", "/r")
    origin.on("/r", Reply(200, [("cache-control", "max-age=600")], b"0123456789"))
    resp = client.request("GET", "/r")
    assert not is_hit(resp), resp.cache_status
    assert resp.body == b"0123456789"
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert (hit.body, hit.header("content-length")) == (b"0123456789", "10")
    assert origin.count("/r") == 2


# -- §3.1 / §3.2 Storing and updating header fields ------------------------------------


def test_3_1_hop_by_hop_and_connection_listed_fields_are_never_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    never = {
        "connection": "x-hop-a, X-Hop-B",
        "x-hop-a": "1",
        "x-hop-b": "2",
        "keep-alive": "timeout=5",
        "proxy-connection": "keep-alive",
        "proxy-authenticate": 'Basic realm="proxy"',
        "proxy-authentication-info": 'nextnonce="abc"',
        "te": "trailers",
        "upgrade": "h2c",
    }
    kept = {
        "x-end-to-end": "3",
        "www-authenticate": 'Basic realm="site"',
        "strict-transport-security": "max-age=60",
        "x-frame-options": "deny",
        "content-type": "text/plain",
    }
    origin.on("/r", Reply(200, [("cache-control", "max-age=600"), *never.items(), *kept.items()]))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    for name in never:
        assert hit.header(name) is None, (name, hit.headers)
    for name, value in kept.items():
        assert hit.header(name) == value, (name, hit.headers)


def test_3_2_a_304_updates_the_stored_header_fields(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    etag = '"v1"'
    origin.on(
        "/r",
        validating(
            etag,
            b"stored body",
            # Born 100 s old with 30 s of freshness: stale at once, revalidated on use.
            [
                ("cache-control", "max-age=30, must-revalidate"),
                ("age", "100"),
                ("x-v", "1"),
                ("x-only-stored", "kept"),
            ],
            [
                ("cache-control", "max-age=600"),
                ("x-v", "2"),
                ("x-new", "yes"),
                ("content-length", "0"),
            ],
        ),
    )
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    validated = client.request("GET", "/r")
    assert origin.seen[-1].headers.get("if-none-match") == etag
    assert (validated.status, validated.body) == (200, b"stored body")
    assert validated.header("content-length") == str(len(b"stored body"))
    status = ours(validated)
    assert (status["fwd"], status["fwd-status"]) == ("stale", 304)
    for resp in (validated, client.request("GET", "/r")):
        assert resp.header("x-v") == "2"
        assert resp.header("x-new") == "yes"
        assert resp.header("x-only-stored") == "kept"
        assert resp.header("cache-control") == "max-age=600"
        assert resp.header("etag") == etag
    # The freshness from the 304 now holds: a plain hit, the origin ran twice.
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert near(ttl(hit), 600)
    assert hit.body == b"stored body"
    assert origin.count("/r") == 2


# -- §4.1 Calculating cache keys with Vary ---------------------------------------------


def _by_language(seen: Seen) -> Reply:
    lang = seen.headers.get("accept-language")
    body = f"lang={lang}".encode()
    return reply(("cache-control", "max-age=600"), ("vary", "Accept-Language"), body=body)


def test_4_1_vary_selects_the_stored_variant(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _by_language)
    client = shared(make_client)
    en = client.request("GET", "/r", {"accept-language": "en"})
    assert ours(en) == {"fwd": "uri-miss", "stored": True}
    de = client.request("GET", "/r", {"accept-language": "de"})
    assert ours(de) == {"fwd": "vary-miss", "stored": True}
    assert de.body == b"lang=de"
    assert origin.count("/r") == 2
    # Several variants live side by side; each request gets its own.
    for _ in range(2):
        for lang in ("en", "de"):
            resp = client.request("GET", "/r", {"accept-language": lang})
            assert is_hit(resp), resp.cache_status
            assert resp.body == f"lang={lang}".encode()
    assert origin.count("/r") == 2


def test_4_1_absent_and_empty_selecting_fields_are_distinct(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _by_language)
    client = shared(make_client)
    assert client.request("GET", "/r").body == b"lang=None"
    assert is_hit(client.request("GET", "/r"))
    # A field that is absent only matches a request where it is absent too.
    with_field = client.request("GET", "/r", {"accept-language": "en"})
    assert not is_hit(with_field)
    assert with_field.body == b"lang=en"
    absent = client.request("GET", "/r")
    assert is_hit(absent)
    assert absent.body == b"lang=None"
    assert origin.count("/r") == 2


@pytest.mark.parametrize(
    ("stored_with", "reused_with"),
    [
        ([("Foo", "1")], [("FOO", "1")]),  # field names are case-insensitive
    ],
)
def test_4_1_selecting_fields_are_normalised(
    origin: Origin,
    make_client: Callable[..., Client],
    stored_with: list[tuple[str, str]],
    reused_with: list[tuple[str, str]],
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600"), ("vary", "FOO")))
    client = shared(make_client)
    assert stored(client.request("GET", "/r", stored_with))
    assert is_hit(client.request("GET", "/r", reused_with))
    assert not is_hit(client.request("GET", "/r", [("foo", "2, 1")]))
    assert origin.count("/r") == 2


def test_4_1_selecting_field_values_are_compared_exactly(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # §4.1 allows normalising values, but an app can read them byte for byte: routecache
    # does not normalise (issue 10), so another spelling is another variant.
    origin.on("/r", reply(("cache-control", "max-age=600"), ("vary", "FOO")))
    client = shared(make_client)
    assert stored(client.request("GET", "/r", [("foo", "1,2")]))
    assert not is_hit(client.request("GET", "/r", [("foo", "1, 2")]))
    assert not is_hit(client.request("GET", "/r", [("foo", ",1,2")]))
    assert is_hit(client.request("GET", "/r", [("foo", "1,2")]))
    assert origin.count("/r") == 3


def test_4_1_every_listed_field_must_match_and_unlisted_fields_do_not_count(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600"), ("vary", "Foo, Bar"), ("vary", "Baz")))
    client = shared(make_client)
    base = {"foo": "1", "bar": "abc", "baz": "789", "other": "x"}
    assert stored(client.request("GET", "/r", base))
    assert is_hit(client.request("GET", "/r", {**base, "other": "y"}))
    for name in ("foo", "bar", "baz"):
        changed = {**base, name: "different"}
        assert not is_hit(client.request("GET", "/r", changed)), name
        omitted = {k: v for k, v in base.items() if k != name}
        assert not is_hit(client.request("GET", "/r", omitted)), name
    # Every one of those variants is stored beside the first.
    assert origin.count("/r") == 7
    for name in ("foo", "bar", "baz"):
        assert is_hit(client.request("GET", "/r", {**base, name: "different"}))
    assert is_hit(client.request("GET", "/r", base))
    assert origin.count("/r") == 7


def test_4_1_a_rule_declared_vary_keys_the_primary_entry(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _by_language)
    client = make_client(rules=[Rule("/r", ttl=60, vary=["accept-language"])])
    assert ours(client.request("GET", "/r", {"accept-language": "en"}))["fwd"] == "uri-miss"
    # Declared up front, the variant is a primary key of its own: a plain uri-miss.
    assert ours(client.request("GET", "/r", {"accept-language": "de"}))["fwd"] == "uri-miss"
    assert client.request("GET", "/r", {"accept-language": "en"}).body == b"lang=en"
    assert client.request("GET", "/r", {"accept-language": "de"}).body == b"lang=de"
    assert origin.count("/r") == 2


# -- §4.2 Freshness ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected_ttl"),
    [
        ([("cache-control", "s-maxage=300, max-age=100")], 300),
        ([("cache-control", "max-age=100, s-maxage=300")], 300),
        ([("cache-control", "max-age=3600"), ("cache-control", "s-maxage=50")], 50),
        ([("cache-control", "max-age=100"), ("expires", "+500")], 100),
        ([("cache-control", "max-age=100"), ("expires", "-5000")], 100),
        ([("cache-control", "max-age=100"), ("expires", "0")], 100),
        ([("cache-control", "s-maxage=100"), ("expires", "+500")], 100),
        ([("expires", "+500")], 500),
        # The lifetime is Expires minus the origin's Date (600 s), 100 s of it used up.
        ([("expires", "+500"), ("date", "-100")], 500),
    ],
)
def test_4_2_1_s_maxage_beats_max_age_beats_expires(
    origin: Origin,
    make_client: Callable[..., Client],
    headers: list[tuple[str, str]],
    expected_ttl: int,
) -> None:
    now = time.time()
    resolved = []
    for name, value in headers:
        if name in ("expires", "date") and value[0] in "+-":
            value = http_date(now + int(value))
        resolved.append((name, value))
    origin.on("/r", reply(*resolved))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert near(ttl(hit), expected_ttl), (hit.cache_status, expected_ttl)


@pytest.mark.parametrize(
    "headers",
    [
        [("cache-control", "max-age=3600, s-maxage=1"), ("age", "2")],
        [("cache-control", "s-maxage=0, max-age=3600")],
        [("cache-control", "max-age=0"), ("expires", "+10000")],
        [("expires", "-5000")],
        [("expires", "now")],
        # Expires older than Date: stale on arrival.
        [("expires", "+300"), ("date", "+400")],
    ],
)
def test_4_2_1_responses_stale_on_arrival_are_not_reused(
    origin: Origin, make_client: Callable[..., Client], headers: list[tuple[str, str]]
) -> None:
    now = time.time()
    resolved = []
    for name, value in headers:
        if name in ("expires", "date") and value[0] in "+-":
            value = http_date(now + int(value))
        elif value == "now":
            value = http_date(now)
        resolved.append((name, value))
    origin.on("/r", reply(*resolved))
    client = shared(make_client)
    first = client.request("GET", "/r")
    assert ours(first) == {"fwd": "uri-miss", "detail": "stale"}
    assert not is_hit(client.request("GET", "/r"))
    assert origin.count("/r") == 2


@pytest.mark.parametrize(
    "template",
    [
        "{d}, {dd}  {m}  {y} {t} GMT",  # runs of spaces
        "{d}, {dd} {m} {y} {t}  GMT",
        "{d},{dd} {m} {y} {t} GMT",
        "{d}, {dd} {m} {y} {t} UTC",
        "{d}, {dd} {m} {yy} {t} GMT",  # a two-digit year is not IMF-fixdate
        "{d}, {dd}-{m}-{y} {t} GMT",
    ],
)
def test_5_3_an_expires_outside_the_rfc9110_grammar_is_in_the_past(
    origin: Origin, make_client: Callable[..., Client], template: str
) -> None:
    # RFC 9111 §5.3: an invalid date means "already expired". The dates are 30 days
    # ahead: a loose parser would take them and serve the response as fresh.
    t = time.gmtime(time.time() + 30 * 86400)
    value = template.format(
        d=time.strftime("%a", t),
        dd=f"{t.tm_mday:02d}",
        m=time.strftime("%b", t),
        y=f"{t.tm_year}",
        yy=f"{t.tm_year % 100:02d}",
        t=time.strftime("%H:%M:%S", t),
    )
    origin.on("/r", reply(("expires", value)))
    client = shared(make_client)
    assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "stale"}
    assert not is_hit(client.request("GET", "/r"))
    assert origin.count("/r") == 2


@pytest.mark.parametrize("transform", [str.lower, str.upper, lambda v: v.replace("GMT", "gMT")])
def test_4_2_dates_match_case_insensitively(
    origin: Origin, make_client: Callable[..., Client], transform: Callable[[str], str]
) -> None:
    # RFC 9111 §4.2: "a cache recipient SHOULD match the field value case-insensitively".
    origin.on("/r", reply(("expires", transform(http_date(time.time() + 600)))))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert near(ttl(hit), 600)
    assert origin.count("/r") == 1


@pytest.mark.parametrize(
    ("cache_control", "expected_ttl"),
    [
        # Duplicates: the first occurrence wins (§4.2.1), on one line or on two.
        (["max-age=3600, max-age=1"], 3600),
        (["max-age=3600", "max-age=1"], 3600),
        # Quoted arguments are accepted (§5.2); case does not matter.
        (['max-age="3600"'], 3600),
        (["MaX-AgE=3600"], 3600),
        (["max-age=003600"], 3600),
        # delta-seconds too large to represent are 2**31 (§1.2.2).
        (["max-age=99999999999"], 2**31),
        # Unknown extensions are ignored; a quoted "max-age" is not a directive.
        (["foobar, max-age=3600"], 3600),
        (['max-age=3600, ext="max-age=1"'], 3600),
        (['ext="a, max-age=1", max-age=3600'], 3600),
    ],
)
def test_4_2_1_directive_syntax_variants_that_give_freshness(
    origin: Origin,
    make_client: Callable[..., Client],
    cache_control: list[str],
    expected_ttl: int,
) -> None:
    origin.on("/r", reply(*[("cache-control", v) for v in cache_control]))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert near(ttl(hit), expected_ttl)


@pytest.mark.parametrize(
    ("cache_control", "detail"),
    [
        # Invalid delta-seconds: consider the response stale (§4.2.1).
        ("max-age=a100", "stale"),
        ("max-age=100a", "stale"),
        ("max-age=-100", "stale"),
        ("max-age=1.5", "stale"),
        ("max-age='3600'", "stale"),
        ("max-age=", "stale"),
        ("max-age=abc, max-age=3600", "stale"),  # the first, invalid one counts
        # Not the directive's syntax (no whitespace around "="): no freshness at all.
        ("max-age =3600", "no-freshness"),
        ("max-age= 3600", "no-freshness"),
        ('ext="max-age=3600"', "no-freshness"),
    ],
)
def test_4_2_1_invalid_freshness_is_never_reused(
    origin: Origin, make_client: Callable[..., Client], cache_control: str, detail: str
) -> None:
    origin.on("/r", reply(("cache-control", cache_control)))
    client = shared(make_client)
    assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": detail}
    assert not is_hit(client.request("GET", "/r"))
    assert origin.count("/r") == 2


def test_4_2_1_rule_ttl_is_the_default_and_override_makes_it_win(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/silent", reply())
    origin.on("/short", reply(("cache-control", "max-age=30")))
    origin.on("/zero", reply(("cache-control", "max-age=0")))
    origin.on("/forced", reply(("cache-control", "max-age=30")))
    origin.on("/forced-zero", reply(("cache-control", "max-age=0")))
    origin.on("/forced-nostore", reply(("cache-control", "no-store, max-age=30")))
    rules = [
        Rule("/forced{rest:path}", ttl=120, override=True),
        Rule("/{name}", ttl=120),
    ]
    client = make_client(rules=rules, honor_cache_control=True)
    expectations = {"/silent": 120, "/short": 30, "/forced": 120, "/forced-zero": 120}
    for path, expected in expectations.items():
        assert stored(client.request("GET", path)), path
        hit = client.request("GET", path)
        assert is_hit(hit), path
        assert near(ttl(hit), expected), (path, hit.cache_status)
    # The origin's own max-age=0 wins over a default ttl; override changes the
    # lifetime, never what may be stored at all.
    assert ours(client.request("GET", "/zero")) == {"fwd": "uri-miss", "detail": "stale"}
    nostore = client.request("GET", "/forced-nostore")
    assert ours(nostore) == {"fwd": "uri-miss", "detail": "no-store"}


@pytest.mark.parametrize("explicit", [True, False])
def test_4_2_2_heuristic_freshness_only_when_enabled(
    origin: Origin, make_client: Callable[..., Client], explicit: bool
) -> None:
    now = time.time()
    origin.on("/lm", reply(("last-modified", http_date(now - 1000)), ("date", http_date(now))))
    origin.on("/old", reply(("last-modified", http_date(now - 100 * 86400))))
    origin.on("/none", reply())
    off = shared(make_client, heuristic_freshness=False)
    assert ours(off.request("GET", "/lm")) == {"fwd": "uri-miss", "detail": "no-freshness"}
    assert not is_hit(off.request("GET", "/lm"))
    # Proxy mode (honor_cache_control without rules) turns heuristics on by default.
    on = shared(make_client, heuristic_freshness=True) if explicit else shared(make_client)
    assert stored(on.request("GET", "/lm"))
    hit = on.request("GET", "/lm")
    assert is_hit(hit)
    # A tenth of the time since Last-Modified...
    assert near(ttl(hit), 100)
    # ...capped at a day.
    on.request("GET", "/old")
    assert near(ttl(on.request("GET", "/old")), 86400)
    # Nothing to base a heuristic on: not stored.
    assert ours(on.request("GET", "/none")) == {"fwd": "uri-miss", "detail": "no-freshness"}
    assert not is_hit(on.request("GET", "/none"))


def test_4_2_2_heuristics_stay_off_by_default_where_rules_decide(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # With rules (app mode), a path no rule covers is not stored on a guess.
    now = time.time()
    origin.on("/lm", reply(("last-modified", http_date(now - 1000)), ("date", http_date(now))))
    client = make_client(honor_cache_control=True, rules=[Rule("/items/{id}", ttl=60)])
    assert ours(client.request("GET", "/lm")) == {"fwd": "uri-miss", "detail": "no-freshness"}
    plain = make_client()
    assert ours(plain.request("GET", "/lm")) == {"fwd": "bypass", "detail": "no-rule"}


def test_4_2_3_the_origins_age_counts(origin: Origin, make_client: Callable[..., Client]) -> None:
    now = time.time()
    origin.on("/aged", reply(("cache-control", "max-age=600"), ("age", "30")))
    origin.on("/dated", reply(("cache-control", "max-age=600"), ("date", http_date(now - 100))))
    origin.on(
        "/both",
        reply(("cache-control", "max-age=600"), ("age", "50"), ("date", http_date(now - 80))),
    )
    origin.on("/expired", reply(("cache-control", "max-age=10"), ("age", "15")))
    client = shared(make_client)
    for path, expected_age in (("/aged", 30), ("/dated", 100), ("/both", 80)):
        assert stored(client.request("GET", path))
        hit = client.request("GET", path)
        assert is_hit(hit)
        assert expected_age <= age(hit) <= expected_age + 2, (path, hit.headers)
        assert near(ttl(hit), 600 - expected_age)
    # Age beyond max-age: stale on arrival.
    assert ours(client.request("GET", "/expired")) == {"fwd": "uri-miss", "detail": "stale"}


@pytest.mark.parametrize("ages", [["7200, 0"], ["7200,0"], ["7200", "0"], [" 7200 , 5"]])
def test_5_1_a_list_valued_age_counts_by_its_first_member(
    origin: Origin, make_client: Callable[..., Client], ages: list[str]
) -> None:
    # §5.1: a cache SHOULD use the first member of a list-based Age. 7200 s old with a
    # lifetime of 3600 s: stale on arrival, never served fresh.
    origin.on("/r", reply(("cache-control", "max-age=3600"), *[("age", a) for a in ages]))
    origin.on("/young", reply(("cache-control", "max-age=3600"), ("age", "100, 9000")))
    client = shared(make_client)
    assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "stale"}
    assert not is_hit(client.request("GET", "/r"))
    assert origin.count("/r") == 2
    assert stored(client.request("GET", "/young"))
    hit = client.request("GET", "/young")
    assert is_hit(hit)
    assert 100 <= age(hit) <= 102
    assert near(ttl(hit), 3500)


@pytest.mark.parametrize("value", ["abc", "-7200", "7200.0", "1e3"])
def test_4_2_3_an_invalid_age_is_ignored(
    origin: Origin, make_client: Callable[..., Client], value: str
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=3600"), ("age", value)))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert age(hit) <= 2


def test_4_2_3_resident_time_is_added_and_date_is_kept(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    date = http_date(time.time())
    origin.on("/r", reply(("cache-control", "max-age=600"), ("age", "5"), ("date", date)))
    client = shared(make_client)
    client.request("GET", "/r")
    first = client.request("GET", "/r")
    time.sleep(1.1)
    later = client.request("GET", "/r")
    assert is_hit(first)
    assert is_hit(later)
    assert age(later) >= age(first) + 1
    assert age(later) >= 6
    assert ttl(later) <= ttl(first) - 1
    # The stored Date is not replayed: the server adds the one (current) Date line and
    # Age tells the entry's age (RFC 9110 §6.6.1; tests/bounded/test_one_date.py).
    assert first.all("date") == later.all("date") == []


@pytest.mark.parametrize(
    "cache_control",
    [
        "max-age=30, must-revalidate, stale-if-error=600, stale-while-revalidate=600",
        "max-age=30, proxy-revalidate, stale-if-error=600, stale-while-revalidate=600",
        "s-maxage=30, stale-if-error=600, stale-while-revalidate=600",
        "no-cache, max-age=30, stale-if-error=600, stale-while-revalidate=600",
    ],
)
def test_4_2_4_stale_is_never_served_when_a_directive_forbids_it(
    origin: Origin, make_client: Callable[..., Client], cache_control: str
) -> None:
    # Born 100 s old: stale at once, but stored because it can be validated.
    origin.on("/r", reply(("cache-control", cache_control), ("age", "100"), ("etag", '"e"')))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    # Neither stale-while-revalidate nor stale-if-error may serve it.
    origin.on("/r", Reply(503, [("content-type", "text/plain")], b"down"))
    resp = client.request("GET", "/r")
    assert (resp.status, resp.body) == (503, b"down")
    assert origin.seen[-1].headers.get("if-none-match") == '"e"'
    assert "hit" not in ours(resp)


def test_4_2_4_without_such_a_directive_the_same_entry_is_served_stale_on_error(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # The control case of the test above: it is the directive that makes the difference.
    origin.on(
        "/r",
        reply(("cache-control", "max-age=30, stale-if-error=600"), ("age", "100"), ("etag", '"e"')),
    )
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    origin.on("/r", Reply(503, [("content-type", "text/plain")], b"down"))
    resp = client.request("GET", "/r")
    assert (resp.status, resp.body) == (200, b"payload")
    assert ours(resp)["detail"] == "stale-if-error"


# -- §4.3 Validation --------------------------------------------------------------------


@pytest.mark.parametrize("validator", ["etag", "weak-etag", "last-modified", "both"])
def test_4_3_1_a_stale_entry_is_validated_and_a_304_serves_the_stored_body(
    origin: Origin, make_client: Callable[..., Client], validator: str
) -> None:
    etag = {"etag": '"v1"', "weak-etag": 'W/"v1"', "both": '"v1"'}.get(validator)
    last_modified = (
        http_date(time.time() - 3600) if validator in ("last-modified", "both") else None
    )
    origin.on(
        "/r",
        validating(
            etag,
            b"stored body",
            [("cache-control", "max-age=30, must-revalidate"), ("age", "100")],
            [("cache-control", "max-age=600"), ("x-refreshed", "1")],
            last_modified=last_modified,
        ),
    )
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    resp = client.request("GET", "/r")
    seen = origin.seen[-1].headers
    assert seen.get("if-none-match") == etag
    assert seen.get("if-modified-since") == last_modified
    assert (resp.status, resp.body) == (200, b"stored body")
    assert resp.header("x-refreshed") == "1"
    status = ours(resp)
    assert (status["fwd"], status["fwd-status"]) == ("stale", 304)
    assert resp.cache_status.startswith("routecache; fwd=stale; fwd-status=304")
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert (hit.body, hit.header("x-refreshed")) == (b"stored body", "1")
    assert origin.count("/r") == 2


def test_4_3_4_a_304_sticks_for_the_next_request_in_every_process(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # The freshened entry is written before the revalidated answer goes out (see
    # tests/middleware/test_engine.py for the deterministic race): another process's
    # next request is a hit, not a second revalidation.
    origin.on(
        "/r",
        validating(
            '"v1"',
            b"stored body",
            [("cache-control", "max-age=30, must-revalidate"), ("age", "100")],
            [("cache-control", "max-age=600")],
        ),
    )
    one = shared(make_client)
    other = shared(make_client)
    assert stored(one.request("GET", "/r"))
    revalidated = one.request("GET", "/r")
    assert ours(revalidated)["fwd-status"] == 304
    for client in (other, one):
        hit = client.request("GET", "/r")
        assert is_hit(hit)
        assert hit.body == b"stored body"
    assert origin.count("/r") == 2


def test_4_3_1_a_stale_rule_entry_is_validated_with_the_apps_etag(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    etag = '"app-v1"'
    origin.on("/r", validating(etag, b"stored body", [], [("x-refreshed", "1")]))
    client = make_client(rules=[Rule("/r", ttl=0.3)])
    assert stored(client.request("GET", "/r"))
    time.sleep(0.4)
    resp = client.request("GET", "/r")
    assert origin.seen[-1].headers.get("if-none-match") == etag
    assert (resp.status, resp.body) == (200, b"stored body")
    status = ours(resp)
    assert (status["fwd"], status["fwd-status"]) == ("stale", 304)
    assert is_hit(client.request("GET", "/r"))


def test_4_3_3_a_full_response_to_validation_replaces_the_entry(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on(
        "/r",
        reply(
            ("cache-control", "max-age=30, must-revalidate"),
            ("age", "100"),
            ("etag", '"v1"'),
            body=b"old",
        ),
    )
    client = shared(make_client)
    client.request("GET", "/r")
    origin.on("/r", reply(("cache-control", "max-age=600"), ("etag", '"v2"'), body=b"new"))
    resp = client.request("GET", "/r")
    assert origin.seen[-1].headers.get("if-none-match") == '"v1"'
    assert (resp.status, resp.body, resp.header("etag")) == (200, b"new", '"v2"')
    status = ours(resp)
    assert (status["fwd"], status.get("stored")) == ("stale", True)
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert (hit.body, hit.header("etag")) == (b"new", '"v2"')
    assert origin.count("/r") == 2


def test_4_3_1_the_conditional_request_carries_the_selecting_fields(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on(
        "/r",
        validating(
            '"v1"',
            b"body",
            [("cache-control", "max-age=30, must-revalidate"), ("age", "100"), ("vary", "abc")],
            [("cache-control", "max-age=600")],
        ),
    )
    client = shared(make_client)
    client.request("GET", "/r", {"abc": "123"})
    resp = client.request("GET", "/r", {"abc": "123"})
    assert ours(resp)["fwd-status"] == 304
    assert origin.seen[-1].headers.get("abc") == "123"
    # Another variant is not validated with the first one's validator.
    client.request("GET", "/r", {"abc": "456"})
    assert "if-none-match" not in origin.seen[-1].headers


@pytest.mark.parametrize(
    ("stored_etag", "if_none_match", "not_modified"),
    [
        ('"abc"', '"abc"', True),
        ('"abc"', 'W/"abc"', True),  # weak comparison (RFC 9110 §13.1.2)
        ('W/"abc"', '"abc"', True),
        ('W/"abc"', 'W/"abc"', True),
        ('"abc"', '"x", "abc", "y"', True),
        ('"abc"', "*", True),
        ('"abc"', '"abd"', False),
        ('"abc"', '"ABC"', False),
        ('"abc"', "abc", False),  # not an entity-tag
    ],
)
def test_4_3_2_if_none_match_on_a_hit_uses_the_weak_comparison(
    origin: Origin,
    make_client: Callable[..., Client],
    stored_etag: str,
    if_none_match: str,
    not_modified: bool,
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600"), ("etag", stored_etag)))
    client = shared(make_client)
    client.request("GET", "/r")
    resp = client.request("GET", "/r", {"if-none-match": if_none_match})
    assert is_hit(resp)
    assert origin.count("/r") == 1
    if not_modified:
        assert (resp.status, resp.body) == (304, b"")
        assert resp.header("etag") == stored_etag
        assert resp.header("cache-control") == "max-age=600"
        assert resp.header("content-type") is None
        assert resp.header("date") is None  # the server's goes out
    else:
        assert (resp.status, resp.body) == (200, b"payload")


def test_4_3_2_if_modified_since_on_a_hit(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    now = time.time()
    last_modified = now - 3000
    origin.on(
        "/lm", reply(("cache-control", "max-age=600"), ("last-modified", http_date(last_modified)))
    )
    origin.on("/date", reply(("cache-control", "max-age=600"), ("date", http_date(now - 60))))
    client = shared(make_client)
    client.request("GET", "/lm")
    client.request("GET", "/date")
    cases = [
        ("/lm", {"if-modified-since": http_date(last_modified)}, 304),
        ("/lm", {"if-modified-since": http_date(last_modified + 1000)}, 304),
        ("/lm", {"if-modified-since": http_date(last_modified - 1000)}, 200),
        ("/lm", {"if-modified-since": "not a date"}, 200),
        # Without Last-Modified the stored Date stands in (§4.3.2).
        ("/date", {"if-modified-since": http_date(now - 30)}, 304),
        ("/date", {"if-modified-since": http_date(now - 90)}, 200),
        # If-None-Match present: If-Modified-Since is ignored (RFC 9110 §13.1.3).
        ("/lm", {"if-none-match": '"nope"', "if-modified-since": http_date(now)}, 200),
    ]
    for path, headers, expected in cases:
        resp = client.request("GET", path, headers)
        assert is_hit(resp), (path, headers)
        assert resp.status == expected, (path, headers)
    assert origin.count("/lm") == origin.count("/date") == 1


def test_4_3_2_a_client_conditional_on_a_stale_entry_is_answered_after_validation(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    etag = '"v1"'
    origin.on(
        "/r",
        validating(
            etag,
            b"body",
            [("cache-control", "max-age=30, must-revalidate"), ("age", "100")],
            [("cache-control", "max-age=600")],
        ),
    )
    client = shared(make_client)
    client.request("GET", "/r")
    resp = client.request("GET", "/r", {"if-none-match": etag})
    # The cache validated with its own validator, then answered the client's condition.
    assert origin.seen[-1].headers.get("if-none-match") == etag
    assert (resp.status, resp.body) == (304, b"")
    assert ours(resp)["fwd-status"] == 304
    assert client.request("GET", "/r").body == b"body"


# -- §4.4 Invalidation ------------------------------------------------------------------


def _fresh(path: str) -> Reply:
    return reply(("cache-control", "max-age=600"), body=path.encode())


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_4_4_a_successful_unsafe_request_invalidates_its_target(
    origin: Origin, make_client: Callable[..., Client], method: str
) -> None:
    origin.on("/r", _fresh("/r"))
    client = shared(make_client)
    client.request("GET", "/r")
    assert is_hit(client.request("GET", "/r"))
    unsafe = client.request(method, "/r", {"content-type": "text/plain"}, b"change")
    assert ours(unsafe) == {"fwd": "method"}
    after = client.request("GET", "/r")
    assert ours(after) == {"fwd": "uri-miss", "stored": True}
    assert origin.count("/r") == 3


@pytest.mark.parametrize("status", [400, 404, 409, 500, 503])
def test_4_4_an_error_answer_invalidates_nothing(
    origin: Origin, make_client: Callable[..., Client], status: int
) -> None:
    origin.on("/r", _fresh("/r"))
    client = shared(make_client)
    client.request("GET", "/r")
    origin.on("/r", lambda seen: _fresh("/r") if seen.method == "GET" else reply(status=status))
    assert client.request("POST", "/r", {}, b"x").status == status
    assert is_hit(client.request("GET", "/r"))


def test_4_4_location_and_content_location_on_the_same_host_are_invalidated(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    paths = ["/target", "/a", "/b", "/c", "/other-host", "/other-scheme"]
    for path in paths:
        origin.on(path, _fresh(path))

    def writes(seen: Seen) -> Reply:
        return reply(
            ("location", "a"),  # relative to /target
            ("content-location", "http://TestServer:80/b"),
            status=201,
        )

    def writes_more(seen: Seen) -> Reply:
        return reply(
            ("location", "//elsewhere.example/other-host"),
            ("content-location", "https://testserver/other-scheme"),
            status=200,
        )

    client = shared(make_client, invalidate_location=True)
    for path in paths:
        client.request("GET", path)
    origin.handlers["/target"] = lambda s: writes(s) if s.method == "POST" else _fresh("/target")
    origin.handlers["/c"] = lambda s: writes_more(s) if s.method == "PUT" else _fresh("/c")
    client.request("POST", "/target", {}, b"x")
    client.request("PUT", "/c", {}, b"y")
    hits = {path: is_hit(client.request("GET", path)) for path in paths}
    assert hits == {
        "/target": False,
        "/a": False,
        "/b": False,
        "/c": False,
        "/other-host": True,
        "/other-scheme": True,
    }


def test_4_4_invalidation_removes_every_variant(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", lambda s: _by_language(s) if s.method == "GET" else reply(status=204, body=b""))
    client = shared(make_client)
    for lang in ("en", "de", "fr"):
        client.request("GET", "/r", {"accept-language": lang})
        assert is_hit(client.request("GET", "/r", {"accept-language": lang}))
    client.request("DELETE", "/r")
    for lang in ("en", "de", "fr"):
        assert not is_hit(client.request("GET", "/r", {"accept-language": lang})), lang


def test_4_4_safe_methods_invalidate_nothing(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _fresh("/r"))
    client = shared(make_client)
    client.request("GET", "/r")
    client.request("OPTIONS", "/r")
    client.request("HEAD", "/r")
    assert is_hit(client.request("GET", "/r"))
    assert origin.count("/r") == 2  # GET and OPTIONS; HEAD was a hit


# -- §5.2.1 Request directives -----------------------------------------------------------

REQ = {"honor_request_cache_control": True}


def test_5_2_1_1_request_max_age(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600"), ("age", "50")))
    client = shared(make_client, **REQ)
    client.request("GET", "/r")
    assert is_hit(client.request("GET", "/r", {"cache-control": "max-age=100"}))
    too_old = client.request("GET", "/r", {"cache-control": "max-age=30"})
    assert ours(too_old) == {"fwd": "request", "stored": True}
    assert not is_hit(client.request("GET", "/r", {"cache-control": "max-age=0"}))
    assert origin.count("/r") == 3


def test_5_2_1_2_request_max_stale(origin: Origin, make_client: Callable[..., Client]) -> None:
    # Stale by about 99 s, kept for its stale-if-error window.
    origin.on("/r", reply(("cache-control", "max-age=1, stale-if-error=600"), ("age", "100")))
    client = shared(make_client, **REQ)
    assert stored(client.request("GET", "/r"))
    for value in ("max-stale=200", "max-stale"):
        resp = client.request("GET", "/r", {"cache-control": value})
        assert is_hit(resp), value
        assert ours(resp)["detail"] == "max-stale"
        assert ours(resp)["ttl"] < 0
    assert not is_hit(client.request("GET", "/r", {"cache-control": "max-stale=10"}))
    assert origin.count("/r") == 2


def test_5_2_1_2_max_stale_never_overrides_must_revalidate(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on(
        "/r",
        reply(("cache-control", "max-age=30, must-revalidate"), ("age", "100"), ("etag", '"e"')),
    )
    client = shared(make_client, **REQ)
    client.request("GET", "/r")
    assert not is_hit(client.request("GET", "/r", {"cache-control": "max-stale"}))


def test_5_2_1_3_request_min_fresh(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600"), ("age", "50")))
    client = shared(make_client, **REQ)
    client.request("GET", "/r")
    assert is_hit(client.request("GET", "/r", {"cache-control": "min-fresh=100"}))
    resp = client.request("GET", "/r", {"cache-control": "min-fresh=1000"})
    assert ours(resp)["fwd"] == "request"
    assert origin.count("/r") == 2


@pytest.mark.parametrize(
    "headers", [{"cache-control": "no-cache"}, {"pragma": "no-cache"}], ids=["cc", "pragma"]
)
def test_5_2_1_4_request_no_cache_validates_or_refetches(
    origin: Origin, make_client: Callable[..., Client], headers: dict[str, str]
) -> None:
    origin.on(
        "/validated",
        validating('"v1"', b"body", [("cache-control", "max-age=600")], [("x-checked", "1")]),
    )
    origin.on("/plain", reply(("cache-control", "max-age=600")))
    client = shared(make_client, **REQ)
    client.request("GET", "/validated")
    client.request("GET", "/plain")
    validated = client.request("GET", "/validated", headers)
    assert origin.seen[-1].headers.get("if-none-match") == '"v1"'
    assert (validated.status, validated.body, validated.header("x-checked")) == (200, b"body", "1")
    assert ours(validated)["fwd"] == "request"
    assert ours(validated)["fwd-status"] == 304
    plain = client.request("GET", "/plain", headers)
    assert "if-none-match" not in origin.seen[-1].headers
    assert ours(plain)["fwd"] == "request"
    assert origin.count("/validated") == origin.count("/plain") == 2


def test_5_4_pragma_is_ignored_when_cache_control_is_present(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600")))
    client = shared(make_client, **REQ)
    client.request("GET", "/r")
    headers = {"pragma": "no-cache", "cache-control": "max-stale=5"}
    assert is_hit(client.request("GET", "/r", headers))


def test_5_2_1_5_request_no_store(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600")))
    client = shared(make_client, **REQ)
    first = client.request("GET", "/r", {"cache-control": "no-store"})
    assert ours(first) == {"fwd": "uri-miss", "detail": "request-no-store"}
    assert not is_hit(client.request("GET", "/r"))  # nothing was stored
    # no-store forbids storing, not reusing what is already there.
    assert is_hit(client.request("GET", "/r", {"cache-control": "no-store"}))
    assert origin.count("/r") == 2


def test_5_2_1_7_only_if_cached(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600")))
    origin.on(
        "/stale",
        reply(("cache-control", "max-age=30, must-revalidate"), ("age", "100"), ("etag", '"s"')),
    )
    client = shared(make_client, **REQ)
    oic = {"cache-control": "only-if-cached"}
    empty = client.request("GET", "/r", oic)
    assert empty.status == 504
    assert ours(empty)["detail"] == "only-if-cached"
    assert origin.count("/r") == 0
    client.request("GET", "/r")
    assert is_hit(client.request("GET", "/r", oic))
    client.request("GET", "/stale")
    assert client.request("GET", "/stale", oic).status == 504
    assert origin.count("/r") == origin.count("/stale") == 1


def test_5_2_1_request_directives_are_ignored_unless_enabled(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600")))
    client = shared(make_client)  # honor_request_cache_control=False (the default)
    first = client.request("GET", "/r", {"cache-control": "no-store"})
    assert stored(first)
    for value in ("no-cache", "max-age=0", "min-fresh=100000", "no-store", "only-if-cached"):
        assert is_hit(client.request("GET", "/r", {"cache-control": value})), value
    assert is_hit(client.request("GET", "/r", {"pragma": "no-cache"}))
    origin.on("/empty", reply(("cache-control", "max-age=600")))
    resp = client.request("GET", "/empty", {"cache-control": "only-if-cached"})
    assert resp.status == 200
    assert origin.count("/r") == origin.count("/empty") == 1


# -- HEAD and Date --------------------------------------------------------------------


def test_4_head_is_answered_from_the_get_entry(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600"), body=b"0123456789"))
    client = shared(make_client)
    head_miss = client.request("HEAD", "/r")
    assert ours(head_miss) == {"fwd": "uri-miss", "detail": "head"}
    assert [s.method for s in origin.seen] == ["HEAD"]
    client.request("GET", "/r")
    head = client.request("HEAD", "/r")
    assert is_hit(head)
    assert (head.status, head.body, head.header("content-length")) == (200, b"", "10")
    assert [s.method for s in origin.seen] == ["HEAD", "GET"]


def test_rfc9110_6_6_1_the_cache_sends_no_date_of_its_own(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # Date is a singleton field and servers add their own (uvicorn always, gunicorn in
    # place of the app's): routecache adds none and never replays the stored one, so
    # exactly one Date goes out under a real server (tests/bounded/test_one_date.py).
    origin.on("/r", reply(("cache-control", "max-age=600")))
    client = shared(make_client)
    miss = client.request("GET", "/r")
    assert miss.all("date") == []
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert hit.all("date") == []
    origin.on("/nostore", reply(("cache-control", "no-store")))
    assert client.request("GET", "/nostore").all("date") == []
    # The app's own Date passes through a miss; the hit's comes from the server.
    date = http_date(time.time() - 30)
    origin.on("/dated", reply(("cache-control", "max-age=600"), ("date", date)))
    assert client.request("GET", "/dated").all("date") == [date]
    dated_hit = client.request("GET", "/dated")
    assert is_hit(dated_hit)
    assert dated_hit.all("date") == []
    assert age(dated_hit) >= 30  # the stored Date still ages the entry
