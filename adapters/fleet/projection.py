"""The fleet projection tables, checkpointed per device: a device whose checkpoint is behind its
head is refreshed (its rows and gate refolded, its hourly counts incremented by the events
after the checkpoint); a rebuild empties the tables and refreshes every device from seq 0."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

from psycopg.types.json import Jsonb

from walsync.adapters.fleet.fold import DeviceView, fold_device, hourly_counts
from walsync.adapters.fleet.store import PgConnection, lock_device
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.records import EVENT_COLUMNS_SQL, stored_from_row

__all__ = ["catch_up", "rebuild", "refresh_device"]

_ROWS: Final = (f"SELECT {EVENT_COLUMNS_SQL} FROM events WHERE device_id = %s "  # noqa: S608 (fixed column names; values are bound)
                "ORDER BY seq").encode()
_COPY_WALS: Final = (b"COPY fleet_wals (device_id, wal_id, state, display, retry_count, reason, "
                     b"stalled, since, stalled_seconds, summary, why) FROM STDIN")
_TABLES: Final = ("fleet_wals", "fleet_counts", "fleet_gate", "fleet_hourly", "fleet_checkpoint")


def refresh_device(conn: PgConnection, device_id: str,
                   rows: Sequence[StoredEvent] | None = None) -> bool:
    """Bring one device's projection rows up to its head; the caller holds the device lock.

    `rows`, when given, is the device's whole log as stored (ingest has it in hand already).
    Returns whether anything was behind.
    """
    head = conn.execute("SELECT head_seq FROM devices WHERE device_id = %s", (device_id,)).fetchone()
    found = conn.execute("SELECT seq FROM fleet_checkpoint WHERE device_id = %s",
                         (device_id,)).fetchone()
    head_seq, checkpoint = int(head[0]) if head else 0, int(found[0]) if found else 0
    if head_seq == checkpoint:
        return False
    if rows is None:
        rows = [stored_from_row(v) for v in conn.execute(_ROWS, (device_id,)).fetchall()]
    counts = hourly_counts(r for r in rows if r.seq > checkpoint)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO fleet_hourly (device_id, hour, kind, n) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (device_id, hour, kind) DO UPDATE SET n = fleet_hourly.n + excluded.n",
            [(device_id, hour, kind, n) for (hour, kind), n in sorted(counts.items())])
    view = fold_device(rows)
    conn.execute("DELETE FROM fleet_wals WHERE device_id = %s", (device_id,))
    with conn.cursor() as cur, cur.copy(_COPY_WALS) as copy:
        for w in view.wals:
            copy.write_row((device_id, w.wal_id, w.state, w.display, w.retry_count, w.reason,
                            w.stalled, w.since, w.stalled_seconds, w.summary, Jsonb(w.why)))
    conn.execute("DELETE FROM fleet_counts WHERE device_id = %s", (device_id,))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO fleet_counts (device_id, kind, name, n) VALUES (%s, %s, %s, %s)",
                        [(device_id, kind, name, n) for (kind, name), n in sorted(_counts(view).items())])
    conn.execute(
        "INSERT INTO fleet_gate (device_id, limited, reason, until, set_by_seq) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (device_id) DO UPDATE SET "
        "limited = excluded.limited, reason = excluded.reason, until = excluded.until, "
        "set_by_seq = excluded.set_by_seq",
        (device_id, view.limited, view.gate_reason, view.gate_until, view.gate_set_by_seq))
    conn.execute(
        "INSERT INTO fleet_checkpoint (device_id, seq, as_of) VALUES (%s, %s, %s) "
        "ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, as_of = excluded.as_of",
        (device_id, view.seq, view.as_of))
    return True


def _counts(view: DeviceView) -> Counter[tuple[str, str]]:
    """The device's recordings by display state and, stalled ones, by reason: what `fleet
    status` sums over devices without scanning every recording."""
    counts: Counter[tuple[str, str]] = Counter(("display", w.display) for w in view.wals)
    counts.update(("reason", w.reason) for w in view.wals if w.stalled)
    return counts


def catch_up(conn: PgConnection) -> int:
    """Refresh every device whose checkpoint lags its head (e.g. appended by a PgStore)."""
    behind = [str(v[0]) for v in conn.execute(
        "SELECT d.device_id FROM devices d LEFT JOIN fleet_checkpoint c USING (device_id) "
        "WHERE coalesce(c.seq, 0) <> d.head_seq ORDER BY d.device_id").fetchall()]
    for device_id in behind:
        with conn.transaction():
            lock_device(conn, device_id)
            refresh_device(conn, device_id)
    return len(behind)


def rebuild(conn: PgConnection) -> int:
    """Empty the projection tables and refold every device from seq 0, in one transaction."""
    with conn.transaction():
        conn.execute("LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE")
        for table in _TABLES:
            conn.execute(f"DELETE FROM {table}".encode())  # noqa: S608 (fixed names)
        devices = [str(v[0]) for v in conn.execute(
            "SELECT device_id FROM devices ORDER BY device_id").fetchall()]
        for device_id in devices:
            refresh_device(conn, device_id)
    return len(devices)
