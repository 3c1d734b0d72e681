"""`walsync verify` across sealed segments: each segment a live log anchors is read (its sha256
first), its rows walked through the same row checks as the live log, from genesis on, and the
walk must end where the live log starts (seq, chain hash, every carried stream's version).

Every seal in the log's list matches its `SegmentSealed` row as committed. A log whose whole
history was brought back from seq 1 (the import of a compacted log's export) and compacted
again holds the seals of its earlier life in its first segments, before any seal its list
names: those rows are walked like any other (their segments are not its own)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from walsync.adapters.store.readonly.row_checks import ChainBroken, ChainState, check_row
from walsync.adapters.store.schema import of_types
from walsync.adapters.store.segments.anchors import live_start, seals
from walsync.adapters.store.segments.files import read_segment
from walsync.core.errors import SegmentAltered

__all__ = ["check_segments"]

_LIVE_SEALS: Final = f"SELECT seq, at, data FROM events WHERE {of_types('SegmentSealed')}"  # noqa: S608 (fixed terms)


def check_segments(log: Path, conn: sqlite3.Connection) -> str | None:
    """What is wrong with the segments of the log at `log` (its connection `conn`), or None
    when every one is there, unaltered, and chains into the live log (or there is none)."""
    sealed = list(seals(conn))
    start = live_start(conn)
    if not sealed or start is None:
        return None
    state, versions = ChainState(), dict[str, int]()
    listed = {seq: (at, data) for seq, at, data, _ in sealed}
    earlier_life = min(listed)  # a SegmentSealed before the first listed one
    for anchor, _, _, seal in sealed:
        file = log.with_name(seal.file)
        if not file.is_file():
            return (f"History before seq {seal.last_seq + 1} was removed by retention on "
                    f"{seal.at.date().isoformat()}: the segment {seal.file} (seq {seal.first_seq}"
                    f" to {seal.last_seq}, sealed at seq {anchor}) is not beside the log; the "
                    f"live log is checked from seq {start.seq + 1} on.")
        if seal.first_seq != state.seq + 1:
            return (f"The segment {seal.file} starts at seq {seal.first_seq}, but the history "
                    f"before it ends at seq {state.seq}.")
        try:
            for row in read_segment(file, seal.sha256):
                check_row(row, state, versions, None)
                if row[4] == "SegmentSealed" and row[0] >= earlier_life and listed.get(
                        row[0]) != (row[6], row[7]):
                    return (f"The SegmentSealed at seq {row[0]} in the segment {seal.file} "
                            "differs from the log's list of sealed segments.")
        except SegmentAltered as error:
            return f"{error}."
        except ChainBroken as bad:
            return f"The segment {seal.file} was altered: {bad.problem}"
        if (state.seq, state.hash) != (seal.last_seq, seal.last_hash) or state.open_commit:
            return (f"The segment {seal.file} does not end where its seal says (seq "
                    f"{seal.last_seq}, hash {seal.last_hash[:12]}...): it ends at seq {state.seq}.")
    live = conn.execute(_LIVE_SEALS)
    if any(listed.get(seq) != (at, data) for seq, at, data in live):
        return "A SegmentSealed in the live log differs from the log's list of sealed segments."
    if (state.seq, state.hash) != (start.seq, start.hash):
        return f"The segments end at seq {state.seq}, but the live log starts after seq {start.seq}."
    for stream, version in start.versions.items():
        if versions.get(stream, 0) != version:
            return (f"The live log carries stream {stream!r} at version {version}, but its "
                    f"segments end it at version {versions.get(stream, 0)}.")
    return None
