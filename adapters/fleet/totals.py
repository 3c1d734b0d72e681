"""Fleet-wide totals kept by the writers, so `fleet status` and `fleet stats` read a few dozen
rows instead of aggregating every device's rows at query time.

A device's share of the totals (its recordings by display state and by stall reason, its
gate, its events, its 429s and cooldowns per hour) changes only when the device's own rows
change, under its lock. Each such transaction appends the change of its share as delta rows
to `fleet_totals` (an INSERT: no row another writer updates, so no writer ever waits for
another device's writer); now and then one writer folds the deltas into one row per key
(`compact`, under a try-lock: others skip it). Readers sum what they see: every committed
delta, compacted or not, in one snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

from attrs import frozen
from psycopg import Cursor

from walsync.adapters.fleet.fold import DeviceFold
from walsync.adapters.fleet.store import PgConnection
from walsync.core.serde import parse_time

__all__ = ["COMPACT_EVERY", "DeviceGate", "Share", "add_totals", "compact", "compaction_due", "delta_rows",
           "device_gate", "device_share", "gate_name"]

COMPACT_EVERY: Final = 256  # delta rows appended between two compactions (about)
_INSERT: Final = (b"INSERT INTO fleet_totals (kind, name, hour, n, devices) SELECT * FROM "
                  b"unnest(%s::text[], %s::text[], %s::timestamptz[], %s::bigint[], %s::bigint[]) "
                  b"RETURNING id")
_COMPACT: Final = (b"WITH gone AS (DELETE FROM fleet_totals RETURNING kind, name, hour, n, devices) "
                   b"INSERT INTO fleet_totals (kind, name, hour, n, devices) "
                   b"SELECT kind, name, hour, sum(n), sum(devices) FROM gone "
                   b"GROUP BY kind, name, hour HAVING sum(n) <> 0 OR sum(devices) <> 0")
_GATE_NAMES: Final = {"rateLimit": "cooldown_fair_use", "auth": "cooldown_auth"}
# (kind, name, "n" | "devices") -> amount: a device's share, or a change of it.
Share = Counter[tuple[str, str, str]]


@frozen
class DeviceGate:
    """What a device's share reads of its gate: closed or not, why, and whether it was
    closed at the device's last event (a stall it overrides then shows the gate's reason)."""

    limited: bool
    reason: str | None
    closed: bool


def device_gate(fold: DeviceFold) -> DeviceGate:
    """The gate of a device's fold (as fleet_device stores it)."""
    gate = fold.gate.gate
    closed = bool(gate.limited and gate.set_at is not None and gate.until is not None
                  and fold.as_of is not None and gate.set_at <= parse_time(fold.as_of) < gate.until)
    return DeviceGate(gate.limited, gate.reason if gate.limited else None, closed)


def gate_name(reason: str | None) -> str:
    """The `why` reason of a stall a closed gate overrides."""
    return _GATE_NAMES.get(reason or "", "cooldown_backend_busy")


def device_share(counts: Mapping[tuple[str, str], int], gate: DeviceGate | None) -> Share:
    """A device's share of `fleet status` from its fleet_counts rows and its gate."""
    share: Share = Counter()
    stalls: Counter[str] = Counter()
    for (kind, name), n in counts.items():
        if n <= 0:
            continue
        if kind == "display":
            share["display", name, "n"] += n
            share["display", name, "devices"] = 1
        else:  # "reason", or "gated": the gate's reason while it is closed
            stalls[gate_name(gate.reason) if kind == "gated" and gate is not None and gate.closed
                   else name] += n
    for name, n in stalls.items():
        share["stall", name, "n"] += n
        share["stall", name, "devices"] = 1
    if gate is not None:
        share["gate", (gate.reason or "") if gate.limited else "open", "devices"] = 1
    return share


def delta_rows(before: Share, after: Share, *, hourly: Iterable[tuple[tuple[str, str], int]] = (),
               events: int = 0, devices: int = 0) -> list[tuple[Any, ...]]:
    """The rows (kind, name, hour, n, devices) that move the totals from `before` to `after`,
    plus hourly counts added (or taken away: negative) and events and devices added."""
    change: Share = Counter(after)
    change.subtract(before)
    keys: dict[tuple[str, str], list[int]] = {}
    for (kind, name, metric), amount in change.items():
        if amount:
            keys.setdefault((kind, name), [0, 0])[metric == "devices"] += amount
    rows: list[tuple[Any, ...]] = [(kind, name, None, n, d) for (kind, name), (n, d) in
                                   sorted(keys.items())]
    rows += [("hourly", kind, hour, n, 0) for (hour, kind), n in sorted(hourly) if n]
    if events or devices:
        rows.append(("fleet", "devices", None, events, devices))
    return rows


def add_totals(conn: PgConnection, rows: list[tuple[Any, ...]]) -> Cursor[Any] | None:
    """Append delta rows in the caller's transaction; the statement, for `compaction_due`
    (read after the commit: in a pipeline, reading it sooner would wait for its answer)."""
    if not rows:
        return None
    return conn.execute(_INSERT, [list(c) for c in zip(*rows, strict=True)])


def compaction_due(added: Cursor[Any] | None) -> bool:
    """Whether the ids `add_totals` was given crossed a multiple of COMPACT_EVERY."""
    ids = [int(v[0]) for v in added.fetchall()] if added is not None else []
    if not ids:
        return False
    top = max(ids)
    return top // COMPACT_EVERY != (top - len(ids)) // COMPACT_EVERY


def compact(conn: PgConnection) -> None:
    """Fold the delta rows into one per key, unless another writer is doing it right now."""
    with conn.transaction():
        taken = conn.execute(
            "SELECT pg_try_advisory_xact_lock(hashtext('walsync-fleet-totals'))").fetchone()
        if taken and taken[0]:
            conn.execute(_COMPACT)
