"""Salvage a damaged log: its verified prefix into a new log, what follows read as evidence.

The start-up gate finds a log damaged; this builds the log that takes its place. The prefix
(every row before the first damaged one, chain intact, cut at a commit's end) is copied row
for row, hashes and all, so the new log verifies and replays exactly as the old one did up to
there. What can still be read after it is only evidence, never history: which recordings'
streams show an upload went out, so that they are not sent twice. The new log is built beside
the damaged one under a temporary name and holds its `LogSalvaged` event before the damaged
log is moved aside and the new one renamed into its place (see `move_aside`): a crash leaves
the damaged log where it was, salvaged again at the next start, or the whole salvage.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import attrs
import orjson

from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.adapters.store.readonly.verify import verified_prefix
from walsync.adapters.store.records import insert_rows
from walsync.adapters.store.schema import create_schema
from walsync.adapters.store.segments.carry_over import (
    Retention,
    carry_retention,
    compacted,
    read_retention,
)
from walsync.adapters.store.startup_gate import aside_name, move_aside
from walsync.core.errors import InvalidId, LogCorrupt
from walsync.core.events import LogSalvaged
from walsync.core.ids import check_id
from walsync.core.salvage import held_after_salvage
from walsync.core.wal import Wal
from walsync.projections.view import Projection

__all__ = ["SalvageFacts", "salvage_log"]

_SIDECARS: Final = ("-wal", "-shm", "-journal")
# A damaged log is hostile input: no schema code, checked cells, no mmap; writable_schema
# because a damaged schema record (a view's kind flipped) otherwise stops SQLite from reading
# any table (the connection is read-only: nothing is written).
_READING: Final = ("PRAGMA trusted_schema=OFF", "PRAGMA cell_size_check=ON", "PRAGMA mmap_size=0",
                   "PRAGMA writable_schema=ON")
# What survives past the prefix, read from its end forward and from the log's end back (a
# damaged page stops either scan), a million rows at most each way.
# (A job's end, stored once on `job:<id>`, is evidence for each member its data names.)
_EVIDENCE: Final = (
    "SELECT seq, stream, type, CASE WHEN stream >= 'job:' AND stream < 'job;' THEN data END "
    "FROM events WHERE seq > ? ORDER BY seq LIMIT 1000000",
    "SELECT seq, stream, type, CASE WHEN stream >= 'job:' AND stream < 'job;' THEN data END "
    "FROM events WHERE seq > ? ORDER BY seq DESC LIMIT 1000000")


class _Store(Protocol):
    @property
    def projection(self) -> Projection: ...

    def append(self, events: Sequence[NewEvent],
               expected: Mapping[str, int] | None = None) -> list[StoredEvent]: ...

    def close(self) -> None: ...


@attrs.frozen(kw_only=True)
class SalvageFacts:
    """What reading the damaged log found: the prefix kept, where it stopped and why, the
    highest seq still readable, and the event types each recording's stream shows after the
    prefix."""

    kept: int
    kept_upto: int  # the last seq kept (`kept` rows end there; a compacted log's start later)
    first_bad_seq: int | None
    last_seq_seen: int
    problem: str
    evidence: dict[str, set[str]]


def _recordings(view: Projection, evidence: Mapping[str, object]) -> list[Wal]:
    """The prefix's recordings the salvage asks about: the live ones, and those the evidence
    names (a finished one is read from the log: a live view holds only live ones)."""
    found = {**view.wals}
    for wal_id in evidence:
        if wal_id not in found:
            wal = view.known(wal_id)
            if wal is not None:
                found[wal_id] = wal
    return list(found.values())


def salvage_log(path: Path, problem: str, open_store: Callable[[Path], _Store]) -> LogSalvaged:
    """Replace the damaged log at `path` (`problem`: what the gate found) with its salvage
    (see the module's doc); `open_store` opens a log file as the live store. Returns the
    event the new log records."""
    building = path.with_name(f"{path.name}.salvaging")
    _remove(building)  # a salvage a crash cut short: start it over
    facts = copy_prefix(path, building, problem)
    target = aside_name(path)
    store = open_store(building)
    try:
        event = LogSalvaged(
            at=datetime.now(UTC), moved_to=os.path.abspath(target), problem=facts.problem,
            first_bad_seq=facts.first_bad_seq, kept=facts.kept,
            dropped=max(0, facts.last_seq_seen - facts.kept_upto),
            held=held_after_salvage(_recordings(store.projection, facts.evidence), facts.evidence))
        store.append([NewEvent(event_id=uuid.uuid4().hex, event=event)])
    finally:
        store.close()
    for suffix in _SIDECARS:  # closed cleanly: nothing of it lives outside its file
        with suppress(FileNotFoundError):
            os.unlink(f"{building}{suffix}")
    move_aside(path, target, building)
    return event


def copy_prefix(damaged: Path, target: Path, problem: str) -> SalvageFacts:
    """Copy the verified prefix of the log at `damaged` (read-only, its bytes untouched) into
    a new log file at `target`; read what follows as evidence."""
    rows: list[tuple[Any, ...]] = []
    first_bad, why, seen, retention = None, problem, 0, None
    evidence: dict[str, set[str]] = {}
    with suppress(sqlite3.Error, UnicodeDecodeError), closing(sqlite3.connect(
            f"{damaged.resolve().as_uri()}?mode=ro", uri=True)) as source:
        for statement in _READING:
            source.execute(statement)
        retention = read_retention(source, damaged, problem)  # a compacted log's live start
        rows, first_bad, found = verified_prefix(
            source, retention.start if retention is not None else None)
        why = found or problem
        seen = _read_evidence(source, after=_end(rows, retention), evidence=evidence)
    if retention is None and compacted(damaged):  # SQLite could not even read its anchors
        raise LogCorrupt(f"the log {damaged} is damaged ({problem}); it was compacted (sealed "
                         "segments lie beside it) and SQLite cannot read it: it was left "
                         "untouched")
    with closing(sqlite3.connect(target, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        create_schema(conn)
        insert_rows(conn, rows)
        if retention is not None:
            carry_retention(conn, retention, rows)
        conn.execute("COMMIT")
    end = _end(rows, retention)
    return SalvageFacts(kept=len(rows), kept_upto=end, first_bad_seq=first_bad,
                        last_seq_seen=max(seen, end), problem=why, evidence=evidence)


def _end(rows: Sequence[tuple[Any, ...]], retention: Retention | None) -> int:
    """The last seq the salvage keeps (where a compacted log's live part starts, if none)."""
    if rows:
        return int(rows[-1][0])
    return retention.start.seq if retention is not None else 0


def _read_evidence(conn: sqlite3.Connection, *, after: int,
                   evidence: dict[str, set[str]]) -> int:
    """Read what rows past the prefix still can be, from its end forward and from the log's
    end back (a damaged page stops either scan): each recording's event types. The highest
    seq seen."""
    highest = after
    for query in _EVIDENCE:
        with suppress(sqlite3.Error, UnicodeDecodeError):
            for seq, stream, type_name, job_data in conn.execute(query, (after,)):
                if isinstance(seq, int):
                    highest = max(highest, seq)
                if job_data is not None:
                    _job_evidence(job_data, evidence)
                if not (isinstance(stream, str) and stream.startswith("wal:")
                        and isinstance(type_name, str)):
                    continue
                with suppress(InvalidId):  # a damaged stream name names no recording
                    evidence.setdefault(check_id("recording id", stream[4:]), set()).add(type_name)
    return highest


def _job_evidence(data: Any, evidence: dict[str, set[str]]) -> None:
    """A job's end names its members: each shows a `JobCompleted` (what older logs held)."""
    with suppress(ValueError, TypeError, AttributeError, InvalidId):  # a damaged row: none
        for wal_id in orjson.loads(data).get("wal_ids", ()):
            evidence.setdefault(check_id("recording id", wal_id), set()).add("JobCompleted")


def _remove(path: Path) -> None:
    for suffix in ("", *_SIDECARS):
        with suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
