"""Small pure functions over HTTP header values (RFC 9110).

Dates, comma-separated lists, entity-tags and cookies. Every parser here is total:
malformed input gives ``None`` or an empty result, never an exception, because header
values come from the outside world.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable, Iterator
from email.utils import formatdate

__all__ = [
    "HOP_BY_HOP",
    "cookie_names",
    "cookie_value",
    "etag_matches",
    "format_http_date",
    "parse_etag_list",
    "parse_http_date",
    "parse_uint",
    "split_list",
]

#: Hop-by-hop fields (RFC 9110 §7.6.1): never stored, never replayed from the cache.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "trailer",
    }
)

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
# The three HTTP-date formats of RFC 9110 §5.6.7, exactly: single spaces, two-digit days
# (asctime: a space and one digit), the listed day and month names, "GMT". The grammar is
# case-sensitive, but RFC 9111 §4.2 asks a cache to match dates case-insensitively, so
# names match in any case. Only the optional white space around a field value (SP, HTAB)
# is stripped. Digits are ASCII DIGITs only.
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DAY_L = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MON = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"(\d\d):(\d\d):(\d\d)"
_IMF = re.compile(rf"{_DAY}, (\d\d) {_MON} (\d{{4}}) {_TIME} GMT", re.ASCII | re.IGNORECASE)
_RFC850 = re.compile(rf"{_DAY_L}, (\d\d)-{_MON}-(\d\d) {_TIME} GMT", re.ASCII | re.IGNORECASE)
_ASCTIME = re.compile(rf"{_DAY} {_MON} (\d\d| \d) {_TIME} (\d{{4}})", re.ASCII | re.IGNORECASE)


def parse_http_date(value: str | None) -> float | None:
    """Return the POSIX time of an HTTP-date, or ``None`` when it is not one."""
    if not value:
        return None
    value = value.strip(" \t")
    try:
        m = _IMF.fullmatch(value)
        if m:
            day, mon, year, hh, mm, ss = m.groups()
        else:
            m = _RFC850.fullmatch(value)
            if m:
                day, mon, yy, hh, mm, ss = m.groups()
                # RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past.
                year_now = time.gmtime().tm_year
                year_i = year_now - year_now % 100 + int(yy)
                if year_i > year_now + 50:
                    year_i -= 100
                year = str(year_i)
            else:
                m = _ASCTIME.fullmatch(value)
                if not m:
                    return None
                mon, day, hh, mm, ss, year = m.groups()
        month = _MONTHS[mon.lower()]
        fields = (int(year), month, int(day.strip()), int(hh), int(mm), int(ss))
        if not (
            1 <= fields[2] <= calendar.monthrange(fields[0], month)[1]
            and fields[3] < 24
            and fields[4] < 60
            and fields[5] < 61
        ):
            return None
        return float(calendar.timegm((*fields, 0, 0, 0)))
    except (ValueError, OverflowError):
        return None


def parse_uint(text: str | bytes | None, cap: int) -> int | None:
    """A non-negative integer written in ASCII digits (delta-seconds, Age,
    Content-Length), clamped to ``cap``; ``None`` for anything else. Never raises:
    ``int()`` refuses strings of thousands of digits, so long ones are clamped first."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if not text or not text.isascii() or not text.isdigit():
        return None
    digits = text.lstrip("0")
    if len(digits) > len(str(cap)):
        return cap
    return min(int(digits or "0"), cap)


_last_date: tuple[int, str] = (0, "")


def format_http_date(when: float | None = None) -> str:
    """Format a POSIX time as an IMF-fixdate; the current second is cached."""
    global _last_date
    second = int(time.time() if when is None else when)
    cached = _last_date
    if cached[0] == second:
        return cached[1]
    text = formatdate(second, usegmt=True)
    _last_date = (second, text)
    return text


def split_list(values: str | Iterable[str] | None) -> list[str]:
    """Split a comma-separated field (``#token`` list) into stripped, non-empty members.

    Commas inside double quotes do not split. Several field lines may be given as an
    iterable; they combine as if joined with commas (RFC 9110 §5.3).
    """
    if not values:
        return []
    if not isinstance(values, str):
        values = ",".join(values)
    if '"' not in values:
        return [part.strip() for part in values.split(",") if part.strip()]
    return [part for part in _split_quoted(values) if part]


def _split_quoted(text: str) -> Iterator[str]:
    start = 0
    quoted = False
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            yield text[start:i].strip()
            start = i + 1
    yield text[start:].strip()


_ETAG = re.compile(r'\s*((?:W/)?"[^"]*")\s*(?:,|$)')


def parse_etag_list(value: str | None) -> list[str] | None:
    """Parse ``If-None-Match``/``If-Match``: ``["*"]``, a list of entity-tags, or ``None``.

    Unparseable members are dropped; ``None`` means the field is absent or holds no
    valid entity-tag.
    """
    if value is None:
        return None
    if value.strip() == "*":
        return ["*"]
    tags = [m.group(1) for m in _ETAG.finditer(value)]
    return tags or None


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(stored: str | None, candidates: list[str], *, weak: bool = True) -> bool:
    """Compare a stored entity-tag with a parsed list (RFC 9110 §8.8.3.2).

    ``weak=True`` is the weak comparison that ``If-None-Match`` requires; the strong
    comparison (``weak=False``) also requires both tags to be strong.
    """
    if stored is None:
        return False
    if "*" in candidates:
        return True
    if weak:
        target = _opaque(stored)
        return any(_opaque(c) == target for c in candidates)
    if stored.startswith("W/"):
        return False
    return any(c == stored for c in candidates)


def cookie_names(header: str) -> list[str]:
    """The names of the cookies in a ``Cookie`` request header, in order."""
    names = []
    for part in header.split(";"):
        name, _, _ = part.partition("=")
        name = name.strip()
        if name:
            names.append(name)
    return names


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of the first cookie called ``name``, or ``None`` when absent."""
    if not header:
        return None
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    return None
