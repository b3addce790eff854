"""The ``Cache-Status`` response field (RFC 9211), one member per response.

``Cache-Status`` is a structured-field list; routecache appends its own member after
any the app (or a cache nearer the origin) already set, as §2 asks.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["FWD_VALUES", "append_cache_status", "format_cache_status"]

#: RFC 9211 §2.2 ``fwd`` values.
FWD_VALUES: Final = frozenset(
    {"bypass", "method", "uri-miss", "vary-miss", "miss", "request", "stale", "partial"}
)
_TOKEN = re.compile(r"^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$")


def _sf_item(value: str) -> str:
    """A structured-field token when the value is one, else an sf-string."""
    if _TOKEN.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c for c in escaped if " " <= c <= "~") + '"'


def format_cache_status(
    name: str,
    *,
    hit: bool = False,
    fwd: str | None = None,
    fwd_status: int | None = None,
    ttl: float | None = None,
    stored: bool = False,
    collapsed: bool = False,
    key: str | None = None,
    detail: str | None = None,
) -> str:
    """One ``Cache-Status`` member: ``routecache; hit; ttl=41`` and the like."""
    parts = [name]
    if hit:
        parts.append("hit")
    if fwd is not None:
        parts.append(f"fwd={fwd}")
        if fwd_status is not None:
            parts.append(f"fwd-status={fwd_status}")
    if ttl is not None:
        parts.append(f"ttl={round(ttl)}")
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if key is not None:
        parts.append(f"key={_sf_item(key)}")
    if detail is not None:
        parts.append(f"detail={_sf_item(detail)}")
    return "; ".join(parts)


def append_cache_status(
    headers: list[tuple[bytes, bytes]], member: bytes
) -> list[tuple[bytes, bytes]]:
    """Add ``member`` after any existing ``Cache-Status`` members (in place): to the
    last field line, so that the combined list ends with it (RFC 9211 §2)."""
    for i in range(len(headers) - 1, -1, -1):
        k, v = headers[i]
        if k == b"cache-status":
            headers[i] = (k, v + b", " + member)
            return headers
    headers.append((b"cache-status", member))
    return headers
