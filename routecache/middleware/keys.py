"""Request -> cache key: canonical, unambiguous, hashed.

A key is built from the method class (GET and HEAD share entries), the scheme, the host
(lower-cased, default port dropped), the path, the query parameters the rule keeps
(sorted by name, repeated parameters kept in their order), the request headers the
rule declares in ``vary`` and the cookies named in ``vary_cookies``. Each component is
length-prefixed before hashing, so no two different requests can produce the same
input to the hash; a header or cookie that is absent is encoded apart from one that is
present but empty (as Django does for ``Vary``).

Every key of one path shares the path's hash (``path_hash``); stores use it as the
Redis Cluster ``{hash tag}``, so per-path operations stay on one slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from hashlib import blake2b
from operator import itemgetter
from struct import Struct
from typing import Final
from urllib.parse import parse_qsl

from .headers import cookie_value, split_list
from .rules import Rule

__all__ = [
    "CacheKey",
    "canonical_host",
    "canonical_query",
    "normalize_field",
    "path_hash",
    "request_key",
    "variant_hash",
]

_VERSION: Final = b"rc1"
_LEN: Final = Struct(">I")
_ABSENT: Final = b"\xff\xff\xff\xff"
_DEFAULT_PORTS: Final = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
_by_name = itemgetter(0)


class CacheKey:
    """The address of an entry: the path's hash (the cluster hash tag) and a digest."""

    __slots__ = ("digest", "path", "path_hash")

    def __init__(self, path: str, path_hash: str, digest: str) -> None:
        self.path = path
        self.path_hash = path_hash
        self.digest = digest

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CacheKey)
            and self.digest == other.digest
            and self.path_hash == other.path_hash
        )

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"CacheKey({self.path!r}, {self.path_hash}:{self.digest})"


def _frame(out: list[bytes], part: bytes | None) -> None:
    if part is None:
        out.append(_ABSENT)
    else:
        out.append(_LEN.pack(len(part)))
        out.append(part)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def path_hash(path: str) -> str:
    """The 16-hex-digit hash of a path; every key of that path carries it."""
    return blake2b(_utf8(path), digest_size=8).hexdigest()


def canonical_host(host: str, scheme: str) -> str:
    """Lower-case the host and drop the scheme's default port."""
    host = host.strip().lower()
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and not name.endswith(":") and "]" not in port:
        if _DEFAULT_PORTS.get(scheme) == port:
            return name
        return host
    return host


def canonical_query(query: bytes, rule: Rule | None) -> list[tuple[str, str]]:
    """The query's parameters, filtered by the rule and sorted stably by name.

    Percent-escapes are decoded to bytes and held as latin-1 text, so every distinct
    byte sequence stays distinct.
    """
    if not query:
        return []
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    if rule is not None and (rule.params_re is not None or rule.ignore_params_re is not None):
        pairs = [p for p in pairs if rule.keep_param(p[0])]
    pairs.sort(key=_by_name)
    return pairs


def normalize_field(value: str | None) -> str | None:
    """Normalise a request field value for keying: list members trimmed and re-joined."""
    if value is None:
        return None
    if "," not in value:
        return value.strip()
    return ",".join(split_list(value))


def request_key(
    *,
    method: str,
    scheme: str,
    host: str,
    path: str,
    query: bytes,
    headers: Mapping[str, str],
    rule: Rule | None,
) -> CacheKey:
    """The primary key of a request under ``rule`` (``None``: the no-rule defaults)."""
    parts: list[bytes] = [_VERSION]
    _frame(parts, b"GET" if method in ("GET", "HEAD") else method.encode("latin-1"))
    _frame(parts, scheme.encode("latin-1"))
    _frame(parts, canonical_host(host, scheme).encode("latin-1", "replace"))
    encoded_path = _utf8(path)
    _frame(parts, encoded_path)
    pairs = canonical_query(query, rule)
    parts.append(_LEN.pack(len(pairs)))
    for name, value in pairs:
        _frame(parts, name.encode("latin-1"))
        _frame(parts, value.encode("latin-1"))
    if rule is not None:
        if rule.vary:
            parts.append(b"v")
            parts.append(_LEN.pack(len(rule.vary)))
            for name in rule.vary:
                field = normalize_field(headers.get(name))
                _frame(parts, name.encode("latin-1"))
                _frame(parts, None if field is None else field.encode("latin-1", "replace"))
        if rule.vary_cookies:
            cookie = headers.get("cookie")
            parts.append(b"c")
            parts.append(_LEN.pack(len(rule.vary_cookies)))
            for name in rule.vary_cookies:
                crumb = cookie_value(cookie, name)
                _frame(parts, _utf8(name))
                _frame(parts, None if crumb is None else _utf8(crumb))
    digest = blake2b(b"".join(parts), digest_size=16).hexdigest()
    return CacheKey(path, blake2b(encoded_path, digest_size=8).hexdigest(), digest)


def variant_hash(names: Iterable[str], headers: Mapping[str, str]) -> str:
    """The secondary-key suffix for the request's values of the response's ``Vary`` fields."""
    parts: list[bytes] = []
    for name in names:
        value = normalize_field(headers.get(name))
        _frame(parts, name.encode("latin-1"))
        _frame(parts, None if value is None else value.encode("latin-1", "replace"))
    return blake2b(b"".join(parts), digest_size=12).hexdigest()
