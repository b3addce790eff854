"""Parsing of ``Cache-Control`` (RFC 9111 §5.2) into typed directives.

The grammar is ``#( token [ "=" ( token / quoted-string ) ] )``. Parsing never raises:
unknown directives are kept by name, malformed members (``max-age =60``: the
grammar has no whitespace around ``=``) are skipped, and a
delta-seconds argument that is not a non-negative integer makes the directive
*invalid*, which the policy treats as "stale on arrival" (§4.2.1 encourages caches to
consider responses with invalid freshness information stale). The first occurrence of
a duplicated directive wins (§4.2.1 allows it). Quoted arguments (``max-age="60"``)
are accepted as §5.2 asks of recipients.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .headers import parse_uint, split_list

__all__ = ["DELTA_MAX", "INVALID", "Directives", "parse_cache_control"]

#: §1.2.2: delta-seconds too large to represent are taken as 2**31.
DELTA_MAX = 2147483648
#: Marker for a delta-seconds directive whose argument is not a valid integer.
INVALID = -1

_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


@dataclass(slots=True)
class Directives:
    """Cache-Control directives of a request or a response.

    Delta-seconds fields are ``None`` when absent, :data:`INVALID` when malformed, and
    otherwise clamped to :data:`DELTA_MAX`. ``no_cache`` and ``private`` are ``True``
    for the bare form; their qualified forms (``private="set-cookie"``) set the field
    names in ``no_cache_fields`` / ``private_fields`` as well.
    """

    max_age: int | None = None
    s_maxage: int | None = None
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    min_fresh: int | None = None
    max_stale: int | None = None
    max_stale_any: bool = False
    no_cache: bool = False
    no_cache_fields: tuple[str, ...] = ()
    no_store: bool = False
    private: bool = False
    private_fields: tuple[str, ...] = ()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    only_if_cached: bool = False
    no_transform: bool = False
    immutable: bool = False
    extensions: dict[str, str | None] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when no directive at all was present."""
        return self == _EMPTY


_EMPTY = Directives()

_DELTA = {
    "max-age": "max_age",
    "s-maxage": "s_maxage",
    "stale-while-revalidate": "stale_while_revalidate",
    "stale-if-error": "stale_if_error",
    "min-fresh": "min_fresh",
}
_FLAGS = {
    "no-store": "no_store",
    "public": "public",
    "must-revalidate": "must_revalidate",
    "proxy-revalidate": "proxy_revalidate",
    "must-understand": "must_understand",
    "only-if-cached": "only_if_cached",
    "no-transform": "no_transform",
    "immutable": "immutable",
}


def _delta(arg: str | None) -> int:
    value = parse_uint(arg, DELTA_MAX)
    return INVALID if value is None else value


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        inner = raw[1:-1]
        if "\\" in inner:
            out = []
            it = iter(inner)
            for ch in it:
                out.append(next(it, "") if ch == "\\" else ch)
            inner = "".join(out)
        return inner
    return raw


def _field_names(arg: str | None) -> tuple[str, ...]:
    if not arg:
        return ()
    return tuple(n.strip().lower() for n in arg.split(",") if n.strip())


def parse_cache_control(value: str | Iterable[str] | None) -> Directives:
    """Parse one or more ``Cache-Control`` field values; never raises."""
    result = Directives()
    if not value:
        return result
    seen: set[str] = set()
    bare: set[str] = set()
    for member in split_list(value):
        name, eq, raw_arg = member.partition("=")
        if eq and (name[-1:].isspace() or raw_arg[:1].isspace()):
            continue  # no whitespace around "=" in the grammar: not a directive
        name = name.strip().lower()
        if not name or not all(c in _TOKEN_CHARS for c in name):
            continue
        arg = _unquote(raw_arg.strip()) if eq else None
        first = name not in seen
        seen.add(name)
        if name in _DELTA:
            if first:
                setattr(result, _DELTA[name], _delta(arg))
        elif name in _FLAGS:
            setattr(result, _FLAGS[name], True)
        elif name == "max-stale":
            if first:
                if arg is None:
                    result.max_stale_any = True
                else:
                    result.max_stale = _delta(arg)
        elif name == "no-cache":
            result.no_cache = True
            result.no_cache_fields += _field_names(arg)
            if arg is None:
                bare.add(name)
        elif name == "private":
            result.private = True
            result.private_fields += _field_names(arg)
            if arg is None:
                bare.add(name)
        elif first:
            result.extensions[name] = arg
    # The unqualified form anywhere in the list covers the whole response.
    if "private" in bare:
        result.private_fields = ()
    if "no-cache" in bare:
        result.no_cache_fields = ()
    return result
