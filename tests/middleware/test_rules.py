"""Rules: route templates, first-match order, parameters, option validation."""

from __future__ import annotations

import math
from typing import Any

import pytest

from routecache.middleware.errors import ConfigurationError
from routecache.middleware.rules import (
    DEFAULT_CACHE_STATUSES,
    DEFAULT_IGNORED_COOKIES,
    DEFAULT_MAX_BODY_SIZE,
    Rule,
    RuleSet,
    check_rule_options,
    compile_globs,
)


def _match(rules: list[Rule], path: str) -> tuple[str, dict[str, str]] | None:
    m = RuleSet(rules).match(path)
    return None if m is None else (m.rule.path, m.params)


# -- templates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("/items/{id}", "/items/7", {"id": "7"}),
        ("/items/{id}", "/items/abc-def", {"id": "abc-def"}),
        ("/items/{id:int}", "/items/42", {"id": "42"}),
        ("/items/{id:str}", "/items/x", {"id": "x"}),
        ("/items/{price:float}", "/items/1.5", {"price": "1.5"}),
        ("/items/{slug:slug}", "/items/a-b_c", {"slug": "a-b_c"}),
        (
            "/items/{u:uuid}",
            "/items/12345678-1234-1234-1234-123456789abc",
            {"u": "12345678-1234-1234-1234-123456789abc"},
        ),
        ("/files/{rest:path}", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("/files/{rest:path}", "/files/", {"rest": ""}),
        ("/u/<int:uid>/p/<name>", "/u/3/p/x", {"uid": "3", "name": "x"}),
        ("/u/<uid>", "/u/abc", {"uid": "abc"}),
        ("/u/<path:rest>", "/u/a/b", {"rest": "a/b"}),
        ("/static/*", "/static/", {}),
        ("/static/*", "/static/css/site.css", {}),
        ("/a/{x}/b/{y:int}", "/a/1/b/2", {"x": "1", "y": "2"}),
        ("/exact", "/exact", {}),
    ],
)
def test_template_matches_and_extracts_params(
    template: str, path: str, params: dict[str, str]
) -> None:
    assert _match([Rule(template, ttl=1)], path) == (template, params)
    # The rule's own compiled pattern agrees with the combined RuleSet.
    found = RuleSet([Rule(template, ttl=1)]).match_all(path)
    assert [(m.rule.path, m.params) for m in found] == [(template, params)]


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/items/{id}", "/items/"),
        ("/items/{id}", "/items/7/extra"),
        ("/items/{id}", "/items"),
        ("/items/{id:int}", "/items/abc"),
        ("/items/{id:int}", "/items/-1"),
        ("/items/{price:float}", "/items/1."),
        ("/u/<int:uid>", "/u/x"),
        ("/static/*", "/static"),
        ("/static/*", "/staticfoo"),
        ("/exact", "/exact/"),
        ("/exact", "/EXACT"),
        ("/a.b", "/aXb"),  # literal text is escaped, '.' is not a wildcard
        ("/a+b", "/aab"),
    ],
)
def test_template_rejects_non_matching_paths(template: str, path: str) -> None:
    assert _match([Rule(template, ttl=1)], path) is None


def test_first_matching_rule_wins_in_order() -> None:
    specific = Rule("/items/{id:int}", ttl=1)
    general = Rule("/items/{slug}", ttl=2)
    catch_all = Rule("/*", ttl=3)
    rules = RuleSet([specific, general, catch_all])
    hit = rules.match("/items/7")
    assert hit is not None
    assert hit.rule is specific
    assert hit.params == {"id": "7"}
    hit = rules.match("/items/seven")
    assert hit is not None
    assert hit.rule is general
    assert hit.params == {"slug": "seven"}
    hit = rules.match("/other")
    assert hit is not None
    assert hit.rule is catch_all
    assert hit.params == {}
    # Reversed order: the catch-all shadows everything.
    reversed_rules = RuleSet([catch_all, specific, general])
    hit = reversed_rules.match("/items/7")
    assert hit is not None
    assert hit.rule is catch_all


def test_params_come_from_the_matching_rule_only() -> None:
    # Same parameter name in several rules: the groups are kept apart.
    rules = RuleSet(
        [Rule("/a/{id:int}", ttl=1), Rule("/b/{id}", ttl=1), Rule("/b/{id}/{sub}", ttl=1)]
    )
    assert [
        (m.rule.path, m.params)
        for m in (rules.match("/a/1"), rules.match("/b/x"), rules.match("/b/x/y"))
        if m is not None
    ] == [
        ("/a/{id:int}", {"id": "1"}),
        ("/b/{id}", {"id": "x"}),
        ("/b/{id}/{sub}", {"id": "x", "sub": "y"}),
    ]


def test_match_all_lists_every_matching_rule_in_order() -> None:
    a, b, c = Rule("/x/{id}", ttl=1), Rule("/y/*", ttl=1), Rule("/x/*", ttl=1)
    found = RuleSet([a, b, c]).match_all("/x/1")
    assert [m.rule for m in found] == [a, c]
    assert found[0].params == {"id": "1"}


def test_empty_ruleset_matches_nothing() -> None:
    rules = RuleSet([])
    assert len(rules) == 0
    assert rules.match("/") is None
    assert rules.match_all("/") == []


def test_ruleset_accepts_dicts_and_names_the_bad_entry() -> None:
    rules = RuleSet([{"path": "/a/{id}", "ttl": 5}, Rule("/b", ttl=1)])
    assert [r.path for r in rules] == ["/a/{id}", "/b"]
    assert rules.rules[0].ttl == 5.0
    with pytest.raises(ConfigurationError, match=r"rules\[1\].*ttl"):
        RuleSet([Rule("/a", ttl=1), {"path": "/b", "ttl": -1}])
    with pytest.raises(ConfigurationError, match=r"rules\[0\]"):
        RuleSet([42])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="list of Rule"):
        RuleSet(Rule("/a", ttl=1))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="list of Rule"):
        RuleSet("/a")  # type: ignore[arg-type]


def test_expand_fills_templates_from_params() -> None:
    m = RuleSet([Rule("/items/{id}", ttl=1, tags=["item:{id}", "items"])]).match("/items/7")
    assert m is not None
    assert m.expand(m.rule.tags) == ["item:7", "items"]
    assert m.expand(["/lists/{id}/summary"]) == ["/lists/7/summary"]


# -- options ---------------------------------------------------------------------------


def test_defaults() -> None:
    rule = Rule("/a", ttl=60)
    assert rule.ttl == 60.0
    assert rule.methods == frozenset({"GET", "HEAD"})
    assert rule.caches
    assert rule.cookies == "bypass"
    assert rule.ignore_cookies == DEFAULT_IGNORED_COOKIES
    assert rule.cache_statuses == DEFAULT_CACHE_STATUSES
    assert rule.max_body_size == DEFAULT_MAX_BODY_SIZE
    assert rule.refresh_ahead is None
    assert rule.jitter == 0.0
    assert rule.params is None
    assert Rule("/a").ttl is None  # the driver's default_ttl applies
    # RFC 9110 §15.1 heuristically cacheable statuses.
    assert {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501} == DEFAULT_CACHE_STATUSES


def test_get_implies_head_and_methods_are_upper_cased() -> None:
    assert Rule("/a", methods=["get"]).methods == {"GET", "HEAD"}
    put = Rule("/a", methods=["put", "DELETE"])
    assert put.methods == {"PUT", "DELETE"}
    assert not put.caches
    assert Rule("/a", methods=["HEAD"]).methods == {"HEAD"}


def test_vary_names_are_lower_cased() -> None:
    assert Rule("/a", vary=["Accept-Language", "X-Tenant"]).vary == ("accept-language", "x-tenant")


def test_keep_param_applies_params_and_ignore_params_globs() -> None:
    rule = Rule("/a", params=["page", "f_*"], ignore_params=["f_debug"])
    assert rule.keep_param("page")
    assert rule.keep_param("f_color")
    assert not rule.keep_param("f_debug")
    assert not rule.keep_param("utm_source")
    assert not rule.keep_param("pagex")  # globs are anchored
    ignore = Rule("/a", ignore_params=["utm_*", "fbclid"])
    assert ignore.keep_param("q")
    assert not ignore.keep_param("utm_campaign")
    assert not ignore.keep_param("fbclid")
    assert Rule("/a").keep_param("anything")
    assert not Rule("/a", params=[]).keep_param("anything")


def test_compile_globs() -> None:
    pattern = compile_globs(["utm_*", "x?"], "p")
    assert pattern is not None
    assert pattern.match("utm_")
    assert pattern.match("xy")
    assert not pattern.match("xyz")
    assert not pattern.match("autm_")
    assert compile_globs([], "p") is None


def test_options_round_trip_through_replace() -> None:
    rule = Rule(
        "/items/{id}",
        ttl=30,
        vary=["accept"],
        params=["q"],
        ignore_params=["utm_*"],
        cookies="ignore",
        vary_cookies=["lang"],
        tags=["item:{id}"],
        invalidates=["/lists"],
        override=True,
        stale_while_revalidate=5,
        stale_if_error=7,
        refresh_ahead=0.5,
        jitter=0.1,
        cache_statuses=[200],
        max_body_size=10,
    )
    copy = rule.replace()
    assert copy.options() == rule.options()
    changed = rule.replace(ttl=99, path="/other/{id}")
    assert changed.ttl == 99.0
    assert changed.path == "/other/{id}"
    assert changed.tags == ("item:{id}",)
    assert Rule.from_dict(rule.options()).options() == rule.options()


def test_from_dict_returns_rules_unchanged() -> None:
    rule = Rule("/a", ttl=1)
    assert Rule.from_dict(rule) is rule  # type: ignore[arg-type]


# -- validation: every bad option raises ConfigurationError naming it --------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"ttl": -1}, "ttl"),
        ({"ttl": "60"}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"ttl": math.nan}, "ttl"),
        ({"ttl": math.inf}, "ttl"),
        ({"methods": "GET"}, "methods"),
        ({"methods": []}, "methods"),
        ({"methods": ["GE T"]}, "methods"),
        ({"methods": [""]}, "methods"),
        ({"vary": "accept"}, "vary"),
        ({"vary": ["bad header"]}, "vary"),
        ({"params": "q"}, "params"),
        ({"params": [1]}, "params"),
        ({"ignore_params": "utm_*"}, "ignore_params"),
        ({"cookies": "keep"}, "cookies"),
        ({"cookies": None}, "cookies"),
        ({"ignore_cookies": "_ga"}, "ignore_cookies"),
        ({"vary_cookies": "lang"}, "vary_cookies"),
        ({"vary_cookies": [""]}, "vary_cookies"),
        ({"tags": "item"}, "tags"),
        ({"tags": ["item:{nope}"]}, "tags"),
        ({"tags": ["item:{0}"]}, "tags"),
        ({"tags": ["item:{}"]}, "tags"),
        ({"tags": ["item:{id"]}, "tags"),
        ({"invalidates": ["/lists/{nope}"]}, "invalidates"),
        ({"invalidates": "/x"}, "invalidates"),
        ({"override": 1}, "override"),
        ({"stale_while_revalidate": -1}, "stale_while_revalidate"),
        ({"stale_while_revalidate": math.inf}, "stale_while_revalidate"),
        ({"stale_if_error": -0.5}, "stale_if_error"),
        ({"stale_if_error": None}, "stale_if_error"),
        ({"refresh_ahead": 0}, "refresh_ahead"),
        ({"refresh_ahead": 1}, "refresh_ahead"),
        ({"refresh_ahead": 1.5}, "refresh_ahead"),
        ({"refresh_ahead": -0.1}, "refresh_ahead"),
        ({"refresh_ahead": True}, "refresh_ahead"),
        ({"refresh_ahead": "0.5"}, "refresh_ahead"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": 1}, "jitter"),
        ({"jitter": True}, "jitter"),
        ({"cache_statuses": [99]}, "cache_statuses"),
        ({"cache_statuses": [600]}, "cache_statuses"),
        ({"cache_statuses": ["200"]}, "cache_statuses"),
        ({"cache_statuses": [True]}, "cache_statuses"),
        ({"cache_statuses": 200}, "cache_statuses"),
        ({"max_body_size": -1}, "max_body_size"),
        ({"max_body_size": 1.5}, "max_body_size"),
        ({"max_body_size": False}, "max_body_size"),
    ],
)
def test_bad_option_raises_configuration_error_naming_it(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Rule("/items/{id}", **options)
    # The settings-dict form names the setting and the option too.
    with pytest.raises(ConfigurationError, match=rf"RULES\[0\].*{named}"):
        Rule.from_dict({"path": "/items/{id}", **options}, setting="RULES[0]")


@pytest.mark.parametrize(
    "path",
    [
        "items",
        "",
        "/items/{id",
        "/items/id}",
        "/items/<id",
        "/items/{}",
        "/items/{1id}",
        "/items/{id:nope}",
        "/items/<nope:id>",
        "/items/{id}/{id}",
        "/a*/b",
        "/a**",
    ],
)
def test_bad_template_raises_configuration_error(path: str) -> None:
    with pytest.raises(ConfigurationError, match="Rule path"):
        Rule(path, ttl=1)


def test_non_string_path_raises() -> None:
    with pytest.raises(ConfigurationError, match="Rule path"):
        Rule(42, ttl=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Rule path"):
        Rule.from_dict({"path": None, "ttl": 1})


def test_from_dict_unknown_option_names_it_and_the_setting() -> None:
    with pytest.raises(ConfigurationError, match=r"RULES\[2\].*'tll'") as info:
        Rule.from_dict({"path": "/a", "tll": 60}, setting="RULES[2]")
    # The message lists the known options so the typo is easy to fix.
    assert "ttl" in str(info.value)
    with pytest.raises(ConfigurationError, match="needs a 'path'"):
        Rule.from_dict({"ttl": 60})
    with pytest.raises(ConfigurationError, match="dict of Rule options"):
        Rule.from_dict(["/a"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'bogus'"):
        check_rule_options({"bogus": 1, "ttl": 1}, setting="x")
    check_rule_options({"ttl": 1, "tags": ()}, setting="x")  # known options pass


def test_templates_may_use_path_params_and_literal_braces() -> None:
    rule = Rule(
        "/items/{id}/{rest:path}", tags=["item:{id}", "{{literal}}"], invalidates=["/x/{rest}"]
    )
    m = RuleSet([rule]).match("/items/1/a/b")
    assert m is not None
    assert m.expand(rule.tags) == ["item:1", "{literal}"]
    assert m.expand(rule.invalidates) == ["/x/a/b"]
