"""Fleet-wide answers, read from the projection tables in one read-only snapshot (no DDL, no
writes: a read-only role or a hot standby runs them): status by display state, stall reason
and gate; the longest stalls, each explained by `explain()` from its events; 429s and
cooldowns per hour. Each device is read as of its own last event, as `walsync status` and
`walsync why --all` read its log; stall ages run to now."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from walsync.adapters.fleet.fold import HOURLY_KINDS
from walsync.adapters.fleet.store import PgConnection, stored_row
from walsync.adapters.store.records import EVENT_COLUMNS_SQL
from walsync.core.events import GateEvent, PolicyApplied, WalEvent
from walsync.core.serde import format_time
from walsync.projections.why import REASONS, explain

__all__ = ["UnknownFilter", "fleet_stats", "fleet_status", "fleet_why", "read_snapshot",
           "require_device"]

# A stall a closed gate overrides shows the gate's reason while the gate was closed at the
# device's last event (as `explain()` judges it).
_CLOSED: Final = "d.limited AND d.gate_set_at <= d.as_of AND d.as_of < d.gate_until"
_GATE_REASON: Final = ("CASE d.gate_reason WHEN 'rateLimit' THEN 'cooldown_fair_use' "
                       "ELSE 'cooldown_backend_busy' END")
_EXPLAIN_ROWS: Final = (f"SELECT {EVENT_COLUMNS_SQL} FROM events WHERE device_id = %s AND "  # noqa: S608 (fixed column names)
                        "(stream = ANY(%s) OR seq = ANY(%s)) ORDER BY seq").encode()


class UnknownFilter(ValueError):
    """A filter names a device the fleet does not hold, or a reason `why` never gives."""


@contextmanager
def read_snapshot(conn: PgConnection) -> Iterator[None]:
    """One read-only, repeatable-read transaction: every number of an answer is of one moment."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def require_device(conn: PgConnection, device_id: str | None) -> None:
    """An unknown device in a filter is an error, never an empty answer."""
    if device_id is not None and conn.execute(
            "SELECT 1 FROM devices WHERE device_id = %s", (device_id,)).fetchone() is None:
        raise UnknownFilter(f"no device {device_id!r} in the fleet")


def fleet_status(conn: PgConnection, *, limit: int = 20) -> dict[str, Any]:
    """Devices and recordings by display state and stall reason; gates, the closed ones."""
    with read_snapshot(conn):
        devices, events = conn.execute(
            "SELECT count(*), coalesce(sum(head_seq), 0) FROM devices").fetchone() or (0, 0)
        by_display = {str(name): {"recordings": int(n), "devices": int(m)} for name, n, m in conn.execute(
            "SELECT name, sum(n), count(*) FROM fleet_counts WHERE kind = 'display' AND n > 0 "
            "GROUP BY name ORDER BY name").fetchall()}
        by_reason = {str(name): {"recordings": int(n), "devices": int(m)} for name, n, m in conn.execute(
            f"SELECT CASE WHEN c.kind = 'gated' AND {_CLOSED} THEN {_GATE_REASON} "  # noqa: S608 (fixed SQL)
            "ELSE c.name END AS r, sum(c.n), count(DISTINCT c.device_id) FROM fleet_counts c "
            "JOIN fleet_device d USING (device_id) WHERE c.kind IN ('reason', 'gated') "
            "AND c.n > 0 GROUP BY r ORDER BY r".encode()).fetchall()}
        gates = {str(r): int(n) for r, n in conn.execute(
            "SELECT CASE WHEN limited THEN gate_reason ELSE 'open' END, count(*) FROM fleet_device "
            "GROUP BY 1 ORDER BY 1").fetchall()}
        closed = [{"device_id": d, "reason": r, "until": format_time(u), "set_by_seq": s}
                  for d, r, u, s in conn.execute(
                      "SELECT device_id, gate_reason, gate_until, gate_set_by_seq FROM fleet_device "
                      "WHERE limited ORDER BY gate_until DESC, device_id LIMIT %s", (limit,)).fetchall()]
        cooling = conn.execute("SELECT count(*) FROM fleet_cooling_now").fetchone()
    return {"devices": int(devices), "events": int(events), "by_display": by_display,
            "stalled_by_reason": by_reason, "gates": gates, "closed_gates": closed,
            "cooling_now": int(cooling[0]) if cooling else 0}


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
    policies, as of the device's last event (what `walsync why` gives on the device's log)."""
    found: dict[tuple[str, str], Any] = {}
    for device_id in dict.fromkeys(d for d, _ in picks):
        wal_ids = [w for d, w in picks if d == device_id]
        as_of, policies = conn.execute(
            "SELECT as_of, fold -> 'policies' FROM fleet_device WHERE device_id = %s",
            (device_id,)).fetchone() or (None, [])
        rows = [stored_row(v) for v in conn.execute(_EXPLAIN_ROWS, (
            device_id, ["gate", *(f"wal:{w}" for w in wal_ids)], list(policies))).fetchall()]
        events = [(r.seq, r.stream, r.event) for r in rows]
        gate = [(s, e) for s, _, e in events if isinstance(e, GateEvent)]
        applied = [(s, e) for s, _, e in events if isinstance(e, PolicyApplied)]
        for wal_id in wal_ids:
            own = [(s, e) for s, stream, e in events
                   if stream == f"wal:{wal_id}" and isinstance(e, WalEvent)]
            found[(device_id, wal_id)] = explain(wal_id, own, gate, applied, as_of=as_of).to_json()
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
