"""Normalised ``Accept-Encoding`` / ``Accept-Language`` keep keys poisoning-proof.

Against the echo apps of every adapter (the view reports the fields its framework
gave it): for random field values (q-values, wildcards, exclusions, repeated lines,
odd case, garbage), the body served, hit or miss, always equals what the echo view
returns for the *normalised* request, so no request is ever handed a variant the view
would not have produced for it, and the view only ever saw normalised values. With
the options off, ``plan()`` hands the key the driver's facts untouched: today's key.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routecache import MemoryStore, Rule
from routecache.middleware.config import CacheConfig
from routecache.middleware.keys import request_key
from routecache.middleware.plans import Action, RequestFacts
from routecache.middleware.vary_normalise import best_coding, best_language
from tests.keys._apps import APPS, Pair, Raw

CODINGS = ["br", "gzip"]
LANGUAGES = ["en", "fr", "de-CH"]
RULE_SETS = {
    "declared": [Rule("/*", ttl=60, vary=["accept-language", "accept-encoding"])],
    "learned": [Rule("/*", ttl=60)],
}

_WEIGHTS = ["", ";q=0", ";q=1", ";q=0.5", ";q=0.500", ";Q=0.8", ";q=1.0", ";q=0.001", ";q=2"]
_WEIGHTS += [";q=abc", ";q=", " ;q=0.1", ";foo=bar", ";q=0.5;x=1"]
_SEPARATORS = [",", ", ", " ,", ",,", ", ,"]
_CODING_NAMES = ["gzip", "br", "deflate", "zstd", "identity", "*", "GZIP", "x-gzip", "Br", ""]
_TAGS = ["en", "en-GB", "en-us", "fr", "fr-CH", "de", "de-CH", "DE-ch-1996", "*", "zh-Hant"]
_TAGS += ["x-klingon", "i-default", "EN", "e n", "en_GB", ""]
_GARBAGE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


def _list_value(names: list[str]) -> st.SearchStrategy[str]:
    member = st.tuples(st.sampled_from(names), st.sampled_from(_WEIGHTS)).map("".join)
    return st.builds(
        lambda members, sep: sep.join(members),
        st.lists(member, max_size=5),
        st.sampled_from(_SEPARATORS),
    )


def _lines(name: bytes, names: list[str]) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    value = st.one_of(_list_value(names), _GARBAGE)
    return st.lists(value.map(lambda v: (name, v.encode("latin-1"))), max_size=2)


@st.composite
def _requests(draw: st.DrawFn) -> Raw:
    lines = [
        *draw(_lines(b"accept-encoding", _CODING_NAMES)),
        *draw(_lines(b"accept-language", _TAGS)),
    ]
    draw(st.randoms()).shuffle(lines)
    return Raw(b"/page", ((b"host", b"testserver"), *lines))


def _combined(raw: Raw, name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in raw.headers if k == name]
    return ", ".join(values) if values else None


def normalised(raw: Raw) -> Raw:
    """``raw`` with the two fields replaced by what the view must see."""
    coding = best_coding(_combined(raw, b"accept-encoding"), CODINGS)
    language = best_language(_combined(raw, b"accept-language"), LANGUAGES)
    return Raw(
        raw.target,
        (
            (b"host", b"testserver"),
            (b"accept-encoding", coding.encode()),
            (b"accept-language", language.encode()),
        ),
    )


@pytest.mark.parametrize("rules", sorted(RULE_SETS))
@pytest.mark.parametrize("adapter", sorted(APPS))
def test_served_bodies_are_the_echo_of_the_normalised_request(adapter: str, rules: str) -> None:
    store = MemoryStore()
    options: dict[str, Any] = {
        "normalize_accept_encoding": CODINGS,
        "normalize_accept_language": LANGUAGES,
    }
    pair = Pair(
        APPS[adapter](store=store, rules=RULE_SETS[rules], **options),
        APPS[adapter](store=MemoryStore()),
    )
    hits = 0

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(_requests(), min_size=2, max_size=4))
    def check(requests: list[Raw]) -> None:
        nonlocal hits
        store.invalidate(everything=True)
        for raw in [*requests, requests[0]]:
            resp = pair.cached.send(raw)
            assert resp.status == 200, (raw, resp.status)
            expected = pair.plain.send(normalised(raw)).body
            assert resp.body == expected, (raw, resp.header("cache-status"))
            hits += "; hit" in (resp.header("cache-status") or "")

    try:
        check()
    finally:
        pair.close()
    assert hits > 0  # the property was exercised on hits, not only on misses


_ANY_FIELD = st.one_of(st.none(), _GARBAGE, _list_value(_CODING_NAMES), _list_value(_TAGS))


@settings(max_examples=300, deadline=None, database=None)
@given(encoding=_ANY_FIELD, language=_ANY_FIELD, repeated=st.booleans())
def test_with_the_options_off_the_key_is_todays(
    encoding: str | None, language: str | None, repeated: bool
) -> None:
    headers = {"host": "testserver"}
    lines: dict[str, list[str]] | None = None
    for name, value in (("accept-encoding", encoding), ("accept-language", language)):
        if value is not None:
            headers[name] = value
            if repeated:
                lines = {**(lines or {}), name: [value, value]}
                headers[name] = f"{value}, {value}"
    for rules in RULE_SETS.values():
        policy = CacheConfig(rules=rules).policy
        facts = RequestFacts(
            method="GET",
            scheme="http",
            host="testserver",
            path="/page",
            query=b"",
            headers=headers,
            lines=lines,
        )
        plan = policy.plan(facts)
        assert plan.action == Action.LOOKUP
        assert plan.facts is facts
        assert plan.rewrites == ()
        today = request_key(
            method="GET",
            scheme="http",
            host="testserver",
            path="/page",
            query=b"",
            headers=headers,
            rule=rules[0],
            lines=lines,
        )
        assert plan.key == today
