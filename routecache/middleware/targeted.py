"""Targeted cache control (RFC 9213): response fields that address one class of cache.

An app can tell routecache one thing and browsers another::

    Cache-Control: no-cache                  browsers revalidate every time
    Routecache-Cache-Control: max-age=60     routecache keeps it for 60 s

The policy looks through its target list in order and uses the first field that is
present with a valid, non-empty value (an RFC 8941 Dictionary); that value then stands
in for ``Cache-Control`` *and* ``Expires`` (RFC 9213 §2.2). Without one, the response is
judged by ``Cache-Control`` as usual. The fields routecache owns are stripped from what
goes to the client; ``CDN-Cache-Control`` is passed on, since every CDN tier downstream
is addressed by it too (RFC 9213 §3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import http_sf

from .errors import ConfigurationError

__all__ = ["CDN_CACHE_CONTROL", "DEFAULT_TARGETS", "Targets"]

#: The field RFC 9213 §3 defines for every CDN tier.
CDN_CACHE_CONTROL: Final = "cdn-cache-control"
#: routecache's own targeted field, used unless configured otherwise.
DEFAULT_TARGETS: Final = ("routecache-cache-control",)

_TCHAR: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


class Targets:
    """A validated target list: which fields address routecache, in precedence order.

    Args:
        names: field names, first wins (``Cache-Control`` itself is not a target).
    """

    __slots__ = ("names", "strip")

    def __init__(self, names: Iterable[str]) -> None:
        if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
            raise ConfigurationError(
                "cache_control_targets must be a list of field names, got "
                f"{names!r} (for example ['Routecache-Cache-Control', 'CDN-Cache-Control'])"
            )
        seen: list[bytes] = []
        for name in names:
            lowered = name.lower() if isinstance(name, str) else None
            if (
                lowered is None
                or not lowered
                or not set(lowered) <= _TCHAR
                or lowered in ("cache-control", "expires")
            ):
                raise ConfigurationError(
                    "cache_control_targets must hold field names other than "
                    f"Cache-Control and Expires, got {name!r}"
                )
            encoded = lowered.encode("ascii")
            if encoded not in seen:
                seen.append(encoded)
        #: Lower-case field names in precedence order.
        self.names: tuple[bytes, ...] = tuple(seen)
        #: The fields removed before a response leaves (all but CDN-Cache-Control).
        self.strip: frozenset[bytes] = frozenset(
            n for n in seen if n != CDN_CACHE_CONTROL.encode("ascii")
        )

    def select(self, headers: Sequence[tuple[bytes, bytes]]) -> str | None:
        """The directives of the first target field with a valid, non-empty value
        (RFC 9213 §2.2), or ``None`` when ``Cache-Control`` rules."""
        for name in self.names:
            values = [v for k, v in headers if k == name]
            if not values:
                continue
            raw = b", ".join(v.strip(b" \t") for v in values)
            if not raw.strip(b", \t"):
                continue
            try:
                http_sf.parse(raw, tltype="dictionary")
            except Exception:  # whatever the parser objects to, the field is invalid
                continue
            return raw.decode("ascii")
        return None
