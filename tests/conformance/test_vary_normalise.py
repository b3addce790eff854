"""Conformance: opt-in normalisation of ``Accept-Encoding`` and ``Accept-Language``
(``normalize_accept_encoding`` / ``normalize_accept_language``), through every adapter.

With the option on, the request field the view receives is rewritten to the one
value the app will act on (the best coding it produces, the best language it serves),
and the key and the ``Vary`` variants use that same value: many client spellings,
one entry, and the view never sees anything but what the entry was keyed on. With
the option off, every spelling is its own variant, as RFC 9111 §4.1 lets a cache do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from routecache import ConfigurationError, Rule
from routecache.middleware.config import CacheConfig
from tests.conformance.harness import Client, Origin, Reply, Seen, wait_until
from tests.conformance.helpers import entry_keys
from tests.conformance.rfc_helpers import is_hit, ours, reply, stored


def _echo(*names: str) -> Callable[[Seen], Reply]:
    """A view whose body is what it saw of ``names``; its response varies on them."""

    def view(seen: Seen) -> Reply:
        body = ";".join(f"{n}={seen.headers.get(n)}" for n in names).encode()
        return reply(("cache-control", "max-age=600"), ("vary", ", ".join(names)), body=body)

    return view


BROWSERS = [
    "gzip, deflate, br",
    "br;q=1.0, gzip;q=0.8, *;q=0.1",
    "GZIP, BR",
    "deflate, gzip, br, zstd",
]


def test_two_spellings_are_one_variant_and_the_view_sees_the_normalised_value(
    origin: Origin, make_client: Callable[..., Client], store: Any, redis_client: Any
) -> None:
    origin.on("/r", _echo("accept-encoding"))
    client = make_client(rules=[Rule("/r", ttl=60)], normalize_accept_encoding=["br", "gzip"])
    first = client.request("GET", "/r", {"accept-encoding": BROWSERS[0]})
    assert stored(first)
    assert first.body == b"accept-encoding=br"
    for spelling in BROWSERS[1:]:
        resp = client.request("GET", "/r", {"accept-encoding": spelling})
        assert is_hit(resp), (spelling, resp.cache_status)
        assert resp.body == b"accept-encoding=br"
    assert origin.count("/r") == 1
    assert origin.seen[0].headers["accept-encoding"] == "br"
    if redis_client is not None:
        # The primary entry (the latest variant) and the one variant: nothing per spelling.
        assert len(entry_keys(redis_client, store.prefix)) == 2


def test_q0_exclusions_and_the_app_preference_order_are_honoured(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-encoding"))
    client = make_client(rules=[Rule("/r", ttl=60)], normalize_accept_encoding=["br", "gzip"])
    cases = [
        ("gzip, br;q=0", b"gzip"),
        ("*, br;q=0", b"gzip"),  # the wildcard does not bring back an excluded coding
        ("gzip;q=0.5, br;q=0.4", b"gzip"),
        ("gzip, br", b"br"),  # a tie goes to the app's order
        ("br;q=0, gzip;q=0", b"identity"),
        ("*;q=0", b"identity"),
        ("deflate", b"identity"),
        ("", b"identity"),  # an empty field: no coding wanted (RFC 9110 §12.5.3)
        (None, b"identity"),  # absent: any coding would do; identity is always safe
    ]
    for value, expected in cases:
        headers = {} if value is None else {"accept-encoding": value}
        resp = client.request("GET", "/r", headers)
        assert resp.body == b"accept-encoding=" + expected, (value, resp.body)
    # Three variants for nine spellings: br was never chosen after the fourth request.
    assert origin.count("/r") == 3


def test_repeated_lines_become_the_one_normalised_line(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-encoding"))
    client = make_client(rules=[Rule("/r", ttl=60)], normalize_accept_encoding=["br", "gzip"])
    lines = [("accept-encoding", "gzip;q=0.5"), ("accept-encoding", "br")]
    assert client.request("GET", "/r", lines).body == b"accept-encoding=br"
    assert is_hit(client.request("GET", "/r", {"accept-encoding": "br"}))
    assert origin.count("/r") == 1


def test_a_background_refresh_sends_the_normalised_value(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    def view(seen: Seen) -> Reply:
        body = f"{seen.headers.get('accept-encoding')}#{len(origin.seen)}".encode()
        if len(origin.seen) == 1:  # born stale: the next request refreshes it
            stale = ("cache-control", "max-age=1, stale-while-revalidate=600")
            return reply(stale, ("vary", "accept-encoding"), ("age", "100"), body=body)
        return reply(("cache-control", "max-age=600"), ("vary", "accept-encoding"), body=body)

    origin.on("/r", view)
    client = make_client(rules=[Rule("/r", ttl=60)], normalize_accept_encoding=["gzip"])
    assert stored(client.request("GET", "/r", {"accept-encoding": "gzip, br"}))
    stale = client.request("GET", "/r", {"accept-encoding": "br, gzip;q=0.9"})
    assert ours(stale)["detail"] == "stale-while-revalidate"
    assert stale.body == b"gzip#1"
    assert wait_until(
        lambda: client.request("GET", "/r", {"accept-encoding": "gzip"}).body == b"gzip#2"
    )
    assert [s.headers.get("accept-encoding") for s in origin.seen] == ["gzip", "gzip"]


def test_a_rule_turns_it_on_with_the_default_codings(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-encoding"))
    origin.on("/other", _echo("accept-encoding"))
    client = make_client(
        rules=[Rule("/r", ttl=60, normalize_accept_encoding=True), Rule("/other", ttl=60)]
    )
    # The default codings are gzip only: what Starlette's and Django's GZipMiddleware make.
    assert client.request("GET", "/r", {"accept-encoding": "gzip, br"}).body == (
        b"accept-encoding=gzip"
    )
    assert is_hit(client.request("GET", "/r", {"accept-encoding": "br, gzip;q=0.5"}))
    assert origin.count("/r") == 1
    # The rule without the option keeps exact values.
    raw = client.request("GET", "/other", {"accept-encoding": "gzip, br"})
    assert raw.body == b"accept-encoding=gzip, br"


def test_a_rule_can_turn_the_driver_option_off(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-encoding"))
    client = make_client(
        rules=[Rule("/r", ttl=60, normalize_accept_encoding=False)],
        normalize_accept_encoding=["gzip"],
    )
    assert client.request("GET", "/r", {"accept-encoding": "gzip, br"}).body == (
        b"accept-encoding=gzip, br"
    )


def test_languages_are_looked_up_per_rfc_4647(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-language"))
    client = make_client(
        rules=[Rule("/r", ttl=60)], normalize_accept_language=["en", "fr", "de-CH"]
    )
    cases = [
        ("en-GB,en;q=0.9,fr;q=0.8", b"en"),
        ("en-US", b"en"),  # lookup truncates the range: en-US -> en
        ("fr-CH, fr;q=0.9, en;q=0.8", b"fr"),
        ("DE-ch-x-private", b"de-CH"),  # case-insensitive; the app's spelling is sent
        ("de", b"en"),  # lookup never widens a tag: de does not match de-CH
        ("ja, fr;q=0.1", b"fr"),
        ("fr;q=0, en;q=0.5", b"en"),
        ("ja", b"en"),  # nothing matches: the first language is the default
        ("*", b"en"),
        (None, b"en"),
    ]
    for value, expected in cases:
        headers = {} if value is None else {"accept-language": value}
        resp = client.request("GET", "/r", headers)
        assert resp.body == b"accept-language=" + expected, (value, resp.body)
    assert origin.count("/r") == 3


def test_only_normalised_fields_change_other_vary_fields_stay_exact(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-encoding", "foo"))
    client = make_client(rules=[Rule("/r", ttl=60)], normalize_accept_encoding=["gzip"])
    a = client.request("GET", "/r", {"accept-encoding": "gzip", "foo": "1,2"})
    assert a.body == b"accept-encoding=gzip;foo=1,2"
    assert is_hit(client.request("GET", "/r", {"accept-encoding": "gzip, br", "foo": "1,2"}))
    b = client.request("GET", "/r", {"accept-encoding": "gzip", "foo": "1, 2"})
    assert not is_hit(b)
    assert b.body == b"accept-encoding=gzip;foo=1, 2"
    assert origin.count("/r") == 2


def test_a_rule_declared_vary_keys_on_the_normalised_value(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-language"))
    client = make_client(
        rules=[Rule("/r", ttl=60, vary=["accept-language"])],
        normalize_accept_language=["en", "fr"],
    )
    assert ours(client.request("GET", "/r", {"accept-language": "fr-FR"}))["fwd"] == "uri-miss"
    hit = client.request("GET", "/r", {"accept-language": "fr, en;q=0.1"})
    assert is_hit(hit)
    assert hit.body == b"accept-language=fr"
    assert origin.count("/r") == 1


def test_option_off_is_exactly_todays_behaviour(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-encoding", "accept-language"))
    client = make_client(rules=[Rule("/r", ttl=60)])
    spellings = [("gzip, br", "en"), ("br, gzip", "en"), ("gzip, br", "en-GB")]
    for encoding, language in spellings:
        headers = {"accept-encoding": encoding, "accept-language": language}
        resp = client.request("GET", "/r", headers)
        assert not is_hit(resp)
        assert resp.body == f"accept-encoding={encoding};accept-language={language}".encode()
    assert origin.count("/r") == 3
    seen = [s.headers["accept-encoding"] for s in origin.seen]
    assert seen == ["gzip, br", "br, gzip", "gzip, br"]


def test_bypassed_requests_reach_the_view_as_sent(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", _echo("accept-encoding"))
    client = make_client(rules=[Rule("/r", ttl=60)], normalize_accept_encoding=["gzip"])
    resp = client.request("GET", "/r", {"accept-encoding": "gzip, br", "cookie": "session=1"})
    assert ours(resp) == {"fwd": "bypass", "detail": "cookie"}
    assert resp.body == b"accept-encoding=gzip, br"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"normalize_accept_encoding": "gzip"}, "normalize_accept_encoding must be"),
        ({"normalize_accept_encoding": ["gzip", "x y"]}, "normalize_accept_encoding must be"),
        ({"normalize_accept_encoding": ["identity"]}, "normalize_accept_encoding must be"),
        ({"normalize_accept_encoding": 1}, "normalize_accept_encoding must be"),
        ({"normalize_accept_language": []}, "normalize_accept_language must be"),
        ({"normalize_accept_language": ["en", "not a tag"]}, "normalize_accept_language must be"),
        ({"normalize_accept_language": "en"}, "normalize_accept_language must be"),
        ({"normalize_accept_language": ["*"]}, "normalize_accept_language must be"),
        # True needs a list: only Django has one of its own (settings.LANGUAGES).
        ({"normalize_accept_language": True}, "normalize_accept_language must be"),
    ],
)
def test_bad_option_values_fail_at_start_up_naming_the_option(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"^CacheMiddleware: {message}"):
        CacheConfig.for_driver("CacheMiddleware", options)


@pytest.mark.parametrize(
    "options",
    [
        {"normalize_accept_encoding": "br"},
        {"normalize_accept_encoding": ["br", ""]},
        {"normalize_accept_language": True},
        {"normalize_accept_language": ["en-"]},
        {"normalize_accept_language": 0},
    ],
)
def test_bad_rule_values_name_the_rule_and_the_option(options: dict[str, object]) -> None:
    (name,) = options
    with pytest.raises(ConfigurationError, match=rf"Rule\('/r'\): {name} must be"):
        Rule("/r", **options)  # type: ignore[arg-type]
