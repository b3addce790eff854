"""The fuzz targets: each takes any bytes and raises ``AssertionError`` when a property
routecache relies on does not hold (any other exception is a bug as well).

- ``codec``: ``decode_entry`` never raises; with a matching checksum appended, a
  decoded entry re-encodes to the very same bytes (raw bodies) or to an equal entry
  (compressed ones), and every header it yields is a valid, non-framing HTTP field.
- ``headers``: the date, integer, list, entity-tag and cookie parsers are total.
- ``cache_control``: ``parse_cache_control`` is total and its numbers are in range.
- ``vary``: field values are keyed exactly as sent; variant hashes never raise.
- ``keys``: ``request_key`` is deterministic, GET and HEAD share keys, and a malformed
  host is the only input it refuses.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable

import xxhash

from routecache import Rule
from routecache.middleware.cache_control import DELTA_MAX, INVALID, parse_cache_control
from routecache.middleware.entry import Codec, Entry, decode_entry
from routecache.middleware.headers import (
    cookie_names,
    cookie_value,
    etag_matches,
    parse_etag_list,
    parse_http_date,
    parse_uint,
    split_list,
)
from routecache.middleware.keys import canonical_host, field_value, request_key, variant_hash
from routecache.middleware.vary_normalise import best_coding, best_language

__all__ = ["TARGETS", "seal"]

_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")
_FRAMING = {b"content-length", b"transfer-encoding", b"connection", b"te", b"upgrade"}
_RAW = Codec(None)
_RULE = Rule("/{rest:path}", vary=["accept-language", "x-tenant"], vary_cookies=["lang"])


def seal(data: bytes) -> bytes:
    """``data`` with the checksum an entry ends with (so the parser behind it is fuzzed)."""
    return data + struct.pack(">Q", xxhash.xxh3_64_intdigest(data))


def _same(a: Entry, b: Entry | None) -> None:
    assert b is not None
    for attr in Entry.__slots__:
        left, right = getattr(a, attr), getattr(b, attr)
        assert left == right or (attr == "headers" and list(left) == list(right)), attr


def codec(data: bytes) -> None:
    """Decode ``data`` as it is and sealed; check what a decoded entry is."""
    assert decode_entry(data) is None or len(data) >= 8
    sealed = seal(data)
    entry = decode_entry(sealed)
    if entry is None:
        return
    for name, value in entry.headers:
        assert _NAME.fullmatch(name), name
        assert _VALUE.fullmatch(value), value
        assert name not in _FRAMING, name
    assert 100 <= entry.status <= 599
    assert all(map(math.isfinite, (entry.stored_at, entry.fresh_for, entry.initial_age)))
    again = _RAW.encode(entry)
    if data[7] == 0:  # the codec byte: a raw body re-encodes byte for byte
        assert again == sealed
    _same(entry, decode_entry(again))


def headers(data: bytes) -> None:
    """The total parsers of ``headers.py`` on any text."""
    text = data.decode("latin-1")
    when = parse_http_date(text)
    assert when is None or math.isfinite(when)
    number = parse_uint(text, DELTA_MAX)
    assert number is None or 0 <= number <= DELTA_MAX
    assert all(isinstance(m, str) and m == m.strip() and m for m in split_list(text))
    tags = parse_etag_list(text)
    etag_matches(text, tags or [], weak=True)
    etag_matches(text, tags or [], weak=False)
    for name in cookie_names(text)[:3]:
        assert name == name.strip()
        value = cookie_value(text, name)
        assert value is None or value == value.strip()


def cache_control(data: bytes) -> None:
    """``parse_cache_control`` on any text, one field line or several."""
    text = data.decode("latin-1")
    for value in (text, text.split("\n")):
        cc = parse_cache_control(value)
        for field in ("max_age", "s_maxage", "stale_while_revalidate", "stale_if_error"):
            number = getattr(cc, field)
            assert number is None or number == INVALID or 0 <= number <= DELTA_MAX, field


def vary(data: bytes) -> None:
    """Vary values are keyed exactly as sent (one value, or every line in order);
    hashing any fields never raises."""
    text = data.decode("latin-1")
    assert field_value({"x": text}, "x") == text
    lines = text.split(",")
    assert field_value({"x": text}, "x", {"x": lines}) == "\n".join(lines)
    names = [n.lower() for n in split_list(text)][:8]
    variant_hash(names, dict.fromkeys(names[::2], text))


def keys(data: bytes) -> None:
    """``request_key`` on any request parts, with and without a rule."""
    parts = data.decode("latin-1").split("\x00")
    parts += [""] * (7 - len(parts))
    method, scheme, host, path, query, value, cookie = parts[:7]
    header_map = {"accept-language": value, "x-tenant": value[::-1], "cookie": cookie}
    if canonical_host(host, scheme or "http") is None:
        try:
            request_key(
                method="GET", scheme=scheme or "http", host=host, path="/", query=b"",
                headers={}, rule=None,
            )  # fmt: skip
        except ValueError:
            return
        raise AssertionError(f"a malformed host was keyed: {host!r}")
    for rule in (None, _RULE):
        key = request_key(
            method=method or "GET",
            scheme=scheme or "http",
            host=host,
            path="/" + path,
            query=query.encode("latin-1"),
            headers=header_map,
            rule=rule,
        )
        again = request_key(
            method="HEAD" if method in ("", "GET") else method,
            scheme=scheme or "http",
            host=host,
            path="/" + path,
            query=query.encode("latin-1"),
            headers=dict(header_map),
            rule=rule,
        )
        assert key == again


def accept(data: bytes) -> None:
    """``Accept-Encoding`` / ``Accept-Language`` normalisation answers any value with
    one of the app's choices (or ``identity``), never raising."""
    text = data.decode("latin-1")
    assert best_coding(text, ("br", "gzip")) in ("br", "gzip", "identity")
    assert best_language(text, ("en", "fr-CH", "de")) in ("en", "fr-CH", "de")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "codec": codec,
    "headers": headers,
    "cache_control": cache_control,
    "vary": vary,
    "keys": keys,
    "accept": accept,
}
