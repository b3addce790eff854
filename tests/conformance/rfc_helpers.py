"""Helpers of the RFC walk-through (``test_rfc9111.py``, ``test_rfc5861.py``,
``test_rfc9211.py``): a strict RFC 8941 list parser, the shape RFC 9211 gives a
``Cache-Status`` member, and small builders for origins that speak HTTP caching.

They use only the harness, so every case still runs through every adapter binding.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.conformance.harness import Client, Reply, Resp, Seen

__all__ = [
    "FWD",
    "Params",
    "Token",
    "check_member",
    "is_hit",
    "near",
    "ours",
    "parse_sf_list",
    "reply",
    "shared",
    "stored",
    "ttl",
    "validating",
]

Params = dict[str, Any]

_SF_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_SF_NUMBER = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,3})?")
_SF_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")


class Token(str):
    """An sf-token (as opposed to an sf-string holding the same characters)."""

    __slots__ = ()


class _SFParser:
    """A strict parser of RFC 8941 Lists of Items (Cache-Status has no Inner Lists).

    Raises ``ValueError`` wherever the RFC's parsing algorithm fails.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{what} at {self.i} in {self.text!r}")

    def skip(self, chars: str) -> None:
        while self.i < len(self.text) and self.text[self.i] in chars:
            self.i += 1

    def parse_list(self) -> list[tuple[Any, Params]]:
        self.skip(" ")
        members: list[tuple[Any, Params]] = []
        while self.i < len(self.text):
            members.append((self.bare_item(), self.params()))
            self.skip(" \t")
            if self.i == len(self.text):
                return members
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.i += 1
            self.skip(" \t")
            if self.i == len(self.text):
                raise self.fail("trailing comma")
        return members

    def params(self) -> Params:
        out: Params = {}
        while self.peek() == ";":
            self.i += 1
            self.skip(" ")
            m = _SF_KEY.match(self.text, self.i)
            if m is None:
                raise self.fail("bad parameter key")
            self.i = m.end()
            value: Any = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare_item()
            out[m.group()] = value
        return out

    def bare_item(self) -> Any:
        c = self.peek()
        if c == "-" or c.isdigit():
            m = _SF_NUMBER.match(self.text, self.i)
            if m is None:
                raise self.fail("bad number")
            self.i = m.end()
            text = m.group()
            return float(text) if "." in text else int(text)
        if c == '"':
            return self.string()
        if c == "?":
            flag = self.text[self.i + 1 : self.i + 2]
            if flag not in ("0", "1"):
                raise self.fail("bad boolean")
            self.i += 2
            return flag == "1"
        if c == ":":
            end = self.text.find(":", self.i + 1)
            if end < 0 or not _SF_BASE64.fullmatch(self.text, self.i + 1, end):
                raise self.fail("bad byte sequence")
            value = self.text[self.i + 1 : end]
            self.i = end + 1
            return value.encode("ascii")
        m = _SF_TOKEN.match(self.text, self.i)
        if m is None:
            raise self.fail("bad bare item")
        self.i = m.end()
        return Token(m.group())

    def string(self) -> str:
        self.i += 1
        out = []
        while self.i < len(self.text):
            c = self.text[self.i]
            self.i += 1
            if c == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\") or not escaped:
                    raise self.fail("bad escape")
                out.append(escaped)
                self.i += 1
            elif c == '"':
                return "".join(out)
            elif not " " <= c <= "~":
                raise self.fail("bad string character")
            else:
                out.append(c)
        raise self.fail("unterminated string")


def parse_sf_list(value: str) -> list[tuple[Any, Params]]:
    """Parse a structured-field List (RFC 8941 §4.2.1); ``ValueError`` when malformed."""
    members = _SFParser(value).parse_list()
    if not members:
        raise ValueError(f"empty list {value!r}")
    return members


#: RFC 9211 §2.2: the reasons a cache forwards a request.
FWD: frozenset[str] = frozenset(
    {"bypass", "method", "uri-miss", "vary-miss", "miss", "request", "stale", "partial"}
)


def check_member(item: Any, params: Params) -> None:
    """Assert that one ``Cache-Status`` member is what RFC 9211 §2 defines."""
    assert isinstance(item, str), item  # the cache's name: a token or a string
    for key, value in params.items():
        if key in ("hit", "stored", "collapsed"):
            assert value is True, (key, value)  # §2.1, §2.5, §2.6: booleans, only true
        elif key == "fwd":
            assert isinstance(value, Token), (key, value)  # §2.2: a token
            assert value in FWD, value
        elif key in ("fwd-status", "ttl"):
            assert type(value) is int, (key, value)  # §2.3, §2.4: integers
        elif key == "key":
            assert isinstance(value, str), (key, value)  # §2.7: a string
        elif key == "detail":
            assert isinstance(value, str), (key, value)  # §2.8: a token or a string
        else:
            raise AssertionError(f"unknown Cache-Status parameter {key}={value!r}")
    # A member says either that the cache answered (hit) or why it forwarded.
    assert ("hit" in params) != ("fwd" in params), params
    for forwarded_only in ("fwd-status", "stored", "collapsed"):
        if forwarded_only in params:
            assert "fwd" in params, params


def ours(resp: Resp, name: str = "routecache") -> Params:
    """The parameters of the cache's own (last) ``Cache-Status`` member, checked."""
    lines = resp.all("cache-status")
    assert lines, f"no Cache-Status in {resp.headers}"
    members = parse_sf_list(", ".join(lines))
    item, params = members[-1]
    assert item == name, members
    check_member(item, params)
    return params


def is_hit(resp: Resp) -> bool:
    """Served from the store without contacting the origin."""
    return bool(ours(resp).get("hit"))


def stored(resp: Resp) -> bool:
    """The response was stored."""
    return bool(ours(resp).get("stored"))


def ttl(resp: Resp) -> int:
    """The ``ttl`` parameter (fails when absent)."""
    value = ours(resp).get("ttl")
    assert isinstance(value, int), resp.cache_status
    return value


def near(value: float, expected: float, slack: float = 2.0) -> bool:
    """Equal within a couple of seconds (a test run takes time)."""
    return abs(value - expected) <= slack


def shared(make_client: Callable[..., Client], **options: Any) -> Client:
    """routecache as a standards-following shared cache in front of any app: no rules."""
    return make_client(honor_cache_control=True, **options)


def reply(*headers: tuple[str, str], status: int = 200, body: bytes = b"payload") -> Reply:
    """A reply with a fixed content type (so a 304 from the origin does not change it)."""
    return Reply(status, [("content-type", "text/plain"), *headers], body)


def validating(
    etag: str | None,
    body: bytes,
    headers: list[tuple[str, str]],
    not_modified: list[tuple[str, str]],
    *,
    last_modified: str | None = None,
) -> Callable[[Seen], Reply]:
    """An origin that answers ``200`` with its validators and ``headers``, and a matching
    conditional request with ``304`` and ``not_modified`` (If-None-Match first)."""

    def handler(seen: Seen) -> Reply:
        validators = [("etag", etag)] if etag else []
        if last_modified:
            validators.append(("last-modified", last_modified))
        inm = seen.headers.get("if-none-match")
        ims = seen.headers.get("if-modified-since")
        if (etag is not None and inm == etag) or (
            inm is None and last_modified is not None and ims == last_modified
        ):
            return Reply(304, [("content-type", "text/plain"), *validators, *not_modified])
        return Reply(200, [("content-type", "text/plain"), *validators, *headers], body)

    return handler
