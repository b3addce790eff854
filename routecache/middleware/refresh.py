"""The request a background refresh sends the app: anonymous, from stored facts only.

A refresh (refresh-ahead, stale-while-revalidate) renders a *shared* entry, so it must
not carry anything that belongs to the user whose hit started it: no credentials, no
cookies but the ones the key is made of, no ``scope["user"]``, session or per-request
state that an outer middleware set, no client address. It is built from what the key
and the entry say: method ``GET``, scheme, host, path, raw query, and the request
fields the entry's key or its ``Vary`` names (plus the ``vary_cookies`` cookies).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any, Final

from .entry import Entry
from .keys import cookie_values
from .policy import RequestPlan

__all__ = ["refresh_environ", "refresh_headers", "refresh_lines", "refresh_scope"]

#: ASGI scope keys a refresh keeps from the request that triggered it (RFC-level facts
#: about the target and the server, nothing about the client).
_SCOPE_KEYS: Final = ("asgi", "http_version", "scheme", "server", "root_path", "path", "raw_path")
#: WSGI environ keys a refresh keeps (PEP 3333's server and target facts).
_ENVIRON_KEYS: Final = (
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "wsgi.version",
    "wsgi.url_scheme",
    "wsgi.errors",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
)


def refresh_headers(plan: RequestPlan, entry: Entry) -> dict[str, str]:
    """The request fields of a refresh: ``Host``, the rule's ``vary`` fields, the
    entry's ``Vary`` fields and a ``Cookie`` with the rule's ``vary_cookies`` only."""
    facts, rule = plan.facts, plan.rule
    names = ["host"]
    if rule is not None:
        names.extend(rule.vary)
    names.extend(name for name, _ in entry.vary)
    headers: dict[str, str] = {}
    for name in names:
        value = facts.headers.get(name)
        if value is not None and name != "cookie":
            headers[name] = value
    if rule is not None and rule.vary_cookies:
        cookie = facts.headers.get("cookie")
        crumbs: list[str] = []
        for name in rule.vary_cookies:
            # Every cookie of the name, in order: the key holds them all.
            crumbs.extend(f"{name}={value}" for value in cookie_values(cookie, name))
        if crumbs:
            headers["cookie"] = "; ".join(crumbs)
    return headers


def refresh_lines(
    lines: Iterable[tuple[bytes, bytes]], kept: Mapping[str, str]
) -> list[tuple[bytes, bytes]]:
    """The header lines of a refresh from the request's own ``lines``: those of the
    fields the refresh keeps, as they came (the key was made from them, repeated lines
    apart), except ``Cookie``, which is the one the refresh built (only the rule's
    ``vary_cookies``, never a session)."""
    out = []
    for name, value in lines:
        lower = bytes(name).lower()
        if lower != b"cookie" and lower.decode("latin-1") in kept:
            out.append((bytes(name), bytes(value)))
    cookie = kept.get("cookie")
    if cookie is not None:
        out.append((b"cookie", cookie.encode("latin-1")))
    return out


def refresh_scope(
    scope: Mapping[str, Any],
    headers: list[tuple[bytes, bytes]],
    query: bytes,
    lifespan_state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A clean ASGI HTTP scope for a refresh ``GET``: the target and server facts of
    ``scope``, the given ``headers`` and ``query``, and a copy of the app's lifespan
    state (never the request's own state)."""
    clean: dict[str, Any] = {"type": "http", "method": "GET"}
    for key in _SCOPE_KEYS:
        if key in scope:
            clean[key] = scope[key]
    clean["query_string"] = query
    clean["headers"] = headers
    if lifespan_state is not None:
        clean["state"] = dict(lifespan_state)
    return clean


def refresh_environ(
    environ: Mapping[str, Any], headers: list[tuple[bytes, bytes]]
) -> dict[str, Any]:
    """A clean WSGI environ for a refresh ``GET``: the target and server facts of
    ``environ`` and the given ``headers``, an empty body."""
    clean: dict[str, Any] = {k: environ[k] for k in _ENVIRON_KEYS if k in environ}
    clean.update(REQUEST_METHOD="GET", CONTENT_LENGTH="0", **{"wsgi.input": io.BytesIO(b"")})
    for name, value in headers:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            clean["HTTP_" + key] = value.decode("latin-1")
    return clean
