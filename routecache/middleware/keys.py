"""Request -> cache key: canonical, unambiguous, hashed, and poisoning-proof.

Two requests share a key only if the application cannot tell them apart. A key is
built from the method class (GET and HEAD share entries), the scheme, the host
(lower-cased; the scheme's default port dropped when it is the only port), the mount
prefix (``SCRIPT_NAME``/``root_path``), the decoded path the app routes on, the raw
path as the server received it (when the server exposes it), the raw query segments
the rule keeps (stably sorted by their raw name), the trusted rewriting headers, the
request headers the rule declares in ``vary`` (every line, exactly as sent) and every
cookie named in ``vary_cookies`` (all of them, in order). Each component is
length-prefixed before hashing, so no two different inputs give the same bytes to the
hash; a header or cookie that is absent is encoded apart from one that is present but
empty (as Django does for ``Vary``).

:class:`KeyGuard` says when a request cannot be keyed safely (a malformed host, a
host/scheme/prefix/path/method rewriting header that nobody declared trusted): the
policy then bypasses the cache.

Every key of one path shares the path's hash (``path_hash``); stores use it as the
Redis Cluster ``{hash tag}``, so per-path operations stay on one slot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from hashlib import blake2b
from struct import Struct
from typing import Any, Final

from .errors import ConfigurationError
from .rules import Rule

__all__ = [
    "DEFAULT_UNKEYED_HEADERS",
    "CacheKey",
    "KeyGuard",
    "canonical_host",
    "canonical_query",
    "cookie_values",
    "field_value",
    "path_hash",
    "request_key",
    "variant_hash",
]

_VERSION: Final = b"rc2"
_LEN: Final = Struct(">I")
_ABSENT: Final = b"\xff\xff\xff\xff"
_DEFAULT_PORTS: Final = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
#: A host as RFC 3986 §3.2.2 spells it (reg-name, IPv4, or an IP literal in brackets),
#: lower-cased, then an optional port. A comma (two Host lines joined) or any space is
#: not part of a host.
_HOST: Final = re.compile(r"(\[[0-9a-z:.%]+\]|[a-z0-9._~!$&'()*+;=%-]+)(?::([0-9]+))?")
_MEMO_SIZE: Final = 1024

#: Request headers that servers, frameworks or common middleware use to rewrite the
#: host, scheme, port, mount prefix, path or method the application sees. A request
#: carrying one bypasses the cache unless it is declared trusted (keyed) or stripped.
DEFAULT_UNKEYED_HEADERS: Final = (
    "forwarded",
    "front-end-https",
    "script-name",
    "x-forwarded-host",
    "x-forwarded-path",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-forwarded-server",
    "x-forwarded-ssl",
    "x-forwarded-uri",
    "x-host",
    "x-http-host",
    "x-http-method",
    "x-http-method-override",
    "x-method-override",
    "x-original-host",
    "x-original-uri",
    "x-original-url",
    "x-rewrite-url",
    "x-scheme",
    "x-script-name",
    "x-url-scheme",
)
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")


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


def _exact(text: str) -> bytes:
    # Injective on every str (lone surrogates included): distinct text, distinct bytes.
    return text.encode("utf-8", "surrogatepass")


def path_hash(path: str) -> str:
    """The 16-hex-digit hash of a path; every key of that path carries it."""
    return blake2b(_utf8(path), digest_size=8).hexdigest()


_hosts: dict[tuple[str, str], str | None] = {}
#: Hosts known to be well-formed (whatever the scheme): the hit path's check.
_valid_hosts: set[str] = set()


def canonical_host(host: str, scheme: str) -> str | None:
    """The host lower-cased, without the scheme's default port when that is its only
    port; ``None`` when it is not a well-formed host (the request is not keyable)."""
    try:
        return _hosts[(host, scheme)]
    except KeyError:
        pass
    result: str | None = None
    if host.isascii():  # lower() maps some non-ASCII letters onto ASCII ones
        lowered = host.lower()
        match = _HOST.fullmatch(lowered)
        if match is not None:
            port = match.group(2)
            if port is not None and _DEFAULT_PORTS.get(scheme) == port:
                result = match.group(1)
            else:
                result = lowered
    if len(_hosts) >= _MEMO_SIZE:
        _hosts.clear()
    _hosts[(host, scheme)] = result
    return result


def _raw_name(segment: bytes) -> bytes:
    return segment.partition(b"=")[0]


def _kept(rule: Rule, segment: bytes) -> bool:
    name = segment.partition(b"=")[0]
    if b"%" in name or b"+" in name:
        # Escaped spellings are never dropped: after decoding, the app may read
        # them as a parameter the rule keys on.
        return True
    return rule.keep_param(name.decode("latin-1"))


def canonical_query(query: bytes, rule: Rule | None) -> list[bytes]:
    """The raw query's ``&``-separated segments, minus those the rule drops, sorted
    stably by their raw name (repeated names keep their order). Nothing is decoded.

    ``params``/``ignore_params`` patterns match the raw name as sent; a name holding a
    percent-escape or ``+`` is always kept.
    """
    if not query:
        return []
    segments = query.split(b"&")
    if rule is not None and (rule.params_re is not None or rule.ignore_params_re is not None):
        segments = [s for s in segments if _kept(rule, s)]
    if len(segments) > 1:
        segments.sort(key=_raw_name)
    return segments


def field_value(
    headers: Mapping[str, str], name: str, lines: Mapping[str, Sequence[str]] | None = None
) -> str | None:
    """A request field's value for keying, exactly as the app can see it: the combined
    value, or, when the driver saw several lines the app can tell apart, every line in
    order (joined with a newline, which no field value contains)."""
    if lines:
        several = lines.get(name)
        if several is not None:
            return "\n".join(several)
    return headers.get(name)


def cookie_values(header: str | None, name: str) -> list[str]:
    """The values of every cookie called ``name`` in a ``Cookie`` header, in order."""
    if not header:
        return []
    out = []
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            out.append(value.strip())
    return out


def request_key(
    *,
    method: str,
    scheme: str,
    host: str,
    path: str,
    query: bytes,
    headers: Mapping[str, str],
    rule: Rule | None,
    raw_path: bytes | None = None,
    prefix: str = "",
    lines: Mapping[str, Sequence[str]] | None = None,
    trusted: Sequence[tuple[str, str | None]] = (),
) -> CacheKey:
    """The primary key of a request under ``rule`` (``None``: the no-rule defaults).

    ``path`` is the decoded path the app routes on (``prefix``, the mount point,
    included), ``raw_path`` the path as the server received it (``None`` when the
    server does not expose it), ``query`` the raw query string, ``trusted`` the values
    of the rewriting headers the app is known to honour. Raises ``ValueError`` for a
    malformed host (:class:`KeyGuard` bypasses such requests first).
    """
    canonical = canonical_host(host, scheme)
    if canonical is None:
        raise ValueError(f"not a host: {host!r}")
    parts: list[bytes] = [_VERSION]
    _frame(parts, b"GET" if method in ("GET", "HEAD") else _exact(method))
    _frame(parts, _exact(scheme))
    _frame(parts, canonical.encode("ascii"))
    _frame(parts, _exact(prefix))
    encoded_path = _utf8(path)
    _frame(parts, _exact(path))
    _frame(parts, raw_path)
    segments = canonical_query(query, rule)
    parts.append(_LEN.pack(len(segments)))
    for segment in segments:
        _frame(parts, segment)
    if trusted:
        parts.append(b"t")
        parts.append(_LEN.pack(len(trusted)))
        for name, value in trusted:
            _frame(parts, _exact(name))
            _frame(parts, None if value is None else _exact(value))
    if rule is not None:
        if rule.vary:
            parts.append(b"v")
            parts.append(_LEN.pack(len(rule.vary)))
            for name in rule.vary:
                field = field_value(headers, name, lines)
                _frame(parts, _exact(name))
                _frame(parts, None if field is None else _exact(field))
        if rule.vary_cookies:
            cookie = headers.get("cookie")
            parts.append(b"c")
            parts.append(_LEN.pack(len(rule.vary_cookies)))
            for name in rule.vary_cookies:
                crumbs = cookie_values(cookie, name)
                _frame(parts, _exact(name))
                parts.append(_LEN.pack(len(crumbs)))
                for crumb in crumbs:
                    _frame(parts, _exact(crumb))
    digest = blake2b(b"".join(parts), digest_size=16).hexdigest()
    return CacheKey(path, blake2b(encoded_path, digest_size=8).hexdigest(), digest)


def variant_hash(
    names: Iterable[str],
    headers: Mapping[str, str],
    lines: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The secondary-key suffix for the request's values of the response's ``Vary`` fields."""
    parts: list[bytes] = []
    for name in names:
        value = field_value(headers, name, lines)
        _frame(parts, _exact(name))
        _frame(parts, None if value is None else _exact(value))
    return blake2b(b"".join(parts), digest_size=12).hexdigest()


def _header_names(value: Any, option: str) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(f"{option} must be a list of header names, got {value!r}")
    names = []
    for item in value:
        name = item.lower() if isinstance(item, str) else None
        if name is None or not _TOKEN.fullmatch(name):
            raise ConfigurationError(f"{option}: {item!r} is not a header name")
        names.append(name)
    return tuple(dict.fromkeys(names))


class KeyGuard:
    """Decides whether a request can be keyed safely, and which rewriting headers the
    key must include.

    Args:
        unkeyed_headers: request headers that rewrite what the app sees (host, scheme,
            prefix, path, method); a request carrying one that is neither trusted nor
            stripped bypasses the cache (``detail=unkeyed-header``).
        trusted_headers: headers the app (or a middleware in front of it) honours and
            that are therefore part of the key.
        stripped_headers: headers removed before the app sees them: ignored.

    Raises :class:`~routecache.middleware.errors.ConfigurationError` naming the option
    when one is not a list of header names, or a header is both trusted and stripped.
    """

    __slots__ = ("_environ", "_environ_keys", "_watch", "trusted")

    def __init__(
        self,
        unkeyed_headers: Iterable[str] = DEFAULT_UNKEYED_HEADERS,
        trusted_headers: Iterable[str] = (),
        stripped_headers: Iterable[str] = (),
    ) -> None:
        unkeyed = _header_names(unkeyed_headers, "unkeyed_headers")
        trusted = _header_names(trusted_headers, "trusted_headers")
        stripped = _header_names(stripped_headers, "stripped_headers")
        both = sorted(set(trusted) & set(stripped))
        if both:
            raise ConfigurationError(
                f"trusted_headers and stripped_headers both name {', '.join(both)}"
            )
        #: Header names keyed whenever present.
        self.trusted = tuple(sorted(trusted))
        watched = [n for n in unkeyed if n not in trusted and n not in stripped]
        # The underscore spelling of a watched name is watched too, and never trusted:
        # some servers and frameworks read it as the hyphenated header.
        aliases = [n.replace("-", "_") for n in unkeyed if "-" in n]
        self._watch = frozenset([*watched, *aliases])
        self._environ = {"HTTP_" + n.upper().replace("-", "_"): n for n in watched}
        self._environ_keys = frozenset(self._environ)

    def check(self, facts: Any, rule: Rule | None) -> str | None:
        """``None`` when ``facts`` can be keyed; else the ``Cache-Status`` detail of
        the bypass (``host``, ``unkeyed-header``, ``cookie`` or the driver's reason)."""
        if facts.unkeyable is not None:
            return str(facts.unkeyable)
        host = facts.host
        if host not in _valid_hosts:
            if canonical_host(host, "") is None:
                return "host"
            if len(_valid_hosts) >= _MEMO_SIZE:
                _valid_hosts.clear()
            _valid_hosts.add(host)
        headers = facts.headers
        vary: tuple[str, ...] = ()
        if rule is not None:
            vary = rule.vary
            if rule.vary_cookies and '"' in headers.get("cookie", ""):
                # Quoted cookie values are split differently by different parsers
                # (werkzeug honours quotes, others split on every ';').
                return "cookie"
        if type(headers) is dict:
            if headers.keys().isdisjoint(self._watch):
                return None
            present: Iterable[str] = headers.keys() & self._watch
        else:
            environ = getattr(headers, "environ", None)
            if isinstance(environ, dict):
                if environ.keys().isdisjoint(self._environ_keys):
                    return None
                present = [self._environ[k] for k in environ.keys() & self._environ.keys()]
            else:
                present = [n for n in self._watch if n in headers]
        exempt = facts.trusted
        for name in present:
            if name not in exempt and name not in vary:
                return "unkeyed-header"
        return None

    def keyed(self, facts: Any) -> tuple[tuple[str, str | None], ...]:
        """The trusted rewriting headers' values, for the key (empty when none is
        trusted)."""
        names: Iterable[str] = self.trusted
        if facts.trusted:
            names = sorted({*names, *facts.trusted})
        if not names:
            return ()
        headers = facts.headers
        return tuple((name, headers.get(name)) for name in names)
