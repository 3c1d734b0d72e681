"""The PostgreSQL fleet schema: every device's events, hash-partitioned by device id, and the
fleet projections. Every table's primary and unique keys start with device_id, so each table
can be distributed by device id on a sharded PostgreSQL (Citus) without changes
(docs/fleet.md)."""

from __future__ import annotations

from typing import Final

import psycopg

__all__ = ["PARTITIONS", "create_schema"]

PARTITIONS: Final = 8

_TABLES: Final = (
    """CREATE TABLE IF NOT EXISTS events (
        device_id text NOT NULL,
        seq bigint NOT NULL,
        event_id text NOT NULL,
        stream text NOT NULL,
        version bigint NOT NULL,
        type text NOT NULL,
        schema_version integer NOT NULL,
        at text NOT NULL,
        data text NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        commit_end bigint,
        PRIMARY KEY (device_id, seq),
        UNIQUE (device_id, event_id),
        UNIQUE (device_id, stream, version)
    ) PARTITION BY HASH (device_id)""",
    """CREATE TABLE IF NOT EXISTS devices (
        device_id text PRIMARY KEY,
        head_seq bigint NOT NULL,
        head_hash text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS fleet_checkpoint (
        device_id text PRIMARY KEY,
        seq bigint NOT NULL,
        as_of text
    )""",
    """CREATE TABLE IF NOT EXISTS fleet_wals (
        device_id text NOT NULL,
        wal_id text NOT NULL,
        state text NOT NULL,
        display text,
        retry_count integer NOT NULL,
        reason text NOT NULL,
        stalled boolean NOT NULL,
        since text,
        stalled_seconds double precision,
        summary text NOT NULL,
        why jsonb NOT NULL,
        PRIMARY KEY (device_id, wal_id)
    )""",
    """CREATE TABLE IF NOT EXISTS fleet_gate (
        device_id text PRIMARY KEY,
        limited boolean NOT NULL,
        reason text,
        until text,
        set_by_seq bigint
    )""",
    """CREATE TABLE IF NOT EXISTS fleet_hourly (
        device_id text NOT NULL,
        hour text NOT NULL,
        kind text NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (device_id, hour, kind)
    )""",
    """CREATE TABLE IF NOT EXISTS fleet_counts (
        device_id text NOT NULL,
        kind text NOT NULL,
        name text NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (device_id, kind, name)
    )""",
    "CREATE INDEX IF NOT EXISTS fleet_wals_longest ON fleet_wals "
    "(stalled_seconds DESC NULLS LAST) WHERE stalled",
    # Schema version 3 of the device log: each row's commit boundary (NULL in older rows).
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS commit_end bigint",
)


def create_schema(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create whatever is missing, under an advisory lock so concurrent openers do not race."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('walsync-schema'))")
        for ddl in _TABLES:
            conn.execute(ddl.encode())
        for n in range(PARTITIONS):
            conn.execute(f"CREATE TABLE IF NOT EXISTS events_p{n} PARTITION OF events "
                         f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {n})".encode())
