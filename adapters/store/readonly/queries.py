"""Read-only access to a log file for the audit and diagnosis commands: never writes, clear
errors, and every filter a bound parameter."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Final

from attrs import frozen

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.job_rows import JOB_STREAMS_OF, JOB_STREAMS_OF_ANY, as_member_rows
from walsync.adapters.store.readonly.media import open_readonly
from walsync.adapters.store.records import has_commit_column, select_rows, stored_forms, stored_from_row
from walsync.adapters.store.schema import of_types
from walsync.core.errors import LogCorrupt, StoreError
from walsync.core.serde import format_time, parse_time
from walsync.projections.view import Projection

__all__ = [
    "AUDIT_FILTERS",
    "AUDIT_ORDER",
    "Cut",
    "all_rows",
    "audit_rows",
    "connect_readonly",
    "cut_of",
    "explanation_rows",
    "in_recorded_order",
    "one_snapshot",
    "open_log_readonly",
    "open_readonly",
    "read_log",
    "read_only_authorizer",
    "recording_rows",
    "resolve_cut",
    "rows_after",
    "rows_of",
    "rows_upto",
]


@contextmanager
def one_snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Every read inside sees one snapshot of the log (a read transaction, unless the caller
    holds one already): another process committing between reads cannot pair parts of two
    states."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")  # a read transaction: nothing to keep or lose



def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open an existing log read-only (also on read-only media: open_readonly); StoreError when
    it is missing or not a walsync log."""
    file = Path(path)
    if not file.is_file():
        raise StoreError(f"no log file at {file}")
    try:
        conn = open_readonly(file)
        # A shared log is untrusted input (contract C8): no schema code, checked cells, no mmap.
        for pragma in ("trusted_schema=OFF", "cell_size_check=ON", "mmap_size=0"):
            conn.execute(f"PRAGMA {pragma}")
        kind = conn.execute(
            "SELECT type FROM sqlite_master WHERE name = 'events'").fetchone()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
        raise LogCorrupt(f"{file} is not a readable SQLite database: {error}") from error
    if kind is None or kind[0] != "table":
        conn.close()
        raise LogCorrupt(f"{file} is not a walsync log (no events table)")
    conn.set_authorizer(read_only_authorizer)
    return conn


# A read transaction (BEGIN ... COMMIT) writes nothing on a `mode=ro` connection: it lets several
# reads share one snapshot (`status` from the projection tables).
_READ_ACTIONS: Final = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                                  sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_TRANSACTION})
_READ_PRAGMAS: Final = frozenset({"trusted_schema", "cell_size_check", "mmap_size", "query_only",
                                  "integrity_check", "quick_check", "table_info", "table_xinfo",
                                  "database_list", "schema_version", "user_version", "page_count",
                                  "page_size", "freelist_count"})


def read_only_authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None,
                         source: str | None) -> int:
    """sqlite3 authorizer for audit connections: reads only (T28). Even where `mode=ro` would
    let a statement through (a TEMP table, ATTACH, a write PRAGMA), the statement is refused."""
    if action in _READ_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 is not None and arg1.lower() in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


# Audit filters and sort keys come from users: only these names ever reach SQL (T28).
# An event id in both forms it may be stored in (records.stored_forms).
AUDIT_FILTERS: Final = {"stream": "stream = ?", "type": "type = ?", "event_id": "event_id IN (?, ?)",
                        "from_seq": "seq >= ?", "to_seq": "seq <= ?", "since": "at >= ?",
                        "until": "at <= ?"}
AUDIT_ORDER: Final = {"seq": "seq", "at": "at, seq", "stream": "stream, seq", "type": "type, seq"}


def audit_rows(path: str | Path, filters: Mapping[str, object] | None = None, *,
               order_by: str = "seq", descending: bool = False) -> list[StoredEvent]:
    """Rows matching user-given filters in a user-given order, on an authorizer-guarded read-only
    connection; a filter or sort key outside AUDIT_FILTERS / AUDIT_ORDER is a ValueError."""
    given = dict(filters or {})
    unknown = sorted(set(given) - set(AUDIT_FILTERS))
    if unknown:
        raise ValueError(f"unknown audit filter(s) {unknown}; allowed: {sorted(AUDIT_FILTERS)}")
    if order_by not in AUDIT_ORDER:
        raise ValueError(f"unknown sort key {order_by!r}; allowed: {sorted(AUDIT_ORDER)}")
    clauses, params = [], []
    for key, value in given.items():
        if key in ("since", "until"):
            value = _time_bound(str(value))
        clauses.append(AUDIT_FILTERS[key])
        params.append(value)
        if key == "event_id":
            params.append(stored_forms(str(value))[-1])
    where = " AND ".join(["1 = 1", *clauses])
    direction = " DESC" if descending else ""
    order = ", ".join(part + direction for part in AUDIT_ORDER[order_by].split(", "))
    with closing(connect_readonly(path)) as conn:
        sql = f"{select_rows(conn)} WHERE {where} ORDER BY {order}"
        return list(rows_of(conn, sql, params))


def rows_of(conn: sqlite3.Connection, sql: str, params: list[object]) -> Iterator[StoredEvent]:
    """Log rows from a query over the events columns; LogCorrupt when SQLite cannot read them."""
    try:
        for values in conn.execute(sql, params):
            yield stored_from_row(values)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:  # damaged text decodes badly
        raise LogCorrupt(f"reading the log failed: {error}") from error


def read_log(path: str | Path, *, wal_id: str | Sequence[str] | None = None,
             stream: str | Sequence[str] | None = None, type_name: str | Sequence[str] | None = None,
             since: str | None = None, until: str | None = None, from_seq: int | None = None,
             to_seq: int | None = None, descending: bool = False,
             limit: int | None = None) -> Iterator[StoredEvent]:
    """The log's rows in seq order (newest first with `descending`, at most `limit`), filtered:
    several values of one filter match any of them, and the filters all hold at once. Every
    value is a bound parameter, never SQL."""
    sql = " WHERE 1 = 1"
    params: list[object] = []
    wal_ids = _values(wal_id)
    wal_streams = None if wal_ids is None else [f"wal:{w}" for w in wal_ids]
    if wal_streams is not None:  # and the streams of the jobs they were accepted into
        marks = ", ".join("?" * len(wal_streams))
        sql += f" AND (stream IN ({marks}) OR stream IN ({JOB_STREAMS_OF_ANY}({marks})))"
        params.extend([*wal_streams, *wal_streams])
    types = _values(type_name)
    if wal_streams is not None and types is not None and "JobCompleted" in types:
        types = [*types, "BatchJobCompleted"]  # read as the members' own JobCompleted
    for values, column in ((_values(stream), "stream"), (types, "type")):
        if values is not None:
            sql += f" AND {column} IN ({', '.join('?' * len(values))})"
            params.extend(values)
    for clause, value in (("at >= ?", _time_bound(since)), ("at <= ?", _time_bound(until)),
                          ("seq >= ?", from_seq), ("seq <= ?", to_seq)):
        if value is not None:
            sql += f" AND {clause}"
            params.append(value)
    sql += " ORDER BY seq" + (" DESC" if descending else "")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    with closing(connect_readonly(path)) as conn:
        found = rows_of(conn, select_rows(conn) + sql, params)
        if wal_ids is None:
            yield from found
            return
        wanted_types = _values(type_name)
        yield from (row for row in as_member_rows(found, set(wal_ids))
                    if wanted_types is None or row.type in wanted_types)


def _values(value: str | Sequence[str] | None) -> list[str] | None:
    """One filter's values; None when the filter is not given."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _time_bound(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return format_time(parse_time(text))
    except ValueError:
        raise StoreError(f"{text!r} is not an ISO-8601 time") from None


@contextmanager
def open_log_readonly(path: str | Path) -> Iterator[Projection]:
    """Every projection folded from the log file, without writing to it."""
    projection = Projection()
    projection.apply((row.seq, row.event) for row in read_log(path))
    yield projection


def all_rows(conn: sqlite3.Connection) -> Iterator[StoredEvent]:
    """Every row of the log in seq order."""
    return rows_of(conn, select_rows(conn) + " ORDER BY seq", [])


def rows_after(conn: sqlite3.Connection, seq: int) -> Iterator[StoredEvent]:
    """The rows after `seq`, in seq order: a tail."""
    return rows_of(conn, select_rows(conn) + " WHERE seq > ? ORDER BY seq", [seq])


def rows_upto(conn: sqlite3.Connection, seq: int) -> Iterator[StoredEvent]:
    """The rows up to `seq` (a cut), in seq order: what a projection as of then folds."""
    return rows_of(conn, select_rows(conn) + " WHERE seq <= ? ORDER BY seq", [seq])


_SHARED_ROWS: Final = f"stream = 'gate' OR ({of_types('PolicyApplied', 'UploadsHeld', 'LogSalvaged')})"
_IDS_PER_QUERY: Final = 500  # well under SQLite's limit on bound parameters
_FIRST_SEQS: Final = "SELECT min(seq), stream FROM events WHERE seq <= ? AND stream IN "


def explanation_rows(conn: sqlite3.Connection, seq: int,
                     wal_id: str | Sequence[str] | None = None) -> Iterator[StoredEvent]:
    """What `why` folds, up to `seq`: one recording's stream (these recordings', or every
    recording's without `wal_id`), the gate's, the policies recorded, the passes a pause held
    and the salvages, in seq order."""
    if wal_id is not None and not isinstance(wal_id, str):
        return iter(_rows_of_wals(conn, seq, list(wal_id)))
    streams = (f"stream = ? OR stream IN ({JOB_STREAMS_OF})", [f"wal:{wal_id}"] * 2) \
        if wal_id is not None else ("stream LIKE 'wal:%' OR stream LIKE 'job:%'", [])
    return as_member_rows(rows_of(conn, select_rows(conn) + " WHERE seq <= ? AND (" + streams[0]
                                  + f" OR {_SHARED_ROWS}) ORDER BY seq", [seq, *streams[1]]),
                          None if wal_id is None else {wal_id})


# The shared rows one recording's `why` needs from its first event on (earlier ones cannot
# hold it or be in its chain), and those it needs however old they are (few of them).
_FROM_FIRST: Final = f"{of_types('UploadsHeld')} AND seq >= ? AND seq <= ?"
_ALWAYS: Final = f"{of_types('PolicyApplied', 'LogSalvaged')} AND seq <= ?"
_GATE_FROM: Final = "stream = 'gate' AND seq >= ? AND seq <= ?"
_LAST_PAUSE_BY: Final = (f"SELECT max(seq) FROM events WHERE {of_types('CooldownStarted')} "  # noqa: S608 (fixed terms)
                         "AND seq <= ?")


def recording_rows(conn: sqlite3.Connection, seq: int, wal_id: str, *,
                   whole: bool = False, carried_job: str | None = None) -> list[StoredEvent]:
    """explanation_rows for one recording, read from where its history starts rather than
    from the log's (issue 17: `why ID` read every held pass and gate event of the live log,
    30 days of them): its stream; the held passes from its first event on (one before it
    cannot name it or find it waiting); the gate's events from the last pause set at or before
    its first event (a `CooldownStarted` sets the whole gate, so the fold from there is the
    fold from the start, and any pause that held it was set there or later); the policies and
    salvages. `whole`: every shared row (a recording whose start lies in a sealed segment)."""
    stream = f"wal:{wal_id}"
    first = None if whole else conn.execute(
        "SELECT min(seq) FROM events WHERE stream = ? AND seq <= ?", (stream, seq)).fetchone()[0]
    start = 0 if first is None else int(first)
    gate_from = 0 if first is None else int(
        conn.execute(_LAST_PAUSE_BY, (start,)).fetchone()[0] or 0)
    select = select_rows(conn)
    found = [*rows_of(conn, select + " WHERE stream = ? AND seq <= ?", [stream, seq]),
             *rows_of(conn, select + f" WHERE stream IN ({JOB_STREAMS_OF}) AND seq <= ?",
                      [stream, seq]),
             *(rows_of(conn, select + " WHERE stream = ? AND seq <= ?",
                       [f"job:{carried_job}", seq]) if carried_job else ()),
             *rows_of(conn, select + f" WHERE {_FROM_FIRST}", [start, seq]),
             *rows_of(conn, select + f" WHERE {_ALWAYS}", [seq]),
             *rows_of(conn, select + f" WHERE {_GATE_FROM}", [gate_from, seq])]
    return list(as_member_rows(sorted({row.seq: row for row in found}.values(),
                                      key=lambda row: row.seq), {wal_id}))


def in_recorded_order(conn: sqlite3.Connection, seq: int, wal_ids: Sequence[str]) -> list[str]:
    """The recordings in the order a fold of the log up to `seq` meets them (their first
    event's seq), by the stream index, a few hundred at a time; one with no event by then is
    left out."""
    firsts: list[tuple[int, str]] = []
    for start in range(0, len(wal_ids), _IDS_PER_QUERY):
        chunk = [f"wal:{w}" for w in wal_ids[start:start + _IDS_PER_QUERY]]
        marks = ", ".join("?" * len(chunk))  # placeholders only: the ids are bound
        firsts += conn.execute(_FIRST_SEQS + "(" + marks + ") GROUP BY stream",
                               [seq, *chunk]).fetchall()
    return [stream[4:] for _, stream in sorted(firsts)]


def _rows_of_wals(conn: sqlite3.Connection, seq: int, wal_ids: list[str]) -> list[StoredEvent]:
    """explanation_rows for several recordings: their streams read by the index, a few
    hundred at a time, and the shared rows, in seq order."""
    found = list(rows_of(conn, select_rows(conn) + f" WHERE seq <= ? AND ({_SHARED_ROWS})",
                         [seq]))
    for start in range(0, len(wal_ids), _IDS_PER_QUERY):
        chunk = [f"wal:{w}" for w in wal_ids[start:start + _IDS_PER_QUERY]]
        marks = ", ".join("?" * len(chunk))
        found += rows_of(conn, select_rows(conn) + " WHERE seq <= ? AND (stream IN ("
                         + marks + ") OR stream IN (" + JOB_STREAMS_OF_ANY + "(" + marks + ")))",
                         [seq, *chunk, *chunk])
    return list(as_member_rows(sorted({row.seq: row for row in found}.values(),
                                      key=lambda row: row.seq), set(wal_ids)))


@frozen(kw_only=True)
class Cut:
    """A point in the log: every event with seq <= `seq`; `moment` is the time it stands for.

    A cut always falls between two commits: a state inside one (a gated run's start, its skips
    and its finish are written together) was never seen by any reader. `asked` is the seq or
    time the caller asked for when the cut was moved to the end (or, for a time, the start) of
    the commit holding it, else None; `note` says so in words.
    """

    seq: int
    moment: datetime | None
    asked: int | str | None = None
    note: str | None = None


def resolve_cut(conn: sqlite3.Connection, *, at: str | None = None,
                seq: int | None = None) -> Cut:
    """`--at ISO-8601` (the last commit made by then) or `--seq N` (the end of the commit
    holding N); default: the whole log."""
    if at is not None and seq is not None:
        raise StoreError("give --at or --seq, not both")
    if at is not None:
        try:
            moment = parse_time(at)
        except ValueError:
            raise StoreError(f"--at {at!r} is not an ISO-8601 time") from None
        bound = format_time(moment)
        found = conn.execute("SELECT max(seq) FROM events WHERE at <= ?", (bound,)).fetchone()
        last = int(found[0] or 0)
        end = _commit_end(conn, last)
        if end == last:
            return Cut(seq=last, moment=moment)
        ended = conn.execute("SELECT at FROM events WHERE seq = ?", (end,)).fetchone()
        if ended is not None and str(ended[0]) <= bound:
            return Cut(seq=end, moment=moment)  # its last row is also from before the moment
        start = _commit_start(conn, last, end)  # the commit had not ended by then: leave it out
        return Cut(seq=start - 1, moment=moment, asked=at,
                   note=f"seq {start}-{end} were written in one commit that ended after {at}")
    top = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
    upto = top if seq is None else min(max(seq, 0), top)
    end = _commit_end(conn, upto)
    note = None
    if end != upto:
        note = (f"seq {upto} is inside the commit of seq {_commit_start(conn, upto, end)}-{end}: "
                f"shown as of its end, the first state a reader could see")
    row = conn.execute("SELECT at FROM events WHERE seq = ?", (end,)).fetchone()
    return Cut(seq=end, moment=parse_time(row[0]) if row else None,
               asked=upto if end != upto else None, note=note)


def cut_of(path: str | Path, *, at: str | None = None, seq: int | None = None) -> Cut:
    """resolve_cut on the log file at `path`."""
    with closing(connect_readonly(path)) as conn:
        return resolve_cut(conn, at=at, seq=seq)


def _commit_end(conn: sqlite3.Connection, seq: int) -> int:
    """The last seq of the commit holding `seq` (itself for rows written before schema
    version 3, which did not record commit boundaries)."""
    if seq <= 0 or not has_commit_column(conn):
        return seq
    found = conn.execute("SELECT commit_end FROM events WHERE seq = ?", (seq,)).fetchone()
    end = found[0] if found is not None else None
    return int(end) if isinstance(end, int) and end > seq else seq


def _commit_start(conn: sqlite3.Connection, seq: int, end: int) -> int:
    """The first seq of the commit holding `seq` that ends at `end`."""
    found = conn.execute("SELECT seq FROM events WHERE seq < ? AND (commit_end IS NULL OR "
                         "commit_end <> ?) ORDER BY seq DESC LIMIT 1", (seq, end)).fetchone()
    return int(found[0]) + 1 if found is not None else 1
