"""Where a compacted live log starts, read from the log itself: the last `SegmentSealed` (the
chain hash its first row continues) and the `StateCarried` committed with it (the view as of
the cut, and every carried stream's version then). A fold of the live log starts there; a log
never compacted starts at seq 1 from the genesis hash and an empty view.

A log holding its whole history from seq 1 (an export of a compacted log, or its import: the
sealed rows followed by the live ones) keeps the anchors retention wrote as events among the
others, but starts at seq 1 like a log never compacted: its anchors carry nothing (the rows
they stand for are all there, and folding their carried state too would count them twice)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Final

import orjson
from attrs import frozen

from walsync.adapters.store.records import SELECT_FOLDED
from walsync.adapters.store.schema import RARE_TYPE, of_types
from walsync.adapters.store.segments.archive_list import is_listed
from walsync.core.events import SegmentSealed, StateCarried
from walsync.core.serde import event_from_data
from walsync.core.wal import Wal
from walsync.projections.carried import joined, view_from_carried
from walsync.projections.snapshot import wal_of
from walsync.projections.view import Projection, StoredRow

__all__ = ["LiveStart", "archived_count", "carried_state", "carried_version", "carried_wal",
           "fold_log", "is_archived", "live_start", "seals", "whole_history"]

_LAST_OF_TYPE: Final = (f"SELECT at, data FROM events WHERE type = ? AND {RARE_TYPE} "  # noqa: S608 (fixed terms)
                         "ORDER BY seq DESC LIMIT 1")
_FOLDED: Final = f"{SELECT_FOLDED} WHERE seq > ? AND seq <= ? ORDER BY seq"
_LAST_PARTS: Final = (f"SELECT at, data FROM events WHERE {of_types('StateCarried')} "  # noqa: S608 (fixed terms)
                      "ORDER BY seq DESC LIMIT ?")
_ARCHIVED_COUNT: Final = ("SELECT json_extract(data, '$.archived') FROM events "  # noqa: S608 (fixed terms)
                          f"WHERE {of_types('StateCarried')} ORDER BY seq DESC LIMIT 1")


@frozen
class LiveStart:
    """The cut a compacted live log starts after: its seq and chain hash, and the version
    each stream the live log carries had reached there (`wal:<id>`, `gate`, `engine`)."""

    seq: int
    hash: str
    versions: dict[str, int]


def whole_history(conn: sqlite3.Connection) -> bool:
    """Whether the log's rows start at seq 1 (never compacted, or its whole history brought
    back in one chain): then no retention anchor in it carries anything."""
    first = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    return first is None or int(first) <= 1


def _last(conn: sqlite3.Connection, type_name: str) -> tuple[str, dict[str, object]] | None:
    """The last event of a retention anchor's type, as committed (None in a whole history)."""
    if whole_history(conn):
        return None
    found = conn.execute(_LAST_OF_TYPE, (type_name,)).fetchone()
    return None if found is None else (str(found[0]), orjson.loads(found[1]))


def _carried_parts(conn: sqlite3.Connection) -> list[tuple[str, dict[str, object]]]:
    """The last cut's StateCarried rows (time and data, in seq order; several when the cut
    carried many recordings), none in a whole history."""
    found = _last(conn, "StateCarried")
    if found is None:
        return []
    parts = found[1].get("parts", 1)
    if not isinstance(parts, int) or parts <= 1:
        return [found]
    return [(str(at), orjson.loads(data))
            for at, data in reversed(conn.execute(_LAST_PARTS, (parts,)).fetchall())]


def carried_state(conn: sqlite3.Connection) -> StateCarried | None:
    """The view carried at the last cut, its parts joined (None: the log was never
    compacted). ValueError when its parts are not whole."""
    parts = []
    for at, data in _carried_parts(conn):
        event = event_from_data("StateCarried", at, data)
        assert isinstance(event, StateCarried)
        parts.append(event)
    return joined(parts) if parts else None


def seals(conn: sqlite3.Connection) -> Iterator[tuple[int, str, str, SegmentSealed]]:
    """Every segment sealed, in seq order: the seq of its SegmentSealed, that row's time and
    data as committed, and the event (from `sealed_segments`; the rows themselves may since
    have moved into a later segment, whose walk checks them against these)."""
    try:
        found = conn.execute(
            "SELECT sealed_seq, at, data FROM sealed_segments ORDER BY first_seq").fetchall()
    except sqlite3.OperationalError:  # a log no compaction touched, opened read-only
        return
    for seq, at, data in found:
        event = event_from_data("SegmentSealed", at, orjson.loads(data))
        assert isinstance(event, SegmentSealed)
        yield int(seq), str(at), str(data), event


def live_start(conn: sqlite3.Connection) -> LiveStart | None:
    """Where the live log starts, or None when it starts at seq 1 (never compacted)."""
    sealed = _last(conn, "SegmentSealed")
    carried = carried_state(conn)
    if sealed is None or carried is None:
        return None
    seal = event_from_data("SegmentSealed", *sealed)
    assert isinstance(seal, SegmentSealed)
    versions = {**carried.versions, **{f"wal:{wal['wal_id']}": int(wal.get("version", 0))
                                       for wal in carried.wals}}
    return LiveStart(seal.last_seq, seal.last_hash, versions)


def carried_version(conn: sqlite3.Connection, stream: str) -> int:
    """A stream's version as the last cut carried it (0: not carried, or never compacted)."""
    start = live_start(conn)
    return start.versions.get(stream, 0) if start is not None else 0


def fold_log(conn: sqlite3.Connection, upto: int | None = None) -> Projection:
    """The whole fold of the live log (every recording in memory) up to seq `upto` (its head
    when None): from the view carried at the last cut when it was compacted, else from seq 0."""
    carried = carried_state(conn)
    view = view_from_carried(carried) if carried is not None else Projection()
    rows: Iterator[StoredRow] = conn.execute(
        _FOLDED, (view.checkpoint, upto if upto is not None else 2**63 - 1))
    view.commit(view.plan_rows(rows))
    return view


def carried_wal(conn: sqlite3.Connection, wal_id: str) -> Wal | None:
    """A recording's state at the last cut, when the cut carried it (its stream in the live
    log continues from it)."""
    for _at, part in _carried_parts(conn):
        wals = part.get("wals")
        for data in wals if isinstance(wals, list) else ():
            if isinstance(data, dict) and data.get("wal_id") == wal_id:
                return wal_of(data)
    return None


def is_archived(conn: sqlite3.Connection, wal_id: str) -> bool:
    """Did retention archive this recording (finished before a cut and not spoken of since:
    its history lies in the segments)?"""
    return is_listed(conn, wal_id)  # a log without the list (read-only, never compacted): no


def archived_count(conn: sqlite3.Connection) -> int:
    """How many recordings retention has archived: the number the last cut carried (one row
    read, where counting the list read a row per recording ever archived)."""
    if whole_history(conn):
        return 0
    found = conn.execute(_ARCHIVED_COUNT).fetchone()
    return int(found[0]) if found is not None and isinstance(found[0], int) else 0
