"""Regression tests of issue 10, through every adapter: two requests share an entry
only if the app cannot tell them apart; otherwise the second one gets its own
answer (or the request bypasses the cache, saying why).

Each case sends the attacker's request first (it may be stored), then the victim's;
the victim must get exactly what the app answers for the victim's request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from routecache import Rule
from tests.keys._apps import WSGI_APPS, Pair, Raw, Sender

RULES = [Rule("/*", ttl=60, vary=["accept-language"], vary_cookies=["theme"])]
#: No declared vary: the echo's ``Vary: Accept-Language`` is learned from the response.
LEARNED = [Rule("/*", ttl=60, vary_cookies=["theme"])]

Make = Callable[..., Pair]


def status(resp: object) -> str:
    return resp.header("cache-status") or ""  # type: ignore[attr-defined,no-any-return]


def attack(pair: Pair, attacker: Raw, victim: Raw) -> None:
    """The attacker's request, then the victim's: the victim gets its own answer."""
    first = pair.check(attacker)
    assert first.status == 200 or attacker.target.startswith(b"/items"), first
    resp = pair.cached.send(victim)
    assert resp.body == pair.plain.send(victim).body, (status(resp), resp.body)


GET = Raw()


def at(target: bytes, *headers: tuple[bytes, bytes]) -> Raw:
    return Raw(target, ((b"host", b"www.example.com"), *headers))


# -- decoded targets --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attacker", "victim"),
    [
        (b"/p%2Fq", b"/p/q"),  # an escaped separator
        (b"/p%2fq", b"/p%2Fq"),
        (b"/%70", b"/p"),  # an escape of a plain character
        (b"/p%FF", b"/p%FE"),  # non-UTF-8 bytes: the ASGI path decodes both to U+FFFD
        (b"/p%zz", b"/p%25zz"),  # an invalid escape and its escaped spelling
        (b"/p?x=%31", b"/p?x=1"),
        (b"/p?x=+", b"/p?x=%20"),
        (b"/p?x=1&&y=2", b"/p?x=1&y=2"),
        (b"/p?x=1%26y=2", b"/p?x=1&y=2"),  # a percent-encoded query separator
        (b"/p?%78=1", b"/p?x=1"),
        (b"/p?", b"/p"),
    ],
)
def test_different_raw_targets_never_share_an_entry(
    make: Make, attacker: bytes, victim: bytes
) -> None:
    pair = make(rules=RULES)
    attack(pair, at(attacker), at(victim))


def test_the_raw_target_still_shares_what_is_the_same(make: Make) -> None:
    pair = make(rules=RULES)
    pair.check(at(b"/p/q?a=1&b=2&a=0"))
    again = pair.check(at(b"/p/q?b=2&a=1&a=0"))
    assert "; hit" in status(again), status(again)


# -- hosts --------------------------------------------------------------------------------


def test_a_host_with_two_ports_bypasses(make: Make) -> None:
    pair = make(rules=RULES)
    odd = Raw(b"/page", ((b"host", b"h:8080:80"),))
    first = pair.check(odd)
    assert status(first) == "routecache; fwd=bypass; detail=host"
    attack(pair, odd, Raw(b"/page", ((b"host", b"h:8080"),)))
    attack(pair, odd, Raw(b"/page", ((b"host", b"h"),)))


def test_only_a_lone_default_port_is_dropped(make: Make) -> None:
    pair = make(rules=RULES)
    pair.check(Raw(b"/page", ((b"host", b"Shop.Example:80"),)))
    hit = pair.check(Raw(b"/page", ((b"host", b"shop.example"),)))
    assert "; hit" in status(hit), status(hit)
    attack(pair, Raw(b"/page", ((b"host", b"h:8080"),)), Raw(b"/page", ((b"host", b"h:80"),)))


# -- rewriting headers --------------------------------------------------------------------

REWRITING = [
    (b"x-forwarded-host", b"evil.example.net"),
    (b"x-forwarded-proto", b"https"),
    (b"x-forwarded-scheme", b"https"),
    (b"x-forwarded-prefix", b"/evil"),
    (b"x-forwarded-port", b"8443"),
    (b"forwarded", b"host=evil.example.net;proto=https"),
    (b"x-original-url", b"/admin"),
    (b"x-rewrite-url", b"/admin"),
    (b"x-http-method-override", b"DELETE"),
    (b"x-http-method", b"DELETE"),
    (b"x-method-override", b"DELETE"),
    (b"x_forwarded_host", b"evil.example.net"),  # the underscore spelling
]


@pytest.mark.parametrize("header", REWRITING, ids=[h[0].decode() for h in REWRITING])
def test_rewriting_headers_bypass_by_default(
    make: Make, adapter: str, header: tuple[bytes, bytes]
) -> None:
    pair = make(rules=RULES)
    attacker = at(b"/page", header)
    first = pair.check(attacker)
    if not (adapter == "django_async" and b"_" in header[0]):
        # (Django under ASGI drops a header spelled with "_": the app cannot see it.)
        assert status(first) == "routecache; fwd=bypass; detail=unkeyed-header", status(first)
    attack(pair, attacker, at(b"/page"))


def test_a_trusted_rewriting_header_is_keyed(make: Make) -> None:
    pair = make(rules=RULES, trusted_headers=["X-Forwarded-Proto"])
    https = at(b"/page", (b"x-forwarded-proto", b"https"))
    assert status(pair.check(https)).endswith("stored"), status(pair.check(https))
    assert "; hit" in status(pair.check(https))
    attack(pair, https, at(b"/page"))
    attack(pair, https, at(b"/page", (b"x-forwarded-proto", b"http")))
    # Other rewriting headers still bypass.
    other = pair.check(at(b"/page", (b"x-forwarded-host", b"evil")))
    assert status(other) == "routecache; fwd=bypass; detail=unkeyed-header"


def test_a_header_in_the_rules_vary_is_keyed(make: Make) -> None:
    pair = make(rules=[Rule("/*", ttl=60, vary=["x-forwarded-host"])])
    evil = at(b"/page", (b"x-forwarded-host", b"evil"))
    pair.check(evil)
    assert "; hit" in status(pair.check(evil))
    attack(pair, evil, at(b"/page"))


def test_a_stripped_header_is_ignored(make: Make) -> None:
    pair = make(rules=RULES, stripped_headers=["x-forwarded-for", "x-forwarded-host"])
    # (The echo app does see it: the declaration is the user's promise, tested here
    # only for what the cache does with it.)
    first = pair.cached.send(at(b"/page", (b"x-forwarded-host", b"gone")))
    assert status(first) == "routecache; fwd=uri-miss; stored"


def test_bad_header_options_fail_at_start_up_naming_the_option(adapter: str) -> None:
    from routecache import ConfigurationError, MemoryStore
    from tests.keys._apps import APPS

    for options, name in (
        ({"trusted_headers": "x-forwarded-proto"}, "trusted_headers"),
        ({"unkeyed_headers": ["bad header"]}, "unkeyed_headers"),
        ({"stripped_headers": [3]}, "stripped_headers"),
        ({"trusted_headers": ["a"], "stripped_headers": ["A"]}, "trusted_headers"),
    ):
        with pytest.raises(Exception, match=name) as raised:
            _build_and_send(APPS[adapter], MemoryStore(), options)
        assert name in str(raised.value)
        if adapter != "django_sync" and adapter != "django_async":
            assert isinstance(raised.value, ConfigurationError)


def _build_and_send(
    factory: Callable[..., Sender], store: object, options: dict[str, object]
) -> None:
    sender = factory(store=store, **options)
    try:
        sender.send(GET)  # Starlette builds its middleware on the first request
    finally:
        sender.close()


# -- behind a proxy: what the framework honours is keyed -----------------------------------


@pytest.mark.parametrize(
    ("setting", "header"),
    [
        ({"USE_X_FORWARDED_HOST": True}, (b"x-forwarded-host", b"evil.example.net")),
        ({"USE_X_FORWARDED_PORT": True}, (b"x-forwarded-port", b"8443")),
        (
            {"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")},
            (b"x-forwarded-proto", b"https"),
        ),
    ],
    ids=["USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT", "SECURE_PROXY_SSL_HEADER"],
)
def test_django_keys_on_what_its_proxy_settings_make_the_view_see(
    make: Make, adapter: str, setting: dict[str, object], header: tuple[bytes, bytes]
) -> None:
    if not adapter.startswith("django"):
        pytest.skip("Django settings")
    from django.test import override_settings

    with override_settings(**setting):
        pair = make(rules=RULES)
        attacker = at(b"/page", header)
        first = pair.check(attacker)
        assert status(first) == "routecache; fwd=uri-miss; stored", status(first)
        assert "; hit" in status(pair.check(attacker))  # keyed, not bypassed
        attack(pair, attacker, at(b"/page"))
        # Headers Django does not honour under these settings still bypass.
        other = pair.check(at(b"/page", (b"x-original-url", b"/admin")))
        assert status(other) == "routecache; fwd=bypass; detail=unkeyed-header"


def test_django_force_script_name_is_keyed_as_the_prefix(make: Make, adapter: str) -> None:
    if not adapter.startswith("django"):
        pytest.skip("Django settings")
    from django.test import override_settings

    with override_settings(FORCE_SCRIPT_NAME="/app"):
        pair = make(rules=RULES)
        pair.check(at(b"/page"))
        again = pair.check(at(b"/page"))
        assert "; hit" in status(again), status(again)
    # The same raw request without the forced prefix is another page to Django.
    attack(pair, at(b"/page"), at(b"/page"))


@pytest.mark.parametrize("store_kind", ["memory"])
def test_flask_behind_proxy_fix_outside_the_cache_keys_what_it_honours(store_kind: str) -> None:
    from routecache import MemoryStore
    from tests.keys._apps import flask_app

    pair = Pair(
        flask_app(store=MemoryStore(), rules=RULES, proxy_fix={"x_host": 1, "x_proto": 1}),
        flask_app(store=MemoryStore(), proxy_fix={"x_host": 1, "x_proto": 1}),
    )
    try:
        attacker = at(b"/page", (b"x-forwarded-host", b"evil.example.net"))
        first = pair.check(attacker)
        assert status(first) == "routecache; fwd=uri-miss; stored", status(first)
        assert b"evil.example.net" in first.body
        assert "; hit" in status(pair.check(attacker))
        attack(pair, attacker, at(b"/page"))
        attack(pair, at(b"/page", (b"x-forwarded-proto", b"https")), at(b"/page"))
    finally:
        pair.close()


def test_flask_with_proxy_fix_inside_the_cache_bypasses(store: object) -> None:
    from tests.keys._apps import flask_app

    pair = Pair(
        flask_app(store=store, rules=RULES, proxy_fix={"inside": 1, "x_host": 1}),
        flask_app(store=store, proxy_fix={"inside": 1, "x_host": 1}),
    )
    try:
        attacker = at(b"/page", (b"x-forwarded-host", b"evil.example.net"))
        first = pair.check(attacker)
        assert status(first) == "routecache; fwd=bypass; detail=unkeyed-header"
        attack(pair, attacker, at(b"/page"))
    finally:
        pair.close()


# -- cookies and Vary ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cookie",
    [
        b'theme=dark; theme="><script>alert(1)</script>',
        b"theme=evil; theme=dark",
        b"theme=dark; _ga=1; theme=evil",
    ],
)
def test_duplicate_vary_cookies_are_all_keyed(make: Make, cookie: bytes) -> None:
    pair = make(rules=RULES)
    attack(pair, at(b"/page", (b"cookie", cookie)), at(b"/page", (b"cookie", b"theme=dark")))
    attack(pair, at(b"/page", (b"cookie", cookie)), at(b"/page", (b"cookie", b"theme=evil")))


def test_a_quoted_cookie_with_vary_cookies_bypasses(make: Make) -> None:
    pair = make(rules=RULES)
    quoted = at(b"/page", (b"cookie", b'theme="x; _ga=1"'))
    assert status(pair.check(quoted)) == "routecache; fwd=bypass; detail=cookie"


@pytest.mark.parametrize("rules", [RULES, LEARNED], ids=["declared", "learned"])
@pytest.mark.parametrize(
    ("attacker", "victim"),
    [
        ([b"", b"fr"], [b"fr"]),
        ([b"fr", b""], [b"fr"]),
        ([b"en", b"fr"], [b"en, fr"]),
        ([b", fr"], [b"fr"]),
        ([b"en,fr"], [b"en, fr"]),
    ],
)
def test_varied_headers_are_keyed_on_every_line_exactly(
    make: Make, rules: list[Rule], attacker: list[bytes], victim: list[bytes]
) -> None:
    pair = make(rules=rules)
    pair.check(at(b"/page", (b"accept-language", b"de")))  # the learned Vary, if any
    lines = [(b"accept-language", v) for v in attacker]
    attack(pair, at(b"/page", *lines), at(b"/page", *[(b"accept-language", v) for v in victim]))


# -- the mount prefix (SCRIPT_NAME) -------------------------------------------------------


def test_a_script_name_header_bypasses(make: Make, adapter: str) -> None:
    if adapter not in WSGI_APPS:
        pytest.skip("gunicorn's SCRIPT_NAME header is a WSGI matter")
    pair = make(rules=[Rule("/items/*", ttl=60)])
    attacker = Raw(b"/items/1", ((b"host", b"h"), (b"script_name", b"/items")))
    first = pair.check(attacker)
    assert status(first) == "routecache; fwd=bypass; detail=unkeyed-header", status(first)
    attack(pair, attacker, Raw(b"/items/1", ((b"host", b"h"),)))


def test_the_key_uses_the_prefix_the_app_routes_on(make: Make, adapter: str) -> None:
    # With the rewriting-header check off, the key still tells SCRIPT_NAME=/items,
    # PATH_INFO=/1 (routed to /1) from SCRIPT_NAME="", PATH_INFO=/items/1.
    pair = make(rules=[Rule("/items/*", ttl=60)], unkeyed_headers=[])
    if adapter in WSGI_APPS:
        attacker = Raw(b"/items/1", ((b"host", b"h"), (b"script_name", b"/items")))
        victim = Raw(b"/items/1", ((b"host", b"h"),))
    else:
        attacker = Raw(b"/1", ((b"host", b"h"),), root_path="/items")
        victim = Raw(b"/items/1", ((b"host", b"h"),))
    attack(pair, attacker, victim)


def test_the_flask_warning_set_is_bounded(store: object) -> None:
    import flask

    from routecache.adapters.flask import RouteCache
    from tests.keys._apps import WSGISender

    app = flask.Flask("routecache_keys_warnings")
    cache = RouteCache(app, store=store, unkeyed_headers=[])

    @app.get("/p")
    @cache.route(ttl=60)
    def p() -> str:
        return "p"

    sender = WSGISender(app)
    logging.getLogger("routecache").setLevel(logging.CRITICAL)
    try:
        for i in range(400):
            sender.send(
                Raw(f"/m{i}/p".encode(), ((b"host", b"h"), (b"script_name", f"/m{i}".encode())))
            )
    finally:
        logging.getLogger("routecache").setLevel(logging.NOTSET)
    middleware = app.extensions["routecache"].middleware
    assert len(middleware._warned) <= 256
    assert len(middleware.routes) <= 8


# -- warming ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WSGI_APPS)
def test_warming_a_wsgi_app_fills_the_key_real_servers_requests_use(name: str) -> None:
    # (ASGI warming already builds a raw_path, as uvicorn does.)
    from routecache import MemoryStore
    from routecache.warm import warm
    from tests.keys._apps import APPS, WSGISender

    sender = APPS[name](store=MemoryStore(), rules=RULES)
    try:
        inner = getattr(sender, "inner", sender)
        assert isinstance(inner, WSGISender)
        warm(inner.app, ["/items/1?b=2&a=1"], host="www.example.com")
        hit = sender.send(at(b"/items/1?a=1&b=2"))
        assert "; hit" in status(hit), status(hit)
    finally:
        sender.close()
