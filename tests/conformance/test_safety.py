"""Conformance: the safety defaults of a shared cache (RFC 9111), per the design brief.

Nothing personal is stored or served to someone else: Set-Cookie, private, no-store,
Vary: *; Authorization only meets explicitly public entries; a Cookie bypasses unless
every cookie is ignored; bodies on GET bypass; only cacheable statuses are stored.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Seen

RULES = [Rule("/page", ttl=60), Rule("/items/{id}", ttl=60)]


def counting(body: bytes, headers: list[tuple[str, str]] | None = None) -> Callable[[Seen], Reply]:
    """A view whose body says which user asked and how often it ran."""
    calls = 0

    def view(seen: Seen) -> Reply:
        nonlocal calls
        calls += 1
        who = seen.headers.get("authorization", "anonymous")
        return Reply(200, list(headers or []), body + f" #{calls} for {who}".encode())

    return view


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ([("set-cookie", "session=abc; HttpOnly")], "set-cookie"),
        ([("cache-control", "private")], "private"),
        ([("cache-control", "max-age=600, Private")], "private"),
        ([("cache-control", "no-store")], "no-store"),
        ([("cache-control", "public, max-age=600, no-store")], "no-store"),
        # Django's never_cache.
        (
            [("cache-control", "max-age=0, no-cache, no-store, must-revalidate, private")],
            "no-store",
        ),
        ([("vary", "*")], "vary-star"),
        ([("vary", "Accept-Encoding, *")], "vary-star"),
    ],
)
def test_personal_responses_are_never_stored(
    origin: Origin,
    make_client: Callable[..., Client],
    headers: list[tuple[str, str]],
    detail: str,
) -> None:
    origin.on("/page", counting(b"secret", headers))
    client = make_client(rules=RULES)
    first = client.request("GET", "/page")
    second = client.request("GET", "/page")
    assert first.cache_status == second.cache_status == f"routecache; fwd=uri-miss; detail={detail}"
    assert (first.body, second.body) == (b"secret #1 for anonymous", b"secret #2 for anonymous")
    assert origin.count("/page") == 2
    # The app's headers reach the client (Django's cookie output has a leading space).
    for name, value in headers:
        assert value in [v.strip() for v in first.all(name)]


def test_private_naming_set_cookie_stores_without_the_cookie(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    headers = [("cache-control", 'private="set-cookie"'), ("set-cookie", "visitor=42")]
    origin.on("/page", Reply(200, headers, b"shared part"))
    client = make_client(rules=RULES)
    miss = client.request("GET", "/page")
    assert (miss.header("set-cookie") or "").strip() == "visitor=42"
    hit = client.request("GET", "/page")
    assert hit.hit, hit.cache_status
    assert hit.body == b"shared part"
    assert hit.header("set-cookie") is None, "a Set-Cookie was replayed to another client"


def test_authorization_is_not_answered_from_a_shared_entry(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/page", counting(b"page"))
    client = make_client(rules=RULES)
    client.request("GET", "/page")
    assert client.request("GET", "/page").hit
    mine = client.request("GET", "/page", {"authorization": "Bearer alice"})
    assert mine.cache_status == "routecache; fwd=bypass; detail=authorization"
    assert mine.body == b"page #2 for Bearer alice"
    # The authenticated answer did not replace the shared entry.
    shared = client.request("GET", "/page")
    assert shared.hit
    assert shared.body == b"page #1 for anonymous"
    assert origin.count("/page") == 2


def test_an_authorized_response_is_not_stored_unless_public(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/page", counting(b"page"))
    client = make_client(rules=RULES)
    mine = client.request("GET", "/page", {"authorization": "Bearer alice"})
    assert "detail=authorization" in mine.cache_status
    assert "stored" not in mine.cache_status
    again = client.request("GET", "/page", {"authorization": "Bearer alice"})
    assert again.body == b"page #2 for Bearer alice"
    anonymous = client.request("GET", "/page")
    assert anonymous.body == b"page #3 for anonymous", "alice's page was served to someone else"
    assert origin.count("/page") == 3


@pytest.mark.parametrize(
    "cache_control", ["public", "public, max-age=60", "s-maxage=60", "must-revalidate"]
)
def test_explicitly_public_entries_answer_authorized_requests(
    origin: Origin, make_client: Callable[..., Client], cache_control: str
) -> None:
    origin.on("/page", counting(b"page", [("cache-control", cache_control)]))
    origin.on("/items/1", counting(b"item", [("cache-control", cache_control)]))
    client = make_client(rules=RULES)
    client.request("GET", "/page")
    hit = client.request("GET", "/page", {"authorization": "Bearer alice"})
    assert hit.hit, hit.cache_status
    assert hit.body == b"page #1 for anonymous"
    # And an authorized request may store it for everyone (§3.5).
    stored = client.request("GET", "/items/1", {"authorization": "Bearer bob"})
    assert stored.cache_status == "routecache; fwd=uri-miss; stored"
    shared = client.request("GET", "/items/1")
    assert shared.hit
    assert shared.body == b"item #1 for Bearer bob"
    assert origin.count("/page") == origin.count("/items/1") == 1


def test_a_cookie_bypasses_the_cache(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/page", counting(b"page"))
    client = make_client(rules=RULES)
    for n in (1, 2):
        resp = client.request("GET", "/page", {"cookie": "sessionid=abc123"})
        assert resp.cache_status == "routecache; fwd=bypass; detail=cookie"
        assert resp.body == f"page #{n} for anonymous".encode()
    # The bypassed answers were not stored either.
    assert client.request("GET", "/page").cache_status == "routecache; fwd=uri-miss; stored"
    # Nor is a stored entry served to a request with a cookie.
    assert not client.request("GET", "/page", {"cookie": "sessionid=abc123"}).hit
    assert origin.count("/page") == 4


@pytest.mark.parametrize(
    "cookie",
    [
        "_ga=GA1.2.3.4",
        "_ga=GA1.2.3.4; _gid=GA1.2.5.6; _ga_ABC123=GS1.1",
        "__utma=1.2.3; __utmz=1.2; _fbp=fb.1.2",
    ],
)
def test_analytics_cookies_do_not_bypass(
    origin: Origin, make_client: Callable[..., Client], cookie: str
) -> None:
    origin.on("/page", counting(b"page"))
    client = make_client(rules=RULES)
    first = client.request("GET", "/page", {"cookie": cookie})
    assert first.cache_status == "routecache; fwd=uri-miss; stored"
    assert client.request("GET", "/page").hit
    assert client.request("GET", "/page", {"cookie": cookie}).hit
    # One personal cookie among them is enough to bypass.
    mixed = client.request("GET", "/page", {"cookie": cookie + "; sessionid=x"})
    assert mixed.cache_status == "routecache; fwd=bypass; detail=cookie"
    assert origin.count("/page") == 2


def test_cookies_ignore_serves_everyone_the_same_page(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/news", counting(b"news"))
    client = make_client(rules=[Rule("/news", ttl=60, cookies="ignore")])
    first = client.request("GET", "/news", {"cookie": "sessionid=alice"})
    assert first.cache_status == "routecache; fwd=uri-miss; stored"
    other = client.request("GET", "/news", {"cookie": "sessionid=bob; theme=dark"})
    assert other.hit
    assert other.body == first.body
    assert client.request("GET", "/news").hit
    assert origin.count("/news") == 1


def test_custom_ignore_cookies_replace_the_defaults(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/news", counting(b"news"))
    client = make_client(rules=[Rule("/news", ttl=60, ignore_cookies=["consent*"])])
    client.request("GET", "/news")
    assert client.request("GET", "/news", {"cookie": "consent_level=all"}).hit
    ga = client.request("GET", "/news", {"cookie": "_ga=GA1.2"})
    assert ga.cache_status == "routecache; fwd=bypass; detail=cookie"


def test_vary_cookie_from_the_app_is_honoured(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    def view(seen: Seen) -> Reply:
        return Reply(200, [("vary", "Cookie")], seen.headers.get("cookie", "none").encode())

    origin.on("/news", view)
    client = make_client(rules=[Rule("/news", ttl=60, cookies="ignore")])
    assert client.request("GET", "/news", {"cookie": "theme=dark"}).body == b"theme=dark"
    light = client.request("GET", "/news", {"cookie": "theme=light"})
    assert light.body == b"theme=light", "an entry made for another cookie was served"
    assert client.request("GET", "/news").body == b"none"
    again = client.request("GET", "/news", {"cookie": "theme=dark"})
    assert again.hit
    assert again.body == b"theme=dark"
    assert origin.count("/news") == 3


def test_get_with_a_body_bypasses(origin: Origin, make_client: Callable[..., Client]) -> None:
    def view(seen: Seen) -> Reply:
        return Reply(200, [], b"got " + seen.body)

    origin.on("/items/1", view)
    client = make_client(rules=RULES)
    resp = client.request("GET", "/items/1", {"content-type": "application/json"}, b'{"q": 1}')
    assert resp.cache_status == "routecache; fwd=bypass; detail=body"
    assert resp.body == b'got {"q": 1}'
    plain = client.request("GET", "/items/1")
    assert plain.cache_status == "routecache; fwd=uri-miss; stored"
    assert plain.body == b"got "
    # A stored entry does not answer a GET with a body either.
    again = client.request("GET", "/items/1", {"content-type": "text/plain"}, b"other")
    assert again.body == b"got other"
    assert origin.count("/items/1") == 3


@pytest.mark.parametrize("status", [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
def test_heuristically_cacheable_statuses_are_stored(
    origin: Origin, make_client: Callable[..., Client], status: int
) -> None:
    body = b"" if status == 204 else f"status {status}".encode()
    origin.on("/items/1", Reply(status, [("location", "/elsewhere")], body))
    client = make_client(rules=RULES)
    client.request("GET", "/items/1")
    hit = client.request("GET", "/items/1")
    assert hit.hit, hit.cache_status
    assert (hit.status, hit.body) == (status, body)
    assert origin.count("/items/1") == 1


@pytest.mark.parametrize("status", [201, 202, 302, 303, 307, 400, 401, 403, 429, 500, 502, 503])
def test_other_statuses_are_not_stored(
    origin: Origin, make_client: Callable[..., Client], status: int
) -> None:
    origin.on("/items/1", Reply(status, [("location", "/elsewhere")], b"not for keeping"))
    client = make_client(rules=RULES)
    first = client.request("GET", "/items/1")
    second = client.request("GET", "/items/1")
    assert first.status == second.status == status
    assert second.cache_status == "routecache; fwd=uri-miss; detail=status"
    assert origin.count("/items/1") == 2


def test_cache_statuses_chooses_what_is_stored(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/a", Reply(404, [], b"missing"))
    origin.on("/b", Reply(302, [("location", "/a")], b""))
    client = make_client(
        rules=[Rule("/a", ttl=60, cache_statuses=[200]), Rule("/b", ttl=60, cache_statuses=[302])]
    )
    client.request("GET", "/a")
    assert client.request("GET", "/a").cache_status == "routecache; fwd=uri-miss; detail=status"
    client.request("GET", "/b")
    redirect = client.request("GET", "/b")
    assert redirect.hit
    assert redirect.status == 302
    assert redirect.header("location") == "/a"
    assert (origin.count("/a"), origin.count("/b")) == (2, 1)
