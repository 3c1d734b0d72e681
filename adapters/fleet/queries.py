"""Fleet-wide answers from the projection tables (caught up first): status by display state,
stall reason and gate; the longest stalls with their `why`; 429s and cooldowns per hour."""

from __future__ import annotations

from typing import Any

from walsync.adapters.fleet.fold import HOURLY_KINDS
from walsync.adapters.fleet.projection import catch_up
from walsync.adapters.fleet.store import PgConnection

__all__ = ["fleet_stats", "fleet_status", "fleet_why"]


def fleet_status(conn: PgConnection, *, limit: int = 20) -> dict[str, Any]:
    """Devices and recordings by display state and stall reason; gates closed, per reason."""
    catch_up(conn)
    devices, events = conn.execute(
        "SELECT count(*), coalesce(sum(head_seq), 0) FROM devices").fetchone() or (0, 0)
    by: dict[str, dict[str, dict[str, int]]] = {"display": {}, "reason": {}}
    for kind, name, n, m in conn.execute(
            "SELECT kind, name, sum(n), count(*) FROM fleet_counts GROUP BY kind, name "
            "ORDER BY kind, name").fetchall():
        by[str(kind)][str(name)] = {"recordings": int(n), "devices": int(m)}
    gates = {str(r): int(n) for r, n in conn.execute(
        "SELECT CASE WHEN limited THEN reason ELSE 'open' END, count(*) FROM fleet_gate "
        "GROUP BY 1 ORDER BY 1").fetchall()}
    closed = [{"device_id": d, "reason": r, "until": u, "set_by_seq": s} for d, r, u, s in conn.execute(
        "SELECT device_id, reason, until, set_by_seq FROM fleet_gate WHERE limited "
        "ORDER BY until DESC, device_id LIMIT %s", (limit,)).fetchall()]
    return {"devices": int(devices), "events": int(events), "by_display": by["display"],
            "stalled_by_reason": by["reason"], "gates": gates, "closed_gates": closed}


def fleet_why(conn: PgConnection, *, limit: int = 10, device_id: str | None = None,
              reason: str | None = None) -> list[dict[str, Any]]:
    """The longest stalls (time from the stall's start to the device's last event), each with
    its full `why`; optionally one device's or one reason's."""
    catch_up(conn)
    sql = ("SELECT device_id, wal_id, reason, since, stalled_seconds, summary, why FROM fleet_wals "
           "WHERE stalled AND (%(d)s::text IS NULL OR device_id = %(d)s) "
           "AND (%(r)s::text IS NULL OR reason = %(r)s) "
           "ORDER BY stalled_seconds DESC NULLS LAST, device_id, wal_id LIMIT %(n)s")
    return [{"device_id": d, "wal_id": w, "reason": r, "since": s, "stalled_seconds": secs,
             "summary": summary, "why": why}
            for d, w, r, s, secs, summary, why in conn.execute(
                sql, {"d": device_id, "r": reason, "n": limit}).fetchall()]


def fleet_stats(conn: PgConnection, *, device_id: str | None = None) -> dict[str, Any]:
    """Per UTC hour: 429 answers, backend-busy and fair-use cooldowns, over the fleet."""
    catch_up(conn)
    hours: dict[str, dict[str, int]] = {}
    for hour, kind, n in conn.execute(
            "SELECT hour, kind, sum(n) FROM fleet_hourly WHERE (%(d)s::text IS NULL OR "
            "device_id = %(d)s) GROUP BY hour, kind ORDER BY hour, kind",
            {"d": device_id}).fetchall():
        hours.setdefault(str(hour), dict.fromkeys(HOURLY_KINDS, 0))[str(kind)] = int(n)
    totals = {kind: sum(h[kind] for h in hours.values()) for kind in HOURLY_KINDS}
    return {"hours": [{"hour": h, **counts} for h, counts in hours.items()], "totals": totals}
