"""Events to and from plain JSON data: one cattrs converter, built once; canonical bytes for hashing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from cattrs.preconf.orjson import make_converter

from walsync.core.events import EVENT_TYPES, Event

__all__ = [
    "SCHEMA_VERSION",
    "canonical_bytes",
    "event_from_data",
    "event_from_json",
    "event_to_data",
    "format_time",
    "load_data",
    "parse_time",
]

SCHEMA_VERSION: Final = 3  # v2, v3: see core/upcast.py


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


_converter = make_converter()
_converter.register_unstructure_hook(datetime, format_time)
_converter.register_structure_hook(datetime, lambda value, _: parse_time(value))


def event_to_data(event: Event) -> dict[str, Any]:
    """The event's fields as JSON-ready data, without `at` (it has its own column)."""
    data: dict[str, Any] = _converter.unstructure(event)
    data.pop("at", None)
    return data


def event_from_data(type_name: str, at: str, data: dict[str, Any]) -> Event:
    """Rebuild an event from its stored type, time and data; KeyError for an unknown type."""
    cls = EVENT_TYPES[type_name]
    event: Event = _converter.structure({**data, "at": at}, cls)
    return event


# A stored row's JSON data as a dict: orjson's own function (no wrapper: folds call it per row).
load_data: Final[Callable[[str | bytes], Any]] = orjson.loads


def event_from_json(type_name: str, at: str, data: str | bytes) -> Event:
    """Rebuild an event from a stored row's type, time and JSON data text."""
    return event_from_data(type_name, at, orjson.loads(data))


def canonical_bytes(value: Any) -> bytes:
    """Sorted-key compact JSON: the bytes the hash chain covers."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
