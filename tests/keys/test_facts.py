"""The request facts each driver builds for the key: the same view the app gets."""

from __future__ import annotations

from typing import Any

import pytest

from routecache import MemoryStore, Rule
from routecache.middleware.asgi import facts_from_scope
from routecache.middleware.keys import KeyGuard
from routecache.middleware.policy import Action, CachePolicy
from routecache.middleware.wsgi import facts_from_environ, raw_target
from tests.keys._apps import Raw, WSGISender, asgi_scope, flask_app, wsgi_environ

RULES = [Rule("/*", ttl=60, vary=["accept-language"])]


def plan_of(facts: Any) -> Any:
    return CachePolicy(RULES).plan(facts)


def test_asgi_facts_keep_repeated_lines_apart_and_the_raw_path() -> None:
    scope = asgi_scope(
        Raw(
            b"/p%2Fq?x=1",
            ((b"host", b"h"), (b"accept-language", b""), (b"accept-language", b"fr")),
        )
    )
    facts = facts_from_scope(scope)
    assert facts.path == "/p/q"
    assert facts.raw_path == b"/p%2Fq"
    assert facts.query == b"x=1"
    assert facts.headers["accept-language"] == ", fr"
    assert facts.lines == {"accept-language": ["", "fr"]}
    single = facts_from_scope(asgi_scope(Raw(b"/", ((b"host", b"h"), (b"accept-language", b"fr")))))
    assert single.lines is None
    assert plan_of(facts).key != plan_of(single).key


def test_asgi_without_raw_path_keys_the_decoded_path() -> None:
    # The app cannot see a raw target either: nothing to bypass.
    scope = asgi_scope(Raw(b"/p/q"))
    del scope["raw_path"]
    facts = facts_from_scope(scope)
    assert facts.raw_path is None
    assert plan_of(facts).action == Action.LOOKUP
    scope["raw_path"] = "/p/q"  # not bytes: not a raw path at all
    assert facts_from_scope(scope).raw_path is None


@pytest.mark.parametrize(
    ("raw", "uri", "query", "expected"),
    [
        ("/p%2Fq?x=1", None, "x=1", (b"/p%2Fq?", None)),
        (None, "/p%2Fq?x=1", "x=1", (b"/p%2Fq?", None)),
        ("/p", "/p", "", (b"/p", None)),
        ("/p", None, "x=1", (b"/p", None)),  # werkzeug's test builder: no query in it
        (None, None, "x=1", (None, None)),  # wsgiref: the app sees PATH_INFO only
        ("/p?x=1", "/q?x=1", "x=1", (None, "raw-target")),
        ("/p?x=1", None, "x=2", (None, "raw-target")),
        ("/p?x=1#f", None, "x=1", (None, "raw-target")),
    ],
)
def test_wsgi_raw_target(
    raw: str | None, uri: str | None, query: str, expected: tuple[bytes | None, str | None]
) -> None:
    environ: dict[str, Any] = {"QUERY_STRING": query}
    if raw is not None:
        environ["RAW_URI"] = raw
    if uri is not None:
        environ["REQUEST_URI"] = uri
    assert raw_target(environ) == expected


def test_wsgi_facts_key_the_script_name_apart() -> None:
    environ = wsgi_environ(Raw(b"/items/1", ((b"host", b"h"), (b"script_name", b"/items"))))
    assert environ is not None
    facts = facts_from_environ(environ)
    assert (facts.prefix, facts.path, facts.raw_path) == ("/items", "/items/1", b"/items/1")
    plain = wsgi_environ(Raw(b"/items/1", ((b"host", b"h"),)))
    assert plain is not None
    policy = CachePolicy(RULES)
    policy.guard = KeyGuard(unkeyed_headers=[])
    assert policy.plan(facts).key != policy.plan(facts_from_environ(plain)).key


def test_a_middleware_that_rewrites_the_query_makes_the_target_ambiguous() -> None:
    sender = flask_app(store=MemoryStore(), rules=RULES)
    assert isinstance(sender, WSGISender)
    inner = sender.app.wsgi_app

    def rewriting(environ: dict[str, Any], start_response: Any) -> Any:
        environ["QUERY_STRING"] = "x=2"
        return inner(environ, start_response)

    sender.app.wsgi_app = rewriting
    resp = sender.send(Raw(b"/page?x=1", ((b"host", b"h"),)))
    assert resp.header("cache-status") == "routecache; fwd=bypass; detail=raw-target"


def test_an_asgi_background_refresh_sends_the_app_the_lines_the_key_was_made_from() -> None:
    import asyncio
    import time

    from routecache import Entry
    from routecache.middleware.asgi import CacheMiddleware
    from routecache.middleware.policy import Verdict, VerdictKind

    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append([(bytes(k), bytes(v)) for k, v in scope["headers"]])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"fresh"})

    rules = [Rule("/*", ttl=60, vary=["accept-language"], refresh_ahead=0.5)]
    middleware = CacheMiddleware(app, store=MemoryStore(), rules=rules)
    lines = ((b"host", b"h"), (b"accept-language", b""), (b"accept-language", b"fr"))
    scope = asgi_scope(Raw(b"/page", lines))
    plan = middleware.policy.plan(facts_from_scope(scope))
    entry = Entry(status=200, headers=[], body=b"old", stored_at=time.time(), fresh_for=60.0)

    async def refresh() -> None:
        exchange = await middleware.engine.refresh(plan, Verdict(VerdictKind.REFRESH_AHEAD, entry))
        assert exchange is not None
        await middleware._refresh(scope, exchange)

    asyncio.run(refresh())
    assert seen == [list(lines)]
