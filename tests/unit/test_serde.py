"""Events to and from stored JSON data, times, and the canonical bytes the hash chain covers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walsync.core.events import EVENT_TYPES, Event, UploadStarted
from walsync.core.policies import SEED
from walsync.core.serde import (
    canonical_bytes,
    check_data,
    event_from_data,
    event_to_data,
    format_time,
    is_canonical_time,
    parse_time,
    without_defaults,
)

from strategies import EVENT_STRATEGIES, events, utc_datetimes

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


def stored(event: Event) -> tuple[str, str, bytes]:
    """What the log keeps of an event: its type name, its time text and its data bytes."""
    return type(event).__name__, format_time(event.at), canonical_bytes(event_to_data(event))


def test_the_strategies_cover_every_event_type() -> None:
    assert set(EVENT_STRATEGIES) == set(EVENT_TYPES)


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@settings(max_examples=30)
@given(data=st.data())
def test_every_event_type_round_trips_through_stored_json(type_name: str,
                                                          data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[type_name])
    assert type(event) is EVENT_TYPES[type_name]
    name, at, body = stored(event)
    back = event_from_data(name, at, orjson.loads(body), event.stream)
    assert back == event
    assert type(back) is type(event)
    assert stored(back) == (name, at, body)


@given(event=events())
def test_event_data_leaves_out_at_and_is_plain_json(event: Event) -> None:
    data = event_to_data(event)
    assert "at" not in data
    assert orjson.loads(orjson.dumps(data)) == data


def test_event_from_data_refuses_an_unknown_type() -> None:
    with pytest.raises(KeyError):
        event_from_data("UploadTeleported", format_time(T0), {})


def test_event_from_data_refuses_a_value_outside_its_literal() -> None:
    with pytest.raises(Exception):  # noqa: B017 - cattrs raises its own validation group
        event_from_data("UploadStarted", format_time(T0),
                        {"wal_id": "w", "attempt_id": "a", "path": "teleport"})


def test_format_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 5, 20, 8, 0))


def test_format_time_is_fixed_width_utc_with_z() -> None:
    assert format_time(T0) == "2026-05-20T08:00:00.000000Z"
    plus_two = datetime(2026, 5, 20, 10, 0, 0, 7, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(plus_two) == "2026-05-20T08:00:00.000007Z"


@given(moment=utc_datetimes(), offset_minutes=st.integers(-14 * 60, 14 * 60))
def test_time_text_round_trips_and_sorts_like_time(moment: datetime, offset_minutes: int) -> None:
    shifted = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = format_time(shifted)
    assert len(text) == len("2026-05-20T08:00:00.000000Z")
    back = parse_time(text)
    assert back == moment and back.tzinfo == UTC
    later = format_time(moment + timedelta(microseconds=1))
    assert text < later


def test_parse_time_reads_other_iso_forms_as_utc() -> None:
    assert parse_time("2026-05-20T10:00:00+02:00") == T0
    assert parse_time("2026-05-20T08:00:00Z") == T0
    assert parse_time("2026-05-20T08:00:00") == T0  # no offset: taken as UTC
    assert parse_time("2026-05-20T10:00:00+02:00").utcoffset() == timedelta(0)


# Regression: format_time once used strftime, which does not pad years before 1000.
def test_time_text_round_trips_for_years_before_1000() -> None:
    moment = datetime(999, 12, 31, 23, 59, tzinfo=UTC)
    text = format_time(moment)
    assert len(text) == len("2026-05-20T08:00:00.000000Z")
    assert parse_time(text) == moment


def test_canonical_bytes_are_key_order_independent() -> None:
    a = {"b": 1, "a": {"y": [1, 2], "x": None}, "c": "é"}
    b = {"c": "é", "a": {"x": None, "y": [1, 2]}, "b": 1}
    assert list(a) != list(b)
    assert canonical_bytes(a) == canonical_bytes(b)
    assert canonical_bytes(a) == b'{"a":{"x":null,"y":[1,2]},"b":1,"c":"\xc3\xa9"}'
    assert canonical_bytes({**a, "b": 2}) != canonical_bytes(a)


@given(items=st.dictionaries(st.text(max_size=8), st.integers(-(2**53), 2**53) | st.text(max_size=8)
                             | st.none() | st.booleans(), max_size=8),
       order=st.randoms(use_true_random=False))
def test_canonical_bytes_ignore_insertion_order(items: dict[str, object], order: object) -> None:
    keys = list(items)
    order.shuffle(keys)  # type: ignore[attr-defined]
    shuffled = {k: items[k] for k in keys}
    assert canonical_bytes(shuffled) == canonical_bytes(items)
    assert orjson.loads(canonical_bytes(items)) == items


def test_event_data_of_a_policy_and_an_upload_is_what_the_log_shows() -> None:
    started = UploadStarted(at=T0, wal_id="w1", attempt_id="a1", path="batch", batch=["w1", "w2"])
    # the fields at their default (conversation_id, claim_until: None) and the wal_id its
    # stream names are left out (T98)
    assert event_to_data(started) == {"attempt_id": "a1", "path": "batch", "batch": ["w1", "w2"]}
    from walsync.core.events import PolicyApplied

    applied = PolicyApplied(at=T0, policy="seed", rules=SEED.rules())
    assert event_to_data(applied)["rules"]["cooldown_merge"] == "overwrite"


# check_data: bulk ingest's check of a row's data without building its event.
# (JSON as a stored row holds it: orjson reads and writes 64-bit integers only)
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                     | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@settings(max_examples=15)
@given(data=st.data())
def test_check_data_passes_what_walsync_writes_and_names_the_stream(
        type_name: str, data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[type_name])
    stored_data = orjson.loads(stored(event)[2])
    assert check_data(type_name, stored_data, event.stream) == event.stream


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@settings(max_examples=40)
@given(data=st.data())
def test_what_check_data_passes_decodes_to_an_event(type_name: str, data: st.DataObject) -> None:
    """Any field replaced by any JSON value, or dropped: either check_data refuses it, or
    event_from_data builds an event of the same data (check_data is the stricter of the two)."""
    event = data.draw(EVENT_STRATEGIES[type_name])
    body = orjson.loads(stored(event)[2])
    if not body:
        return  # nothing stored (its stream names the recording): nothing to change
    name = data.draw(st.sampled_from(sorted(body)))
    if data.draw(st.booleans()):
        del body[name]
    else:
        body[name] = data.draw(_JSON)
    try:
        stream = check_data(type_name, body, event.stream)
    except ValueError:
        return
    back = event_from_data(type_name, format_time(event.at), body, event.stream)
    assert back.stream == stream
    assert canonical_bytes(event_to_data(back)) == canonical_bytes(  # a default: left out
        without_defaults(type_name, {**event_to_data(back), **body}, event.stream))


def test_check_data_refuses_what_cattrs_would_convert() -> None:
    polled = {"wal_id": "w1", "job_id": 5, "outcome": "transient"}
    assert event_from_data("JobPolled", format_time(T0), polled)  # cattrs makes "5" of it
    for body, words in ((polled, "'job_id'"), ({"wal_id": "w1"}, "no 'job_id'"),
                        ({**polled, "job_id": "j", "outcome": "lost"}, "'outcome'"),
                        ({**polled, "job_id": "j", "processed_segments": True}, "'processed"),
                        ([], "not an object")):
        with pytest.raises(ValueError, match=words):
            check_data("JobPolled", body)
    with pytest.raises(KeyError):
        check_data("UploadTeleported", {})


def test_check_data_refuses_wrong_items_and_records_inside_a_field() -> None:
    """The checks of a list's items (one call over their types) and of a record inside an
    event (its keys, then each value) refuse what a check item by item refused."""
    started = {"wal_id": "w1", "attempt_id": "a", "batch": ["w1", "w2"], "path": "batch",
               "claim_until": format_time(T0), "conversation_id": None}
    assert check_data("UploadStarted", started) == "wal:w1"
    for batch in (["w1", 5], [None], [["w1"]], [True]):
        with pytest.raises(ValueError, match="'batch'"):
            check_data("UploadStarted", {**started, "batch": batch})
    span = {"first_poll_at": format_time(T0), "last_poll_at": format_time(T0), "polls": 1,
            "processed_segments": 0, "server_status": "queued", "total_segments": 0}
    done = {"wal_id": "w1", "job_id": "j", "polls_before": [span]}
    assert check_data("JobCompleted", done) == "wal:w1"
    for bad in ({k: v for k, v in span.items() if k != "server_status"}, {**span, "extra": 1},
                {**span, "polls": "1"}, {**span, "last_poll_at": "2026-02-30T00:00:00.000000Z"},
                {**span, "first_poll_at": "yesterday"}):
        with pytest.raises(ValueError, match="'polls_before'"):
            check_data("JobCompleted", {**done, "polls_before": [span, bad]})


def _old_canonical(text: str) -> bool:
    return format_time(parse_time(text)) == text


_TIME_TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(format_time, utc_datetimes()),
    # format_time's shape with any digits, some of them no date or time
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z",
                  fullmatch=True),
    st.builds(lambda m, h: m.astimezone(timezone(timedelta(hours=h))).isoformat(),
              utc_datetimes(), st.integers(-12, 12)))


def _answer(check: Callable[[str], bool], text: str) -> object:
    """What a check says of `text`: its answer, or the type of the error it raised."""
    try:
        return check(text)
    except Exception as error:
        return type(error)


@settings(max_examples=400)
@given(text=_TIME_TEXT)
def test_is_canonical_time_answers_as_formatting_the_parsed_time_again(text: str) -> None:
    """Bulk ingest's cheaper check that a row's time is walsync's text of it answers as the
    round trip did: the same answer, or the same error."""
    assert _answer(is_canonical_time, text) == _answer(_old_canonical, text)


@pytest.mark.parametrize(("text", "answer"), [
    ("2026-05-20T08:00:00.000000Z", True),
    ("2026-02-30T00:00:00.000000Z", ValueError), ("2026-01-01T24:00:00.000000Z", ValueError),
    ("0000-01-01T00:00:00.000000Z", ValueError), ("2026-01-01T00:00:60.000000Z", ValueError),
    ("\u0662026-05-20T08:00:00.000000Z", ValueError),  # an Arabic-Indic digit
    ("2026-05-20T08:00:00.000000+00:00", False), ("2026-05-20T08:00:00Z", False),
    ("2026-05-20T10:00:00.000000+02:00", False)])
def test_time_text_that_is_not_walsync_s_is_refused_as_before(text: str, answer: object) -> None:
    assert _answer(is_canonical_time, text) == _answer(_old_canonical, text) == answer
