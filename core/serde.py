"""Events to and from plain JSON data: one cattrs converter, built once; canonical bytes for hashing."""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs
import orjson
from cattrs.preconf.orjson import make_converter

from walsync.core.events import (
    ENGINE_STREAM,
    EVENT_TYPES,
    GATE_STREAM,
    Event,
    GateEvent,
    JobEvent,
    WalEvent,
)
from walsync.core.events.base import DEFAULT_FROM

__all__ = [
    "SCHEMA_VERSION",
    "VIEW_FIELDS",
    "canonical_bytes",
    "check_data",
    "event_from_data",
    "event_from_json",
    "event_to_data",
    "format_time",
    "is_canonical_time",
    "load_data",
    "parse_time",
    "stored_defaults",
    "with_defaults",
    "without_defaults",
]

SCHEMA_VERSION: Final = 5  # v2 to v5: see core/upcast.py


@functools.lru_cache(maxsize=4096)
def format_time(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 (sorts as text); naive input is refused.

    Cached: one event's time is formatted for its column, its hash and its row's updated_at.
    """
    if moment.tzinfo is None:
        raise ValueError("walsync times must be timezone-aware")
    u = moment.astimezone(UTC)
    # Not strftime: "%Y" does not pad years before 1000, and the text must stay fixed-width.
    return (f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:"
            f"{u.second:02d}.{u.microsecond:06d}Z")


def parse_time(text: str) -> datetime:
    """Inverse of format_time; also accepts any ISO-8601 form with an offset (or Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# The text format_time writes: fixed width, ASCII digits, UTC.
_CANONICAL_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def is_canonical_time(text: str) -> bool:
    """`format_time(parse_time(text)) == text`, raising what parse_time raises, without
    building the text again: text of format_time's shape is its own format exactly when its
    numbers are a time (the check bulk ingest runs per row)."""
    if type(text) is str and _CANONICAL_TIME.fullmatch(text):
        datetime.fromisoformat(text[:-1])  # ValueError for a date or time that does not exist
        return True
    return format_time(parse_time(text)) == text


_converter = make_converter()
_converter.register_unstructure_hook(datetime, format_time)
_converter.register_structure_hook(datetime, lambda value, _: parse_time(value))


# Fields the audit views (store/schema.py) and other SQL over the log read with json_extract:
# stored even at their default, so that SQL reads the same value from every row (a field left
# out reads as NULL there). T98 checks every json_extract path in walsync's SQL is named here.
VIEW_FIELDS: Final = frozenset({
    "archived", "attempt_id", "cause_job_id", "cause_wal_id", "classification", "count",
    "gate_reason", "gate_until", "http_status", "job_id", "path", "reason", "retry_after_raw",
    "retry_count", "retry_count_bumped", "server_error", "server_status", "total_segments",
    "until", "wal_ids"})


@functools.cache
def stored_defaults(type_name: str) -> dict[str, Any]:
    """The fields of the type a row of schema version 4 on leaves out at their declared
    default (every defaulted field but VIEW_FIELDS), with that default as JSON data; KeyError
    for an unknown type. With a recording's wal_id left out too, a month of a device's log is
    12.2 MB smaller (docs/performance.md)."""
    return _defaults_of(EVENT_TYPES[type_name], VIEW_FIELDS | {"at"})


def _defaults_of(cls: type, kept: frozenset[str]) -> dict[str, Any]:
    """The fields of an attrs class with a fixed default but `kept`, with that default as
    JSON data (a field whose default is another field's value: _defaults_from)."""
    found: dict[str, Any] = {}
    for f in attrs.fields(cls):
        if f.default is attrs.NOTHING or f.name in kept or DEFAULT_FROM in f.metadata:
            continue
        default: Any = f.default
        made = isinstance(default, attrs.Factory)  # type: ignore[arg-type]  # a class, typed as a function
        value = default.factory() if made else default
        found[f.name] = _converter.unstructure(value)
    return found


# The records of a field of records (a poll span): (the fields with a fixed default, as JSON
# data; the fields whose default is another field's value, each with that field's name).
_Record = tuple[dict[str, Any], dict[str, str]]


@functools.cache
def _record_defaults(type_name: str) -> dict[str, _Record]:
    """The fields of the type that hold records (a job's poll spans, `polls_before`), each
    with the defaults a row of schema version 5 on leaves out of every item (a span's
    `"polls":1`, its `last_poll_at` equal to its `first_poll_at`, `"processed_segments":0,
    "total_segments":0`: 2.9 MB of a device's month, docs/performance.md); KeyError for an
    unknown type."""
    cls = EVENT_TYPES[type_name]
    hints = typing.get_type_hints(cls)
    found: dict[str, _Record] = {}
    for f in attrs.fields(cls):
        args = typing.get_args(hints[f.name])
        if (typing.get_origin(hints[f.name]) is tuple and len(args) == 2
                and args[1] is Ellipsis and attrs.has(args[0])):
            found[f.name] = (_defaults_of(args[0], frozenset()),
                             {g.name: g.metadata[DEFAULT_FROM] for g in attrs.fields(args[0])
                              if DEFAULT_FROM in g.metadata})
    return found


def _without(defaults: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items()
            if k not in defaults or v != defaults[k] or type(v) is not type(defaults[k])}


def _record_without(record: _Record, item: dict[str, Any]) -> dict[str, Any]:
    """A record's item without its defaults (a field equal to the field it defaults from too)."""
    defaults, sources = record
    kept = _without(defaults, item)
    for name, source in sources.items():
        if name in kept and source in kept and kept[name] == kept[source]:
            del kept[name]
    return kept


def _record_with(record: _Record, item: dict[str, Any]) -> dict[str, Any]:
    """A stored record's item with its defaults given back."""
    defaults, sources = record
    full = {**defaults, **item}
    for name, source in sources.items():
        if name not in full and source in full:
            full[name] = full[source]
    return full


def without_defaults(type_name: str, data: dict[str, Any], stream: str = "") -> dict[str, Any]:
    """`data` as a row of today stores it: without the fields at their stored default (and,
    in the items of a field of records, the record's fields at theirs), and without a
    recording's `wal_id` when `stream` names it."""
    kept = _without(stored_defaults(type_name), data)
    if kept.get("wal_id") is not None and stream == f"wal:{kept['wal_id']}":
        del kept["wal_id"]
    for name, record in _record_defaults(type_name).items():
        items = kept.get(name)
        if type(items) is list:
            kept[name] = [_record_without(record, item) if type(item) is dict else item
                          for item in items]
    return kept


def with_defaults(type_name: str, data: dict[str, Any], stream: str = "") -> dict[str, Any]:
    """Stored data with what a row leaves out given back: the fields at their default (and
    the fields of each record of a field of records at theirs), and a recording's `wal_id`
    from its `stream` (`wal:<id>`). What a reader of the data by field name reads (a fold,
    `why --json`, the fleet). Unknown types as they are."""
    try:
        defaults, records = stored_defaults(type_name), _record_defaults(type_name)
    except KeyError:
        return data
    for name, record in records.items():
        items = data.get(name)
        if type(items) is list:
            data = {**data, name: [_record_with(record, item) if type(item) is dict else item
                                   for item in items]}
    if "wal_id" not in data and stream.startswith("wal:") and _is_wal_type(type_name):
        return {**defaults, **data, "wal_id": stream[4:]}
    if not defaults or defaults.keys() <= data.keys():
        return data
    return {**defaults, **data}


@functools.cache
def _is_wal_type(type_name: str) -> bool:
    return issubclass(EVENT_TYPES[type_name], WalEvent)


def event_to_data(event: Event) -> dict[str, Any]:
    """The event's fields as stored: JSON-ready data without `at` (it has its own column),
    without the fields at their stored default (stored_defaults) and without a recording's
    `wal_id` (its stream, `wal:<id>`, names it)."""
    data: dict[str, Any] = _converter.unstructure(event)
    data.pop("at", None)
    return without_defaults(type(event).__name__, data,
                            event.stream if isinstance(event, WalEvent) else "")


def event_from_data(type_name: str, at: str, data: dict[str, Any], stream: str = "") -> Event:
    """Rebuild an event from its stored type, time and data (and its row's stream, which
    names a recording's `wal_id` left out of the data); KeyError for an unknown type."""
    cls = EVENT_TYPES[type_name]
    event: Event = _converter.structure({**with_defaults(type_name, data, stream), "at": at}, cls)
    return event


def check_data(type_name: str, data: Any, stream: str = "") -> str:
    """Check stored data (today's shape) without building the event: every field the type
    requires is there and every field has the JSON type walsync writes for it (stricter than
    `event_from_data`, which converts what it can: what passes here decodes there). The
    stream such an event is on; ValueError naming the field otherwise, KeyError for an
    unknown type. Bulk ingest checks every row with it and decodes none. A recording's event
    stored without its `wal_id` (schema version 4 on) is on the row's `stream` (`wal:<id>`),
    which must be given then."""
    own, required, simple, specs = _shape(type_name)
    if type(data) is not dict:
        raise ValueError("the event data is not an object")
    if not own and "wal_id" not in data and stream.startswith("wal:"):
        data = {**data, "wal_id": stream[4:]}
    if not required.keys() <= data.keys():
        missing = next(name for name in required if name not in data)
        raise ValueError(f"the event data has no {missing!r}")
    for name, value in data.items():
        kinds = simple.get(name)  # most fields: a JSON type, nothing more
        if kinds is not None:
            if type(value) not in kinds:
                raise ValueError(f"the event data's {name!r} has the wrong type or value")
            continue
        spec = specs.get(name)
        if spec is None:
            continue  # a field no longer read (cattrs ignores it too)
        kinds, values, extra = spec
        if type(value) not in kinds or (values is not None and value not in values) or (
                extra is not None and value is not None and not extra(value)):
            raise ValueError(f"the event data's {name!r} has the wrong type or value")
    if own == "job:":  # a job's event: its stream names the job
        return "job:" + str(data["attempt_id"])
    return own if own else "wal:" + data["wal_id"]


# A field's check: the JSON types it may have, the values it may take (a Literal), a check
# of a value that is not None beyond its type (a time, a list's items).
_Spec = tuple[frozenset[type], frozenset[Any] | None, Callable[[Any], bool] | None]


@functools.cache
def _shape(type_name: str) -> tuple[str, dict[str, None], Mapping[str, frozenset[type]],
                                    Mapping[str, _Spec]]:
    """(the stream of the type's events, "" for a recording's; its required fields, in order;
    the fields checked by their JSON type alone; a spec per other field), from the attrs
    class (KeyError for an unknown type)."""
    cls = EVENT_TYPES[type_name]
    hints = typing.get_type_hints(cls)
    fields = [f for f in attrs.fields(cls) if f.name != "at"]
    stream = ("" if issubclass(cls, WalEvent) else "job:" if issubclass(cls, JobEvent)
              else GATE_STREAM if issubclass(cls, GateEvent) else ENGINE_STREAM)
    specs = {f.name: _spec_of(hints[f.name]) for f in fields}
    simple = {name: kinds for name, (kinds, values, extra) in specs.items()
              if values is None and extra is None}
    return (stream, dict.fromkeys(f.name for f in fields if f.default is attrs.NOTHING), simple,
            {name: spec for name, spec in specs.items() if name not in simple})


def _spec_of(hint: Any) -> _Spec:
    """The spec of one field's type (TypeError for a type no event uses yet)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        kinds, values, extra = _spec_of(next(a for a in args if a is not type(None)))
        return kinds | {type(None)}, values | {None} if values is not None else None, extra
    if hint in (str, int, bool):
        return frozenset({hint}), None, None
    if hint is datetime:
        return frozenset({str}), None, _is_time
    if hint is Any:
        return frozenset({str, int, float, bool, list, dict, type(None)}), None, None
    if origin is typing.Literal:
        return frozenset(type(a) for a in args), frozenset(args), None
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _spec_of(args[0])
        kinds = item[0]
        if item[1] is None and item[2] is None:  # items of a JSON type: checked in one call
            return frozenset({list}), None, lambda value: kinds.issuperset(map(type, value))
        return frozenset({list}), None, lambda value: all(_fits(item, v) for v in value)
    if attrs.has(hint):  # a record inside an event (a poll span): an object of its fields
        inner = typing.get_type_hints(hint)
        required = frozenset(f.name for f in attrs.fields(hint) if f.default is attrs.NOTHING)
        fields = {f.name: _spec_of(inner[f.name]) for f in attrs.fields(hint)}
        return frozenset({dict}), None, lambda value: value.keys() >= required and all(
            k in fields and _fits(fields[k], v) for k, v in value.items())
    if origin is dict and args[0] is str:
        item = _spec_of(args[1])
        return frozenset({dict}), None, lambda value: all(
            type(k) is str and _fits(item, v) for k, v in value.items())
    raise TypeError(f"check_data cannot check a field of type {hint!r}")


def _fits(spec: _Spec, value: Any) -> bool:
    kinds, values, extra = spec
    return type(value) in kinds and (values is None or value in values) and (
        extra is None or value is None or extra(value))


def _is_time(value: Any) -> bool:
    try:
        is_canonical_time(value)  # parses as parse_time does; canonical or not, a time
    except ValueError:
        return False
    return True


# A stored row's JSON data as a dict: orjson's own function (no wrapper: folds call it per row).
load_data: Final[Callable[[str | bytes], Any]] = orjson.loads


def event_from_json(type_name: str, at: str, data: str | bytes, stream: str = "") -> Event:
    """Rebuild an event from a stored row's type, time and JSON data text (and stream)."""
    return event_from_data(type_name, at, orjson.loads(data), stream)


def canonical_bytes(value: Any) -> bytes:
    """Sorted-key compact JSON: the bytes the hash chain covers."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
