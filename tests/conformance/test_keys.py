"""Conformance: what makes two requests share an entry, and what keeps them apart."""

from __future__ import annotations

from collections.abc import Callable

import redis

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, Seen
from tests.conformance.helpers import REDIS_ONLY, entry_keys, hash_tag, redis_keys


def echo_query(seen: Seen) -> Reply:
    """The body is the query string the view saw (distinct per entry)."""
    return Reply(200, [], f"q={seen.query}".encode())


def echo_header(name: str) -> Callable[[Seen], Reply]:
    def view(seen: Seen) -> Reply:
        return Reply(200, [], f"{name}={seen.headers.get(name, '<absent>')}".encode())

    return view


def test_query_parameter_order_does_not_matter(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/search", echo_query)
    client = make_client(rules=[Rule("/search", ttl=60)])
    first = client.request("GET", "/search?a=1&b=2&c=3")
    again = client.request("GET", "/search?c=3&a=1&b=2")
    assert again.hit, again.cache_status
    assert again.body == first.body == b"q=a=1&b=2&c=3"
    assert origin.count("/search") == 1


def test_repeated_parameters_keep_their_order_and_are_distinct(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/search", echo_query)
    client = make_client(rules=[Rule("/search", ttl=60)])
    client.request("GET", "/search?tag=red&tag=blue")
    swapped = client.request("GET", "/search?tag=blue&tag=red")
    assert not swapped.hit, "a=1&a=2 and a=2&a=1 are different requests"
    assert swapped.body == b"q=tag=blue&tag=red"
    once = client.request("GET", "/search?tag=red")
    assert not once.hit, "a repeated parameter is not the same as a single one"
    assert origin.count("/search") == 3
    # Interleaved with another name, the repeats still sort stably into one entry.
    hit = client.request("GET", "/search?tag=red&x=1&tag=blue")
    miss = client.request("GET", "/search?x=1&tag=red&tag=blue")
    assert not hit.hit
    assert miss.hit
    assert miss.body == b"q=tag=red&x=1&tag=blue"
    # Empty values and missing values are parameters too.
    assert not client.request("GET", "/search?tag=").hit
    assert not client.request("GET", "/search").hit


def test_params_restricts_the_key(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/list", echo_query)
    client = make_client(rules=[Rule("/list", ttl=60, params=["page", "sort_*"])])
    client.request("GET", "/list?page=2&session=abc")
    same = client.request("GET", "/list?session=xyz&page=2&_=123")
    assert same.hit, same.cache_status
    assert same.body == b"q=page=2&session=abc"
    assert not client.request("GET", "/list?page=3").hit
    assert not client.request("GET", "/list?page=2&sort_by=name").hit
    assert client.request("GET", "/list?sort_by=name&page=2&other=1").hit
    assert origin.count("/list") == 3


def test_empty_params_keys_on_no_parameter(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/home", echo_query)
    client = make_client(rules=[Rule("/home", ttl=60, params=[])])
    client.request("GET", "/home?ref=mail")
    assert client.request("GET", "/home").hit
    assert client.request("GET", "/home?ref=ad&x=1").hit
    assert origin.count("/home") == 1


def test_ignore_params_drops_tracking_parameters(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/article", echo_query)
    client = make_client(rules=[Rule("/article", ttl=60, ignore_params=["utm_*", "fbclid"])])
    client.request("GET", "/article?id=9")
    hit = client.request("GET", "/article?utm_source=news&id=9&utm_medium=mail&fbclid=x1")
    assert hit.hit, hit.cache_status
    assert hit.body == b"q=id=9"
    other = client.request("GET", "/article?id=10&utm_source=news")
    assert not other.hit
    assert origin.count("/article") == 2


def test_host_is_case_insensitive_and_the_default_port_dropped(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/items/1", echo_header("host"))
    client = make_client(rules=[Rule("/items/{id}", ttl=60)])
    first = client.request("GET", "/items/1", {"host": "shop.example"})
    assert first.body == b"host=shop.example"
    for host in ("SHOP.Example", "shop.example:80", "Shop.EXAMPLE:80"):
        resp = client.request("GET", "/items/1", {"host": host})
        assert resp.hit, (host, resp.cache_status)
        assert resp.body == b"host=shop.example"
    assert origin.count("/items/1") == 1
    # Another port or another host is another site.
    assert not client.request("GET", "/items/1", {"host": "shop.example:8080"}).hit
    assert not client.request("GET", "/items/1", {"host": "other.example"}).hit
    assert origin.count("/items/1") == 3


def test_declared_vary_headers_give_separate_entries(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/greeting", echo_header("accept-language"))
    client = make_client(rules=[Rule("/greeting", ttl=60, vary=["Accept-Language"])])
    en = client.request("GET", "/greeting", {"accept-language": "en"})
    fr = client.request("GET", "/greeting", {"accept-language": "fr"})
    none = client.request("GET", "/greeting")
    assert (en.body, fr.body, none.body) == (
        b"accept-language=en",
        b"accept-language=fr",
        b"accept-language=<absent>",
    )
    assert origin.count("/greeting") == 3
    assert client.request("GET", "/greeting", {"accept-language": "fr"}).body == fr.body
    assert client.request("GET", "/greeting", {"accept-language": "en"}).body == en.body
    assert client.request("GET", "/greeting").body == none.body
    # Present but empty is not the same as absent.
    empty = client.request("GET", "/greeting", {"accept-language": ""})
    assert not empty.hit
    assert origin.count("/greeting") == 4


def test_vary_learned_from_the_response(origin: Origin, make_client: Callable[..., Client]) -> None:
    def view(seen: Seen) -> Reply:
        flavour = seen.headers.get("x-flavour", "plain")
        return Reply(200, [("vary", "X-Flavour")], flavour.encode())

    origin.on("/icecream", view)
    client = make_client(rules=[Rule("/icecream", ttl=60)])
    assert client.request("GET", "/icecream", {"x-flavour": "vanilla"}).body == b"vanilla"
    mint = client.request("GET", "/icecream", {"x-flavour": "mint"})
    assert mint.body == b"mint"
    assert mint.cache_status == "routecache; fwd=vary-miss; stored"
    for flavour in ("vanilla", "mint", "vanilla"):
        resp = client.request("GET", "/icecream", {"x-flavour": flavour})
        assert resp.hit, resp.cache_status
        assert resp.body == flavour.encode()
    plain = client.request("GET", "/icecream")
    assert plain.body == b"plain"
    assert origin.count("/icecream") == 3


def test_vary_cookies_key_on_named_cookies(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/menu", echo_header("cookie"))
    client = make_client(rules=[Rule("/menu", ttl=60, vary_cookies=["lang"])])
    en = client.request("GET", "/menu", {"cookie": "lang=en"})
    fr = client.request("GET", "/menu", {"cookie": "lang=fr"})
    assert en.cache_status == fr.cache_status == "routecache; fwd=uri-miss; stored"
    again = client.request("GET", "/menu", {"cookie": "lang=en"})
    assert again.hit
    assert again.body == b"cookie=lang=en"
    # Analytics cookies beside the keyed one change nothing.
    with_ga = client.request("GET", "/menu", {"cookie": "_ga=GA1.2.3; lang=fr"})
    assert with_ga.hit
    assert with_ga.body == b"cookie=lang=fr"
    # No cookie is its own entry; an unknown cookie still makes the page personal.
    assert not client.request("GET", "/menu").hit
    session = client.request("GET", "/menu", {"cookie": "lang=en; session=s3cret"})
    assert session.cache_status == "routecache; fwd=bypass; detail=cookie"
    assert session.body == b"cookie=lang=en; session=s3cret"
    assert origin.count("/menu") == 4


def test_unsafe_methods_are_never_answered_from_the_get_entry(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    def view(seen: Seen) -> Reply:
        return Reply(200, [], f"{seen.method} #{origin.count('/items/1')}".encode())

    origin.on("/items/1", view)
    client = make_client(rules=[Rule("/items/{id}", ttl=60, methods=["GET", "POST"])])
    assert client.request("GET", "/items/1").body == b"GET #1"
    post = client.request("POST", "/items/1", body=b"x")
    assert post.body == b"POST #2"
    assert not post.hit


@REDIS_ONLY
def test_redis_keys_of_a_path_share_one_hash_slot(
    origin: Origin,
    make_client: Callable[..., Client],
    redis_client: redis.Redis | None,
    store: object,
) -> None:
    assert redis_client is not None
    prefix: str = store.prefix  # type: ignore[attr-defined]

    def view(seen: Seen) -> Reply:
        return Reply(200, [("vary", "accept")], seen.path.encode())

    origin.on("/items/1", view)
    origin.on("/items/2", view)
    client = make_client(rules=[Rule("/items/{id}", ttl=60)])
    for target, accept in (
        ("/items/1", "text/html"),
        ("/items/1", "application/json"),
        ("/items/1?page=2", "text/html"),
        ("/items/2", "text/html"),
    ):
        client.request("GET", target, {"accept": accept})
    keys = redis_keys(redis_client, prefix)
    assert keys, "nothing stored under the store's prefix"
    assert all(k.startswith(prefix.encode() + b":") for k in keys)
    entries = entry_keys(redis_client, prefix)
    tags = {hash_tag(k) for k in entries}
    assert len(tags) == 2, entries  # one hash tag per path
    # Variants live beside their primary key (the primary holds the latest variant):
    # /items/2 has one primary and its variant; /items/1 two primaries (two query
    # strings), the first with two variants.
    per_tag = sorted(sum(1 for k in entries if hash_tag(k) == t) for t in tags)
    assert per_tag == [2, 5], entries
    for tag in tags:
        index = prefix.encode() + b":{" + tag + b"}:idx"
        members = set(redis_client.zrange(index, 0, -1))
        assert members == {k for k in entries if hash_tag(k) == tag}
