"""Request -> cache key: canonical, unambiguous, and the per-path hash tag."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routecache.middleware.keys import (
    CacheKey,
    canonical_host,
    canonical_query,
    field_value,
    path_hash,
    request_key,
    variant_hash,
)
from routecache.middleware.rules import Rule


def key(
    path: str = "/items",
    query: bytes = b"",
    *,
    method: str = "GET",
    scheme: str = "https",
    host: str = "example.com",
    headers: Mapping[str, str] | None = None,
    rule: Rule | None = None,
) -> CacheKey:
    return request_key(
        method=method,
        scheme=scheme,
        host=host,
        path=path,
        query=query,
        headers=headers or {},
        rule=rule,
    )


# -- the components ---------------------------------------------------------------------


def test_get_and_head_share_a_key_other_methods_do_not() -> None:
    assert key(method="GET") == key(method="HEAD")
    assert key(method="GET") != key(method="POST")
    assert key(method="POST") != key(method="PUT")


def test_scheme_is_part_of_the_key() -> None:
    assert key(scheme="http") != key(scheme="https")


@pytest.mark.parametrize(
    ("a", "b", "scheme", "same"),
    [
        ("Example.COM", "example.com", "https", True),
        ("example.com:443", "example.com", "https", True),
        ("example.com:80", "example.com", "http", True),
        ("example.com:80", "example.com", "https", False),
        ("example.com:443", "example.com", "http", False),
        ("example.com:8080", "example.com", "http", False),
        ("example.com:8080", "example.com:8081", "http", False),
        ("[::1]:443", "[::1]", "https", True),
        ("[::1]:8443", "[::1]", "https", False),
        ("example.com", "example.org", "https", False),
    ],
)
def test_host_is_lower_cased_and_default_port_dropped(
    a: str, b: str, scheme: str, same: bool
) -> None:
    assert (key(host=a, scheme=scheme) == key(host=b, scheme=scheme)) is same


def test_canonical_host() -> None:
    assert canonical_host("WWW.Example.com:443", "https") == "www.example.com"
    assert canonical_host("www.example.com:443", "http") == "www.example.com:443"
    assert canonical_host("[::1]:80", "http") == "[::1]"
    assert canonical_host("[::1]", "http") == "[::1]"
    assert canonical_host("example.com:80", "ws") == "example.com"
    assert canonical_host("example.com:443", "wss") == "example.com"


@pytest.mark.parametrize(
    "host",
    [
        "h:8080:80",  # two ports: what does the app see? Not keyable.
        " example.com ",
        "example.com, evil.example",  # two Host lines joined
        "example.com,evil.example",
        "exa mple.com",
        "\u212aey.example",  # KELVIN SIGN lower-cases to an ASCII k
        "",
        "example.com:8o",
        "[::1",
    ],
)
def test_malformed_hosts_are_not_keyable(host: str) -> None:
    assert canonical_host(host, "http") is None
    with pytest.raises(ValueError, match="not a host"):
        key(host=host)


def test_only_a_lone_default_port_is_dropped() -> None:
    assert canonical_host("h:8080", "http") == "h:8080"
    assert canonical_host("h:80", "http") == "h"
    assert canonical_host("h:080", "http") == "h:080"
    assert key(host="h:8080") != key(host="h:80")


def test_path_is_exact() -> None:
    assert key("/items") != key("/items/")
    assert key("/items") != key("/Items")
    assert key("/a/b") != key("/a%2Fb")


def test_query_params_sorted_by_name_repeats_kept_in_order() -> None:
    assert key(query=b"b=2&a=1") == key(query=b"a=1&b=2")
    assert key(query=b"a=1&b=2&a=3") == key(query=b"a=1&a=3&b=2")
    assert key(query=b"a=1&a=3") != key(query=b"a=3&a=1")
    assert key(query=b"a=1&a=1") != key(query=b"a=1")
    assert canonical_query(b"b=2&a=1&c=&a=0", None) == [b"a=1", b"a=0", b"b=2", b"c="]
    # Sorted by the raw name: an escaped name sorts where its escape does.
    assert canonical_query(b"b=1&%61=2&a=3", None) == [b"%61=2", b"a=3", b"b=1"]


def test_query_is_keyed_raw_never_decoded() -> None:
    # An app that reads the raw query (a proxy) answers each of these differently.
    assert key(query=b"q=%41") != key(query=b"q=A")
    assert key(query=b"q=a+b") != key(query=b"q=a%20b")
    assert key(query=b"q=%e9") != key(query=b"q=%E9")
    assert key(query=b"a=1&&b=2") != key(query=b"a=1&b=2")
    assert key(query=b"") != key(query=b"&")
    assert key(query=b"a=%26") != key(query=b"a=&")
    assert key(query=b"q=%zz") != key(query=b"q=%25zz")


def test_raw_path_prefix_and_trusted_headers_are_keyed() -> None:
    def k(**kw: object) -> CacheKey:
        return request_key(
            method="GET",
            scheme="http",
            host="h",
            path="/p/q",
            query=b"",
            headers={},
            rule=None,
            **kw,  # type: ignore[arg-type]
        )

    assert k(raw_path=b"/p%2Fq") != k(raw_path=b"/p/q")
    assert k(raw_path=b"/p/q") != k()
    assert k(raw_path=b"/p/q?") != k(raw_path=b"/p/q")
    assert k(prefix="/p") != k(prefix="")
    assert k(trusted=(("x-forwarded-proto", "https"),)) != k(trusted=(("x-forwarded-proto", None),))
    assert k(raw_path=b"/p/q") == k(raw_path=b"/p/q")


def test_query_values_with_separators_are_not_confused() -> None:
    assert key(query=b"a=b%26c%3Dd") != key(query=b"a=b&c=d")
    assert key(query=b"a%3Db=c") != key(query=b"a=b%3Dc")
    assert key(query=b"a=") != key(query=b"")
    assert key(query=b"ab=") != key(query=b"a=b")
    # A query is not a path: the same characters in either place differ.
    assert key("/a", b"b=") != key("/ab", b"")


def test_params_keeps_only_the_named_params() -> None:
    rule = Rule("/items", params=["page", "sort_*"])
    assert key(query=b"page=2&utm_source=x&session=9", rule=rule) == key(query=b"page=2", rule=rule)
    assert key(query=b"page=2&sort_by=name", rule=rule) != key(query=b"page=2", rule=rule)
    assert key(query=b"page=2", rule=rule) != key(query=b"page=3", rule=rule)
    none = Rule("/items", params=[])
    assert key(query=b"v=123", rule=none) == key(query=b"", rule=none)


def test_ignore_params_drops_the_named_params() -> None:
    rule = Rule("/items", ignore_params=["utm_*", "fbclid"])
    assert key(query=b"q=1&utm_source=a&utm_medium=b&fbclid=z", rule=rule) == key(
        query=b"q=1", rule=rule
    )
    assert key(query=b"q=1&xutm_source=a", rule=rule) != key(query=b"q=1", rule=rule)
    both = Rule("/items", params=["q", "utm_*"], ignore_params=["utm_*"])
    assert key(query=b"q=1&utm_a=1&z=2", rule=both) == key(query=b"q=1", rule=both)


def test_declared_vary_is_part_of_the_key_absent_distinct_from_empty() -> None:
    rule = Rule("/items", vary=["Accept-Language"])
    en = key(headers={"accept-language": "en"}, rule=rule)
    assert en == key(headers={"accept-language": "en"}, rule=rule)
    assert en != key(headers={"accept-language": "fr"}, rule=rule)
    absent = key(headers={}, rule=rule)
    empty = key(headers={"accept-language": ""}, rule=rule)
    assert absent != empty
    assert absent != en
    # Values are keyed exactly as sent: an app may read them byte for byte.
    assert key(headers={"accept-language": "en, fr"}, rule=rule) != key(
        headers={"accept-language": "en,fr"}, rule=rule
    )
    assert key(headers={"accept-language": ", fr"}, rule=rule) != key(
        headers={"accept-language": "fr"}, rule=rule
    )
    # Without the rule's vary, the header does not matter.
    assert key(headers={"accept-language": "fr"}) == key(headers={})


def test_vary_cookies_key_on_named_cookie_values() -> None:
    rule = Rule("/items", vary_cookies=["lang"])

    def k(cookie: str | None) -> CacheKey:
        return key(headers={} if cookie is None else {"cookie": cookie}, rule=rule)

    assert k("lang=en") == k("lang=en; _ga=GA1.1")
    assert k("lang=en") == k("_ga=1; lang=en")
    assert k("lang=en") != k("lang=fr")
    assert k(None) != k("lang=")
    assert k(None) == k("other=1")
    # Every cookie of the name counts, in order (frameworks read the first or the last).
    assert k("lang=en; lang=fr") != k("lang=en")
    assert k("lang=en; lang=fr") != k("lang=fr")
    assert k("lang=en; lang=fr") != k("lang=fr; lang=en")
    # A cookie value is not a header value: vary and vary_cookies never collide.
    both = Rule("/items", vary=["x-lang"], vary_cookies=["lang"])
    assert key(headers={"x-lang": "en"}, rule=both) != key(headers={"cookie": "lang=en"}, rule=both)


def test_path_hash_is_shared_by_every_key_of_a_path() -> None:
    rule = Rule("/items", vary=["accept"], vary_cookies=["lang"])
    keys = [
        key("/items"),
        key("/items", b"a=1"),
        key("/items", host="other.example"),
        key("/items", scheme="http"),
        key("/items", method="POST"),
        key("/items", headers={"accept": "x", "cookie": "lang=fr"}, rule=rule),
    ]
    assert len({k.digest for k in keys}) == len(keys)
    assert {k.path_hash for k in keys} == {path_hash("/items")}
    assert all(k.path == "/items" for k in keys)
    assert path_hash("/items") != path_hash("/items/")
    assert re.fullmatch(r"[0-9a-f]{16}", path_hash("/x"))


def test_cache_key_equality_and_hash() -> None:
    a, b = key(query=b"x=1"), key(query=b"x=1")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, key(query=b"x=2")}) == 2
    assert a != "not a key"


def test_field_value_is_exact_and_keeps_repeated_lines_apart() -> None:
    assert field_value({}, "a") is None
    assert field_value({"a": " gzip "}, "a") == " gzip "
    assert field_value({"a": ", fr"}, "a", {"a": ["", "fr"]}) == "\nfr"
    assert field_value({"a": "x, y"}, "a", {"a": ["x, y"]}) != field_value(
        {"a": "x, y"}, "a", {"a": ["x", "y"]}
    )


def test_variant_hash_distinguishes_values_absent_and_names() -> None:
    names = ["accept-encoding"]
    gzip = variant_hash(names, {"accept-encoding": "gzip"})
    assert gzip != variant_hash(names, {"accept-encoding": " gzip "})
    assert gzip != variant_hash(names, {"accept-encoding": "br"})
    assert variant_hash(names, {}) != variant_hash(names, {"accept-encoding": ""})
    assert variant_hash(["a", "b"], {"a": "1"}) != variant_hash(["a", "b"], {"b": "1"})
    assert variant_hash(["a"], {"a": "x"}) != variant_hash(["b"], {"b": "x"})


# -- property: different requests never share a key ---------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    scheme: str
    host: str
    path: str
    query: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _kept(name: bytes, rule: Rule | None) -> bool:
    if rule is None or b"%" in name or b"+" in name:
        return True
    text = name.decode("latin-1")
    if rule.params is not None and not any(fnmatch.fnmatchcase(text, g) for g in rule.params):
        return False
    return not any(fnmatch.fnmatchcase(text, g) for g in rule.ignore_params)


def _cookies(header: str | None, name: str) -> tuple[str, ...]:
    out = []
    for part in (header or "").split(";"):
        k, eq, v = part.partition("=")
        if eq and k.strip() == name:
            out.append(v.strip())
    return tuple(out)


def canonical(req: Req, rule: Rule | None) -> tuple[object, ...]:
    """What the brief says identifies a request, written independently of keys.py."""
    host = req.host.lower()
    default = {"http": ":80", "https": ":443"}[req.scheme]
    if host.endswith(default) and host.count(":") == 1:
        host = host[: -len(default)]
    segments = req.query.split(b"&") if req.query else []
    segments = [s for s in segments if _kept(s.partition(b"=")[0], rule)]
    segments.sort(key=lambda s: s.partition(b"=")[0])  # stable: repeats keep their order
    vary: tuple[object, ...] = ()
    if rule is not None:
        vary = (
            tuple(req.headers.get(n) for n in rule.vary),
            tuple(_cookies(req.headers.get("cookie"), n) for n in rule.vary_cookies),
        )
    method = "GET" if req.method in ("GET", "HEAD") else req.method
    return (method, req.scheme, host, req.path, tuple(segments), vary)


def _key_of(req: Req, rule: Rule | None) -> CacheKey:
    return request_key(
        method=req.method,
        scheme=req.scheme,
        host=req.host,
        path=req.path,
        query=req.query,
        headers=req.headers,
        rule=rule,
    )


RULES = [
    None,
    Rule("/*", ttl=1),
    Rule("/*", params=["a", "b*"]),
    Rule("/*", ignore_params=["utm_*", "A"]),
    Rule("/*", vary=["accept-language"]),
    Rule("/*", vary_cookies=["lang"]),
    Rule("/*", vary=["accept-language", "x-t"], vary_cookies=["lang", "b"], ignore_params=["b"]),
]

_VALUES = ["", "1", "x y", "&", "=", "+", "%", "é", "a=b&c"]


@st.composite
def _encoded(draw: st.DrawFn, text: str) -> bytes:
    """One of the many spellings of a query component."""
    raw = text.encode("utf-8") if draw(st.booleans()) else text.encode("latin-1", "replace")
    how = draw(st.sampled_from(["quote", "plus", "all-upper", "all-lower", "plain"]))
    if how == "quote":
        return quote(raw, safe="").encode()
    if how == "plus":
        return quote_plus(raw, safe="").encode()
    if how in ("all-upper", "all-lower"):
        out = "".join(f"%{b:02X}" for b in raw)
        return (out if how == "all-upper" else out.lower()).encode()
    # plain: only safe when it has no separator, escape or plus in it
    if re.search(rb"[&=%+#\s]", raw) or any(b > 127 for b in raw):
        return quote(raw, safe="").encode()
    return raw


@dataclass(frozen=True)
class Shape:
    """A request before it is spelled out: spelling varies, meaning does not."""

    method_class: str
    scheme: str
    host: str
    port: str
    path: str
    params: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]


_SHAPES = st.builds(
    Shape,
    method_class=st.sampled_from(["GET", "POST"]),
    scheme=st.sampled_from(["http", "https"]),
    host=st.sampled_from(["example.com", "example.org"]),
    port=st.sampled_from(["", "80", "443", "8080"]),
    path=st.sampled_from(["/", "/a", "/A", "/a/", "/é", "/a b"]),
    params=st.lists(
        st.tuples(st.sampled_from(["a", "b", "bb", "utm_x", "A"]), st.sampled_from(_VALUES)),
        max_size=4,
    ).map(tuple),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["accept-language", "x-t", "cookie"]),
            st.sampled_from(["", "en", "en,fr", " en , fr", "lang=en", "lang=", "b=1; lang=fr"]),
        ),
        max_size=3,
        unique_by=lambda h: h[0],
    ).map(tuple),
)


@st.composite
def _spell(draw: st.DrawFn, shape: Shape) -> Req:
    method = shape.method_class
    if method == "GET":
        method = draw(st.sampled_from(["GET", "HEAD"]))
    host = shape.host
    if draw(st.booleans()):
        host = host.upper() if draw(st.booleans()) else host.capitalize()
    if shape.port:
        host = f"{host}:{shape.port}"
    elif draw(st.booleans()):
        host = f"{host}:{ {'http': 80, 'https': 443}[shape.scheme] }"
    # Reorder params of different names; same-name params keep their order.
    params = list(shape.params)
    names = list(dict.fromkeys(n for n, _ in params))
    order = draw(st.permutations(names))
    grouped = [p for name in order for p in params if p[0] == name]
    parts = []
    for name, value in grouped:
        parts.append(draw(_encoded(name)) + b"=" + draw(_encoded(value)))
        if draw(st.booleans()) and draw(st.booleans()):
            parts.append(b"")  # a stray '&'
    return Req(method, shape.scheme, host, shape.path, b"&".join(parts), dict(shape.headers))


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[Req, Req, Rule | None]:
    rule = draw(st.sampled_from(RULES))
    shape = draw(_SHAPES)
    a = draw(_spell(shape))
    how = draw(st.sampled_from(["respell", "mutate", "independent"]))
    if how == "respell":
        other = shape
    elif how == "mutate":
        fresh = draw(_SHAPES)
        changed = draw(st.sampled_from(list(Shape.__dataclass_fields__)))
        other = replace(shape, **{changed: getattr(fresh, changed)})
    else:
        other = draw(_SHAPES)
    return a, draw(_spell(other)), rule


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pairs())
def test_keys_equal_exactly_when_requests_are_the_same(pair: tuple[Req, Req, Rule | None]) -> None:
    a, b, rule = pair
    same = canonical(a, rule) == canonical(b, rule)
    assert (_key_of(a, rule) == _key_of(b, rule)) is same
    assert (_key_of(a, rule).path_hash == _key_of(b, rule).path_hash) is (a.path == b.path)


_TEXT = st.text(st.characters(max_codepoint=0x2FF), max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    path=st.lists(_TEXT, min_size=2, max_size=2),
    params=st.lists(st.lists(st.tuples(_TEXT, _TEXT), max_size=3), min_size=2, max_size=2),
    header=st.lists(
        st.one_of(st.none(), st.text(st.characters(max_codepoint=0xFF), max_size=6)),
        min_size=2,
        max_size=2,
    ),
)
def test_distinct_components_never_collide(
    path: list[str], params: list[list[tuple[str, str]]], header: list[str | None]
) -> None:
    rule = Rule("/*", vary=["x-h"])
    reqs = [
        Req(
            "GET",
            "https",
            "example.com",
            "/" + path[i],
            b"&".join(
                quote(n.encode(), safe="").encode() + b"=" + quote(v.encode(), safe="").encode()
                for n, v in params[i]
            ),
            {} if header[i] is None else {"x-h": header[i] or ""},
        )
        for i in (0, 1)
    ]
    same = canonical(reqs[0], rule) == canonical(reqs[1], rule)
    assert (_key_of(reqs[0], rule) == _key_of(reqs[1], rule)) is same
