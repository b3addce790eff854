"""Cache-Control parsing (RFC 9111 §5.2, §4.2.1, §1.2.2): typed, total, first wins."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routecache.middleware.cache_control import (
    DELTA_MAX,
    INVALID,
    Directives,
    parse_cache_control,
)


def test_empty_and_absent() -> None:
    values: list[str | list[str] | None] = [None, "", [], ",", " , ,"]
    for value in values:
        cc = parse_cache_control(value)
        assert cc == Directives()
    assert parse_cache_control(None).empty
    assert not parse_cache_control("public").empty


@pytest.mark.parametrize(
    ("value", "attr", "expected"),
    [
        ("max-age=60", "max_age", 60),
        ("max-age=0", "max_age", 0),
        ('max-age="60"', "max_age", 60),  # §5.2: recipients accept the quoted form
        ("max-age=000060", "max_age", 60),
        ("s-maxage=5", "s_maxage", 5),
        ("stale-while-revalidate=30", "stale_while_revalidate", 30),
        ("stale-if-error=40", "stale_if_error", 40),
        ("min-fresh=7", "min_fresh", 7),
        ("max-stale=9", "max_stale", 9),
        # invalid delta-seconds (§1.2.2) are marked, not guessed
        ("max-age=", "max_age", INVALID),
        ("max-age", "max_age", INVALID),
        ("max-age=-1", "max_age", INVALID),
        ("max-age=1.5", "max_age", INVALID),
        ("max-age=abc", "max_age", INVALID),
        ("max-age=6 0", "max_age", INVALID),
        ("max-age=\u0663", "max_age", INVALID),  # non-ASCII digit
        ("max-age=\u00b2", "max_age", INVALID),
        ('max-age=""', "max_age", INVALID),
        # too large to represent: taken as 2**31 (§1.2.2)
        ("max-age=2147483648", "max_age", DELTA_MAX),
        ("max-age=2147483647", "max_age", 2147483647),
        ("max-age=99999999999999999999", "max_age", DELTA_MAX),
        ("max-age=" + "9" * 5000, "max_age", DELTA_MAX),
        ("s-maxage=" + "1" * 10000, "s_maxage", DELTA_MAX),
        ("max-age=" + "0" * 5000 + "7", "max_age", 7),
    ],
)
def test_delta_seconds(value: str, attr: str, expected: int) -> None:
    assert getattr(parse_cache_control(value), attr) == expected
    assert DELTA_MAX == 2**31


def test_duplicates_first_occurrence_wins() -> None:
    # §4.2.1: with several values, the first may be used.
    assert parse_cache_control("max-age=60, max-age=30").max_age == 60
    assert parse_cache_control(["max-age=60", "max-age=30"]).max_age == 60
    assert parse_cache_control("max-age=abc, max-age=30").max_age == INVALID
    assert parse_cache_control("s-maxage=1, s-maxage=2").s_maxage == 1
    cc = parse_cache_control("max-stale=5, max-stale")
    assert (cc.max_stale, cc.max_stale_any) == (5, False)
    cc = parse_cache_control("max-stale, max-stale=5")
    assert (cc.max_stale, cc.max_stale_any) == (None, True)
    assert parse_cache_control('foo=1, foo="2"').extensions == {"foo": "1"}


def test_case_insensitive_names_and_whitespace() -> None:
    cc = parse_cache_control("  Public ,MAX-AGE=10,\tNo-Store , S-MaxAge=3 ")
    assert cc.public
    assert cc.no_store
    assert (cc.max_age, cc.s_maxage) == (10, 3)


def test_flags() -> None:
    cc = parse_cache_control(
        "no-store, public, must-revalidate, proxy-revalidate, must-understand, "
        "only-if-cached, no-transform, immutable"
    )
    assert cc.no_store
    assert cc.public
    assert cc.must_revalidate
    assert cc.proxy_revalidate
    assert cc.must_understand
    assert cc.only_if_cached
    assert cc.no_transform
    assert cc.immutable
    assert not cc.private
    assert not cc.no_cache
    assert parse_cache_control("max-stale").max_stale_any


def test_qualified_no_cache_and_private_field_lists() -> None:
    cc = parse_cache_control('private="Set-Cookie, X-Secret", max-age=5')
    assert cc.private
    assert cc.private_fields == ("set-cookie", "x-secret")
    assert cc.max_age == 5
    cc = parse_cache_control('no-cache="set-cookie"')
    assert cc.no_cache
    assert cc.no_cache_fields == ("set-cookie",)
    # A token argument is accepted as well as a quoted list.
    assert parse_cache_control("private=x-a").private_fields == ("x-a",)
    # Several qualified forms add up.
    cc = parse_cache_control('private="a", private="b"')
    assert cc.private_fields == ("a", "b")


def test_bare_private_or_no_cache_anywhere_covers_the_whole_response() -> None:
    for value in ('private, private="x"', 'private="x", private', ['private="x"', "private"]):
        cc = parse_cache_control(value)
        assert cc.private
        assert cc.private_fields == ()
    cc = parse_cache_control('no-cache="set-cookie", no-cache')
    assert cc.no_cache
    assert cc.no_cache_fields == ()


def test_commas_inside_quotes_do_not_split() -> None:
    cc = parse_cache_control('ext="a, max-age=1", max-age=5')
    assert cc.max_age == 5
    assert cc.extensions == {"ext": "a, max-age=1"}
    cc = parse_cache_control(r'ext="a\", max-age=1", s-maxage=2')
    assert cc.s_maxage == 2
    assert cc.max_age is None
    assert cc.extensions == {"ext": 'a", max-age=1'}


def test_several_field_lines_combine() -> None:
    cc = parse_cache_control(["public", "max-age=5, no-transform"])
    assert cc.public
    assert cc.no_transform
    assert cc.max_age == 5


def test_malformed_members_are_skipped_unknown_kept() -> None:
    cc = parse_cache_control('max age=5, =7, "quoted", foo, bar=baz, max-age=9')
    assert cc.max_age == 9
    assert cc.extensions == {"foo": None, "bar": "baz"}


# -- properties --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.text(), max_size=3)))
def test_no_input_string_makes_the_parser_raise(value: str | list[str]) -> None:
    cc = parse_cache_control(value)
    for attr in ("max_age", "s_maxage", "stale_while_revalidate", "stale_if_error", "min_fresh"):
        v = getattr(cc, attr)
        assert v is None or v == INVALID or 0 <= v <= DELTA_MAX


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.sampled_from(list('max-ge=s,"\\ 0123456789pvtcno;')) | st.characters(),
        max_size=40,
    )
)
def test_no_directive_like_string_makes_the_parser_raise(value: str) -> None:
    parse_cache_control(value)


_DELTAS = {
    "max-age": "max_age",
    "s-maxage": "s_maxage",
    "stale-while-revalidate": "stale_while_revalidate",
    "stale-if-error": "stale_if_error",
    "min-fresh": "min_fresh",
}
_FLAGS = {
    "no-store": "no_store",
    "public": "public",
    "must-revalidate": "must_revalidate",
    "proxy-revalidate": "proxy_revalidate",
    "must-understand": "must_understand",
    "only-if-cached": "only_if_cached",
    "no-transform": "no_transform",
    "immutable": "immutable",
}
_TOKEN = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~"), min_size=1, max_size=8
)
_FIELD = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"),
    min_size=1,
    max_size=10,
)
_QSTRING = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=10)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def _directive(draw: st.DrawFn) -> tuple[str, str, Any]:
    """(kind, rendered member, value) of one well-formed directive."""
    kind = draw(st.sampled_from(["delta", "flag", "max-stale", "list", "ext"]))
    if kind == "delta":
        name = draw(st.sampled_from(sorted(_DELTAS)))
        n = draw(st.integers(0, 2**40))
        rendered = _quote(str(n)) if draw(st.booleans()) else str(n)
        return kind, f"{_case(draw, name)}={rendered}", (name, min(n, DELTA_MAX))
    if kind == "flag":
        name = draw(st.sampled_from(sorted(_FLAGS)))
        return kind, _case(draw, name), name
    if kind == "max-stale":
        stale = draw(st.one_of(st.none(), st.integers(0, 2**34)))
        member = "max-stale" if stale is None else f"max-stale={stale}"
        return kind, _case(draw, member), None if stale is None else min(stale, DELTA_MAX)
    if kind == "list":
        name = draw(st.sampled_from(["no-cache", "private"]))
        fields = draw(st.one_of(st.none(), st.lists(_FIELD, min_size=1, max_size=3)))
        if fields is None:
            return kind, _case(draw, name), (name, None)
        sep = draw(st.sampled_from([",", ", ", " ,  "]))
        return kind, f'{_case(draw, name)}="{sep.join(fields)}"', (name, fields)
    name = draw(
        _TOKEN.filter(
            lambda t: (
                t not in _DELTAS
                and t not in _FLAGS
                and t not in ("max-stale", "no-cache", "private")
            )
        )
    )
    value = draw(st.one_of(st.none(), _TOKEN, _QSTRING))
    if value is None:
        return kind, name, (name, None)
    if (
        draw(st.booleans())
        or not value
        or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~" for c in value)
    ):
        return kind, f"{name}={_quote(value)}", (name, value)
    return kind, f"{name}={value}", (name, value)


def _case(draw: st.DrawFn, name: str) -> str:
    how = draw(st.sampled_from(["lower", "upper", "title"]))
    if how == "upper":
        return name.upper()
    if how == "title":
        return name.title()
    return name


@settings(max_examples=300, deadline=None)
@given(st.lists(_directive(), max_size=8), st.data())
def test_well_formed_directives_parse_to_what_was_generated(
    directives: list[tuple[str, str, Any]], data: st.DataObject
) -> None:
    expected = Directives()
    seen: set[str] = set()
    bare: set[str] = set()
    for kind, _, value in directives:
        if kind == "delta":
            name, n = value
            if name not in seen:
                setattr(expected, _DELTAS[name], n)
            seen.add(name)
        elif kind == "flag":
            setattr(expected, _FLAGS[value], True)
        elif kind == "max-stale":
            if "max-stale" not in seen:
                if value is None:
                    expected.max_stale_any = True
                else:
                    expected.max_stale = value
            seen.add("max-stale")
        elif kind == "list":
            name, fields = value
            lowered = tuple(f.lower() for f in fields or ())
            if name == "private":
                expected.private = True
                expected.private_fields += lowered
            else:
                expected.no_cache = True
                expected.no_cache_fields += lowered
            if fields is None:
                bare.add(name)
        else:
            name, ext = value
            if name not in expected.extensions:
                expected.extensions[name] = ext
    if "private" in bare:
        expected.private_fields = ()
    if "no-cache" in bare:
        expected.no_cache_fields = ()
    members = [member for _, member, _ in directives]
    # Spread the members over one or more field lines, with optional whitespace.
    lines: list[str] = []
    current: list[str] = []
    for member in members:
        current.append(member)
        if data.draw(st.booleans()):
            lines.append(data.draw(st.sampled_from([",", ", ", " , "])).join(current))
            current = []
    if current:
        lines.append(", ".join(current))
    assert parse_cache_control(lines) == expected
    assert parse_cache_control(", ".join(members)) == expected
