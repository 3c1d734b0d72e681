"""The PostgreSQL fleet schema as numbered migrations, applied once (`walsync fleet init`, or an
ingest that finds the schema missing) under an advisory lock; readers only check the version.

Every table that holds a device's data is keyed by `device_id` first (its primary and unique
keys include it), so it can be distributed by device id on Citus; `fleet_schema` is small and
read by everyone: a reference table there (docs/fleet.md gives the calls).
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from walsync.core.errors import StoreError

__all__ = ["DISTRIBUTED_TABLES", "MIGRATIONS", "PARTITIONS", "REFERENCE_TABLES", "SCHEMA_VERSION",
           "check_schema", "migrate", "schema_version"]

PARTITIONS: Final = 8
_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('walsync-fleet-schema'))"

_V1: Final = (
    """CREATE TABLE events (
        device_id text NOT NULL,
        seq bigint NOT NULL,
        event_id text NOT NULL,
        stream text NOT NULL,
        version bigint NOT NULL,
        type text NOT NULL,
        schema_version integer NOT NULL,
        at timestamptz NOT NULL,
        data text NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        commit_end bigint,
        PRIMARY KEY (device_id, seq),
        UNIQUE (device_id, event_id),
        UNIQUE (device_id, stream, version)
    ) PARTITION BY HASH (device_id)""",
    *(f"CREATE TABLE events_p{n} PARTITION OF events "
      f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {n})" for n in range(PARTITIONS)),
    # The verified head of each device's log (the row every writer of the device locks), when
    # it was first and last received.
    """CREATE TABLE devices (
        device_id text PRIMARY KEY,
        head_seq bigint NOT NULL,
        head_hash text NOT NULL,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        received_at timestamptz NOT NULL DEFAULT now()
    )""",
    # The device's fold as of `seq`: its last event's time, gate, policy, retry budget, run.
    """CREATE TABLE fleet_device (
        device_id text PRIMARY KEY,
        seq bigint NOT NULL,
        as_of timestamptz,
        limited boolean NOT NULL,
        gate_reason text,
        gate_until timestamptz,
        gate_set_at timestamptz,
        gate_set_by_seq bigint,
        policy text,
        retry_budget integer NOT NULL,
        fold jsonb NOT NULL
    )""",
    # One row per recording: its status row, what its stall is (the reason it would have with
    # the gate open; `gated`: a closed gate is its reason instead), and the fold's fields.
    """CREATE TABLE fleet_wals (
        device_id text NOT NULL,
        wal_id text NOT NULL,
        state text NOT NULL,
        display text,
        retry_count integer NOT NULL,
        version bigint NOT NULL,
        last_seq bigint NOT NULL,
        reason text NOT NULL,
        gated boolean NOT NULL,
        stalled boolean NOT NULL,
        since timestamptz,
        fold jsonb NOT NULL,
        PRIMARY KEY (device_id, wal_id)
    )""",
    "CREATE INDEX fleet_wals_longest ON fleet_wals (since, device_id, wal_id) WHERE stalled",
    """CREATE TABLE fleet_counts (
        device_id text NOT NULL,
        kind text NOT NULL,
        name text NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (device_id, kind, name)
    )""",
    """CREATE TABLE fleet_hourly (
        device_id text NOT NULL,
        hour timestamptz NOT NULL,
        kind text NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (device_id, hour, kind)
    )""",
    """CREATE TABLE fleet_cooldowns (
        device_id text NOT NULL,
        seq bigint NOT NULL,
        at timestamptz NOT NULL,
        reason text NOT NULL,
        until timestamptz,
        PRIMARY KEY (device_id, seq)
    )""",
    "CREATE INDEX fleet_cooldowns_by_reason ON fleet_cooldowns (reason, at)",
    """CREATE TABLE fleet_tokens (
        device_id text NOT NULL,
        token_id text NOT NULL,
        token_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        PRIMARY KEY (device_id, token_id)
    )""",
    # Views for dashboards (Grafana, Metabase): plain SQL over the projection tables.
    """CREATE VIEW fleet_answers_per_hour AS
        SELECT hour, kind, sum(n)::bigint AS n, count(*) AS devices
        FROM fleet_hourly WHERE n > 0 GROUP BY hour, kind""",
    """CREATE VIEW fleet_stalls AS
        SELECT w.device_id, w.wal_id, w.state, w.display, w.retry_count,
               CASE WHEN w.gated AND d.limited AND d.gate_set_at <= d.as_of
                         AND d.as_of < d.gate_until
                    THEN CASE d.gate_reason WHEN 'rateLimit' THEN 'cooldown_fair_use'
                                            ELSE 'cooldown_backend_busy' END
                    ELSE w.reason END AS reason,
               w.since, now() - w.since AS age
        FROM fleet_wals w JOIN fleet_device d USING (device_id) WHERE w.stalled""",
    """CREATE VIEW fleet_stalls_by_reason AS
        SELECT reason, count(*) AS recordings, count(DISTINCT device_id) AS devices,
               min(since) AS oldest_since, max(age) AS oldest_age
        FROM fleet_stalls GROUP BY reason""",
    """CREATE VIEW fleet_last_seen AS
        SELECT v.device_id, v.head_seq, d.as_of AS last_event_at, v.received_at,
               now() - v.received_at AS silent_for, now() - d.as_of AS last_event_age
        FROM devices v LEFT JOIN fleet_device d USING (device_id)""",
    """CREATE VIEW fleet_cooling_now AS
        SELECT device_id, gate_reason AS reason, gate_set_at AS since, gate_until AS until,
               gate_until - now() AS remaining
        FROM fleet_device WHERE limited AND gate_until > now()""",
)

# Fleet-wide totals the writers keep (totals.py): delta rows appended by each device's
# transaction, folded together now and then; filled here from the rows already stored. The
# closed gates are read by an index (newest deadline first), the held passes `fleet why`
# reads by another.
_V2: Final = (
    """CREATE TABLE fleet_totals (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind text NOT NULL,
        name text NOT NULL,
        hour timestamptz,
        n bigint NOT NULL,
        devices bigint NOT NULL
    )""",
    "CREATE INDEX fleet_device_closed ON fleet_device (gate_until DESC, device_id) WHERE limited",
    "CREATE INDEX events_held ON events (device_id, seq) WHERE type = 'UploadsHeld'",
    """INSERT INTO fleet_totals (kind, name, hour, n, devices)
        SELECT 'fleet', 'devices', NULL::timestamptz, coalesce(sum(head_seq), 0), count(*) FROM devices
        UNION ALL
        SELECT 'display', name, NULL, sum(n), count(*) FROM fleet_counts
        WHERE kind = 'display' AND n > 0 GROUP BY name
        UNION ALL
        SELECT 'stall', r, NULL, sum(n), count(DISTINCT device_id) FROM (
            SELECT c.device_id, c.n, CASE WHEN c.kind = 'gated' AND d.limited
                AND d.gate_set_at <= d.as_of AND d.as_of < d.gate_until
                THEN CASE d.gate_reason WHEN 'rateLimit' THEN 'cooldown_fair_use'
                     WHEN 'auth' THEN 'cooldown_auth' ELSE 'cooldown_backend_busy' END
                ELSE c.name END AS r
            FROM fleet_counts c JOIN fleet_device d USING (device_id)
            WHERE c.kind IN ('reason', 'gated') AND c.n > 0) x GROUP BY r
        UNION ALL
        SELECT 'gate', CASE WHEN limited THEN coalesce(gate_reason, '') ELSE 'open' END, NULL,
            0, count(*) FROM fleet_device GROUP BY 2
        UNION ALL
        SELECT 'hourly', kind, hour, sum(n), 0 FROM fleet_hourly GROUP BY kind, hour""",
)

# fleet_stalls named a stall under a gate closed for refused credentials `cooldown_backend_busy`
# (and `fleet why` showed and filtered it so): it is `cooldown_auth`, as `why` names it.
_V3: Final = (
    """CREATE OR REPLACE VIEW fleet_stalls AS
        SELECT w.device_id, w.wal_id, w.state, w.display, w.retry_count,
               CASE WHEN w.gated AND d.limited AND d.gate_set_at <= d.as_of
                         AND d.as_of < d.gate_until
                    THEN CASE d.gate_reason WHEN 'rateLimit' THEN 'cooldown_fair_use'
                                            WHEN 'auth' THEN 'cooldown_auth'
                                            ELSE 'cooldown_backend_busy' END
                    ELSE w.reason END AS reason,
               w.since, now() - w.since AS age
        FROM fleet_wals w JOIN fleet_device d USING (device_id) WHERE w.stalled""",
)

# A recording's fold (fleet_wals.fold) is written as json, two arrays of its fields' values
# (fold.py): PostgreSQL checks json text without building jsonb, so a bulk ingest's projection
# writes cost a third of what they did. Rows already stored keep their objects (still read).
_V4: Final = (
    "ALTER TABLE fleet_wals ALTER COLUMN fold TYPE json USING fold::json",
)

# (version, name, statements): append only; a released step is never edited.
MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (1, "events, devices, fleet projections, tokens, dashboard views", _V1),
    (2, "fleet-wide totals kept by the writers", _V2),
    (3, "fleet_stalls names a stall under an auth pause cooldown_auth", _V3),
    (4, "fleet_wals.fold as json arrays: cheaper to write", _V4),
)
SCHEMA_VERSION: Final = MIGRATIONS[-1][0]
DISTRIBUTED_TABLES: Final = ("devices", "events", "fleet_device", "fleet_wals", "fleet_counts",
                             "fleet_hourly", "fleet_cooldowns", "fleet_tokens")
REFERENCE_TABLES: Final = ("fleet_schema", "fleet_totals")


def schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """The applied version (a read: works under a read-only role); None when there is none."""
    found = conn.execute("SELECT to_regclass('fleet_schema') IS NOT NULL, "
                         "to_regclass('events') IS NOT NULL").fetchone()
    if found is None or not found[0]:
        if found is not None and found[1]:
            raise StoreError("PostgreSQL: this database holds fleet tables of an unversioned "
                             "walsync; ingest into a new database (or schema)")
        return None
    top = conn.execute("SELECT max(version) FROM fleet_schema").fetchone()
    return int(top[0]) if top and top[0] is not None else None


def check_schema(conn: psycopg.Connection[Any]) -> int:
    """For readers: the schema must be there and not newer than this walsync knows."""
    version = schema_version(conn)
    if version is None:
        raise StoreError("PostgreSQL: the fleet schema is missing: run `walsync fleet init "
                         "--db DSN` (or ingest a log) first")
    if version > SCHEMA_VERSION:
        raise StoreError(f"PostgreSQL: the fleet schema is version {version}, newer than this "
                         f"walsync knows ({SCHEMA_VERSION}): upgrade walsync")
    return version


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply the missing migrations in one transaction under an advisory lock (concurrent
    callers wait, then find nothing to do); the versions applied."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute(_LOCK)
        current = schema_version(conn)
        if current is None:
            conn.execute("CREATE TABLE fleet_schema (version integer PRIMARY KEY, name text NOT "
                         "NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            current = 0
        if current > SCHEMA_VERSION:
            raise StoreError(f"PostgreSQL: the fleet schema is version {current}, newer than "
                             f"this walsync knows ({SCHEMA_VERSION}): upgrade walsync")
        for version, name, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement.encode())
            conn.execute("INSERT INTO fleet_schema (version, name) VALUES (%s, %s)", (version, name))
            applied.append(version)
    return applied
