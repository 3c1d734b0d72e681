"""`walsync fleet alerts`: cooldown storms, many devices pausing for the same reason at once
(a backend incident seen from the fleet). A storm is a run of cooldown starts of one reason
in which some window of `minutes` holds starts from at least `devices` distinct devices;
overlapping windows are one storm."""

from __future__ import annotations

from collections import Counter, deque
from datetime import datetime, timedelta
from typing import Any

from walsync.adapters.fleet.queries import read_snapshot
from walsync.adapters.fleet.store import PgConnection
from walsync.core.serde import format_time

__all__ = ["cooldown_storms"]


def cooldown_storms(conn: PgConnection, *, devices: int = 10, minutes: float = 15.0,
                    since: datetime | None = None) -> list[dict[str, Any]]:
    """Storms, oldest first: reason, first and last start, the devices in it, the most
    devices any one window held."""
    if devices < 1 or minutes <= 0:
        raise ValueError("a storm needs at least 1 device and a window longer than 0 minutes")
    with read_snapshot(conn):
        starts = conn.execute(
            "SELECT reason, at, device_id FROM fleet_cooldowns WHERE %(s)s::timestamptz IS NULL "
            "OR at >= %(s)s ORDER BY reason, at, device_id", {"s": since}).fetchall()
    storms: list[dict[str, Any]] = []
    window = timedelta(minutes=minutes)
    by_reason: dict[str, list[tuple[datetime, str]]] = {}
    for reason, at, device_id in starts:
        by_reason.setdefault(str(reason), []).append((at, str(device_id)))
    for reason, points in sorted(by_reason.items()):
        storms.extend(_storms(reason, points, window, devices))
    return sorted(storms, key=lambda s: (s["first_at"], s["reason"]))


def _storms(reason: str, points: list[tuple[datetime, str]], window: timedelta,
            least: int) -> list[dict[str, Any]]:
    """Slide a window over the starts (time order); windows holding `least` devices, merged."""
    found: list[dict[str, Any]] = []
    inside: deque[tuple[datetime, str]] = deque()
    count: Counter[str] = Counter()
    current: dict[str, Any] | None = None
    for at, device_id in points:
        inside.append((at, device_id))
        count[device_id] += 1
        while inside[0][0] <= at - window:
            _, gone = inside.popleft()
            count[gone] -= 1
            if not count[gone]:
                del count[gone]
        if len(count) < least:
            continue
        first = inside[0][0]
        if current is not None and first <= current["_last"]:
            current["_devices"].update(count)
            current["_last"] = at
            current["peak_devices"] = max(current["peak_devices"], len(count))
        else:
            current = {"reason": reason, "_first": first, "_last": at, "_devices": set(count),
                       "peak_devices": len(count)}
            found.append(current)
    return [{"reason": s["reason"], "first_at": format_time(s["_first"]),
             "last_at": format_time(s["_last"]), "devices": len(s["_devices"]),
             "peak_devices": s["peak_devices"], "device_ids": sorted(s["_devices"])} for s in found]
