"""A background refresh runs as an anonymous request built from the key's facts.

The refresh renders a *shared* entry: it must never see who triggered it. An outer
middleware marks the triggering request as a user's (``scope["user"]``, a session,
per-request state; ``REMOTE_USER`` and a session object under WSGI), the request
carries a session cookie the rule ignores and a client address; the view renders all
of it. The refresh must render none of it, and the entry it stores must be the
anonymous page. (Django: ``tests/adapters/django/test_refresh_anonymous.py``.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from routecache import MemoryStore, Rule
from routecache.middleware.asgi import CacheMiddleware as ASGICache
from routecache.middleware.wsgi import CacheMiddleware as WSGICache
from tests.conformance.harness import ASGIClient, WSGIClient

#: Stored for the rule's 60 s, but 100 s old: every hit is stale and refreshes.
RULE = Rule("/me", ttl=60, stale_while_revalidate=600, cookies="ignore")
ALICE = {"x-test-user": "alice", "cookie": "sessionid=s3cret"}


def test_the_asgi_refresh_gets_a_clean_scope() -> None:
    renders: list[str] = []

    async def view(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        headers = dict(scope["headers"])
        page = (
            f"user={scope.get('user')} session={scope.get('session')} "
            f"state={sorted(scope.get('state', {}).items())} client={scope.get('client')} "
            f"cookie={headers.get(b'cookie')} who={headers.get(b'x-test-user')} "
            f"method={scope['method']} path={scope['path']} query={scope['query_string']!r}"
        )
        renders.append(page)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"age", b"100")],
            }
        )
        await send({"type": "http.response.body", "body": page.encode()})

    cached = ASGICache(view, store=MemoryStore(), rules=[RULE])

    async def outer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and any(k == b"x-test-user" for k, _ in scope["headers"]):
            scope = dict(scope, user="alice", session={"id": "s3cret"})
            scope["state"] = {**scope.get("state", {}), "who": "alice"}
        await cached(scope, receive, send)

    client = ASGIClient(outer)
    try:
        # The app's lifespan state is app-wide, not personal: refreshes keep it.
        lifespan_state = {"pool": "db"}
        client.run(cached({"type": "lifespan", "state": lifespan_state}, None, None))
        first = client.request("GET", "/me?page=1")
        assert first.status == 200
        anonymous = first.body.decode()
        assert "user=None" in anonymous
        assert len(renders) == 1

        stale = client.request("GET", "/me?page=1", headers=ALICE)
        assert "detail=stale-while-revalidate" in stale.cache_status
        assert stale.body.decode() == anonymous
        assert len(renders) == 2  # the refresh ran after the response went out
        refresh = renders[1]
        assert refresh == (
            "user=None session=None state=[('pool', 'db')] client=None "
            "cookie=None who=None method=GET path=/me query=b'page=1'"
        )
        assert client.request("GET", "/me?page=1").body.decode() == refresh
        assert client.errors == []
    finally:
        client.close()


def test_the_wsgi_refresh_gets_a_clean_environ() -> None:
    renders: list[str] = []

    def view(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        page = (
            f"user={environ.get('REMOTE_USER')} session={environ.get('beaker.session')} "
            f"addr={environ.get('REMOTE_ADDR')} cookie={environ.get('HTTP_COOKIE')} "
            f"who={environ.get('HTTP_X_TEST_USER')} method={environ['REQUEST_METHOD']} "
            f"path={environ['PATH_INFO']} query={environ['QUERY_STRING']}"
        )
        renders.append(page)
        body = page.encode()
        start_response(
            "200 OK",
            [("Content-Type", "text/plain"), ("Age", "100"), ("Content-Length", str(len(body)))],
        )
        return [body]

    cached = WSGICache(view, store=MemoryStore(), rules=[RULE])

    def outer(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if "HTTP_X_TEST_USER" in environ:
            environ = dict(environ, REMOTE_USER="alice", **{"beaker.session": {"id": "s3cret"}})
        return cached(environ, start_response)

    client = WSGIClient(outer)
    first = client.request("GET", "/me?page=1")
    anonymous = first.body.decode()
    assert "user=None" in anonymous
    stale = client.request("GET", "/me?page=1", headers=ALICE)
    assert "detail=stale-while-revalidate" in stale.cache_status
    assert stale.body.decode() == anonymous
    assert len(renders) == 2
    assert renders[1] == (
        "user=None session=None addr=None cookie=None who=None method=GET path=/me query=page=1"
    )
    assert client.request("GET", "/me?page=1").body.decode() == renders[1]
    assert client.errors == []


def test_the_refresh_keeps_the_keyed_fields_and_cookies_only() -> None:
    seen: list[dict[bytes, bytes]] = []

    async def view(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(dict(scope["headers"]))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"age", b"100"), (b"vary", b"accept-language")],
            }
        )
        await send({"type": "http.response.body", "body": b"page"})

    rule = Rule("/me", ttl=60, stale_while_revalidate=600, vary=["x-tenant"], vary_cookies=["lang"])
    client = ASGIClient(ASGICache(view, store=MemoryStore(), rules=[rule]))
    try:
        request = {
            "x-tenant": "acme",
            "accept-language": "fr",
            "cookie": "lang=fr",
            "user-agent": "browser",
            "x-request-id": "42",
        }
        client.request("GET", "/me", headers=request)
        stale = client.request("GET", "/me", headers={**request, "if-none-match": "*"})
        assert stale.status in (200, 304)
        assert len(seen) == 2
        assert seen[1] == {
            b"host": b"testserver",
            b"x-tenant": b"acme",
            b"accept-language": b"fr",
            b"cookie": b"lang=fr",
        }
    finally:
        client.close()
