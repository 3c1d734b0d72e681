"""A row's event data decoded and its shape checked in one compiled pass (msgspec), for the
tail's per-row checks: `check_data` over `orjson.loads` costs about three times as much, and
bulk ingest runs it on every row.

Each event type of today's schema gets a msgspec struct of its fields (times as text, ints in
the 64-bit range orjson reads as ints, tuples as lists, records as structs), unknown fields
forbidden and optional ones left unset when absent, so the dict it gives back is the one
`orjson.loads` gives. It is the stricter check: whatever it refuses (and every older row, and
the types with free-form fields, and times not in format_time's text) goes through
`upcast(orjson.loads)` + `check_data`, which decide and name the refusal as before. What it
accepts, `check_data` accepts too: a time's text has format_time's shape and a second decoder
parses it as a datetime (a date that does not exist is refused there); a test holds the two
to one verdict on hostile data.
"""

from __future__ import annotations

import functools
import types
import typing
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import attrs
import msgspec

from walsync.core.events import ENGINE_STREAM, EVENT_TYPES, GATE_STREAM, GateEvent, JobEvent, WalEvent
from walsync.core.serde import SCHEMA_VERSION, check_data, load_data
from walsync.core.upcast import upcast

__all__ = ["read_data"]

# orjson reads a JSON integer outside the 64-bit range as a float, which check_data refuses
# for an int field; msgspec would take it as an int, so the range is part of the type (its
# bounds must fit an int64: the ints from 2**63 on go the slow way, as every refusal does).
_INT: Final = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# A time as format_time writes it (the text check_data takes without parsing it again; any
# other time goes the slow way), and as a parsed datetime, which a second decoder checks exists.
_TIME_TEXT: Final = Annotated[str, msgspec.Meta(
    pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\Z")]
_to_builtins: Final = msgspec.to_builtins


class _Unchecked(TypeError):
    """A field type the compiled check leaves to check_data (free-form data)."""


def _field_type(hint: Any, time: Any) -> Any:
    """The msgspec type of a field of type `hint`, times as `time`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_field_type(arg, time) for arg in args)]  # noqa: UP007 (built from a tuple)
    if hint is int:
        return _INT
    if hint in (str, bool, type(None)) or origin is Literal:
        return hint
    if hint is datetime:
        return time
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[_field_type(args[0], time)]  # type: ignore[misc]  # a type built at run time
    if origin is dict and args[0] is str:
        return dict[str, _field_type(args[1], time)]  # type: ignore[misc]  # a type built at run time
    if attrs.has(hint):
        return _struct(hint, time)
    raise _Unchecked(f"{hint!r}")


def _has_time(hint: Any) -> bool:
    if hint is datetime:
        return True
    if attrs.has(hint):
        return any(_has_time(h) for h in typing.get_type_hints(hint).values())
    return any(_has_time(arg) for arg in typing.get_args(hint))


def _struct(cls: type, time: Any) -> type[msgspec.Struct]:
    """A struct of the class's fields but `at` (times as `time`): required ones first, optional
    ones unset."""
    hints = typing.get_type_hints(cls)
    fields: list[Any] = []
    for f in attrs.fields(cls):
        if f.name == "at":
            continue
        kind = _field_type(hints[f.name], time)
        # A recording's `wal_id` is left out of its rows from schema version 4 on (the row's
        # stream names it): optional here, the stream given to read_data stands for it.
        required = f.default is attrs.NOTHING and not (
            f.name == "wal_id" and issubclass(cls, WalEvent))
        fields.append((f.name, kind) if required else
                      (f.name, kind | msgspec.UnsetType, msgspec.UNSET))
    fields.sort(key=len)  # (name, type) before (name, type, default): a stable sort
    return msgspec.defstruct(f"{cls.__name__}Data", fields, forbid_unknown_fields=True)


_Compiled = tuple[msgspec.json.Decoder[Any], "msgspec.json.Decoder[Any] | None", str]


@functools.cache
def _compiled(type_name: str) -> _Compiled | None:
    """(the type's decoder, the one that parses its times if it has any, the stream of its
    events ("" for a recording's)), or None for a type the compiled check does not cover
    (unknown, or with free-form fields)."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        return None
    try:
        decoder = msgspec.json.Decoder(_struct(cls, _TIME_TEXT))
    except _Unchecked:
        return None
    hints = typing.get_type_hints(cls)
    timed = any(f.name != "at" and _has_time(hints[f.name]) for f in attrs.fields(cls))
    times = msgspec.json.Decoder(_struct(cls, datetime)) if timed else None
    stream = ("" if issubclass(cls, WalEvent) else "job:" if issubclass(cls, JobEvent)
              else GATE_STREAM if issubclass(cls, GateEvent) else ENGINE_STREAM)
    return decoder, times, stream


def read_data(type_name: str, schema_version: int, data: str,
              stream: str = "") -> tuple[dict[str, Any], str]:
    """(the row's data as today's dict, the stream its event is on), checked as check_data
    checks it; what check_data raises otherwise (ValueError, KeyError, LogFromNewerVersion,
    orjson's JSONDecodeError). `stream` is the row's: a recording's event stored without its
    `wal_id` is on it."""
    compiled = _compiled(type_name) if schema_version == SCHEMA_VERSION else None
    if compiled is not None:
        decoder, times, own = compiled
        try:
            fields: dict[str, Any] = _to_builtins(decoder.decode(data))
            if times is not None:
                times.decode(data)  # a time of the right text whose date does not exist
        except msgspec.MsgspecError:
            pass
        else:
            if own == "job:":
                return fields, "job:" + str(fields["attempt_id"])
            if own:
                return fields, own
            if "wal_id" in fields:
                return fields, "wal:" + fields["wal_id"]
            if stream.startswith("wal:"):
                return fields, stream
    fields = upcast(type_name, schema_version, load_data(data))
    return fields, check_data(type_name, fields, stream)
