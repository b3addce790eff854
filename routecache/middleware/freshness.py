"""Freshness arithmetic (RFC 9111 §4.2): the lifetime a response states, the heuristic
one, and its corrected initial age. Pure functions of response fields; the policy
decides which one applies."""

from __future__ import annotations

from typing import Final

from .cache_control import DELTA_MAX, INVALID, Directives
from .headers import parse_http_date, parse_uint
from .plans import HeaderList, first_value, header_values

__all__ = [
    "HEURISTIC_CAP",
    "HEURISTIC_FRACTION",
    "corrected_initial_age",
    "explicit_freshness",
    "heuristic_lifetime",
]

#: §4.2.2: a tenth of the time since Last-Modified, at most a day.
HEURISTIC_FRACTION: Final = 0.1
HEURISTIC_CAP: Final = 86400.0


def explicit_freshness(
    cc: Directives, headers: HeaderList, response_time: float, expires_counts: bool = True
) -> float | None:
    """The freshness lifetime the response states (§4.2.1), or ``None`` when silent."""
    if cc.s_maxage is not None:
        return 0.0 if cc.s_maxage == INVALID else float(cc.s_maxage)
    if cc.max_age is not None:
        return 0.0 if cc.max_age == INVALID else float(cc.max_age)
    expires = header_values(headers, b"expires") if expires_counts else None
    if expires:
        when = parse_http_date(expires[0]) if len(expires) == 1 else None
        if when is None:
            return 0.0  # §5.3: invalid dates, "0" included, are in the past
        date = parse_http_date(_decoded(first_value(headers, b"date")))
        return max(0.0, when - (date if date is not None else response_time))
    return None


def _decoded(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def heuristic_lifetime(headers: HeaderList, response_time: float) -> float | None:
    """A tenth of the time since ``Last-Modified``, at most a day (§4.2.2); ``None``
    without a valid ``Last-Modified`` to base it on."""
    modified = parse_http_date(_decoded(first_value(headers, b"last-modified")))
    if modified is None:
        return None
    date = parse_http_date(_decoded(first_value(headers, b"date"))) or response_time
    return min(max(0.0, (date - modified) * HEURISTIC_FRACTION), HEURISTIC_CAP)


def corrected_initial_age(headers: HeaderList, request_time: float, response_time: float) -> float:
    """The corrected initial age of a response (§4.2.3)."""
    age_raw = first_value(headers, b"age")
    age_value = 0.0
    if age_raw is not None:
        # §5.1: a list-valued Age counts by its first member; an invalid one is ignored.
        first = age_raw.split(b",", 1)[0].strip(b" \t")
        age_value = float(parse_uint(first, DELTA_MAX) or 0)
    date = parse_http_date(_decoded(first_value(headers, b"date")))
    # Date has a resolution of one second: compare at that resolution.
    apparent = max(0.0, int(response_time) - date) if date is not None else 0.0
    corrected = age_value + max(0.0, response_time - request_time)
    return max(apparent, corrected)
