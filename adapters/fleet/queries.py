"""Fleet-wide answers, read from the projection tables in one read-only snapshot (no DDL, no
writes: a read-only role or a hot standby runs them): status by display state, stall reason
and gate; the longest stalls, each explained by `explain()` from its events; 429s and
cooldowns per hour. Each device is read as of its own last event, as `walsync status` and
`walsync why --all` read its log; stall ages run to now."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from psycopg import IsolationLevel

from walsync.adapters.fleet.fold import HOURLY_KINDS
from walsync.adapters.fleet.store import PgConnection, stored_row
from walsync.adapters.store.records import EVENT_COLUMNS_SQL
from walsync.core.events import GateEvent, PolicyApplied, UploadsHeld, WalEvent
from walsync.core.serde import format_time
from walsync.projections.why import REASONS, explain

__all__ = ["UnknownFilter", "fleet_stats", "fleet_status", "fleet_why", "read_snapshot",
           "require_device"]

# A stall a closed gate overrides shows the gate's reason while the gate was closed at the
# device's last event (as `explain()` judges it).
_CLOSED: Final = "d.limited AND d.gate_set_at <= d.as_of AND d.as_of < d.gate_until"
_GATE_REASON: Final = ("CASE d.gate_reason WHEN 'rateLimit' THEN 'cooldown_fair_use' "
                       "WHEN 'auth' THEN 'cooldown_auth' ELSE 'cooldown_backend_busy' END")
# What `explain()` reads of the picked devices (one query for all of them; the rows of a
# stream or seq another picked device asked for are left out in Python), their held passes
# included.
_EXPLAIN_ROWS: Final = (f"SELECT device_id, {EVENT_COLUMNS_SQL} FROM events "  # noqa: S608 (fixed column names)
                        "WHERE device_id = ANY(%s) AND (stream = ANY(%s) OR seq = ANY(%s) "
                        "OR type = 'UploadsHeld') "
                        "ORDER BY device_id, seq").encode()
# Every figure of `fleet status` in one statement (one snapshot, one round trip).
_STATUS: Final = (
    "SELECT "  # noqa: S608 (fixed SQL, no input)
    "(SELECT count(*) FROM devices), (SELECT coalesce(sum(head_seq), 0) FROM devices), "
    "(SELECT coalesce(json_agg(json_build_array(name, n, m) ORDER BY name), '[]') FROM ("
    "SELECT name, sum(n) AS n, count(*) AS m FROM fleet_counts WHERE kind = 'display' "
    "AND n > 0 GROUP BY name) x), "
    "(SELECT coalesce(json_agg(json_build_array(r, n, m) ORDER BY r), '[]') FROM ("
    f"SELECT CASE WHEN c.kind = 'gated' AND {_CLOSED} THEN {_GATE_REASON} ELSE c.name END "
    "AS r, sum(c.n) AS n, count(DISTINCT c.device_id) AS m FROM fleet_counts c JOIN "
    "fleet_device d USING (device_id) WHERE c.kind IN ('reason', 'gated') AND c.n > 0 "
    "GROUP BY r) x), "
    "(SELECT coalesce(json_agg(json_build_array(g, n) ORDER BY g), '[]') FROM ("
    "SELECT CASE WHEN limited THEN gate_reason ELSE 'open' END AS g, count(*) AS n "
    "FROM fleet_device GROUP BY 1) x), "
    "(SELECT coalesce(json_agg(json_build_array(device_id, gate_reason, "
    "to_char(gate_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "gate_set_by_seq) ORDER BY gate_until DESC, device_id), '[]') FROM ("
    "SELECT device_id, gate_reason, gate_until, gate_set_by_seq FROM fleet_device "
    "WHERE limited ORDER BY gate_until DESC, device_id LIMIT %s) x), "
    "(SELECT count(*) FROM fleet_cooling_now)").encode()


class UnknownFilter(ValueError):
    """A filter names a device the fleet does not hold, or a reason `why` never gives."""


@contextmanager
def read_snapshot(conn: PgConnection) -> Iterator[None]:
    """One read-only, repeatable-read transaction: every number of an answer is of one moment.
    Its BEGIN says so (no SET TRANSACTION round trip); the connection's own defaults are put
    back afterwards."""
    level, read_only = conn.isolation_level, conn.read_only
    conn.isolation_level, conn.read_only = IsolationLevel.REPEATABLE_READ, True
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level, conn.read_only = level, read_only


def require_device(conn: PgConnection, device_id: str | None) -> None:
    """An unknown device in a filter is an error, never an empty answer."""
    if device_id is not None and conn.execute(
            "SELECT 1 FROM devices WHERE device_id = %s", (device_id,)).fetchone() is None:
        raise UnknownFilter(f"no device {device_id!r} in the fleet")


def fleet_status(conn: PgConnection, *, limit: int = 20) -> dict[str, Any]:
    """Devices and recordings by display state and stall reason; gates, the closed ones."""
    with read_snapshot(conn):
        found = conn.execute(_STATUS, (limit,)).fetchone()
    assert found is not None  # an aggregate always gives one row
    devices, events, by_display, by_reason, gates, closed, cooling = found
    return {"devices": int(devices), "events": int(events),
            "by_display": {str(name): {"recordings": int(n), "devices": int(m)}
                           for name, n, m in by_display},
            "stalled_by_reason": {str(r): {"recordings": int(n), "devices": int(m)}
                                  for r, n, m in by_reason},
            "gates": {str(g): int(n) for g, n in gates},
            "closed_gates": [{"device_id": d, "reason": r, "until": u, "set_by_seq": s}
                             for d, r, u, s in closed],
            "cooling_now": int(cooling)}


def fleet_why(conn: PgConnection, *, limit: int = 10, device_id: str | None = None,
              reason: str | None = None) -> list[dict[str, Any]]:
    """The longest stalls (oldest start first; `stalled_seconds` runs to now), each with its
    full `why` as of its device's last event; optionally one device's or one reason's."""
    if reason is not None and reason not in REASONS:
        raise UnknownFilter(f"unknown reason {reason!r}; choose one of {sorted(REASONS)}")
    sql = ("SELECT device_id, wal_id, reason, since, extract(epoch FROM now() - since) "
           "FROM fleet_stalls WHERE true")
    params: list[Any] = []
    if device_id is not None:
        sql, params = sql + " AND device_id = %s", [*params, device_id]
    if reason is not None:
        sql, params = sql + " AND reason = %s", [*params, reason]
    with read_snapshot(conn):
        require_device(conn, device_id)
        picks = conn.execute((sql + " ORDER BY since, device_id, wal_id LIMIT %s").encode(),
                             [*params, limit]).fetchall()
        reports = _explanations(conn, [(str(d), str(w)) for d, w, *_ in picks])
    return [{"device_id": d, "wal_id": w, "reason": r, "since": format_time(s),
             "stalled_seconds": float(age), "summary": reports[(d, w)]["summary"],
             "why": reports[(d, w)]} for d, w, r, s, age in picks]


def _explanations(conn: PgConnection, picks: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """`explain()` of each picked recording, from its own events, its device's gate events and
    policies, as of the device's last event (what `walsync why` gives on the device's log):
    two queries, whatever the number of devices."""
    devices = list(dict.fromkeys(d for d, _ in picks))
    folds = {str(d): (as_of, list(policies or [])) for d, as_of, policies in conn.execute(
        "SELECT device_id, as_of, fold -> 'policies' FROM fleet_device WHERE device_id = ANY(%s)",
        (devices,)).fetchall()}
    wanted = {(d, f"wal:{w}") for d, w in picks}
    seqs = {(d, s) for d, (_, policies) in folds.items() for s in policies}
    by_device: dict[str, list[tuple[int, str, Any]]] = {d: [] for d in devices}
    for device_id, *values in conn.execute(_EXPLAIN_ROWS, (
            devices, ["gate", *(stream for _, stream in wanted)],
            [s for _, s in seqs])).fetchall():
        row = stored_row(values)
        if row.stream == "gate" or row.type == "UploadsHeld" or (
                device_id, row.stream) in wanted or (device_id, row.seq) in seqs:
            by_device[device_id].append((row.seq, row.stream, row.event))
    found: dict[tuple[str, str], Any] = {}
    for device_id, wal_id in picks:
        events = by_device[device_id]
        gate = [(s, e) for s, _, e in events if isinstance(e, GateEvent)]
        applied = [(s, e) for s, _, e in events if isinstance(e, PolicyApplied)]
        own = [(s, e) for s, stream, e in events
               if stream == f"wal:{wal_id}" and isinstance(e, WalEvent)]
        as_of = folds.get(device_id, (None, []))[0]
        held = [(s, e) for s, _, e in events if isinstance(e, UploadsHeld)]
        found[(device_id, wal_id)] = explain(wal_id, own, gate, applied, as_of=as_of,
                                             held_events=held).to_json()
    return found


def fleet_stats(conn: PgConnection, *, device_id: str | None = None) -> dict[str, Any]:
    """Per UTC hour: 429 answers (under every policy), backend-busy and fair-use cooldowns."""
    hours: dict[str, dict[str, int]] = {}
    sql, params = "SELECT hour, kind, sum(n) FROM fleet_hourly", []
    if device_id is not None:
        sql, params = sql + " WHERE device_id = %s", [device_id]
    with read_snapshot(conn):
        require_device(conn, device_id)
        for hour, kind, n in conn.execute((sql + " GROUP BY hour, kind ORDER BY hour, kind").encode(),
                                          params).fetchall():
            hours.setdefault(format_time(hour)[:13] + ":00Z", dict.fromkeys(HOURLY_KINDS, 0))[
                str(kind)] = int(n)
    totals = {kind: sum(h[kind] for h in hours.values()) for kind in HOURLY_KINDS}
    return {"hours": [{"hour": h, **counts} for h, counts in hours.items()], "totals": totals}
