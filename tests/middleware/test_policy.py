"""The sans-I/O policy: plan, judge, on_response, serve, freshen, invalidation.

Section numbers cite RFC 9111 unless they name another RFC. Every clock is fixed.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routecache.middleware.cache_control import DELTA_MAX
from routecache.middleware.entry import (
    FLAG_GENERATED_ETAG,
    FLAG_MUST_REVALIDATE,
    FLAG_NO_CACHE,
    FLAG_SHARED_AUTH,
    Entry,
    decode_entry,
    encode_entry,
)
from routecache.middleware.errors import ConfigurationError
from routecache.middleware.headers import format_http_date, parse_http_date
from routecache.middleware.keys import variant_hash
from routecache.middleware.policy import Action, CachePolicy, RequestPlan, VerdictKind
from routecache.middleware.rules import Rule
from tests.middleware._support import (
    NOW,
    all_headers,
    facts,
    hdrs,
    header,
    policy,
    respond,
    store,
)

ITEMS = Rule("/items/{id}", ttl=60, tags=["item:{id}"])
DATE = format_http_date(NOW)


def lookup(pol: CachePolicy, **kw: object) -> RequestPlan:
    plan = pol.plan(facts(**kw))  # type: ignore[arg-type]
    assert plan.action == Action.LOOKUP, plan
    return plan


def entry(**overrides: object) -> Entry:
    fields: dict[str, object] = {
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"date", DATE.encode())],
        "body": b"hello",
        "stored_at": NOW,
        "fresh_for": 60.0,
    }
    fields.update(overrides)
    return Entry(**fields)  # type: ignore[arg-type]


# == 1. plan ===============================================================================


def test_plan_lookup_for_a_rule() -> None:
    pol = policy(ITEMS)
    plan = pol.plan(facts("/items/7"))
    assert plan.action == Action.LOOKUP
    assert plan.rule is ITEMS
    assert plan.match is not None
    assert plan.match.params == {"id": "7"}
    assert plan.key is not None
    assert plan.key.path == "/items/7"
    assert plan.store_ok
    assert not plan.head
    assert not plan.authorized
    assert plan.request_cc is None  # request directives ignored by default


@pytest.mark.parametrize(
    ("kw", "fwd", "detail", "member"),
    [
        ({"path": "/other"}, "bypass", "no-rule", "routecache; fwd=bypass; detail=no-rule"),
        ({"has_body": True}, "bypass", "body", "routecache; fwd=bypass; detail=body"),
        (
            {"headers": {"cookie": "sessionid=abc"}},
            "bypass",
            "cookie",
            "routecache; fwd=bypass; detail=cookie",
        ),
        (
            {"headers": {"cookie": "_ga=1; sessionid=abc"}},
            "bypass",
            "cookie",
            "routecache; fwd=bypass; detail=cookie",
        ),
    ],
)
def test_plan_bypass_reasons_and_their_cache_status(
    kw: dict[str, object], fwd: str, detail: str, member: str
) -> None:
    pol = policy(ITEMS)
    plan = pol.plan(facts(**kw))  # type: ignore[arg-type]
    assert plan.action == Action.BYPASS
    assert (plan.fwd, plan.detail) == (fwd, detail)
    assert plan.fwd is not None
    assert pol.forward_member(plan.fwd, plan.detail).decode() == member
    out = pol.forwarded_headers(hdrs(content_type="text/html"), pol.forward_member(fwd, detail))
    assert header(out, "cache-status") == member
    assert header(out, "content-type") == "text/html"


def test_plan_method_not_covered_by_the_rule() -> None:
    pol = policy(Rule("/items/{id}", ttl=60, methods=["HEAD"]))
    plan = pol.plan(facts("/items/1"))
    assert plan.action == Action.BYPASS
    assert plan.fwd == "method"
    assert pol.forward_member("method").decode() == "routecache; fwd=method"


def test_plan_safe_request_uses_the_first_rule_that_applies_to_its_method() -> None:
    # An invalidation-only rule listed first does not stop a caching rule for GET.
    put_rule = Rule("/items/{id}", methods=["PUT"], invalidates=["/items"])
    pol = policy(put_rule, ITEMS)
    plan = pol.plan(facts("/items/1"))
    assert plan.action == Action.LOOKUP
    assert plan.rule is ITEMS
    assert pol.plan(facts("/items/1", method="PUT")).action == Action.INVALIDATE


@pytest.mark.parametrize(
    "headers",
    [
        {"upgrade": "websocket", "connection": "upgrade"},
        {"accept": "text/event-stream"},
    ],
)
def test_plan_passes_upgrades_and_event_streams_untouched(headers: dict[str, str]) -> None:
    pol = policy(ITEMS, honor_cache_control=True)
    assert pol.plan(facts("/items/1", headers=headers)).action == Action.PASS
    assert pol.plan(facts("/other", headers=headers)).action == Action.PASS


@pytest.mark.parametrize(
    "cookie",
    ["_ga=GA1.2.3; _gid=x", "_ga_ABC=1", "__utma=1; __utmz=2", "_fbp=fb.1", "_hjSession=1", ""],
)
def test_plan_analytics_cookies_do_not_bypass(cookie: str) -> None:
    assert policy(ITEMS).plan(facts(headers={"cookie": cookie})).action == Action.LOOKUP


def test_plan_cookie_modes() -> None:
    same_for_all = policy(Rule("/items/{id}", ttl=60, cookies="ignore"))
    assert same_for_all.plan(facts(headers={"cookie": "sessionid=1"})).action == Action.LOOKUP
    keyed = policy(Rule("/items/{id}", ttl=60, vary_cookies=["lang"]))
    assert keyed.plan(facts(headers={"cookie": "lang=fr; _ga=1"})).action == Action.LOOKUP
    assert keyed.plan(facts(headers={"cookie": "lang=fr; sid=1"})).detail == "cookie"
    own = policy(Rule("/items/{id}", ttl=60, ignore_cookies=["theme"]))
    assert own.plan(facts(headers={"cookie": "theme=dark"})).action == Action.LOOKUP
    assert own.plan(facts(headers={"cookie": "_ga=1"})).detail == "cookie"
    # No rule, honouring the origin: default analytics cookies are ignored.
    honor = policy(honor_cache_control=True)
    assert honor.plan(facts("/x", headers={"cookie": "_ga=1"})).action == Action.LOOKUP
    assert honor.plan(facts("/x", headers={"cookie": "sid=1"})).detail == "cookie"


def test_plan_without_rules_honouring_the_origin() -> None:
    plan = policy(honor_cache_control=True).plan(facts("/anything"))
    assert plan.action == Action.LOOKUP
    assert plan.rule is None


def test_plan_unsafe_methods_invalidate() -> None:
    pol = policy(ITEMS)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        plan = pol.plan(facts("/items/1", method=method, has_body=True))
        assert plan.action == Action.INVALIDATE
        assert plan.fwd == "method"
    assert pol.plan(facts("/nothing", method="POST")).action == Action.INVALIDATE


def test_plan_head_looks_up_the_get_entry_but_is_not_stored() -> None:
    pol = policy(ITEMS)
    head = lookup(pol, method="HEAD")
    get = lookup(pol)
    assert head.key == get.key
    assert head.head
    assert not head.store_ok
    rp = respond(pol, head)
    assert not rp.store
    assert rp.detail == "head"
    assert header(rp.headers, "cache-status") == "routecache; fwd=uri-miss; detail=head"


def test_plan_authorization_is_noted_for_the_lookup() -> None:
    assert lookup(policy(ITEMS), headers={"authorization": "Bearer x"}).authorized


def test_plan_request_directives_only_when_honoured() -> None:
    ignoring = lookup(policy(ITEMS), headers={"cache-control": "no-store"})
    assert ignoring.request_cc is None
    assert ignoring.store_ok
    pol = policy(ITEMS, honor_request_cache_control=True)
    plan = lookup(pol, headers={"cache-control": "no-store"})
    assert plan.request_cc is not None
    assert plan.request_cc.no_store
    assert not plan.store_ok
    rp = respond(pol, plan)
    assert not rp.store
    assert rp.detail == "request-no-store"
    # §5.4: Pragma: no-cache counts only without Cache-Control.
    pragma = lookup(pol, headers={"pragma": "no-cache"})
    assert pragma.request_cc is not None
    assert pragma.request_cc.no_cache
    both = lookup(pol, headers={"pragma": "no-cache", "cache-control": "max-age=5"})
    assert both.request_cc is not None
    assert not both.request_cc.no_cache


def test_policy_options_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="honor_cache_control"):
        CachePolicy(honor_cache_control=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="default_ttl"):
        CachePolicy(default_ttl=-1)
    with pytest.raises(ConfigurationError, match="default_ttl"):
        CachePolicy(default_ttl=float("inf"))
    with pytest.raises(ConfigurationError, match="default_ttl"):
        CachePolicy(default_ttl=float("nan"))
    with pytest.raises(ConfigurationError, match="cache_name"):
        CachePolicy(cache_name="my cache")
    with pytest.raises(ConfigurationError, match="tag_header"):
        CachePolicy(tag_header="")
    with pytest.raises(ConfigurationError, match="max_body_size"):
        CachePolicy(max_body_size=-1)
    with pytest.raises(ConfigurationError, match=r"rules\[0\]"):
        CachePolicy([{"path": "/x", "ttl": -1}])


# == 2. judge ==============================================================================


def test_judge_nothing_stored_is_a_uri_miss_or_vary_miss() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    assert (pol.judge(plan, None, NOW).kind, pol.judge(plan, None, NOW).fwd) == (
        VerdictKind.FORWARD,
        "uri-miss",
    )
    assert pol.judge(plan, None, NOW, variant=True).fwd == "vary-miss"


def test_judge_fresh_then_stale() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    e = entry(fresh_for=60.0)
    assert pol.judge(plan, e, NOW).kind == VerdictKind.FRESH
    assert pol.judge(plan, e, NOW + 59.9).kind == VerdictKind.FRESH
    stale = pol.judge(plan, e, NOW + 60)
    assert stale.kind == VerdictKind.FORWARD
    assert stale.fwd == "stale"
    assert stale.entry is e
    assert not stale.stale_ok


def test_judge_counts_initial_age() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    e = entry(fresh_for=60.0, initial_age=50.0)
    assert pol.judge(plan, e, NOW + 9).kind == VerdictKind.FRESH
    assert pol.judge(plan, e, NOW + 10).kind == VerdictKind.FORWARD


def test_judge_refresh_ahead() -> None:
    pol = policy(Rule("/items/{id}", ttl=60, refresh_ahead=0.75))
    plan = lookup(pol)
    e = entry(fresh_for=100.0)
    assert pol.judge(plan, e, NOW + 74).kind == VerdictKind.FRESH
    late = pol.judge(plan, e, NOW + 75)
    assert late.kind == VerdictKind.REFRESH_AHEAD
    assert late.detail == "refresh-ahead"
    assert pol.judge(plan, e, NOW + 100).kind == VerdictKind.FORWARD


def test_judge_stale_while_revalidate_window() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    e = entry(fresh_for=60.0, swr=30.0)
    swr = pol.judge(plan, e, NOW + 80)
    assert swr.kind == VerdictKind.STALE_WHILE_REVALIDATE
    assert swr.detail == "stale-while-revalidate"
    assert pol.judge(plan, e, NOW + 90).kind == VerdictKind.STALE_WHILE_REVALIDATE
    assert pol.judge(plan, e, NOW + 91).kind == VerdictKind.FORWARD


def test_judge_revalidates_stale_entries_with_validators() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    lm = "Sat, 01 Jan 2022 00:00:00 GMT"
    e = entry(
        headers=[(b"etag", b'"v1"'), (b"last-modified", lm.encode())],
        etag=b'"v1"',
    )
    verdict = pol.judge(plan, e, NOW + 61)
    assert verdict.kind == VerdictKind.REVALIDATE
    assert verdict.fwd == "stale"
    assert pol.conditional_headers(e) == [
        (b"if-none-match", b'"v1"'),
        (b"if-modified-since", lm.encode()),
    ]
    # A generated ETag means nothing to the app: never sent as a validator.
    generated = entry(etag=b'"gen"', flags=FLAG_GENERATED_ETAG, headers=[(b"etag", b'"gen"')])
    assert pol.conditional_headers(generated) == []
    assert pol.judge(plan, generated, NOW + 61).kind == VerdictKind.FORWARD


def test_judge_stale_if_error_window() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    e = entry(fresh_for=60.0, sie=100.0)
    within = pol.judge(plan, e, NOW + 150)
    assert within.kind == VerdictKind.FORWARD
    assert within.stale_ok
    assert within.entry is e
    beyond = pol.judge(plan, e, NOW + 161)
    assert not beyond.stale_ok
    assert not pol.judge(plan, e, NOW + 10).stale_ok  # fresh: nothing to fall back on


def test_judge_must_revalidate_forbids_stale() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    for flag in (FLAG_MUST_REVALIDATE, FLAG_NO_CACHE):
        e = entry(fresh_for=60.0, swr=100.0, sie=100.0, flags=flag)
        verdict = pol.judge(plan, e, NOW + 61)
        assert verdict.kind == VerdictKind.FORWARD
        assert not verdict.stale_ok


def test_judge_no_cache_entry_is_always_revalidated() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    e = entry(flags=FLAG_NO_CACHE, etag=b'"x"', headers=[(b"etag", b'"x"')])
    assert pol.judge(plan, e, NOW).kind == VerdictKind.REVALIDATE


def test_judge_authorization_needs_an_explicitly_shared_entry() -> None:
    # §3.5
    pol = policy(ITEMS)
    plan = lookup(pol, headers={"authorization": "Basic eDp5"})
    private = pol.judge(plan, entry(), NOW)
    assert private.kind == VerdictKind.FORWARD
    assert (private.fwd, private.detail) == ("bypass", "authorization")
    shared = pol.judge(plan, entry(flags=FLAG_SHARED_AUTH), NOW)
    assert shared.kind == VerdictKind.FRESH


def test_judge_vary_match_need_variant_and_vary_miss() -> None:
    pol = policy(ITEMS)
    gzip = lookup(pol, headers={"accept-encoding": "gzip"})
    br = lookup(pol, headers={"accept-encoding": "br"})
    e = entry(vary=[("accept-encoding", "gzip")])
    assert pol.judge(gzip, e, NOW).kind == VerdictKind.FRESH
    need = pol.judge(br, e, NOW)
    assert need.kind == VerdictKind.NEED_VARIANT
    assert need.variant == variant_hash(["accept-encoding"], {"accept-encoding": "br"})
    # The secondary key held a variant for other request values: a vary miss.
    miss = pol.judge(br, e, NOW, variant=True)
    assert (miss.kind, miss.fwd) == (VerdictKind.FORWARD, "vary-miss")
    # Values are compared exactly (an app may read them byte for byte): no normalisation.
    spaced = lookup(pol, headers={"accept-encoding": "gzip, br"})
    assert pol.judge(spaced, e, NOW).kind == VerdictKind.NEED_VARIANT
    assert pol.judge(lookup(pol, headers={"accept-encoding": ", gzip"}), e, NOW).kind == (
        VerdictKind.NEED_VARIANT
    )
    absent = entry(vary=[("accept-encoding", None)])
    assert pol.judge(lookup(pol), absent, NOW).kind == VerdictKind.FRESH
    assert pol.judge(lookup(pol, headers={"accept-encoding": ""}), absent, NOW).kind == (
        VerdictKind.NEED_VARIANT
    )


def _honouring() -> CachePolicy:
    return policy(ITEMS, honor_request_cache_control=True)


def test_request_directives_are_ignored_unless_honoured() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol, headers={"cache-control": "no-cache, max-age=0, only-if-cached"})
    assert pol.judge(plan, entry(), NOW + 30).kind == VerdictKind.FRESH
    assert pol.judge(plan, None, NOW).kind == VerdictKind.FORWARD


def test_request_max_age() -> None:
    pol = _honouring()
    plan = lookup(pol, headers={"cache-control": "max-age=10"})
    assert pol.judge(plan, entry(), NOW + 10).kind == VerdictKind.FRESH
    too_old = pol.judge(plan, entry(), NOW + 11)
    assert too_old.kind == VerdictKind.FORWARD
    # RFC 9211 §2.2: fresh, but the request's directives did not allow its use.
    assert too_old.fwd == "request"
    zero = lookup(pol, headers={"cache-control": "max-age=0"})
    assert pol.judge(zero, entry(), NOW + 1).kind == VerdictKind.FORWARD


def test_request_min_fresh() -> None:
    pol = _honouring()
    plan = lookup(pol, headers={"cache-control": "min-fresh=20"})
    assert pol.judge(plan, entry(fresh_for=60), NOW + 40).kind == VerdictKind.FRESH
    assert pol.judge(plan, entry(fresh_for=60), NOW + 41).kind == VerdictKind.FORWARD


def test_request_max_stale() -> None:
    pol = _honouring()
    plan = lookup(pol, headers={"cache-control": "max-stale=30"})
    served = pol.judge(plan, entry(fresh_for=60), NOW + 90)
    assert served.kind == VerdictKind.FRESH
    assert served.detail == "max-stale"
    assert pol.judge(plan, entry(fresh_for=60), NOW + 91).kind == VerdictKind.FORWARD
    any_stale = lookup(pol, headers={"cache-control": "max-stale"})
    assert pol.judge(any_stale, entry(fresh_for=60), NOW + 10_000).kind == VerdictKind.FRESH
    # must-revalidate (§5.2.2.2) wins over the client's tolerance.
    strict = entry(fresh_for=60, flags=FLAG_MUST_REVALIDATE)
    assert pol.judge(any_stale, strict, NOW + 61).kind == VerdictKind.FORWARD
    invalid = lookup(pol, headers={"cache-control": "max-stale=abc"})
    assert pol.judge(invalid, entry(fresh_for=60), NOW + 61).kind == VerdictKind.FORWARD


def test_request_max_age_bounds_age_even_with_max_stale() -> None:
    # §5.2.1.1: max-age limits the age; max-stale only tolerates exceeding freshness.
    pol = _honouring()
    plan = lookup(pol, headers={"cache-control": "max-age=5, max-stale=100"})
    assert pol.judge(plan, entry(fresh_for=60), NOW + 10).kind == VerdictKind.FORWARD
    young_but_stale = entry(fresh_for=2)
    assert pol.judge(plan, young_but_stale, NOW + 4).kind == VerdictKind.FRESH
    min_fresh = lookup(pol, headers={"cache-control": "min-fresh=50, max-stale"})
    assert pol.judge(min_fresh, entry(fresh_for=60), NOW + 20).kind == VerdictKind.FORWARD


def test_request_no_cache_forces_validation() -> None:
    pol = _honouring()
    plan = lookup(pol, headers={"cache-control": "no-cache"})
    validated = entry(etag=b'"x"', headers=[(b"etag", b'"x"')])
    verdict = pol.judge(plan, validated, NOW)
    assert (verdict.kind, verdict.fwd) == (VerdictKind.REVALIDATE, "request")
    verdict = pol.judge(plan, entry(), NOW)
    assert (verdict.kind, verdict.fwd) == (VerdictKind.FORWARD, "request")


def test_request_only_if_cached() -> None:
    pol = _honouring()
    plan = lookup(pol, headers={"cache-control": "only-if-cached"})
    assert pol.judge(plan, None, NOW).kind == VerdictKind.GATEWAY_TIMEOUT
    assert pol.judge(plan, entry(), NOW).kind == VerdictKind.FRESH
    assert pol.judge(plan, entry(), NOW + 61).kind == VerdictKind.GATEWAY_TIMEOUT
    assert pol.judge(plan, None, NOW, variant=True).kind == VerdictKind.GATEWAY_TIMEOUT
    varied = entry(vary=[("accept", "a")])
    other = lookup(pol, headers={"cache-control": "only-if-cached", "accept": "b"})
    assert pol.judge(other, varied, NOW, variant=True).kind == VerdictKind.GATEWAY_TIMEOUT
    both = lookup(pol, headers={"cache-control": "only-if-cached, no-cache"})
    assert pol.judge(both, entry(), NOW).kind == VerdictKind.GATEWAY_TIMEOUT
    served = pol.gateway_timeout(plan)
    assert served.status == 504
    assert served.body == b""
    assert header(served.headers, "cache-status") == ("routecache; fwd=miss; detail=only-if-cached")


# == 3. on_response ========================================================================


def test_miss_is_stored_with_cache_status_and_date() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol, path="/items/7")
    rp = respond(pol, plan, 200, hdrs(content_type="text/plain"))
    assert rp.store
    assert rp.detail is None
    assert rp.fresh_for == 60.0
    assert rp.storage_ttl == 60.0
    assert rp.tags == ("item:7",)
    assert header(rp.headers, "cache-status") == "routecache; fwd=uri-miss; stored"
    assert header(rp.headers, "date") is None  # the server adds the one Date line
    e = rp.entry(b"body")
    assert e.status == 200
    assert e.body == b"body"
    assert e.stored_at == NOW
    assert e.tags == ("item:7",)
    assert e.etag is not None
    assert e.flags & FLAG_GENERATED_ETAG
    assert header(e.headers, "etag") == e.etag.decode()
    assert header(e.headers, "date") == DATE


@pytest.mark.parametrize(
    ("status", "stored"),
    [
        (200, True), (203, True), (204, True), (300, True), (301, True), (308, True),
        (404, True), (405, True), (410, True), (414, True), (501, True),
        (201, False), (302, False), (307, False), (400, False), (403, False),
        (500, False), (502, False), (503, False),
    ],
)  # fmt: skip
def test_default_cacheable_statuses(status: int, stored: bool) -> None:
    pol = policy(ITEMS)
    rp = respond(pol, lookup(pol), status)
    assert rp.store is stored
    if not stored:
        assert rp.detail == "status"


def test_rule_cache_statuses_restrict_and_extend() -> None:
    pol = policy(Rule("/items/{id}", ttl=60, cache_statuses=[200, 302]))
    assert not respond(pol, lookup(pol), 404).store
    assert respond(pol, lookup(pol), 302).store


def test_without_a_rule_only_explicitly_fresh_or_public_is_stored() -> None:
    pol = policy(honor_cache_control=True)
    plan = lookup(pol, path="/x")
    assert respond(pol, plan, 200, hdrs(cache_control="max-age=30")).fresh_for == 30.0
    assert respond(pol, plan, 200, hdrs()).detail == "no-freshness"
    assert respond(pol, plan, 302, hdrs()).detail == "status"
    assert respond(pol, plan, 302, hdrs(cache_control="max-age=30")).store
    with_default = policy(honor_cache_control=True, default_ttl=15)
    rp = respond(with_default, lookup(with_default, path="/x"), 200, hdrs(cache_control="public"))
    assert rp.store
    assert rp.fresh_for == 15.0
    # default_ttl alone does not make a silent response cacheable without a rule
    assert respond(with_default, lookup(with_default, path="/x"), 200, hdrs()).detail == (
        "no-freshness"
    )


def test_rule_without_ttl_uses_default_ttl_or_needs_explicit_freshness() -> None:
    bare = policy(Rule("/items/{id}"))
    assert respond(bare, lookup(bare)).detail == "no-freshness"
    assert respond(bare, lookup(bare), 200, hdrs(cache_control="max-age=9")).fresh_for == 9.0
    dflt = policy(Rule("/items/{id}"), default_ttl=42)
    assert respond(dflt, lookup(dflt)).fresh_for == 42.0


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        (hdrs(set_cookie="sid=1"), "set-cookie"),
        (hdrs(cache_control="private"), "private"),
        (hdrs(cache_control="no-store"), "no-store"),
        (hdrs(cache_control="public, no-store"), "no-store"),
        (hdrs(cache_control='private="x", private'), "private"),
        (hdrs(vary="*"), "vary-star"),
        (hdrs(vary="accept, *"), "vary-star"),
        (hdrs(cache_control="max-age=0"), "stale"),
        (hdrs(cache_control="max-age=abc"), "stale"),
        (hdrs(expires="0"), "stale"),
        (hdrs(cache_control="no-cache"), "no-cache"),
    ],
)
def test_not_storable(headers: list[tuple[bytes, bytes]], detail: str) -> None:
    pol = policy(ITEMS)
    rp = respond(pol, lookup(pol), 200, headers)
    assert not rp.store
    assert rp.detail == detail
    assert header(rp.headers, "cache-status") == f"routecache; fwd=uri-miss; detail={detail}"


def test_partial_content_is_never_stored() -> None:
    pol = policy(Rule("/items/{id}", ttl=60, cache_statuses=[200, 206]))
    rp = respond(pol, lookup(pol), 206, hdrs(content_range="bytes 0-1/10"))
    assert (rp.store, rp.detail) == (False, "partial")


def test_private_with_field_names_stores_without_those_fields() -> None:
    pol = policy(ITEMS)
    rp = respond(
        pol,
        lookup(pol),
        200,
        hdrs(cache_control='private="Set-Cookie, X-Secret"', set_cookie="sid=1", x_secret="s")
        + hdrs(x_public="p"),
    )
    assert rp.store
    stored = rp.entry(b"x").headers
    assert header(stored, "set-cookie") is None
    assert header(stored, "x-secret") is None
    assert header(stored, "x-public") == "p"
    # The client that caused the response still gets every field.
    assert header(rp.headers, "set-cookie") == "sid=1"
    assert header(rp.headers, "x-secret") == "s"


def test_event_stream_response_passes_through_untouched() -> None:
    pol = policy(ITEMS)
    original = hdrs(content_type="text/event-stream; charset=utf-8")
    rp = respond(pol, lookup(pol), 200, original)
    assert rp.passthrough
    assert not rp.store
    assert rp.headers == original


@pytest.mark.parametrize(
    ("headers", "fresh_for"),
    [
        (
            hdrs(cache_control="s-maxage=10, max-age=20", expires="Thu, 01 Jan 2099 00:00:00 GMT"),
            10.0,
        ),
        (hdrs(cache_control="max-age=20", expires="Thu, 01 Jan 2099 00:00:00 GMT"), 20.0),
        (hdrs(date=DATE, expires=format_http_date(NOW + 30)), 30.0),
        (hdrs(cache_control="s-maxage=0, max-age=20"), None),  # s-maxage=0 wins: stale
        (hdrs(cache_control=f"max-age={10**20}"), float(DELTA_MAX)),
        (hdrs(), 60.0),  # the rule's ttl where the response says nothing
        (hdrs(cache_control="public"), 60.0),
    ],
)
def test_freshness_precedence(headers: list[tuple[bytes, bytes]], fresh_for: float | None) -> None:
    pol = policy(ITEMS)
    rp = respond(pol, lookup(pol), 200, headers)
    if fresh_for is None:
        assert not rp.store
    else:
        assert rp.store
        assert rp.fresh_for == fresh_for


def test_expires_is_relative_to_date_not_to_our_clock() -> None:
    pol = policy(ITEMS)
    origin_date = format_http_date(NOW - 10)
    rp = respond(
        pol, lookup(pol), 200, hdrs(date=origin_date, expires=format_http_date(NOW - 10 + 100))
    )
    assert rp.store
    assert rp.fresh_for == 100.0
    # ...and the apparent age (our clock minus Date) ages it.
    assert rp.initial_age == 10.0
    assert rp.storage_ttl == 90.0
    old = respond(
        pol,
        lookup(pol),
        200,
        hdrs(date=format_http_date(NOW - 1000), expires=format_http_date(NOW - 900)),
    )
    assert (old.store, old.detail) == (False, "stale")
    two = respond(
        pol,
        lookup(pol),
        200,
        hdrs(expires=format_http_date(NOW + 50)) + hdrs(expires=format_http_date(NOW + 50)),
    )
    assert not two.store  # two Expires lines are invalid: stale


def test_override_makes_the_rule_win() -> None:
    pol = policy(Rule("/items/{id}", ttl=60, override=True))
    for cc in ("max-age=0", "s-maxage=5", "max-age=999"):
        rp = respond(pol, lookup(pol), 200, hdrs(cache_control=cc))
        assert rp.store
        assert rp.fresh_for == 60.0
    # override does not make forbidden responses storable
    assert not respond(pol, lookup(pol), 200, hdrs(cache_control="no-store")).store


def test_jitter_spreads_rule_ttls_within_bounds() -> None:
    pol = policy(Rule("/items/{id}", ttl=100, jitter=0.2))
    plan = lookup(pol)
    values = [respond(pol, plan).fresh_for for _ in range(300)]
    assert all(80.0 <= v <= 120.0 for v in values)
    assert max(values) - min(values) > 10  # actually spread
    assert min(values) < 95
    assert max(values) > 105
    # Explicit freshness from the app is never jittered.
    assert {
        respond(pol, plan, 200, hdrs(cache_control="max-age=50")).fresh_for for _ in range(20)
    } == {50.0}


def test_no_cache_with_a_validator_is_stored_and_revalidated() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    rp = respond(pol, plan, 200, hdrs(cache_control="no-cache", etag='"v1"'))
    assert rp.store
    assert rp.flags & FLAG_NO_CACHE
    assert rp.storage_ttl >= 60.0
    e = rp.entry(b"x")
    assert e.etag == b'"v1"'
    assert not e.flags & FLAG_GENERATED_ETAG
    assert pol.judge(plan, e, NOW + 1).kind == VerdictKind.REVALIDATE
    lm = respond(pol, plan, 200, hdrs(cache_control="no-cache", last_modified=DATE))
    assert lm.store
    # max-age=0 with must-revalidate and a validator: stored, revalidated on every use
    mr = respond(pol, plan, 200, hdrs(cache_control="max-age=0, must-revalidate", etag='"v"'))
    assert mr.store
    assert pol.judge(plan, mr.entry(b""), NOW).kind == VerdictKind.REVALIDATE


def test_authorization_responses_are_stored_only_when_explicitly_shared() -> None:
    # §3.5
    pol = policy(ITEMS)
    plan = lookup(pol, headers={"authorization": "Bearer t"})
    assert respond(pol, plan, 200, hdrs()).detail == "authorization"
    assert respond(pol, plan, 200, hdrs(cache_control="max-age=60")).detail == "authorization"
    for cc in ("public", "s-maxage=60", "must-revalidate, max-age=60"):
        rp = respond(pol, plan, 200, hdrs(cache_control=cc))
        assert rp.store, cc
        assert rp.flags & FLAG_SHARED_AUTH
    plain = respond(pol, lookup(pol), 200, hdrs())
    assert not plain.flags & FLAG_SHARED_AUTH


def test_stale_windows_from_response_or_rule_never_with_must_revalidate() -> None:
    pol = policy(Rule("/items/{id}", ttl=60, stale_while_revalidate=5, stale_if_error=7))
    plan = lookup(pol)
    rule_given = respond(pol, plan)
    assert (rule_given.swr, rule_given.sie) == (5.0, 7.0)
    assert rule_given.storage_ttl == 67.0
    origin = respond(
        pol,
        plan,
        200,
        hdrs(cache_control="max-age=10, stale-while-revalidate=20, stale-if-error=30"),
    )
    assert (origin.swr, origin.sie, origin.storage_ttl) == (20.0, 30.0, 40.0)
    for cc in ("max-age=10, must-revalidate", "s-maxage=10", "max-age=10, proxy-revalidate"):
        strict = respond(pol, plan, 200, hdrs(cache_control=cc, etag='"e"'))
        assert (strict.swr, strict.sie) == (0.0, 0.0), cc
        assert strict.flags & FLAG_MUST_REVALIDATE


def test_stored_headers_drop_hop_by_hop_and_recomputed_fields() -> None:
    pol = policy(ITEMS, tag_header="x-tags")
    rp = respond(
        pol,
        lookup(pol),
        200,
        hdrs(
            content_type="text/plain",
            connection="x-conn-only",
            x_conn_only="1",
            keep_alive="timeout=5",
            transfer_encoding="chunked",
            age="3",
            content_length="5",
            cache_status="upstream; hit",
            x_tags="a, b",
            x_kept="k",
        ),
    )
    assert rp.store
    stored = {k.decode() for k, _ in rp.entry(b"hello").headers}
    assert {"content-type", "x-kept", "date", "etag"} <= stored
    assert stored.isdisjoint(
        {"connection", "x-conn-only", "keep-alive", "transfer-encoding", "age",
         "content-length", "cache-status", "x-tags"}
    )  # fmt: skip
    assert rp.tags == ("item:1", "a", "b")
    # The tag header is for routecache only: stripped from what the client gets.
    assert header(rp.headers, "x-tags") is None
    exposed = policy(ITEMS, tag_header="x-tags", expose_tag_header=True)
    assert header(respond(exposed, lookup(exposed), 200, hdrs(x_tags="a")).headers, "x-tags") == "a"


def test_vary_learned_from_the_response_keeps_request_values() -> None:
    pol = policy(Rule("/items/{id}", ttl=60, vary=["accept-language"]))
    plan = lookup(pol, headers={"accept-encoding": "gzip", "accept-language": "en"})
    rp = respond(pol, plan, 200, hdrs(vary="Accept-Encoding, Accept-Language, X-Absent"))
    # Rule-declared vary is in the primary key already; the rest are secondary.
    assert rp.vary == (("accept-encoding", "gzip"), ("x-absent", None))


def test_initial_age_from_age_header_and_response_delay() -> None:
    # §4.2.3: corrected_initial_age = max(apparent_age, age_value + response_delay)
    pol = policy(ITEMS)
    rp = respond(pol, lookup(pol), 200, hdrs(age="10", date=DATE), request_time=NOW - 2)
    assert rp.initial_age == 12.0
    assert rp.storage_ttl == 48.0
    huge = respond(pol, lookup(pol), 200, hdrs(age="9" * 5000))
    assert (huge.store, huge.detail) == (False, "stale")
    junk = respond(pol, lookup(pol), 200, hdrs(age="ten"))
    assert junk.store
    assert junk.initial_age == 0.0


def test_freshness_minus_age_must_leave_something() -> None:
    pol = policy(ITEMS)
    rp = respond(pol, lookup(pol), 200, hdrs(cache_control="max-age=10", age="10"))
    assert (rp.store, rp.detail) == (False, "stale")


# == 4. serve ==============================================================================


def test_serve_full_response_with_age_and_cache_status() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    e = entry(initial_age=2.0)
    served = pol.serve(plan, e, NOW + 17.9)
    assert served.status == 200
    assert served.body == b"hello"
    assert header(served.headers, "content-length") == "5"
    assert header(served.headers, "age") == "19"
    assert header(served.headers, "cache-status") == "routecache; hit; ttl=40"
    assert header(served.headers, "content-type") == "text/plain"
    assert len(all_headers(served.headers, "age")) == 1


def test_serve_head_has_no_body() -> None:
    pol = policy(ITEMS)
    served = pol.serve(lookup(pol, method="HEAD"), entry(), NOW)
    assert served.status == 200
    assert served.body == b""
    assert header(served.headers, "content-length") == "5"


def test_upstream_cache_status_is_not_replayed_on_hits() -> None:
    # The upstream member described the original exchange, not this one: it is not
    # stored, so a hit carries routecache's member only.
    pol = policy(ITEMS)
    plan = lookup(pol)
    upstream = hdrs(content_type="text/plain", cache_status="upstream; fwd=uri-miss")
    miss = respond(pol, plan, 200, upstream)
    assert all_headers(miss.headers, "cache-status") == [
        "upstream; fwd=uri-miss, routecache; fwd=uri-miss; stored"
    ]
    served = pol.serve(plan, miss.entry(b"hello"), NOW)
    assert all_headers(served.headers, "cache-status") == ["routecache; hit; ttl=60"]


def test_serve_debug_adds_the_key() -> None:
    pol = policy(ITEMS, debug=True)
    plan = lookup(pol)
    assert plan.key is not None
    status = header(pol.serve(plan, entry(), NOW).headers, "cache-status")
    assert status == f'routecache; hit; ttl=60; key="{plan.key.path_hash}:{plan.key.digest}"'


def _validated_entry(etag: bytes | None = b'"v1"') -> Entry:
    headers = [
        (b"content-type", b"text/plain"),
        (b"date", DATE.encode()),
        (b"cache-control", b"max-age=60"),
        (b"expires", format_http_date(NOW + 60).encode()),
        (b"vary", b"accept-encoding"),
        (b"content-location", b"/items/1.txt"),
        (b"last-modified", b"Sat, 01 Jan 2022 00:00:00 GMT"),
        (b"content-language", b"en"),
        (b"x-custom", b"1"),
    ]
    if etag is not None:
        headers.append((b"etag", etag))
    return entry(headers=headers, etag=etag)


@pytest.mark.parametrize("inm", ['"v1"', 'W/"v1"', '"other", "v1"', "*"])
def test_serve_304_for_matching_if_none_match(inm: str) -> None:
    # RFC 9110 §13.1.2 (weak comparison) and §15.4.5 (the 304's fields).
    pol = policy(ITEMS)
    served = pol.serve(lookup(pol, headers={"if-none-match": inm}), _validated_entry(), NOW + 5)
    assert served.status == 304
    assert served.body == b""
    names = [k.decode() for k, _ in served.headers]
    assert sorted(names) == sorted(
        [
            "cache-control",
            "expires",
            "vary",
            "content-location",
            "etag",
            "age",
            "cache-status",
        ]
    )
    assert header(served.headers, "etag") == '"v1"'
    assert header(served.headers, "age") == "5"
    assert header(served.headers, "cache-status") == "routecache; hit; ttl=55"


def test_serve_304_sends_last_modified_only_without_an_etag() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol, headers={"if-modified-since": "Sat, 01 Jan 2022 00:00:00 GMT"})
    served = pol.serve(plan, _validated_entry(etag=None), NOW)
    assert served.status == 304
    assert header(served.headers, "last-modified") == "Sat, 01 Jan 2022 00:00:00 GMT"
    with_etag = pol.serve(plan, _validated_entry(), NOW)
    assert with_etag.status == 304
    assert header(with_etag.headers, "last-modified") is None


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"if-none-match": '"v2"'}, 200),
        ({"if-none-match": "garbage"}, 200),
        # If-None-Match present: If-Modified-Since is ignored (RFC 9110 §13.1.3).
        ({"if-none-match": '"v2"', "if-modified-since": "Sun, 01 Jan 2023 00:00:00 GMT"}, 200),
        ({"if-modified-since": "Sun, 01 Jan 2023 00:00:00 GMT"}, 304),
        ({"if-modified-since": "Sat, 01 Jan 2022 00:00:00 GMT"}, 304),
        ({"if-modified-since": "Fri, 31 Dec 2021 23:59:59 GMT"}, 200),
        ({"if-modified-since": "not a date"}, 200),
    ],
)
def test_serve_conditional_requests(headers: dict[str, str], status: int) -> None:
    pol = policy(ITEMS)
    served = pol.serve(lookup(pol, headers=headers), _validated_entry(), NOW)
    assert served.status == status
    assert (served.body == b"") is (status == 304)


def test_serve_if_modified_since_falls_back_to_date() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol, headers={"if-modified-since": format_http_date(NOW)})
    assert pol.serve(plan, entry(), NOW).status == 304
    earlier = lookup(pol, headers={"if-modified-since": format_http_date(NOW - 1)})
    assert pol.serve(earlier, entry(), NOW).status == 200


def test_serve_never_answers_304_for_non_2xx_entries() -> None:
    pol = policy(ITEMS)
    served = pol.serve(
        lookup(pol, headers={"if-none-match": "*"}), entry(status=404, etag=b'"x"'), NOW
    )
    assert served.status == 404


def test_serve_stale_and_collapsed_status_members() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    stale = pol.serve(plan, entry(), NOW + 70, detail="stale-while-revalidate")
    assert header(stale.headers, "cache-status") == (
        "routecache; hit; ttl=-10; detail=stale-while-revalidate"
    )
    collapsed = pol.serve(plan, entry(), NOW, hit=False, fwd="uri-miss", collapsed=True)
    assert header(collapsed.headers, "cache-status") == "routecache; fwd=uri-miss; collapsed"


def test_generated_etag_answers_if_none_match() -> None:
    pol = policy(ITEMS)
    stored = store(pol, lookup(pol), 200, hdrs(content_type="text/plain"), b"body")
    assert stored.etag is not None
    again = lookup(pol, headers={"if-none-match": stored.etag.decode()})
    assert pol.serve(again, stored, NOW).status == 304


# == freshen (after a 304 from the app) =======================================================


def test_freshen_updates_headers_and_freshness() -> None:
    # §4.3.4 / §3.2
    pol = policy(ITEMS)
    plan = lookup(pol)
    old = store(
        pol,
        plan,
        200,
        hdrs(content_type="text/plain", cache_control="max-age=10", etag='"v1"', x_version="1"),
        b"body",
    )
    later = NOW + 100
    rp = pol.freshen(
        plan,
        old,
        hdrs(
            cache_control="max-age=120",
            date=format_http_date(later),
            etag='"v1"',
            x_version="2",
            content_type="text/plain; charset=utf-8",
            content_length="0",
            age="3",
        ),
        request_time=later,
        response_time=later,
    )
    assert rp.store
    assert rp.fresh_for == 120.0
    updated = rp.entry(old.body)
    assert updated.body == b"body"
    assert updated.stored_at == later
    assert header(updated.headers, "x-version") == "2"
    assert header(updated.headers, "cache-control") == "max-age=120"
    # §3.2: every field is updated, except Content-Length (and fields never stored).
    assert all_headers(updated.headers, "content-type") == ["text/plain; charset=utf-8"]
    assert header(updated.headers, "content-length") is None
    assert header(updated.headers, "age") is None
    assert updated.etag == b'"v1"'
    assert len(all_headers(updated.headers, "cache-control")) == 1
    assert pol.judge(plan, updated, later + 60).kind == VerdictKind.FRESH


def test_freshen_keeps_a_generated_etag() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    old = store(pol, plan, 200, hdrs(content_type="text/plain", last_modified=DATE), b"body")
    assert old.flags & FLAG_GENERATED_ETAG
    rp = pol.freshen(plan, old, hdrs(date=DATE), request_time=NOW, response_time=NOW)
    assert rp.store
    updated = rp.entry(old.body)
    assert updated.etag == old.etag
    assert updated.flags & FLAG_GENERATED_ETAG
    assert old.etag is not None
    assert all_headers(updated.headers, "etag") == [old.etag.decode()]


def test_freshen_to_a_non_storable_response_still_serves_the_full_headers() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    old = store(
        pol, plan, 200, hdrs(content_type="text/html", cache_control="max-age=10", etag='"v1"')
    )
    later = NOW + 100
    for extra in (
        hdrs(cache_control="no-store"),
        hdrs(cache_control="max-age=0"),
        hdrs(cache_control="private"),
    ):
        rp = pol.freshen(
            plan,
            old,
            hdrs(date=format_http_date(later)) + extra,
            request_time=later,
            response_time=later,
        )
        assert not rp.store
        served = pol.serve(
            plan,
            rp.entry(old.body),
            later,
            hit=False,
            fwd="stale",
            fwd_status=304,
            detail=rp.detail,
        )
        assert served.status == 200
        assert served.body == old.body
        assert header(served.headers, "content-type") == "text/html"
        assert header(served.headers, "etag") == '"v1"'
        assert len(all_headers(served.headers, "age")) == 1
        assert header(served.headers, "cache-status") == (
            f"routecache; fwd=stale; fwd-status=304; detail={rp.detail}"
        )


# == invalidation (§4.4) =====================================================================


def _unsafe(
    pol: CachePolicy, path: str = "/items/1", method: str = "POST", **kw: object
) -> RequestPlan:
    plan = pol.plan(facts(path, method=method, **kw))  # type: ignore[arg-type]
    assert plan.action == Action.INVALIDATE
    return plan


@pytest.mark.parametrize("status", [200, 201, 204, 301, 303, 399])
def test_successful_unsafe_request_invalidates_the_target(status: int) -> None:
    pol = policy(ITEMS)
    inv = pol.invalidation(_unsafe(pol), status, [])
    assert inv.paths == ("/items/1",)
    assert bool(inv)


@pytest.mark.parametrize("status", [100, 400, 404, 409, 500, 503])
def test_failed_unsafe_request_invalidates_nothing(status: int) -> None:
    pol = policy(ITEMS)
    inv = pol.invalidation(_unsafe(pol), status, hdrs(location="/items/2", cache_tag="x"))
    assert not inv
    assert (inv.paths, inv.tags) == ((), ())


def test_uncached_paths_are_not_invalidated_unless_honouring_the_origin() -> None:
    pol = policy(ITEMS)
    assert pol.invalidation(_unsafe(pol, "/other"), 200, []).paths == ()
    honor = policy(honor_cache_control=True)
    assert honor.invalidation(_unsafe(honor, "/other"), 200, []).paths == ("/other",)


def test_any_caching_rule_on_the_path_makes_it_invalidated() -> None:
    put_rule = Rule("/items/{id}", methods=["PUT"], invalidates=["/lists", "list:{id}"])
    pol = policy(put_rule, ITEMS)
    inv = pol.invalidation(_unsafe(pol, method="PUT"), 204, [])
    assert inv.paths == ("/items/1", "/lists")
    assert inv.tags == ("list:1",)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/items/2", "/items/2"),
        ("2", "/items/2"),
        ("https://example.com/items/3?x=1", "/items/3"),
        ("https://EXAMPLE.com:443/items/4", "/items/4"),
        ("/items/caf%C3%A9", "/items/caf\u00e9"),
        ("https://other.example/items/5", None),
        ("//other.example/items/6", None),
        ("http://example.com/items/7", None),
        ("https://example.com:8443/items/8", None),
        ("http://[::1", None),
    ],
)
def test_location_and_content_location_same_origin_only(
    location: str, expected: str | None
) -> None:
    pol = policy(ITEMS, invalidate_location=True)
    for field in ("location", "content-location"):
        inv = pol.invalidation(_unsafe(pol), 201, [(field.encode(), location.encode())])
        assert inv.paths == (("/items/1",) if expected is None else ("/items/1", expected))


@pytest.mark.parametrize("status", [200, 201, 204, 301, 307, 308])
def test_location_is_left_alone_by_default_and_for_redirects(status: int) -> None:
    # Off by default: any client could purge a neighbouring page with an unsafe
    # request; with the option, only a 2xx's Location counts (never a redirect's,
    # such as Starlette's 307 from /items/7/ to /items/7).
    location = [(b"location", b"/items/7"), (b"content-location", b"/items/8")]
    off = policy(ITEMS)
    assert off.invalidation(_unsafe(off, "/items/7/"), status, location).paths == ()
    on = policy(ITEMS, invalidate_location=True)
    paths = on.invalidation(_unsafe(on, "/items/7/"), status, location).paths
    assert paths == (("/items/7", "/items/8") if status < 300 else ())


def test_invalidate_location_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="invalidate_location must be True or False"):
        policy(ITEMS, invalidate_location="yes")


def test_rule_invalidates_are_templated_paths_and_tags() -> None:
    rule = Rule(
        "/items/{id}", ttl=60, invalidates=["/items", "/users/{id}/feed", "item:{id}", "all"]
    )
    pol = policy(rule)
    inv = pol.invalidation(_unsafe(pol, "/items/9", method="DELETE"), 204, [])
    assert inv.paths == ("/items/9", "/items", "/users/9/feed")
    assert inv.tags == ("item:9", "all")


def test_unsafe_only_rules_apply_to_their_methods() -> None:
    rule = Rule("/items/{id}", methods=["PUT"], invalidates=["put:{id}"])
    pol = policy(rule, ITEMS)
    assert pol.invalidation(_unsafe(pol, method="PUT"), 200, []).tags == ("put:1",)
    assert pol.invalidation(_unsafe(pol, method="DELETE"), 200, []).tags == ()


def test_tag_header_of_the_answer_is_invalidated() -> None:
    pol = policy(ITEMS)
    inv = pol.invalidation(_unsafe(pol), 200, hdrs(cache_tag="a, b") + hdrs(cache_tag="c, a"))
    assert inv.tags == ("a", "b", "c")
    custom = policy(ITEMS, tag_header="Surrogate-Key")
    assert custom.invalidation(_unsafe(custom), 200, hdrs(surrogate_key="x")).tags == ("x",)


def test_unsafe_responses_get_method_status_and_lose_the_tag_header() -> None:
    pol = policy(ITEMS)
    out = pol.forwarded_headers(hdrs(cache_tag="a", location="/x"), pol.forward_member("method"))
    assert header(out, "cache-tag") is None
    assert header(out, "location") == "/x"
    assert header(out, "cache-status") == "routecache; fwd=method"
    chained = pol.forwarded_headers(hdrs(cache_status="edge; hit"), pol.forward_member("method"))
    assert all_headers(chained, "cache-status") == ["edge; hit, routecache; fwd=method"]


def test_http_date_round_trip_of_stored_date() -> None:
    pol = policy(ITEMS)
    e = store(pol, lookup(pol), 200, hdrs(content_type="text/plain"))
    assert parse_http_date(header(e.headers, "date")) == NOW


def test_no_stale_window_means_no_stale_serving_even_at_the_instant_of_expiry() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol)
    expired = pol.judge(plan, entry(fresh_for=60.0), NOW + 60)
    assert expired.kind == VerdictKind.FORWARD
    assert not expired.stale_ok


def test_request_max_age_also_refuses_stale_while_revalidate() -> None:
    pol = _honouring()
    plan = lookup(pol, headers={"cache-control": "max-age=5"})
    e = entry(fresh_for=60.0, swr=100.0)
    verdict = pol.judge(plan, e, NOW + 70)
    assert verdict.kind == VerdictKind.FORWARD
    assert verdict.fwd == "stale"
    # Without the client's max-age the same entry is served stale.
    assert pol.judge(lookup(pol), e, NOW + 70).kind == VerdictKind.STALE_WHILE_REVALIDATE


def test_must_understand_overrides_no_store_for_understood_statuses() -> None:
    # §5.2.2.3
    pol = policy(Rule("/items/{id}", ttl=60, cache_statuses=[200, 299]))
    understood = respond(pol, lookup(pol), 200, hdrs(cache_control="must-understand, no-store"))
    assert understood.store
    unknown = respond(pol, lookup(pol), 299, hdrs(cache_control="must-understand, no-store"))
    assert (unknown.store, unknown.detail) == (False, "must-understand")


@pytest.mark.parametrize("length", ["\u00b2", "1" * 5000, "-1", "abc", " 12 "])
def test_odd_content_length_never_raises(length: str) -> None:
    pol = policy(ITEMS)
    rp = respond(pol, lookup(pol), 200, hdrs(content_type="text/plain", content_length=length))
    assert rp.detail in (None, "too-large")
    big = respond(pol, lookup(pol), 200, hdrs(content_length=str(10**7)))
    assert (big.store, big.detail) == (False, "too-large")


# == totality: no request or response makes the policy raise ==================================

_LATIN1 = st.text(st.characters(max_codepoint=0xFF), max_size=30)
_REQUEST_FIELDS = st.dictionaries(
    st.sampled_from(
        [
            "cache-control",
            "pragma",
            "cookie",
            "authorization",
            "if-none-match",
            "if-modified-since",
            "accept",
            "accept-encoding",
            "accept-language",
            "upgrade",
        ]
    ),
    _LATIN1,
    max_size=5,
)
_RESPONSE_FIELDS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                b"cache-control",
                b"expires",
                b"date",
                b"age",
                b"etag",
                b"last-modified",
                b"vary",
                b"set-cookie",
                b"content-type",
                b"content-length",
                b"content-range",
                b"connection",
                b"cache-tag",
                b"location",
                b"content-location",
                b"cache-status",
            ]
        ),
        _LATIN1.map(lambda t: t.encode("latin-1")),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    path=st.sampled_from(["/items/1", "/other", "/items/x/y"]),
    query=st.binary(max_size=20),
    request_fields=_REQUEST_FIELDS,
    status=st.integers(100, 599),
    response_fields=_RESPONSE_FIELDS,
    later=st.floats(0, 1e6),
    honor=st.booleans(),
)
def test_no_request_or_response_makes_the_policy_raise(
    method: str,
    path: str,
    query: bytes,
    request_fields: dict[str, str],
    status: int,
    response_fields: list[tuple[bytes, bytes]],
    later: float,
    honor: bool,
) -> None:
    pol = policy(
        Rule("/items/{id}", ttl=60, stale_while_revalidate=5, refresh_ahead=0.5),
        honor_cache_control=honor,
        honor_request_cache_control=honor,
        heuristic_freshness=honor,
    )
    plan = pol.plan(facts(path, method=method, headers=request_fields, query=query))
    if plan.action == Action.INVALIDATE:
        pol.invalidation(plan, status, response_fields)
        return
    if plan.action != Action.LOOKUP:
        return
    pol.judge(plan, None, NOW)
    rp = respond(pol, plan, status, response_fields)
    if not rp.store:
        return
    e = decode_entry(encode_entry(rp.entry(b"body")))
    assert e is not None
    verdict = pol.judge(plan, e, NOW + later)
    if verdict.kind in (
        VerdictKind.FRESH,
        VerdictKind.REFRESH_AHEAD,
        VerdictKind.STALE_WHILE_REVALIDATE,
    ):
        pol.serve(plan, e, NOW + later)
    pol.conditional_headers(e)
    pol.freshen(plan, e, response_fields, request_time=NOW + later, response_time=NOW + later)


def test_authorization_forward_says_why_in_cache_status() -> None:
    pol = policy(ITEMS)
    plan = lookup(pol, headers={"authorization": "Bearer t"})
    verdict = pol.judge(plan, entry(), NOW)
    assert verdict.fwd is not None
    rp = pol.on_response(
        plan,
        200,
        hdrs(content_type="text/plain"),
        request_time=NOW,
        response_time=NOW,
        fwd=verdict.fwd,
        detail=verdict.detail,
    )
    assert not rp.store
    assert header(rp.headers, "cache-status") == "routecache; fwd=bypass; detail=authorization"


@pytest.mark.parametrize("field", ["if-match", "if-unmodified-since"])
def test_origin_preconditions_bypass_the_cache(field: str) -> None:
    pol = policy(ITEMS)
    plan = pol.plan(facts("/items/1", headers={field: '"abc"'}))
    assert (plan.action, plan.fwd, plan.detail) == (Action.BYPASS, "bypass", "precondition")
