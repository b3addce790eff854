"""Conversions between Django objects and the core's facts (``_http.py``)."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import RequestFactory

from routecache.adapters.django._http import (
    ServedResponse,
    apply_headers,
    facts_from_request,
    response_headers,
)
from routecache.middleware.policy import Served


def test_request_facts_take_the_raw_values() -> None:
    request = RequestFactory().get(
        "/a/b", {"x": "1", "x ": "2"}, headers={"Host": "Example.COM:80", "X-Thing": "v"}
    )
    request.META["SCRIPT_NAME"] = ""
    facts = facts_from_request(request)
    assert facts.method == "GET"
    assert facts.host == "Example.COM:80"
    assert facts.path == "/a/b"
    assert facts.query == b"x=1&x+=2"
    assert facts.headers["x-thing"] == "v"
    assert not facts.has_body
    assert facts_from_request(RequestFactory().post("/p", {"a": "b"})).has_body


def test_response_headers_include_cookies() -> None:
    response = HttpResponse("x", content_type="text/plain")
    response["X-One"] = "1"
    response.set_cookie("a", "b", httponly=True)
    headers = response_headers(response)
    assert (b"content-type", b"text/plain") in headers
    assert (b"x-one", b"1") in headers
    assert (b"set-cookie", b"a=b; HttpOnly; Path=/") in headers


def test_apply_headers_keeps_spelling_and_cookies() -> None:
    response = HttpResponse("x", content_type="text/plain")
    response["Cache-Tag"] = "t1"
    response.set_cookie("a", "b")
    apply_headers(
        response,
        [
            (b"content-type", b"text/plain"),
            (b"set-cookie", b"a=b; Path=/"),
            (b"cache-status", b"routecache; fwd=uri-miss"),
            (b"link", b"<a>"),
            (b"link", b"<b>"),
        ],
    )
    assert list(response.headers) == ["Content-Type", "Cache-Status", "Link"]
    assert response["Link"] == "<a>, <b>"
    assert response.cookies["a"].value == "b"


def test_served_responses_replay_headers_byte_for_byte() -> None:
    served = Served(
        200,
        [
            (b"content-type", b"text/plain"),
            (b"x-multi", b"first"),
            (b"vary", b"Accept"),
            (b"x-multi", b"second"),
            (b"content-length", b"4"),
        ],
        b"body",
    )
    response = ServedResponse(served)
    assert list(response.items()) == [
        ("content-type", "text/plain"),
        ("x-multi", "first"),
        ("vary", "Accept"),
        ("x-multi", "second"),
        ("content-length", "4"),
    ]
    assert response["X-Multi"] == "first, second"
    # Middleware above the cache may still change or add fields.
    response["Vary"] = "Accept, Cookie"
    response["X-Frame-Options"] = "DENY"
    del response["Content-Type"]
    assert list(response.items()) == [
        ("x-multi", "first"),
        ("vary", "Accept, Cookie"),
        ("x-multi", "second"),
        ("content-length", "4"),
        ("X-Frame-Options", "DENY"),
    ]
    assert response.content == b"body"


def test_a_304_has_no_content_type() -> None:
    response = ServedResponse(Served(304, [(b"etag", b'"x"')], b""))
    assert response.status_code == 304
    assert list(response.items()) == [("etag", '"x"')]
