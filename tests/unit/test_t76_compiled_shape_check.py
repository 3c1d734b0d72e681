"""T76: the fleet's compiled check of a row's data (bulk/shapes.py, msgspec) gives the verdict
`check_data` over `orjson.loads` gives, on what walsync writes and on hostile data: the same
dict and stream, or the same error. And what walsync writes takes the compiled path (the
check that is fast is the one that runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walsync.adapters.fleet.bulk import shapes
from walsync.core.errors import LogFromNewerVersion
from walsync.core.events import EVENT_TYPES, Event
from walsync.core.serde import (
    SCHEMA_VERSION,
    canonical_bytes,
    check_data,
    event_to_data,
    format_time,
)
from walsync.core.upcast import upcast

from strategies import EVENT_STRATEGIES, utc_datetimes

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
# Event types with free-form fields (a policy's rules, a carried state): always checked by
# check_data. Every other type is compiled.
FREE_FORM = {"PolicyApplied", "StateCarried"}

# Any JSON value, with what a 64-bit reader turns into floats and times of every kind.
_TIME = st.one_of(
    st.builds(format_time, utc_datetimes()),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z",
                  fullmatch=True),
    st.builds(lambda m, h: m.astimezone(timezone(timedelta(hours=h))).isoformat(),
              utc_datetimes(), st.integers(-12, 12)),
    st.builds(lambda m: format_time(m) + "\n", utc_datetimes()))
_SCALAR = (st.none() | st.booleans() | st.integers(-(2**65), 2**65)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8) | _TIME)
_JSON = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _answer(check: Any, text: str) -> object:
    try:
        return check(text)
    except Exception as error:
        return type(error)


def _before(type_name: str, text: str, stream: str = "") -> tuple[dict[str, Any], str]:
    """The tail's check before the compiled one (the row's stream: a recording's event leaves
    its wal_id to it)."""
    fields = upcast(type_name, SCHEMA_VERSION, orjson.loads(text))
    return fields, check_data(type_name, fields, stream)


def _now(type_name: str, text: str, stream: str = "") -> tuple[dict[str, Any], str]:
    return shapes.read_data(type_name, SCHEMA_VERSION, text, stream)


def _body(event: Event) -> dict[str, Any]:
    return orjson.loads(canonical_bytes(event_to_data(event)))


def _text(body: Any) -> str:
    try:
        return orjson.dumps(body).decode()
    except TypeError:  # an integer past 64 bits: written as text, as a hostile device could
        return str(body)


def _mutated(body: dict[str, Any], data: st.DataObject) -> Any:
    """A field replaced by any JSON value, dropped, an unknown one added, or the same change
    made inside a list of records (a poll span)."""
    spans = [name for name, value in body.items()
             if isinstance(value, list) and value and isinstance(value[0], dict)]
    target = body
    if spans and data.draw(st.booleans()):
        target = data.draw(st.sampled_from(body[data.draw(st.sampled_from(spans))]))
    how = data.draw(st.sampled_from(("replace", "drop", "add")))
    if how == "add" or not target:
        target[data.draw(st.text(max_size=6))] = data.draw(_JSON)
    elif how == "drop":
        del target[data.draw(st.sampled_from(sorted(target)))]
    else:
        target[data.draw(st.sampled_from(sorted(target)))] = data.draw(_JSON)
    return body


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_compiled_check_answers_as_check_data(type_name: str, data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[type_name])
    body = _mutated(_body(event), data)
    text = _text(body)
    for stream in ("", event.stream):
        assert _answer(lambda t, s=stream: _now(type_name, t, s), text) == _answer(
            lambda t, s=stream: _before(type_name, t, s), text)


@pytest.mark.parametrize("text", [
    '{"wal_id": "w", "timer_start": 18446744073709551616}',  # read as a float by orjson
    '{"wal_id": "w", "timer_start": 9223372036854775808}',  # past int64: the slow way
    '{"wal_id": "w", "timer_start": 1, "extra": 1e999}',  # a number no float holds
    '{"wal_id": "w", "timer_start": 1, "extra": "\\ud800"}',  # a lone surrogate
    '{"wal_id": "w", "timer_start": 1, "timer_start": "1"}',  # a key twice
    '{"wal_id": "w", "timer_start": 1.0}', '{"wal_id": "w", "timer_start": true}',
    '{"wal_id": "w", "timer_start": 1} x', '[]', '', '{"wal_id": "\\u0000", "timer_start": 1}'])
def test_hostile_text_gets_the_verdict_it_got_before(text: str) -> None:
    assert _answer(lambda t: _now("WalRegistered", t), text) == _answer(
        lambda t: _before("WalRegistered", t), text)


@pytest.mark.parametrize("until", [
    "2026-02-30T00:00:00.000000Z", "2026-05-20T08:00:00.000000Z\n", "0000-01-01T00:00:00.000000Z",
    "2026-05-20T10:00:00.000000+02:00", "2024-02-29T00:00:00.000000Z", "yesterday"])
def test_times_get_the_verdict_they_got_before(until: str) -> None:
    text = orjson.dumps({"wal_id": "w", "path": "single", "gate_reason": "rateLimit",
                         "gate_until": until}).decode()
    assert _answer(lambda t: _now("UploadSkipped", t), text) == _answer(
        lambda t: _before("UploadSkipped", t), text)


@pytest.mark.parametrize("type_name", sorted(set(EVENT_TYPES) - FREE_FORM))
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_what_walsync_writes_takes_the_compiled_path(type_name: str,
                                                     data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[type_name])
    text = canonical_bytes(event_to_data(event)).decode()

    def slow_way(_: str) -> None:
        raise AssertionError("the row went the slow way")

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(shapes, "load_data", slow_way)
        assert _now(type_name, text, event.stream) == _before(type_name, text, event.stream)


def test_older_rows_and_free_form_types_go_through_check_data() -> None:
    assert {name for name in EVENT_TYPES if shapes._compiled(name) is None} == FREE_FORM
    rules = '{"policy": "walsync", "rules": {"retry_budget": 18446744073709551616}}'
    assert _now("PolicyApplied", rules) == _before("PolicyApplied", rules)
    with pytest.raises(LogFromNewerVersion):
        shapes.read_data("UploadTeleported", SCHEMA_VERSION, "{}")
    older = '{"wal_id": "w", "timer_start": 1}'
    assert shapes.read_data("WalRegistered", 2, older) == (
        upcast("WalRegistered", 2, orjson.loads(older)), "wal:w")
