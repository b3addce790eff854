"""Header value helpers (RFC 9110): dates, lists, entity-tags, cookies. All total."""

from __future__ import annotations

import calendar
import time
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routecache.middleware.headers import (
    cookie_names,
    cookie_value,
    etag_matches,
    format_http_date,
    parse_etag_list,
    parse_http_date,
    split_list,
)

# RFC 9110 §5.6.7's example instant, in its three formats.
EXAMPLE = 784111777.0


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # ANSI C asctime()
        "sun, 06 nov 1994 08:49:37 GMT",
        "  Sun, 06 Nov 1994 08:49:37 GMT  ",
        "\tSun, 06 Nov 1994 08:49:37 GMT\t",
        # RFC 9111 §4.2: a cache matches dates case-insensitively.
        "Sun, 06 Nov 1994 08:49:37 gMT",
        "SUNDAY, 06-NOV-94 08:49:37 gmt",
        "sun nov  6 08:49:37 1994",
        "Sun Nov 06 08:49:37 1994",
    ],
)
def test_http_date_formats(value: str) -> None:
    assert parse_http_date(value) == EXAMPLE


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "0",
        "-1",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",  # November has 30 days
        "Tue, 29 Feb 2022 08:49:37 GMT",  # not a leap year
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",  # non-ASCII digits are not DIGIT
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        # RFC 9110 §5.6.7 exactly: single spaces, two-digit days, real day names.
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Thu, 18  Aug  2050 08:49:37 GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37  GMT",
        "Sun,06 Nov 1994 08:49:37 GMT",
        "Sun, 06\tNov 1994 08:49:37 GMT",
        "Sun, 06 November 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 6-Nov-94 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\r\n",
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
    ],
)
def test_invalid_http_dates_are_none(value: str | None) -> None:
    assert parse_http_date(value) is None


def test_leap_day_and_leap_second() -> None:
    assert parse_http_date("Thu, 29 Feb 1996 00:00:00 GMT") == calendar.timegm(
        (1996, 2, 29, 0, 0, 0, 0, 0, 0)
    )
    assert parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") is not None


def test_rfc850_two_digit_year_more_than_50_years_ahead_is_in_the_past() -> None:
    year = time.gmtime().tm_year
    ahead = (year + 60) % 100
    parsed = parse_http_date(f"Monday, 01-Jan-{ahead:02d} 00:00:00 GMT")
    assert parsed is not None
    assert time.gmtime(parsed).tm_year == year + 60 - 100
    soon = (year + 10) % 100
    parsed = parse_http_date(f"Monday, 01-Jan-{soon:02d} 00:00:00 GMT")
    assert parsed is not None
    assert time.gmtime(parsed).tm_year == year + 10


def test_format_http_date_is_imf_fixdate_and_round_trips() -> None:
    assert format_http_date(EXAMPLE) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(EXAMPLE + 0.9) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(EXAMPLE + 1) == "Sun, 06 Nov 1994 08:49:38 GMT"
    now = format_http_date()
    parsed = parse_http_date(now)
    assert parsed is not None
    assert abs(parsed - time.time()) < 2


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)))
def test_formatted_dates_parse_back(when: datetime) -> None:
    stamp = int(when.replace(tzinfo=timezone.utc).timestamp())
    assert parse_http_date(format_http_date(stamp)) == stamp


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAYS_L = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _reference(stamp: int, form: str) -> str:
    """An independent formatter for the three formats of RFC 9110 §5.6.7."""
    t = time.gmtime(stamp)
    hms = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    mon = _MONS[t.tm_mon - 1]
    if form == "imf":
        return f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {mon} {t.tm_year:04d} {hms} GMT"
    if form == "rfc850":
        return f"{_DAYS_L[t.tm_wday]}, {t.tm_mday:02d}-{mon}-{t.tm_year % 100:02d} {hms} GMT"
    return f"{_DAYS[t.tm_wday]} {mon} {t.tm_mday:2d} {hms} {t.tm_year:04d}"


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=253402300799),
    st.sampled_from(["imf", "rfc850", "asctime"]),
    st.booleans(),
    st.data(),
)
def test_dates_match_a_reference_formatter_exactly(
    stamp: int, form: str, swap_case: bool, data: st.DataObject
) -> None:
    text = _reference(stamp, form)
    if swap_case:
        text = text.swapcase()
    expected: float | None = float(stamp)
    if form == "rfc850":
        # Two-digit years are read within 50 years of now (RFC 9110 §5.6.7).
        year_now = time.gmtime().tm_year
        year = year_now - year_now % 100 + _year(stamp) % 100
        if year > year_now + 50:
            year -= 100
        expected = None if year != _year(stamp) else float(stamp)
    parsed = parse_http_date(text)
    if expected is not None:
        assert parsed == expected, text
    else:
        assert parsed is not None
        assert parsed != stamp
    # Any doubled space, dropped space or extra character makes it invalid.
    spaces = [i for i, c in enumerate(text) if c == " "]
    i = data.draw(st.sampled_from(spaces))
    assert parse_http_date(text[:i] + " " + text[i:]) is None
    assert parse_http_date(text[:i] + text[i + 1 :]) is None
    assert parse_http_date(text + "x") is None


def _year(stamp: int) -> int:
    return time.gmtime(stamp).tm_year


# -- lists -----------------------------------------------------------------------------


def test_split_list() -> None:
    assert split_list(None) == []
    assert split_list("") == []
    assert split_list(" a , b,,c ,") == ["a", "b", "c"]
    assert split_list(["a, b", "c"]) == ["a", "b", "c"]
    assert split_list('a="x, y", b') == ['a="x, y"', "b"]
    assert split_list(r'a="x\", y", b') == [r'a="x\", y"', "b"]
    assert split_list('"unterminated, b') == ['"unterminated, b']


# -- entity-tags (RFC 9110 §8.8.3) -------------------------------------------------------


def test_parse_etag_list() -> None:
    assert parse_etag_list(None) is None
    assert parse_etag_list("") is None
    assert parse_etag_list("not-a-tag") is None
    assert parse_etag_list("*") == ["*"]
    assert parse_etag_list(" * ") == ["*"]
    assert parse_etag_list('"a"') == ['"a"']
    assert parse_etag_list('W/"a", "b" ,"c"') == ['W/"a"', '"b"', '"c"']
    assert parse_etag_list('""') == ['""']
    assert parse_etag_list('"a,b", "c"') == ['"a,b"', '"c"']


@pytest.mark.parametrize(
    ("a", "b", "strong", "weak"),
    [
        # RFC 9110 §8.8.3.2, the comparison table.
        ('W/"1"', 'W/"1"', False, True),
        ('W/"1"', 'W/"2"', False, False),
        ('W/"1"', '"1"', False, True),
        ('"1"', '"1"', True, True),
        ('"1"', '"2"', False, False),
        ('"1"', 'W/"1"', False, True),
    ],
)
def test_entity_tag_comparison_table(a: str, b: str, strong: bool, weak: bool) -> None:
    assert etag_matches(a, [b], weak=False) is strong
    assert etag_matches(a, [b], weak=True) is weak


def test_etag_matches_lists_star_and_absent() -> None:
    assert etag_matches('"x"', ['"a"', '"x"'])
    assert not etag_matches('"x"', ['"a"', '"b"'])
    assert etag_matches('"x"', ["*"])
    assert etag_matches('W/"x"', ["*"], weak=False)
    assert not etag_matches(None, ["*"])
    assert not etag_matches(None, ['"x"'])
    assert not etag_matches('"x"', [])


# -- cookies ---------------------------------------------------------------------------------


def test_cookie_names_and_values() -> None:
    header = "_ga=GA1.2; lang=en ; empty=; flag; lang=fr"
    assert cookie_names(header) == ["_ga", "lang", "empty", "flag", "lang"]
    assert cookie_value(header, "lang") == "en"
    assert cookie_value(header, "empty") == ""
    assert cookie_value(header, "flag") is None
    assert cookie_value(header, "missing") is None
    assert cookie_value(None, "lang") is None
    assert cookie_value("", "lang") is None
    assert cookie_names("") == []
    assert cookie_names(" ; ;") == []


# -- totality --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(max_size=5))
def test_no_input_makes_a_header_parser_raise(value: str, name: str) -> None:
    parsed = parse_http_date(value)
    assert parsed is None or isinstance(parsed, float)
    assert all(isinstance(p, str) and p for p in split_list(value))
    tags = parse_etag_list(value)
    assert tags is None or all(isinstance(t, str) for t in tags)
    etag_matches(value, tags or [], weak=True)
    etag_matches(value, tags or [], weak=False)
    cookie_names(value)
    cookie_value(value, name)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.sampled_from(list("SunMoNvGT,:- 0123456789WdFebJ")) | st.characters(),
        max_size=40,
    )
)
def test_no_date_like_string_makes_the_date_parser_raise(value: str) -> None:
    parse_http_date(value)


# -- ranges ------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40), st.integers(min_value=0, max_value=10_000))
def test_a_selected_range_always_lies_inside_the_body(value: str, length: int) -> None:
    from routecache.middleware.ranges import UNSATISFIABLE, select_range

    selected = select_range(value, length)
    if selected is not None and selected != UNSATISFIABLE:
        first, last = selected
        assert 0 <= first <= last < length


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=1, max_value=400),
)
def test_ranges_match_slicing(first: int, last: int, length: int) -> None:
    from routecache.middleware.ranges import UNSATISFIABLE, select_range

    body = bytes(range(256)) * 2
    body = body[:length]
    selected = select_range(f"bytes={first}-{last}", length)
    if last < first:
        assert selected is None
    elif first >= length:
        assert selected == UNSATISFIABLE
    else:
        assert selected is not None
        assert body[selected[0] : selected[1] + 1] == body[first : last + 1]
