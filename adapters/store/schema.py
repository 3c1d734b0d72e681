"""The log file's schema: the events table, projection tables and audit views (via sqlite-utils)."""

from __future__ import annotations

import functools
import re
import sqlite3
from typing import Final

import sqlite_utils

__all__ = ["COMMON_TYPES", "EXPECTED_TABLES", "PROJECTION_TABLES", "RARE_TYPE", "STATUS_TABLES",
           "create_schema", "earlier_definitions", "foreign_objects", "legacy_projection_ddl",
           "of_types", "schema_damage", "schema_of"]

# What the app shows (by table, its key), and the live view opening reads (see _LIVE_VIEW_DDL).
STATUS_TABLES: Final = {
    "wal_rows": "wal_id",
    "gate_state": "id",
    "sync_card": "page",
}
PROJECTION_TABLES: Final = {**STATUS_TABLES, "live_wals": "wal_id", "projection_head": "id"}
# Tables earlier versions wrote and this one drops at open. `projection_checkpoint` held the
# last seq folded into the tables: always the log's head, since the tables are written in the
# transaction of the events they fold, so it only cost every commit one more page to write and
# sync. Opening compares the tables with the fold instead, which also catches a damaged row.
_RETIRE: Final = ("DROP TABLE IF EXISTS [projection_checkpoint]", "DROP INDEX IF EXISTS [events_type]")
# The event types six rows in seven of a device's log are (a month: 156,824 of 163,941): the
# index on `type` leaves them out (`events_rare_type`, 0.2 MB of a month's log where indexing
# every row, the earlier `events_type`, took 4.1 MB). Nothing looks these up by type: a query
# that does finds them by seq or stream. A query for rows of other types names them with
# of_types(), whose RARE_TYPE term lets SQLite use the partial index.
COMMON_TYPES: Final = ("JobCompleted", "SyncRunFinished", "SyncRunStarted", "UploadAccepted",
                       "UploadStarted", "WalRegistered")
RARE_TYPE: Final = f"type NOT IN ({', '.join(repr(t) for t in COMMON_TYPES)})"
_RARE_TYPE_INDEX: Final = (f"CREATE INDEX IF NOT EXISTS [events_rare_type] ON [events] ([type]) "
                           f"WHERE {RARE_TYPE}")


def of_types(*names: str) -> str:
    """The WHERE term for rows of these types (none of COMMON_TYPES), served by the index."""
    if not names or set(names) & set(COMMON_TYPES) or any("'" in n for n in names):
        raise ValueError(f"not a rare event type: {names!r}")
    which = f"type = '{names[0]}'" if len(names) == 1 else (
        f"type IN ({', '.join(repr(n) for n in names)})")
    return f"{which} AND {RARE_TYPE}"
EXPECTED_TABLES: Final = ("events", *PROJECTION_TABLES)

# `wal_events` before a job's end was stored once (on the job's stream): a recording's rows.
_EARLIER_VIEWS: Final = {
    "wal_events": """
        SELECT seq, at, substr(stream, 5) AS wal_id, version, type, data
        FROM events WHERE stream LIKE 'wal:%'""",
}
_DROP_VIEW: Final = {name: f"DROP VIEW [{name}]" for name in _EARLIER_VIEWS}
_VIEWS: Final = {
    # A recording's rows, and for each member of a job the job's end (`BatchJobCompleted`,
    # stored once on `job:<id>`) as its `JobCompleted`, version NULL (it is not the member's
    # row: its stream's versions do not count it), data as stored (naming every member).
    "wal_events": """
        SELECT seq, at, substr(stream, 5) AS wal_id, version, type, data
        FROM events WHERE stream LIKE 'wal:%'
        UNION ALL
        SELECT seq, at, member.value AS wal_id, NULL AS version, 'JobCompleted' AS type, data
        FROM events, json_each(events.data, '$.wal_ids') AS member
        WHERE stream >= 'job:' AND stream < 'job;'""",
    "cooldowns": """
        SELECT seq, at, type, json_extract(data, '$.reason') AS reason,
               json_extract(data, '$.until') AS until,
               json_extract(data, '$.retry_after_raw') AS retry_after_raw,
               json_extract(data, '$.cause_wal_id') AS cause_wal_id,
               json_extract(data, '$.cause_job_id') AS cause_job_id
        FROM events WHERE stream = 'gate'""",
    "retry_bumps": """
        SELECT seq, at, substr(stream, 5) AS wal_id, type,
               json_extract(data, '$.retry_count') AS retry_count
        FROM events
        WHERE stream LIKE 'wal:%' AND json_extract(data, '$.retry_count_bumped') = 1""",
    "job_failures": """
        SELECT seq, at, substr(stream, 5) AS wal_id, json_extract(data, '$.job_id') AS job_id,
               json_extract(data, '$.server_status') AS server_status,
               json_extract(data, '$.server_error') AS server_error,
               json_extract(data, '$.total_segments') AS total_segments,
               json_extract(data, '$.classification') AS classification,
               json_extract(data, '$.retry_count_bumped') AS retry_count_bumped
        FROM events WHERE type = 'JobFailed'""",
    "upload_answers": """
        SELECT seq, at, substr(stream, 5) AS wal_id, type,
               json_extract(data, '$.attempt_id') AS attempt_id,
               json_extract(data, '$.http_status') AS http_status,
               json_extract(data, '$.job_id') AS job_id
        FROM events WHERE type IN ('UploadSynced', 'UploadAccepted', 'UploadRateLimited',
                                   'UploadFailed', 'UploadOutcomeUnknown')""",
    "skipped_uploads": """
        SELECT seq, at, substr(stream, 5) AS wal_id, json_extract(data, '$.path') AS path,
               json_extract(data, '$.gate_reason') AS gate_reason,
               json_extract(data, '$.gate_until') AS gate_until
        FROM events WHERE type = 'UploadSkipped'""",
    "held_passes": """
        SELECT seq, at, json_extract(data, '$.path') AS path,
               json_extract(data, '$.count') AS count,
               json_extract(data, '$.gate_reason') AS gate_reason,
               json_extract(data, '$.gate_until') AS gate_until,
               json_extract(data, '$.wal_ids') AS wal_ids
        FROM events WHERE type = 'UploadsHeld'""",
}


# Projection tables are keyed by their primary key alone (WITHOUT ROWID): one B-tree each
# instead of a table plus an index, so a transition's commit writes fewer pages.
_PROJECTION_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS [wal_rows] ([wal_id] TEXT PRIMARY KEY, [state] TEXT, [display] TEXT, "
    "[message_key] TEXT, [text] TEXT, [color] TEXT, [action] TEXT, [retry_count] INTEGER, "
    "[retry_budget] INTEGER, [job_id] TEXT, [conversation_id] TEXT, [storage] TEXT, "
    "[last_seq] INTEGER, [updated_at] TEXT) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS [gate_state] ([id] INTEGER PRIMARY KEY, [limited] INTEGER, [reason] TEXT, "
    "[until] TEXT, [set_at] TEXT, [resume_at] TEXT, [set_by_seq] INTEGER, [version] INTEGER)",
    "CREATE TABLE IF NOT EXISTS [sync_card] ([page] TEXT PRIMARY KEY, [kind] TEXT, [message_key] TEXT, "
    "[text] TEXT, [detail] TEXT, [color] TEXT, [pill] TEXT, [spinner] INTEGER) WITHOUT ROWID",
)
# The live view, committed with the events it folds (issue 17): each live recording's whole
# state (a finished one, synced, corrupted or deleted, has no row: its stream is folded when
# asked for), and one row with the seq the tables fold up to and the view's summary (display
# counts, the whole gate, the run, the policy, skipped files). Opening reads these and folds
# only the events after that seq. A log of an earlier walsync gets them at its first open.
_LIVE_VIEW_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS [live_wals] ([wal_id] TEXT PRIMARY KEY, [state] TEXT NOT NULL) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS [projection_head] ([id] INTEGER PRIMARY KEY CHECK ([id] = 1), "
    "[seq] INTEGER NOT NULL, [summary] TEXT NOT NULL)",
)
# The verified checkpoint of the start-up gate (see store/startup_gate.py): one row.
_VERIFIED_HEAD_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS [verified_head] ([id] INTEGER PRIMARY KEY CHECK ([id] = 1), "
    "[seq] INTEGER NOT NULL, [hash] TEXT NOT NULL)")
# Recordings retention archived (store/segments/): finished before a cut and not spoken of
# since, their rows gone from the live tables. Each cut's, sorted, in chunks of up to 1,000
# ids compressed into one row, under the cut's first seq (segments/archive_list.py: about 3
# bytes a recording, where the row per recording of `archived_wals` took 26 and a year archives
# some 340k). Only whether a recording is listed is read.
# And every segment sealed, by its first seq: the seq, time and data of its SegmentSealed (the
# event itself may since have moved into a later segment, where `verify` finds it again).
_ARCHIVED_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS [archived_chunks] ([segment] INTEGER NOT NULL, "
    "[low] TEXT NOT NULL, [high] TEXT NOT NULL, [count] INTEGER NOT NULL, "
    "[ids] BLOB NOT NULL, PRIMARY KEY ([segment], [low])) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS [sealed_segments] ([first_seq] INTEGER PRIMARY KEY, "
    "[sealed_seq] INTEGER NOT NULL, [at] TEXT NOT NULL, [data] TEXT NOT NULL)")
_RETIRED_DDL: Final = (  # their last definitions (see _RETIRE; archived_wals: archive_list)
    "CREATE TABLE [projection_checkpoint] ([name] TEXT PRIMARY KEY, [seq] INTEGER) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS [archived_wals] ([wal_id] TEXT PRIMARY KEY, "
    "[version] INTEGER NOT NULL, [segment] TEXT NOT NULL) WITHOUT ROWID",
)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table, index and view that is missing (idempotent)."""
    db = sqlite_utils.Database(conn)
    _create_events_v2(db, type_index=False)
    # Schema version 3 records commit boundaries. A new log gets the column the way an older
    # one does, by ALTER TABLE, so both hold the very same definition.
    if not any(row[1] == "commit_end" for row in conn.execute("PRAGMA table_info(events)")):
        conn.execute("ALTER TABLE events ADD COLUMN [commit_end] INTEGER")
    for ddl in (*_PROJECTION_DDL, *_LIVE_VIEW_DDL):
        conn.execute(ddl)
    conn.execute(_VERIFIED_HEAD_DDL)
    for ddl in _ARCHIVED_DDL:
        conn.execute(ddl)
    for retire in _RETIRE:
        conn.execute(retire)
    conn.execute(_RARE_TYPE_INDEX)
    earlier = _earlier_views(conn)
    for name, sql in _VIEWS.items():
        if name in earlier:  # an earlier walsync's definition: today's in its place
            conn.execute(_DROP_VIEW[name])
        db.create_view(name, sql, ignore=True)


def _earlier_views(conn: sqlite3.Connection) -> set[str]:
    """The views of the log that still have an earlier walsync's definition."""
    earlier = earlier_definitions()
    return {name for (kind, name), sql in schema_of(conn).items()
            if kind == "view" and name in _EARLIER_VIEWS and sql in earlier.get((kind, name), ())}


def _create_events_v2(db: sqlite_utils.Database, *, type_index: bool = True) -> None:
    """The events table and its indexes as schema versions 1 and 2 defined them; without the
    index on every row's type (`events_type`) for today's logs (see RARE_TYPE)."""
    db.table("events").create(
        {"seq": int, "event_id": str, "stream": str, "version": int, "type": str,
         "schema_version": int, "at": str, "data": str, "prev_hash": str, "hash": str},
        pk="seq",
        not_null=["event_id", "stream", "version", "type", "schema_version", "at", "data",
                  "prev_hash", "hash"],
        if_not_exists=True,
    )
    db.table("events").create_index(["event_id"], "events_event_id", unique=True,
                                    if_not_exists=True)
    db.table("events").create_index(["stream", "version"], "events_stream_version",
                                    unique=True, if_not_exists=True)
    if type_index:
        db.table("events").create_index(["type"], "events_type", if_not_exists=True)


@functools.cache
def legacy_projection_ddl() -> dict[tuple[str, str], str | None]:
    """(type, name) -> whitespace-normalised definition of the projection tables (and their
    automatic indexes) in logs written before WITHOUT ROWID: such logs still open, export and
    import."""
    conn = sqlite3.connect(":memory:")
    try:
        db = sqlite_utils.Database(conn)
        db.table("wal_rows").create(
            {"wal_id": str, "state": str, "display": str, "message_key": str, "text": str,
             "color": str, "action": str, "retry_count": int, "retry_budget": int, "job_id": str,
             "conversation_id": str, "storage": str, "last_seq": int, "updated_at": str},
            pk="wal_id")
        db.table("gate_state").create(
            {"id": int, "limited": int, "reason": str, "until": str, "set_at": str,
             "resume_at": str, "set_by_seq": int, "version": int}, pk="id")
        db.table("sync_card").create(
            {"page": str, "kind": str, "message_key": str, "text": str, "detail": str,
             "color": str, "pill": str, "spinner": int}, pk="page")
        db.table("projection_checkpoint").create({"name": str, "seq": int}, pk="name")
        return schema_of(conn)
    finally:
        conn.close()


@functools.cache
def earlier_definitions() -> dict[tuple[str, str], frozenset[str | None]]:
    """(type, name) -> every definition earlier versions gave an object that today's schema
    lacks or defines otherwise: the rowid projection tables, the retired tables and index
    (`events_type`) and the events table before schema version 3 (without commit_end)."""
    conn = sqlite3.connect(":memory:")
    try:
        for ddl in _RETIRED_DDL:
            conn.execute(ddl)
        _create_events_v2(sqlite_utils.Database(conn))
        for name, sql in _EARLIER_VIEWS.items():
            sqlite_utils.Database(conn).create_view(name, sql)
        retired = schema_of(conn)
    finally:
        conn.close()
    legacy = legacy_projection_ddl()
    return {key: frozenset(found[key] for found in (legacy, retired) if key in found)
            for key in {*legacy, *retired}}


def schema_of(conn: sqlite3.Connection) -> dict[tuple[str, str], str | None]:
    """(type, name) -> whitespace-normalised SQL of every schema object."""
    return {(kind, name): " ".join(sql.split()) if isinstance(sql, str) else None
            for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_schema")}


@functools.cache
def _our_definitions() -> dict[tuple[str, str], frozenset[str | None]]:
    """Every definition walsync has given each of its schema objects: today's and earlier."""
    conn = sqlite3.connect(":memory:")
    try:
        create_schema(conn)
        today = schema_of(conn)
    finally:
        conn.close()
    earlier = earlier_definitions()
    return {key: earlier.get(key, frozenset()).union([today[key]] if key in today else [])
            for key in {*today, *earlier}}


# The kind and name a CREATE statement gives its object (the name quoted, bracketed or bare).
_CREATED: Final = re.compile(
    r'\s*CREATE\s+(?:UNIQUE\s+)?(TABLE|VIEW|INDEX|TRIGGER)\s+(?:IF\s+NOT\s+EXISTS\s+)?'
    r'(?:"((?:[^"]|"")+)"|\[([^\]]+)\]|`([^`]+)`|([\w$]+))', re.IGNORECASE)


def schema_damage(conn: sqlite3.Connection) -> str | None:
    """What is damaged in a log's schema records, or None. SQLite builds its schema from each
    record's SQL and does not check the record's name against it, so a flipped bit in a name
    or kind (or in one of walsync's definitions) can pass its integrity check and break the
    next CREATE ... IF NOT EXISTS instead (found by T05's long tier). Objects walsync does
    not know (an index or ANALYZE's statistics added by hand) are left alone."""
    ours = _our_definitions()
    for (kind, name), sql in schema_of(conn).items():
        if sql is None:
            continue  # an automatic index has no SQL of its own
        found = _CREATED.match(sql)
        created = next((g for g in found.groups()[1:] if g), "") if found else ""
        if (found is None or found.group(1).lower() != kind
                or created.replace('""', '"') != name):  # the exact text: case too
            return f"the schema record of {kind[:10]!r} {name[:40]!r} contradicts its own definition"
        if (kind, name) in ours and sql not in ours[(kind, name)]:
            return f"the {kind} {name[:40]!r} does not have walsync's definition"
    return None


def foreign_objects(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
    """Objects in a log that walsync did not make: (refused, the user's own).

    Refused: a trigger on one of walsync's tables or views (it would run inside every append,
    or change what walsync reads), and an object that shadows one of walsync's names in another
    kind or case (`CREATE ... IF NOT EXISTS` would take it for walsync's own); each named with
    the statement that drops it. The user's own (tables, indexes, views walsync does not know,
    ANALYZE's statistics aside) are left alone and only listed."""
    ours = _our_definitions()
    names = {name.lower() for _, name in ours}
    refused: list[str] = []
    own: list[str] = []
    for kind, name, table in conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_schema ORDER BY type, name"):
        if (kind, name) in ours or str(name).lower().startswith("sqlite_"):
            continue
        drop = f'DROP {str(kind).upper()} "{str(name).replace(chr(34), chr(34) * 2)}"'
        if kind == "trigger" and str(table).lower() in names:
            refused.append(f"the trigger {name!r} on walsync's {table!r} (drop it: {drop})")
        elif str(name).lower() in names:
            refused.append(f"the {kind} {name!r}, which takes the name of walsync's own "
                           f"(drop it: {drop})")
        else:
            own.append(f"{kind} {name}")
    return refused, own
