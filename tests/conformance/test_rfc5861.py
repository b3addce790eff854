"""Conformance: RFC 5861 (stale-while-revalidate, stale-if-error), through every adapter.

The windows come from the response's ``Cache-Control`` or from the rule
(``Rule(stale_while_revalidate=..., stale_if_error=...)``); the response's own value
wins. Entries are made stale without sleeping: the origin sends ``Age: 100``, so an
entry with ``max-age=1`` is 99 seconds stale when stored. RFC 9111 §4.2.4 (never
stale with ``must-revalidate``, ``no-cache``, ``s-maxage``) is in ``test_rfc9111.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routecache import Rule
from tests.conformance.harness import Client, Origin, Reply, wait_until
from tests.conformance.rfc_helpers import is_hit, near, ours, reply, shared, stored, ttl

STALE_BY_99 = ("age", "100")


# -- §3 stale-while-revalidate ---------------------------------------------------------


def test_3_stale_while_revalidate_from_the_response(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=1, stale-while-revalidate=600"), STALE_BY_99))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    origin.on("/r", reply(("cache-control", "max-age=600"), body=b"fresh"))
    stale = client.request("GET", "/r")
    # Served at once from the stale entry...
    assert (stale.status, stale.body) == (200, b"payload")
    status = ours(stale)
    assert status["hit"] is True
    assert status["detail"] == "stale-while-revalidate"
    assert status["ttl"] < 0
    # ...while the origin is asked once, in the background, and the entry replaced.
    assert wait_until(lambda: origin.count("/r") == 2)
    assert wait_until(lambda: client.request("GET", "/r").body == b"fresh")
    hit = client.request("GET", "/r")
    assert is_hit(hit)
    assert near(ttl(hit), 600)
    assert origin.count("/r") == 2


def test_3_the_background_refresh_revalidates_with_the_entrys_validator(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    def view(seen: object) -> Reply:
        headers = getattr(seen, "headers", {})
        if headers.get("if-none-match") == '"v1"':
            return Reply(
                304,
                [
                    ("content-type", "text/plain"),
                    ("etag", '"v1"'),
                    ("cache-control", "max-age=600"),
                ],
            )
        return reply(
            ("cache-control", "max-age=1, stale-while-revalidate=600"),
            ("etag", '"v1"'),
            STALE_BY_99,
            body=b"validated",
        )

    origin.on("/r", view)
    client = shared(make_client)
    client.request("GET", "/r")
    assert ours(client.request("GET", "/r"))["detail"] == "stale-while-revalidate"
    assert wait_until(lambda: origin.count("/r") == 2)
    assert origin.seen[-1].headers.get("if-none-match") == '"v1"'
    assert wait_until(
        lambda: (
            is_hit(client.request("GET", "/r"))
            and "detail" not in ours(client.request("GET", "/r"))
        )
    )
    hit = client.request("GET", "/r")
    assert hit.body == b"validated"
    assert near(ttl(hit), 600)
    assert origin.count("/r") == 2


def test_3_stale_while_revalidate_from_the_rule(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # The origin says nothing about freshness: the rule's ttl (60 s) is used up by
    # the Age of 100 s, and the rule's window (600 s) lets it be served stale.
    origin.on("/r", reply(STALE_BY_99))
    client = make_client(rules=[Rule("/r", ttl=60, stale_while_revalidate=600)])
    assert stored(client.request("GET", "/r"))
    origin.on("/r", reply(body=b"fresh"))
    stale = client.request("GET", "/r")
    assert stale.body == b"payload"
    assert ours(stale)["detail"] == "stale-while-revalidate"
    assert wait_until(lambda: origin.count("/r") == 2)
    assert wait_until(lambda: client.request("GET", "/r").body == b"fresh")


def test_3_the_responses_window_wins_over_the_rules(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "stale-while-revalidate=10"), STALE_BY_99))
    client = make_client(rules=[Rule("/r", ttl=60, stale_while_revalidate=600)])
    # 40 s stale, but the response allows 10: nothing worth storing.
    assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "stale"}
    assert not is_hit(client.request("GET", "/r"))


def test_3_past_the_window_nothing_stale_is_served(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=1, stale-while-revalidate=50"), STALE_BY_99))
    client = shared(make_client)
    assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "stale"}
    resp = client.request("GET", "/r")
    assert not is_hit(resp)
    assert origin.count("/r") == 2


# -- §4 stale-if-error -------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["raise", 500, 502, 503, 504])
def test_4_stale_if_error_from_the_response(
    origin: Origin, make_client: Callable[..., Client], failure: str | int
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=1, stale-if-error=600"), STALE_BY_99))
    client = shared(make_client)
    assert stored(client.request("GET", "/r"))
    if failure == "raise":
        origin.on("/r", Reply(error=True))
    else:
        origin.on("/r", Reply(int(failure), [("content-type", "text/plain")], b"broken"))
    resp = client.request("GET", "/r")
    assert (resp.status, resp.body) == (200, b"payload")
    status = ours(resp)
    assert status["fwd"] == "stale"
    assert status["detail"] == "stale-if-error"
    assert "hit" not in status
    if failure != "raise":
        assert status["fwd-status"] == failure
    assert origin.count("/r") == 2


def test_4_stale_if_error_is_only_for_errors(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=1, stale-if-error=600"), STALE_BY_99))
    client = shared(make_client)
    client.request("GET", "/r")
    # A 404 is an answer, not an error (RFC 5861 §4: 500, 502, 503, 504).
    origin.on("/r", Reply(404, [("content-type", "text/plain")], b"gone now"))
    resp = client.request("GET", "/r")
    assert (resp.status, resp.body) == (404, b"gone now")


def test_4_stale_if_error_from_the_rule(origin: Origin, make_client: Callable[..., Client]) -> None:
    origin.on("/r", reply(STALE_BY_99))
    client = make_client(rules=[Rule("/r", ttl=60, stale_if_error=600)])
    assert stored(client.request("GET", "/r"))
    origin.on("/r", Reply(503, [("content-type", "text/plain")], b"down"))
    resp = client.request("GET", "/r")
    assert (resp.status, resp.body) == (200, b"payload")
    assert ours(resp)["detail"] == "stale-if-error"


def test_4_past_the_window_the_error_goes_through(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    # 99 s stale with a 50 s window: not worth storing, so the error is what comes back.
    origin.on("/r", reply(("cache-control", "max-age=1, stale-if-error=50"), STALE_BY_99))
    client = shared(make_client)
    assert ours(client.request("GET", "/r")) == {"fwd": "uri-miss", "detail": "stale"}
    origin.on("/r", Reply(503, [("content-type", "text/plain")], b"down"))
    resp = client.request("GET", "/r")
    assert (resp.status, resp.body) == (503, b"down")


def test_4_a_fresh_entry_needs_no_window(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=600, stale-if-error=600")))
    client = shared(make_client)
    client.request("GET", "/r")
    origin.on("/r", Reply(503, [("content-type", "text/plain")], b"down"))
    assert is_hit(client.request("GET", "/r"))  # fresh: the origin is not asked at all
    assert origin.count("/r") == 1


# -- the driver's stale_if_error (proxy mode): RFC 9111 §4.2.4 -------------------------


@pytest.mark.parametrize("failure", ["raise", 502, 504])
def test_4_the_drivers_window_serves_stale_when_the_origin_fails(
    origin: Origin, make_client: Callable[..., Client], failure: str | int
) -> None:
    # The origin states no stale-if-error; the driver's window (proxy mode) applies.
    origin.on("/r", reply(("cache-control", "max-age=1"), STALE_BY_99))
    client = shared(make_client, stale_if_error=600)
    assert stored(client.request("GET", "/r"))
    if failure == "raise":
        origin.on("/r", Reply(error=True))
    else:
        origin.on("/r", Reply(int(failure), [("content-type", "text/plain")], b"unreachable"))
    resp = client.request("GET", "/r")
    assert (resp.status, resp.body) == (200, b"payload")
    assert ours(resp)["detail"] == "stale-if-error"
    assert origin.count("/r") == 2


@pytest.mark.parametrize(
    "cache_control",
    [
        "max-age=1, must-revalidate",
        "max-age=1, proxy-revalidate",
        "s-maxage=1",
        "max-age=1, stale-if-error=0",
    ],
)
def test_4_2_4_the_drivers_window_obeys_the_response(
    origin: Origin, make_client: Callable[..., Client], cache_control: str
) -> None:
    # §4.2.4: must-revalidate, proxy-revalidate and s-maxage forbid serving stale; the
    # response's own stale-if-error (0 here) wins over the driver's window.
    origin.on("/r", reply(("cache-control", cache_control), ("etag", '"e"'), STALE_BY_99))
    client = shared(make_client, stale_if_error=600)
    client.request("GET", "/r")
    origin.on("/r", Reply(502, [("content-type", "text/plain")], b"unreachable"))
    resp = client.request("GET", "/r")
    assert (resp.status, resp.body) == (502, b"unreachable")


def test_4_the_drivers_window_is_off_by_default(
    origin: Origin, make_client: Callable[..., Client]
) -> None:
    origin.on("/r", reply(("cache-control", "max-age=1"), ("etag", '"e"'), STALE_BY_99))
    client = shared(make_client)
    client.request("GET", "/r")
    origin.on("/r", Reply(502, [("content-type", "text/plain")], b"unreachable"))
    assert client.request("GET", "/r").status == 502


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "60", True])
def test_a_bad_stale_if_error_is_a_configuration_error(value: object) -> None:
    from routecache import ConfigurationError
    from routecache.middleware.config import CacheConfig

    with pytest.raises(ConfigurationError, match="stale_if_error"):
        CacheConfig(stale_if_error=value)  # type: ignore[arg-type]
