"""Read what `why`, `timeline` and time travel need from a log file, read-only, up to a cut."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

from attrs import frozen

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.queries import connect_readonly, rows_of
from walsync.adapters.store.readonly.unreadable import Unreadable
from walsync.adapters.store.records import EVENT_COLUMNS_SQL
from walsync.core.errors import StoreError, UnknownWal
from walsync.core.events import GateEvent, PolicyApplied, WalEvent
from walsync.core.serde import format_time, parse_time
from walsync.projections.view import Projection
from walsync.projections.why import WhyReport, explain

__all__ = ["Cut", "explain_all", "explain_wal", "projection_at", "projection_from",
           "resolve_cut"]

_COLUMNS = EVENT_COLUMNS_SQL


@frozen(kw_only=True)
class Cut:
    """A point in the log: every event with seq <= `seq`; `moment` is the time it stands for."""

    seq: int
    moment: datetime | None


def resolve_cut(conn: sqlite3.Connection, *, at: str | None = None,
                seq: int | None = None) -> Cut:
    """`--at ISO-8601` (last event at or before it) or `--seq N`; default: the whole log."""
    if at is not None and seq is not None:
        raise StoreError("give --at or --seq, not both")
    if at is not None:
        try:
            moment = parse_time(at)
        except ValueError:
            raise StoreError(f"--at {at!r} is not an ISO-8601 time") from None
        found = conn.execute("SELECT max(seq) FROM events WHERE at <= ?",
                             (format_time(moment),)).fetchone()
        return Cut(seq=int(found[0] or 0), moment=moment)
    top = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
    upto = top if seq is None else min(max(seq, 0), top)
    row = conn.execute("SELECT at FROM events WHERE seq = ?", (upto,)).fetchone()
    return Cut(seq=upto, moment=parse_time(row[0]) if row else None)


def _readable(rows: Iterator[StoredEvent], unreadable: Unreadable | None) -> Iterator[StoredEvent]:
    """Without a collector a row this code cannot read raises LogFromNewerVersion when decoded;
    with one (read-only diagnosis) it is left out of the fold and reported."""
    return rows if unreadable is None else unreadable.known(rows)


def _explain(conn: sqlite3.Connection, wal_id: str, cut: Cut,
             unreadable: Unreadable | None) -> WhyReport:
    rows = list(_readable(rows_of(
        conn, f"SELECT {_COLUMNS} FROM events WHERE seq <= ? AND "  # noqa: S608
              "(stream = ? OR stream = 'gate' OR type = 'PolicyApplied') "
              "ORDER BY seq", [cut.seq, f"wal:{wal_id}"]), unreadable))
    return _explain_rows(wal_id, rows, cut)


def _explain_rows(wal_id: str, rows: list[StoredEvent], cut: Cut) -> WhyReport:
    stream = f"wal:{wal_id}"
    wal_events = [(r.seq, e) for r in rows if r.stream == stream
                  for e in [r.event] if isinstance(e, WalEvent)]
    if not wal_events:
        raise UnknownWal(wal_id)
    gate = [(r.seq, e) for r in rows if r.stream == "gate" for e in [r.event]
            if isinstance(e, GateEvent)]
    policies = [(r.seq, e) for r in rows if r.type == "PolicyApplied" for e in [r.event]
                if isinstance(e, PolicyApplied)]
    return explain(wal_id, wal_events, gate, policies, as_of=cut.moment)


def explain_wal(path: str | Path, wal_id: str, *, at: str | None = None,
                seq: int | None = None, unreadable: Unreadable | None = None) -> WhyReport:
    """`walsync why WAL_ID`: the recording's explanation as of the cut."""
    with closing(connect_readonly(path)) as conn:
        return _explain(conn, wal_id, resolve_cut(conn, at=at, seq=seq), unreadable)


def explain_all(path: str | Path, *, at: str | None = None, seq: int | None = None,
                unreadable: Unreadable | None = None) -> Iterator[WhyReport]:
    """`walsync why --all`: every recording that is stalled as of the cut."""
    with closing(connect_readonly(path)) as conn:
        cut = resolve_cut(conn, at=at, seq=seq)
        rows = list(_readable(rows_of(
            conn, f"SELECT {_COLUMNS} FROM events WHERE seq <= ? AND "  # noqa: S608
                  "(stream LIKE 'wal:%' OR stream = 'gate' OR "
                  "type = 'PolicyApplied') ORDER BY seq", [cut.seq]), unreadable))
    shared = [r for r in rows if not r.stream.startswith("wal:")]
    by_wal: dict[str, list[StoredEvent]] = {}
    for r in rows:
        if r.stream.startswith("wal:"):
            by_wal.setdefault(r.stream[4:], []).append(r)
    for wal_id, own in by_wal.items():
        report = _explain_rows(wal_id, sorted([*own, *shared], key=lambda r: r.seq), cut)
        if report.stalled:
            yield report


def projection_at(path: str | Path, *, at: str | None = None, seq: int | None = None,
                  unreadable: Unreadable | None = None) -> tuple[Projection, Cut]:
    """Every projection as it was at the cut, folded from the log."""
    with closing(connect_readonly(path)) as conn:
        return projection_from(conn, at=at, seq=seq, unreadable=unreadable)


def projection_from(conn: sqlite3.Connection, *, at: str | None = None, seq: int | None = None,
                    unreadable: Unreadable | None = None) -> tuple[Projection, Cut]:
    """The same over an open (read-only) connection, e.g. a checked shared log's."""
    cut = resolve_cut(conn, at=at, seq=seq)
    projection = Projection()
    projection.apply((r.seq, r.event) for r in _readable(rows_of(
        conn, f"SELECT {_COLUMNS} FROM events WHERE seq <= ? ORDER BY seq",  # noqa: S608
        [cut.seq]), unreadable))
    return projection, cut
