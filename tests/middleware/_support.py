"""Small builders shared by the core unit tests (plain functions, fixed clocks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from routecache.middleware.entry import Entry
from routecache.middleware.policy import CachePolicy, RequestFacts, RequestPlan, ResponsePlan
from routecache.middleware.rules import Rule

NOW = 1_700_000_000.0
HeaderList = list[tuple[bytes, bytes]]


def facts(
    path: str = "/items/1",
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    query: bytes = b"",
    host: str = "example.com",
    scheme: str = "https",
    has_body: bool = False,
) -> RequestFacts:
    return RequestFacts(
        method=method,
        scheme=scheme,
        host=host,
        path=path,
        query=query,
        headers=dict(headers or {}),
        has_body=has_body,
    )


def policy(*rules: Rule, **options: object) -> CachePolicy:
    return CachePolicy(rules, **options)  # type: ignore[arg-type]


def hdrs(**fields: str) -> HeaderList:
    """Response headers from keyword arguments (``content_type`` -> ``content-type``)."""
    return [(k.replace("_", "-").encode(), v.encode("latin-1")) for k, v in fields.items()]


def respond(
    pol: CachePolicy,
    plan: RequestPlan,
    status: int = 200,
    headers: HeaderList | None = None,
    *,
    now: float = NOW,
    request_time: float | None = None,
    fwd: str = "uri-miss",
) -> ResponsePlan:
    return pol.on_response(
        plan,
        status,
        list(headers if headers is not None else hdrs(content_type="text/plain")),
        request_time=now if request_time is None else request_time,
        response_time=now,
        fwd=fwd,
    )


def store(
    pol: CachePolicy,
    plan: RequestPlan,
    status: int = 200,
    headers: HeaderList | None = None,
    body: bytes = b"hello",
    *,
    now: float = NOW,
) -> Entry:
    """The entry the policy would store for this response (asserts it is storable)."""
    rp = respond(pol, plan, status, headers, now=now)
    assert rp.store, rp.detail
    return rp.entry(body)


def header(headers: Sequence[tuple[bytes, bytes]], name: str) -> str | None:
    for k, v in headers:
        if k == name.encode():
            return v.decode("latin-1")
    return None


def all_headers(headers: Sequence[tuple[bytes, bytes]], name: str) -> list[str]:
    return [v.decode("latin-1") for k, v in headers if k == name.encode()]
