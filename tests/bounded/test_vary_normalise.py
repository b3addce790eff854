"""Hostile ``Accept-Encoding`` / ``Accept-Language`` values under normalisation take a
bounded path: never a 500, never another variant than the one the view is shown.

A field longer than ``MAX_FIELD_LENGTH``, with more than ``MAX_MEMBERS`` members, or
that does not parse (bad q-values) is treated as absent: ``identity`` and the
default language. So these requests all share the entry of a request without the
fields, and the echo view (which reports what its framework gave it) proves the view
was shown exactly that.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routecache import MemoryStore, Rule
from routecache.middleware.plans import RequestFacts
from routecache.middleware.vary_normalise import (
    MAX_FIELD_LENGTH,
    MAX_MEMBERS,
    Normaliser,
    best_coding,
    best_language,
)
from tests.keys._apps import APPS, Pair, Raw

HOSTILE: list[tuple[bytes, bytes]] = [
    (b"accept-encoding", b"gzip;q=0.5, " * 10_000),  # 120 KB, 10,000 members
    (b"accept-encoding", b"," * (MAX_MEMBERS + 1) + b"gzip"),
    (b"accept-encoding", b"gzip" + b" " * MAX_FIELD_LENGTH),
    (b"accept-encoding", b"gzip;q=1.5"),
    (b"accept-encoding", b"gzip;q=-1"),
    (b"accept-encoding", b"gzip;q=0.0001"),
    (b"accept-encoding", b"gzip;q=NaN"),
    (b"accept-encoding", b"gzip;q"),
    (b"accept-encoding", b";q=1"),
    (b"accept-encoding", b"gzip;q=1\xff"),
    (b"accept-language", b"fr;q=0.9, " * 10_000),
    (b"accept-language", b"fr;q=1e0"),
    (b"accept-language", b"fr-" + b"a" * 5000),
    (b"accept-language", b"\xe9\xe9, fr"),
    (b"accept-language", b"fr_FR"),
]


@pytest.fixture(params=sorted(APPS))
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    options = {"normalize_accept_encoding": ["gzip"], "normalize_accept_language": ["en", "fr"]}
    made = Pair(
        APPS[request.param](store=MemoryStore(), rules=[Rule("/*", ttl=60)], **options),
        APPS[request.param](store=MemoryStore()),
    )
    yield made
    made.close()


def test_hostile_fields_share_the_entry_of_absent_ones(pair: Pair) -> None:
    base = Raw(b"/page")
    normal = base.with_headers((b"accept-encoding", b"identity"), (b"accept-language", b"en"))
    first = pair.cached.send(base)
    assert "stored" in (first.header("cache-status") or "")
    assert first.body == pair.plain.send(normal).body
    for line in HOSTILE:
        resp = pair.cached.send(base.with_headers(line))
        assert resp.status == 200, line[:1][0]
        assert "; hit" in (resp.header("cache-status") or ""), (line[0], line[1][:40])
        assert resp.body == first.body


def test_parsers_answer_hostile_values_with_the_safe_choice() -> None:
    for _, value in HOSTILE:
        text = value.decode("latin-1")
        assert best_coding(text, ["gzip", "br"]) == "identity"
        assert best_language(text, ["en", "fr"]) == "en"


def test_the_memo_of_parsed_values_stays_bounded() -> None:
    normaliser = Normaliser(["gzip"], ["en", "fr"])
    for n in range(5000):
        facts = RequestFacts(
            method="GET",
            scheme="http",
            host="h",
            path="/",
            query=b"",
            headers={"accept-encoding": f"gzip;q=0.{n % 1000:03d}, x{n}"},
        )
        normaliser.apply(facts, None)
    assert len(normaliser._memo) <= 1024
    normaliser._memo.clear()
    for n in range(100):  # oversized values are answered, never kept
        huge = f"{n}, " + "gzip, " * 10_000
        facts = facts.with_fields({"accept-encoding": huge, "accept-language": huge}, None)
        assert normaliser.apply(facts, None)[1] == (
            (b"accept-encoding", b"identity"),
            (b"accept-language", b"en"),
        )
    assert normaliser._memo == {}
