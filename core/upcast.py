"""Upcasting: stored event data of an older schema version, read in today's shape (pure).

The log is never rewritten (its bytes are hash-chained); old rows are translated on every
read instead, one step per version: v1 -> v2 -> ... -> SCHEMA_VERSION. Each step is total
over the payloads its version could hold and idempotent (applying it to data already in the
newer shape changes nothing), so reading twice, or reading a row a step already fixed, is safe.

Versions:
* v2: `UploadRateLimited.server_detail` is named `server_error`. It is the server's own
  words, like `JobFailed.server_error`; v1 had two names for one thing, so an audit query
  (or `why`'s `last_failure.server_error`) had to know which event type used which.
* v3: every row records where the commit that wrote it ends (`commit_end`, a column of the
  row beside the data, covered by its hash), so time travel lands on states that were seen.
  No event's data changes: the step is the identity. A row of an older version has no
  commit boundary; read, it stands alone (its own commit), which is how time travel has
  always treated it.
* v4: a row leaves out of its data the fields at their declared default (serde's
  stored_defaults: every defaulted field but those the audit views read), and readers give
  them back (serde.with_defaults). The step leaves them out of an older row's data too, so
  today's shape is one shape (an idempotent re-append compares bodies in it).
* v5: a row stores its `hash` and an engine-made event id (32 lowercase hex digits) as the
  bytes they spell, BLOBs instead of hex text (store/records.py: readers get the text back;
  the chain hash covers the text as before); and the records nested in an event's data (a
  job's poll spans, `polls_before`) leave out their fields at their default too, given back
  by serde.with_defaults. The step leaves them out of an older row's data, as v4's did the
  event's own fields. An earlier walsync refuses a row of version 5 (LogFromNewerVersion).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from walsync.core.errors import LogFromNewerVersion
from walsync.core.events import EVENT_TYPES
from walsync.core.serde import SCHEMA_VERSION, without_defaults

__all__ = ["UPCASTERS", "readable", "upcast"]

Step = Callable[[str, dict[str, Any]], dict[str, Any]]


def _v1_to_v2(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """UploadRateLimited: `server_detail` -> `server_error` (already renamed: unchanged)."""
    if type_name != "UploadRateLimited" or "server_detail" not in data:
        return data
    renamed = {k: v for k, v in data.items() if k != "server_detail"}
    renamed.setdefault("server_error", data["server_detail"])
    return renamed


def _v2_to_v3(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The data is unchanged: v3 adds the row's commit boundary, not an event field."""
    return data


def _v3_to_v4(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The fields at their stored default left out, as v4 stores them."""
    return without_defaults(type_name, data)


def _v4_to_v5(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of nested records (poll spans) at their default left out, as v5 stores them."""
    return without_defaults(type_name, data)


# UPCASTERS[n] turns version-n data into version n+1 data.
UPCASTERS: Final[Mapping[int, Step]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5}


def readable(type_name: str, schema_version: int) -> bool:
    """This code knows the type and can bring its version up to today's (or it is today's)."""
    return type_name in EVENT_TYPES and 1 <= schema_version <= SCHEMA_VERSION


def upcast(type_name: str, schema_version: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` as SCHEMA_VERSION writes it; LogFromNewerVersion for what this code cannot read."""
    if not readable(type_name, schema_version):
        raise LogFromNewerVersion(
            f"an event of type {type_name!r}, schema version {schema_version}: this walsync "
            f"knows versions 1 to {SCHEMA_VERSION} of {len(EVENT_TYPES)} event types")
    if schema_version == SCHEMA_VERSION and isinstance(data, dict):
        return data  # the hot path of every replay: today's rows are not copied
    current = dict(data)
    for version in range(schema_version, SCHEMA_VERSION):
        current = UPCASTERS[version](type_name, current)
    return current
