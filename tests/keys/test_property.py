"""The guarantee of issue 10 as a property, per adapter: equal keys imply equal echoes.

For generated pairs of raw requests (targets with escapes, invalid escapes and
non-UTF-8 bytes, repeated and percent-encoded parameters, odd hosts, rewriting
headers, duplicate cookies, several ``Accept-Language`` lines), the second request is
sent after the first: whenever routecache answers a request from the cache, the body
must be exactly what the echo app answers for that request itself (its method, host,
scheme, prefix, path, raw target, raw query, varied headers and cookies). Equal keys
with different echoes would show up as a hit carrying the other request's echo.

The echo compares hosts and queries after the documented normalisations only (host
case, a lone default port, parameter order by raw name).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routecache import MemoryStore, Rule
from tests.keys._apps import APPS, Pair, Raw

RULE_SETS = {
    "declared": [Rule("/*", ttl=60, vary=["accept-language"], vary_cookies=["theme"])],
    "learned": [Rule("/*", ttl=60, vary_cookies=["theme"])],
}

_SEGMENTS = [
    b"p",
    b"%70",
    b"P",
    b"/",
    b"%2F",
    b"%2f",
    b"%FF",
    b"%fe",
    b"%zz",
    b"%25zz",
    b"%25",
    b"%C3%A9",
    b"+",
    b"%20",
    b";x",
    b"%3B",
    b".",
]
_PARAMS = [b"x=1", b"x=%31", b"%78=1", b"x=+", b"x=%20", b"y=2", b"", b"x=1%26y=2", b"x", b"x="]
_HOSTS = [b"h", b"H", b"h:80", b"h:8080", b"h:8080:80", b"h,h", b"h:"]
_LANGS = [b"", b"fr", b"en", b"en, fr", b"en,fr", b", fr"]
_COOKIES = [
    None,
    b"theme=dark",
    b"theme=evil",
    b"theme=dark; theme=evil",
    b"theme=evil; theme=dark",
    b"_ga=1; theme=dark",
    b'theme="a; _ga=1"',
]
_REWRITING = [
    None,
    (b"x-forwarded-host", b"evil"),
    (b"x-forwarded-proto", b"https"),
    (b"x-http-method-override", b"DELETE"),
    (b"x-original-url", b"/admin"),
    (b"script_name", b"/p"),
]


@dataclass(frozen=True)
class Spec:
    """A raw request, component by component."""

    path: tuple[bytes, ...]
    query: tuple[bytes, ...] | None
    host: bytes
    langs: tuple[bytes, ...]
    cookie: bytes | None
    rewriting: tuple[bytes, bytes] | None

    def raw(self) -> Raw:
        target = b"/" + b"".join(self.path)
        if self.query is not None:
            target += b"?" + b"&".join(self.query)
        headers = [(b"host", self.host)]
        headers += [(b"accept-language", v) for v in self.langs]
        if self.cookie is not None:
            headers.append((b"cookie", self.cookie))
        if self.rewriting is not None:
            headers.append(self.rewriting)
        return Raw(target, tuple(headers))


_FIELDS = {
    "path": st.lists(st.sampled_from(_SEGMENTS), max_size=3).map(tuple),
    "query": st.none() | st.lists(st.sampled_from(_PARAMS), max_size=3).map(tuple),
    "host": st.sampled_from(_HOSTS),
    "langs": st.lists(st.sampled_from(_LANGS), max_size=2).map(tuple),
    "cookie": st.sampled_from(_COOKIES),
    "rewriting": st.sampled_from(_REWRITING),
}
_SPECS = st.builds(Spec, **_FIELDS)


#: Spellings a decoding key would confuse: each item with the ones it decodes like.
_RESPELL: dict[bytes, list[bytes]] = {}
for _group in (
    [b"p", b"%70", b"%2570"],
    [b"/", b"%2F", b"%2f"],
    [b"%FF", b"%fe", b"%ff"],
    [b"%zz", b"%25zz"],
    [b"%25", b"%"],
    [b"+", b"%20", b"%2B"],
    [b";x", b"%3Bx"],
    [b"x=1", b"x=%31", b"%78=1"],
    [b"x=+", b"x=%20"],
    [b"x=1%26y=2", b"x=1&y=2"],
    [b"x", b"x="],
):
    for _item in _group:
        _RESPELL[_item] = [other for other in _group if other != _item]


@st.composite
def _respelt(draw: st.DrawFn, parts: tuple[bytes, ...]) -> tuple[bytes, ...]:
    spellable = [i for i, part in enumerate(parts) if part in _RESPELL]
    if not spellable:
        return parts
    i = draw(st.sampled_from(spellable))
    return (*parts[:i], draw(st.sampled_from(_RESPELL[parts[i]])), *parts[i + 1 :])


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[Spec, Spec]:
    """A request and another one close to it: one or two components redrawn, or a
    path segment or parameter spelt another way."""
    first = draw(_SPECS)
    second = first
    for name in draw(st.lists(st.sampled_from([*_FIELDS, "respell"]), min_size=1, max_size=2)):
        if name != "respell":
            second = replace(second, **{name: draw(_FIELDS[name])})
        elif second.query and draw(st.booleans()):
            second = replace(second, query=draw(_respelt(second.query)))
        else:
            second = replace(second, path=draw(_respelt(second.path)))
    return first, second


@pytest.mark.parametrize("rules", sorted(RULE_SETS))
@pytest.mark.parametrize("adapter", sorted(APPS))
def test_equal_keys_imply_equal_echoes(adapter: str, rules: str) -> None:
    store = MemoryStore()
    pair = Pair(
        APPS[adapter](store=store, rules=RULE_SETS[rules]),
        APPS[adapter](store=MemoryStore()),
    )

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(_pairs())
    def check(specs: tuple[Spec, Spec]) -> None:
        store.invalidate(everything=True)
        for spec in specs:
            pair.check(spec.raw())

    try:
        check()
    finally:
        pair.close()
