"""Byte ranges served from a stored complete response (RFC 9110 §14).

A cache may answer a ``Range`` request from a stored ``200`` (RFC 9111 §3.4 is about
combining partial responses, which routecache never stores). :func:`select_range`
says which part of a body of a given length a request asks for; the policy builds the
``206`` or ``416`` from that. Total: malformed input means "ignore the Range field".
"""

from __future__ import annotations

from typing import Final

from .headers import parse_http_date

__all__ = ["UNSATISFIABLE", "if_range_holds", "select_range"]

#: The request's only range lies beyond the body: answer 416 (RFC 9110 §15.5.17).
UNSATISFIABLE: Final = (-1, -1)


def _digits(text: str) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 19 else None


def select_range(value: str, length: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` that ``Range: value`` asks of a body
    of ``length`` bytes, :data:`UNSATISFIABLE`, or ``None`` to send the whole body.

    ``None`` covers a field that is not ``bytes=`` with valid range-specs (§14.2: the
    field is then ignored) and several ranges (answering with the whole representation
    is always allowed, and spares multipart responses).
    """
    unit, eq, spec_set = value.partition("=")
    if not eq or unit.strip(" \t").lower() != "bytes":
        return None
    specs = [s.strip(" \t") for s in spec_set.split(",")]
    specs = [s for s in specs if s]  # RFC 9110 §5.6.1: empty list members are ignored
    if len(specs) != 1:
        return None
    first_text, dash, last_text = specs[0].partition("-")
    if not dash:
        return None
    if not first_text:
        suffix = _digits(last_text)
        if suffix is None:
            return None
        if suffix == 0 or length == 0:
            return UNSATISFIABLE
        return (max(0, length - suffix), length - 1)
    first = _digits(first_text)
    if first is None:
        return None
    last: int | None = length - 1
    if last_text:
        last = _digits(last_text)
        if last is None or last < first:
            return None
    if first >= length:
        return UNSATISFIABLE
    return (first, min(last if last is not None else length - 1, length - 1))


def if_range_holds(
    value: str, etag: bytes | None, last_modified: bytes | None, date: bytes | None
) -> bool:
    """Evaluate ``If-Range`` against a stored response's validators (RFC 9110 §13.1.5):
    a strong entity-tag match, or a date equal to a strong ``Last-Modified``. Weak
    tags never match."""
    value = value.strip(" \t")
    if value.startswith(('"', "W/")):
        return (
            etag is not None
            and not value.startswith("W/")
            and not etag.startswith(b"W/")
            and value.encode("latin-1", "replace") == etag
        )
    since = parse_http_date(value)
    modified = parse_http_date(last_modified.decode("latin-1")) if last_modified else None
    dated = parse_http_date(date.decode("latin-1")) if date else None
    # §8.8.2.2: Last-Modified is strong only when at least a second older than Date.
    return (
        since is not None
        and modified is not None
        and dated is not None
        and modified <= dated - 1
        and modified == since
    )
