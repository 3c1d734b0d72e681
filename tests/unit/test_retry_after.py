"""parse_retry_after (reliability.md T21): ASCII delta-seconds, HTTP-dates as UTC, clamped, never raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability.tier import scale

from walsync.core.policy import RetryAfterMode
from walsync.core.retry_after import MAX_RETRY_AFTER_SECONDS, dart_try_parse_int, parse_retry_after

NOW = datetime(1994, 11, 6, 8, 47, 37, tzinfo=UTC)  # two minutes before the RFC's example date
DAY = MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize(("raw", "expected"), [
    ("120", 120),
    (" 120 ", 120),
    ("\t120\t", 120),
    ("0", 0),
    ("000", 0),
    ("86400", DAY),
    ("86401", DAY),
    (str(10**30), DAY),
    ("9" * 23, DAY),  # int() of this overflows timedelta (P8)
    ("+120", None),
    ("-5", None),
    ("1.5", None),
    ("1_000", None),
    ("１２０", None),  # full-width digits
    ("٣", None),  # Arabic-Indic digit
    ("²", None),  # superscript two
    ("1e3", None),
    ("120\n", None),
    ("garbage", None),
    ("", None),
    ("   ", None),
    (None, None),
    ("120, 60", 120),  # duplicate headers as httpx joins them
    ("garbage, 60", 60),
])
def test_t21_delta_seconds(raw: str | None, expected: int | None) -> None:
    assert parse_retry_after(raw, NOW) == expected
    assert parse_retry_after(raw, NOW, "delta_or_date") == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("120", 120),
    (" 120 ", 120),
    ("\u00a0120\u3000", 120),  # Dart's trim takes Unicode white space
    ("\ufeff120", 120),  # ... and the BOM
    ("120\n", 120),
    ("+120", 120),  # int.tryParse takes a sign
    ("0x78", 120),  # ... and, with no radix given, a hexadecimal literal
    ("0", None),  # markLimited: a value <= 0 is absent, so the default applies
    ("-5", None),
    ("-0x10", None),
    ("0xFFFFFFFFFFFFFFFF", None),  # a 64-bit literal wraps to -1 on the VM: absent
    ("86401", DAY),  # capped at 24 h
    ("9223372036854775807", DAY),  # the largest int: capped
    ("9223372036854775808", None),  # past int64: tryParse is null, the default applies
    ("9" * 23, None),
    ("120, 60", None),  # duplicate headers joined: not one integer (walsync reads 120)
    ("Sun, 06 Nov 1994 08:49:37 GMT", None),  # no HTTP-date (walsync reads 120)
    ("1.5", None),
    ("1_000", None),
    ("１２０", None),
    ("\x1c120", None),  # Python's str.strip() would take U+001C as white space; Dart does not
    ("", None),
    ("   ", None),
    (None, None),
])
def test_seed_reads_retry_after_as_the_app_does_int_tryparse_of_the_trimmed_header(
        raw: str | None, expected: int | None) -> None:
    """Spec section 6, Retry-After: the header trimmed, read as one integer by Dart's
    `int.tryParse`, anything else the 30-minute default; markLimited (section 5) ignores a
    value <= 0 and caps one above 24 h."""
    assert parse_retry_after(raw, NOW, "app") == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Sun, 06 Nov 1994 08:49:37 GMT", 120),  # IMF-fixdate
    ("Sunday, 06-Nov-94 08:49:37 GMT", 120),  # RFC 850
    ("Sun Nov  6 08:49:37 1994", 120),  # asctime: parses naive, means UTC
    ("Sun, 06 Nov 1994 08:49:37 -0000", 120),  # "-0000" also parses naive
    ("Sun, 06 Nov 1994 08:49:37 +0100", 0),  # an hour earlier in UTC: already past
    ("Sun, 06 Nov 1994 03:49:37 -0500", 120),
    ("Sun, 06 Nov 1994 08:47:37 GMT", 0),  # exactly now
    ("Sat, 01 Jan 1994 00:00:00 GMT", 0),  # past
    ("Fri, 31 Dec 9999 23:59:59 GMT", DAY),  # far future
    ("Mon, 07 Nov 1994 08:47:36 GMT", DAY - 1),
    ("Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:57:37 GMT", 120),  # joined duplicates
    ("Sun, 06 Nov 1994 25:49:37 GMT", None),  # hour out of range
    ("Sun, 32 Nov 1994 08:49:37 GMT", None),
])
def test_t21_http_dates(raw: str, expected: int | None) -> None:
    assert parse_retry_after(raw, NOW) == expected
    assert parse_retry_after(raw, NOW, "app") is None  # seed mode ignores dates like the app did


def test_t21_dates_are_relative_to_an_aware_now_in_any_zone() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=9)))
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == 120
    assert parse_retry_after("Sun Nov  6 08:49:37 1994", now) == 120


@pytest.mark.parametrize("raw", ["120", "Sun, 06 Nov 1994 08:49:37 GMT", "0", "garbage"])
def test_t21_ignore_mode_always_gives_none(raw: str) -> None:
    assert parse_retry_after(raw, NOW, "ignore") is None


def test_t21_cap_is_applied_to_both_forms() -> None:
    assert parse_retry_after("120", NOW, cap=60) == 60
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW, cap=60) == 60
    assert parse_retry_after("59", NOW, cap=60) == 59
    assert parse_retry_after("5", NOW, cap=0) == 0


MODES: st.SearchStrategy[RetryAfterMode] = st.sampled_from(["ignore", "app", "delta_or_date"])
HEADERS = st.one_of(
    st.none(),
    st.text(),
    st.from_regex(r"[ \t]*[0-9]{1,40}[ \t]*", fullmatch=True),
    st.from_regex(r"[A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{1,5} [0-9]{2}:[0-9]{2}:[0-9]{2} "
                  r"(GMT|UTC|[-+][0-9]{4}|[A-Z]{1,4})", fullmatch=True),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.just(UTC)).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
    st.lists(st.text(max_size=12), min_size=2, max_size=4).map(", ".join),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(  # naive
        lambda d: d.strftime("%a %b %d %H:%M:%S %Y")),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.strftime("%a, %d %b %Y %H:%M:%S -0000")),
    st.sampled_from(["１２０", "٣", "²", "+120", "-5", "1.5", "1_000", str(10**30), "120, 60", ""]),
)


@settings(max_examples=scale(500, 5000), deadline=None, print_blob=True)
@given(raw=HEADERS, now=st.datetimes(timezones=st.timezones()), mode=MODES,
       cap=st.integers(min_value=0, max_value=10 * DAY))
def test_t21_never_raises_and_stays_within_cap(raw: str | None, now: datetime, mode: RetryAfterMode,
                                           cap: int) -> None:
    seconds = parse_retry_after(raw, now, mode, cap)
    assert seconds is None or (type(seconds) is int and 0 <= seconds <= cap)
    if mode == "ignore" or raw is None:
        assert seconds is None


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_t21_only_ascii_digits_make_a_delta(raw: str) -> None:
    seconds = parse_retry_after(raw, NOW, "delta_or_date")
    parts = [part.strip(" \t") for part in raw.split(",")]
    if seconds is not None and not any(part.isascii() and part.isdigit() for part in parts):
        assert any(_is_date(part) for part in [raw, *raw.split(",")]), raw  # an HTTP-date read


@settings(max_examples=200, deadline=None)
@given(delay=st.integers(min_value=0, max_value=2 * DAY))
def test_t21_an_imf_date_gives_the_delay_until_it(delay: int) -> None:
    raw = (NOW + timedelta(seconds=delay)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(raw, NOW) == min(delay, DAY)


def test_t21_comma_joined_values_use_the_first_element_that_parses() -> None:
    """Regression: a plain number later in the value once won over an earlier HTTP-date."""
    now = datetime(1994, 11, 6, 8, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT, 5", now, "delta_or_date") == 2977
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT, 5", now, "app") is None


def test_t21_a_naive_now_is_read_as_utc() -> None:
    """Regression: a naive `now` with a date once raised TypeError."""
    naive = datetime(1994, 11, 6, 8, 0)
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", naive, "delta_or_date") == 2977


def _is_date(text: str) -> bool:
    try:
        parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return True


@settings(max_examples=scale(300, 3000), deadline=None)
@given(magnitude=st.integers(min_value=0, max_value=2**65), sign=st.sampled_from(["", "+", "-"]),
       hexadecimal=st.booleans(), pad=st.sampled_from(["", " ", "\t", "\u3000", "\ufeff"]))
def test_seed_mode_agrees_with_dart_on_every_64_bit_value(magnitude: int, sign: str,
                                                          hexadecimal: bool, pad: str) -> None:
    """What Dart's int.tryParse gives for a signed decimal or hexadecimal literal: the value
    when an int64 holds it (a positive hexadecimal one up to 2^64-1 wrapping), else null; then
    markLimited's rule (a value <= 0 is absent, one above 24 h is capped)."""
    text = f"{pad}{sign}{magnitude:#x}{pad}" if hexadecimal else f"{pad}{sign}{magnitude}{pad}"
    value = -magnitude if sign == "-" else magnitude
    if -(2**63) <= value < 2**63:
        dart: int | None = value
    elif hexadecimal and 2**63 <= value < 2**64:
        dart = value - 2**64
    else:
        dart = None
    assert dart_try_parse_int(text) == dart
    assert parse_retry_after(text, NOW, "app") == (min(dart, DAY) if dart and dart > 0 else None)
