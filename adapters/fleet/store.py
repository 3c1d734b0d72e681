"""The fleet database: connections (no DDL: readers check the schema version, writers apply
missing migrations once, schema.py), the device head every writer locks (SELECT ... FOR
UPDATE, so writers of one device serialise while other devices append in parallel), and a
device's rows read back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import set_json_loads

from walsync.adapters.fleet.schema import SCHEMA_VERSION, check_schema, migrate, schema_version
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.records import EVENT_COLUMNS_SQL, GENESIS_HASH
from walsync.core.errors import StoreError
from walsync.core.serde import format_time

__all__ = ["PgConnection", "ask_claim", "claim_device", "claimed", "connect",
           "init_schema", "lock_device", "read_rows", "set_head", "stored_row"]

PgConnection = psycopg.Connection[tuple[Any, ...]]
# A reader's session: read-only; its statements prepared when first run and planned once
# for any parameters (a reader that asks again, a dashboard or a service, plans nothing:
# planning the views over the partitioned events table costs more than running them).
_READER: Final = "-c default_transaction_read_only=on -c plan_cache_mode=force_generic_plan"
# The device row made if missing, else locked (a row made by this statement is locked already).
_CLAIM: Final = ("WITH made AS (INSERT INTO devices (device_id, head_seq, head_hash) VALUES (%s, 0, %s) "
                 "ON CONFLICT (device_id) DO NOTHING RETURNING head_seq, head_hash), "
                 "held AS (SELECT head_seq, head_hash FROM devices WHERE device_id = %s FOR UPDATE) "
                 "SELECT head_seq, head_hash, true FROM made UNION ALL "
                 "SELECT head_seq, head_hash, false FROM held")
_SELECT: Final = f"SELECT {EVENT_COLUMNS_SQL} FROM events WHERE device_id = %s"  # noqa: S608 (fixed column names)


def connect(dsn: str, *, write: bool = False) -> PgConnection:
    """An autocommit connection (transactions are explicit). A reader's statements and
    transactions are read-only and it only checks the schema; a writer (`write`) applies
    missing migrations."""
    try:
        if write:
            conn = psycopg.connect(dsn, autocommit=True)
        else:  # every statement a read-only transaction, without a BEGIN of its own
            options = conninfo_to_dict(dsn).get("options") or ""
            conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=0,
                                   options=f"{options} {_READER}".strip())
    except psycopg.Error as error:
        raise StoreError(f"PostgreSQL: {error}".strip()) from error
    try:
        set_json_loads(orjson.loads, conn)
        if write:
            if schema_version(conn) != SCHEMA_VERSION:
                migrate(conn)
        else:
            conn.read_only = True
            check_schema(conn)
    except psycopg.Error as error:
        conn.close()
        raise StoreError(f"PostgreSQL: {error}".strip()) from error
    except StoreError:
        conn.close()
        raise
    return conn


def init_schema(dsn: str) -> list[int]:
    """`walsync fleet init`: apply the missing migrations; the versions applied."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return migrate(conn)
    except psycopg.Error as error:
        raise StoreError(f"PostgreSQL: {error}".strip()) from error


def lock_device(conn: PgConnection, device_id: str) -> tuple[int, str]:
    """Inside a transaction: make sure the device exists, lock its row; its (head seq, hash)."""
    return claim_device(conn, device_id)[:2]


def claim_device(conn: PgConnection, device_id: str) -> tuple[int, str, bool]:
    """lock_device, and whether this transaction made the device: one round trip, unless the
    device was made by a writer that committed while this statement ran (then two)."""
    return claimed(conn, ask_claim(conn, device_id), device_id)[:3]


def ask_claim(conn: PgConnection, device_id: str) -> psycopg.Cursor[tuple[Any, ...]]:
    """claim_device's statement sent (in a pipeline, the answer is read later by `claimed`)."""
    return conn.execute(_CLAIM, (device_id, GENESIS_HASH, device_id))


def claimed(conn: PgConnection, cursor: psycopg.Cursor[tuple[Any, ...]],
            device_id: str) -> tuple[int, str, bool, bool]:
    """The answer of a claim: (head seq, head hash, made, late). Late: the device was made by
    a writer that committed while the claim ran, and is locked only now, by a second
    statement (whatever was read with the claim must be read again)."""
    found = cursor.fetchone()
    if found is None:
        again = conn.execute("SELECT head_seq, head_hash FROM devices WHERE device_id = %s "
                             "FOR UPDATE", (device_id,)).fetchone()
        assert again is not None  # a device row is never deleted
        return int(again[0]), str(again[1]), False, True
    return int(found[0]), str(found[1]), bool(found[2]), False


def set_head(conn: PgConnection, device_id: str, seq: int, digest: str) -> None:
    """Move the locked device's head (and when the fleet last heard from it)."""
    conn.execute("UPDATE devices SET head_seq = %s, head_hash = %s, received_at = now() "
                  "WHERE device_id = %s", (seq, digest, device_id))


def stored_row(values: Sequence[Any]) -> StoredEvent:
    """A row selected as EVENT_COLUMNS_SQL, its time back in the log's text form."""
    seq, event_id, stream, version, type_, schema_v, at, data, prev_hash, digest, end = values
    return StoredEvent(int(seq), str(event_id), str(stream), int(version), str(type_),
                       int(schema_v), format_time(at), str(data), str(prev_hash), str(digest),
                       None if end is None else int(end))


def read_rows(conn: PgConnection, device_id: str, *, after: int = 0, upto: int | None = None,
              stream: str | None = None) -> list[StoredEvent]:
    """The device's rows in (after, upto], optionally of one stream, in seq order."""
    sql, params = _SELECT + " AND seq > %s", [device_id, after]
    if upto is not None:
        sql, params = sql + " AND seq <= %s", [*params, upto]
    if stream is not None:
        sql, params = sql + " AND stream = %s", [*params, stream]
    return [stored_row(v) for v in conn.execute((sql + " ORDER BY seq").encode(), params).fetchall()]
