"""Fleet-wide answers, read from the projection tables (no DDL, no writes: a read-only role or
a hot standby runs them), each as of one moment in as few statements as it takes (one for
status and stats, two for why): status by display state, stall reason and gate; the longest
stalls, each explained by `explain()` from its events; 429s and cooldowns per hour. Each
device is read as of its own last event, as `walsync status` and `walsync why --all` read its
log; stall ages run to now."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import attrs
import orjson
from psycopg import ClientCursor, IsolationLevel

from walsync.adapters.fleet.fold import HOURLY_KINDS
from walsync.adapters.fleet.store import PgConnection, stored_row
from walsync.adapters.store.records import EVENT_COLUMNS_SQL
from walsync.core.events import (
    BatchJobCompleted,
    GateEvent,
    PolicyApplied,
    UploadAccepted,
    UploadsHeld,
    WalEvent,
)
from walsync.core.serde import format_time
from walsync.projections.why import REASONS, WhyReport, explain

__all__ = ["UnknownFilter", "fleet_stats", "fleet_status", "fleet_why", "forget_explanations",
           "read_snapshot", "report_json", "require_device"]

# What `explain()` reads of the picked devices (one query for all of them; the rows of a
# stream or seq another picked device asked for, and rows after the seq the picks saw, are
# left out in Python), their held passes included: an OR of the stream index, the key and
# the held passes' partial index. Sent with its values in the text (_with_values).
_EXPLAIN_ROWS: Final = (f"SELECT device_id, {EVENT_COLUMNS_SQL} FROM events "  # noqa: S608 (fixed column names)
                        "WHERE device_id = ANY(%s) AND (stream = ANY(%s) OR seq = ANY(%s) "
                        "OR type = 'UploadsHeld') "
                        "ORDER BY device_id, seq").encode()
# The ends of the picked recordings' jobs (stored once per job, on the job's stream).
_JOB_ROWS: Final = (f"SELECT device_id, {EVENT_COLUMNS_SQL} FROM events "  # noqa: S608 (fixed column names)
                    "WHERE device_id = ANY(%s) AND stream = ANY(%s) ORDER BY device_id, seq").encode()
# Every figure of `fleet status` in one statement (one snapshot, one round trip): the totals
# the writers keep (totals.py), the closed gates by their index, the gates closed now.
_STATUS: Final = (
    b"SELECT "
    b"(SELECT coalesce(json_agg(json_build_array(kind, name, n, d) ORDER BY kind, name), '[]') "
    b"FROM (SELECT kind, name, sum(n) AS n, sum(devices) AS d FROM fleet_totals "
    b"WHERE hour IS NULL GROUP BY kind, name) x), "
    b"(SELECT coalesce(json_agg(json_build_array(device_id, gate_reason, "
    b"to_char(gate_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    b"gate_set_by_seq) ORDER BY gate_until DESC, device_id), '[]') FROM ("
    b"SELECT device_id, gate_reason, gate_until, gate_set_by_seq FROM fleet_device "
    b"WHERE limited ORDER BY gate_until DESC, device_id LIMIT %s) x), "
    b"(SELECT count(*) FROM fleet_device WHERE limited AND gate_until > now())")
# The longest stalls, with what `explain()` needs of their devices: the seq and time of the
# device's last event, its PolicyApplied seqs.
_PICKS: Final = ("SELECT s.device_id, s.wal_id, s.reason, s.since, "
                 "extract(epoch FROM now() - s.since), d.seq, d.as_of, d.fold -> 'policies' "
                 "FROM fleet_stalls s JOIN fleet_device d USING (device_id) WHERE true")
_HOURLY: Final = (b"SELECT hour, name, sum(n) FROM fleet_totals WHERE kind = 'hourly' "
                  b"GROUP BY hour, name HAVING sum(n) <> 0 ORDER BY hour, name")


# Each connection's explanations already computed, by (device, recording, the device's seq
# they are as of): a log only grows and a rewritten one is refused, so the seq names the
# events `explain()` read, and a reader that asks again (a dashboard, a service) runs one
# statement and no `explain()` for stalls whose device has not moved. Kept as JSON bytes
# (a caller may change the answer it was given); the oldest dropped past _EXPLAINED_MAX.
_EXPLAINED: Final[weakref.WeakKeyDictionary[PgConnection, OrderedDict[
    tuple[str, str, int], bytes]]] = weakref.WeakKeyDictionary()
_EXPLAINED_MAX: Final = 4096
_REPORT_FIELDS: Final = tuple(f.name for f in attrs.fields(WhyReport))


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
    found = conn.execute(_STATUS, (limit,)).fetchone()
    assert found is not None  # an aggregate always gives one row
    totals, closed, cooling = found
    by: dict[str, dict[str, dict[str, int]]] = {"display": {}, "stall": {}, "gate": {}}
    devices = events = 0
    for kind, name, n, m in totals:
        if kind == "fleet":
            devices, events = int(m), int(n)
        elif kind == "gate" and m:
            by[kind][str(name)] = {"devices": int(m)}
        elif kind in by and n:
            by[kind][str(name)] = {"recordings": int(n), "devices": int(m)}
    return {"devices": devices, "events": events, "by_display": by["display"],
            "stalled_by_reason": by["stall"],
            "gates": {g: found["devices"] for g, found in by["gate"].items()},
            "closed_gates": [{"device_id": d, "reason": r, "until": u, "set_by_seq": s}
                             for d, r, u, s in closed],
            "cooling_now": int(cooling)}


def fleet_why(conn: PgConnection, *, limit: int = 10, device_id: str | None = None,
              reason: str | None = None) -> list[dict[str, Any]]:
    """The longest stalls (oldest start first; `stalled_seconds` runs to now), each with its
    full `why` as of its device's last event; optionally one device's or one reason's. Two
    statements and no transaction: of the second's rows, each device's are taken only up to
    the seq the first saw (a log only grows), so both read the same moment."""
    if reason is not None and reason not in REASONS:
        raise UnknownFilter(f"unknown reason {reason!r}; choose one of {sorted(REASONS)}")
    sql, params = _PICKS, list[Any]()
    if device_id is not None:
        sql, params = sql + " AND s.device_id = %s", [*params, device_id]
    if reason is not None:
        sql, params = sql + " AND s.reason = %s", [*params, reason]
    # The limit is in the text, not a parameter: the reader's plans are generic, and a generic
    # plan that does not know the limit may read every stall instead of the first ones by
    # their index (a reader that connected after 300 devices were ingested, before they were
    # analyzed: 11.1 ms instead of 0.1).
    picks = conn.execute((sql + f" ORDER BY s.since, s.device_id, s.wal_id LIMIT {int(limit)}"
                          ).encode(), params).fetchall()
    if not picks:
        require_device(conn, device_id)
        return []
    heads = {str(d): (int(seq), as_of, list(policies or [])) for d, _, _, _, _, seq, as_of, policies
             in picks}
    reports = _remembered(conn, [(str(d), str(w)) for d, w, *_ in picks], heads)
    return [{"device_id": d, "wal_id": w, "reason": r, "since": format_time(s),
             "stalled_seconds": float(age), "summary": reports[(d, w)]["summary"],
             "why": reports[(d, w)]} for d, w, r, s, age, *_ in picks]


def forget_explanations(conn: PgConnection) -> None:
    """Drop the connection's explanations (the next `fleet_why` computes every one again)."""
    _EXPLAINED.pop(conn, None)


def _remembered(conn: PgConnection, picks: list[tuple[str, str]],
                heads: dict[str, tuple[int, Any, list[int]]]) -> dict[tuple[str, str], Any]:
    """`_explanations`, computed only for the stalls the connection has not explained as of
    their device's seq yet."""
    known = _EXPLAINED.setdefault(conn, OrderedDict())
    found: dict[tuple[str, str], Any] = {}
    missing = []
    for device_id, wal_id in picks:
        key = (device_id, wal_id, heads[device_id][0])
        text = known.get(key)
        if text is None:
            missing.append((device_id, wal_id))
        else:
            known.move_to_end(key)
            found[(device_id, wal_id)] = orjson.loads(text)
    if missing:
        fresh = _explanations(conn, missing, {d: heads[d] for d, _ in missing})
        for (device_id, wal_id), text in fresh.items():
            known[(device_id, wal_id, heads[device_id][0])] = text
            found[(device_id, wal_id)] = orjson.loads(text)
        while len(known) > _EXPLAINED_MAX:
            known.popitem(last=False)
    return found


def report_json(report: WhyReport) -> bytes:
    """`report.to_json()` as JSON bytes, without its deep copy of every field (attrs' asdict
    took about a quarter of a first `fleet why`'s CPU): the fields hold JSON values only, so
    the bytes are the same, and the answer read back from them is the caller's own copy."""
    found = {name: getattr(report, name) for name in _REPORT_FIELDS}
    if not report.held_by:
        del found["held_by"]
    return orjson.dumps(found)


def _explanations(conn: PgConnection, picks: list[tuple[str, str]],
                  heads: dict[str, tuple[int, Any, list[int]]]) -> dict[tuple[str, str], bytes]:
    """`explain()` of each picked recording, from its own events, its device's gate events and
    policies, as of the device's last event (what `walsync why` gives on the device's log),
    as JSON (report_json): one query, whatever the number of devices."""
    devices = list(heads)
    wanted = {(d, f"wal:{w}") for d, w in picks}
    seqs = {(d, s) for d, (_, _, policies) in heads.items() for s in policies}
    by_device: dict[str, list[tuple[int, str, Any]]] = {d: [] for d in devices}
    for device_id, *values in _with_values(conn, _EXPLAIN_ROWS, (
            devices, ["gate", *(stream for _, stream in wanted)],
            [s for _, s in seqs])).fetchall():
        if values[0] > heads[device_id][0]:  # appended after the picks were read
            continue
        row = stored_row(values)
        if row.stream == "gate" or row.type == "UploadsHeld" or (
                device_id, row.stream) in wanted or (device_id, row.seq) in seqs:
            by_device[device_id].append((row.seq, row.stream, row.event))
    jobs = {(d, f"job:{e.attempt_id}") for d, events in by_device.items()
            for _, stream, e in events if isinstance(e, UploadAccepted) and (d, stream) in wanted}
    if jobs:
        for device_id, *values in _with_values(conn, _JOB_ROWS, (
                devices, sorted({stream for _, stream in jobs}))).fetchall():
            row = stored_row(values)
            if (device_id, row.stream) in jobs and values[0] <= heads[device_id][0]:
                end = row.event
                assert isinstance(end, BatchJobCompleted)
                by_device[device_id] += [(row.seq, f"wal:{m.wal_id}", m) for m in end.per_member()]
        for events in by_device.values():
            events.sort(key=lambda found: found[0])
    found: dict[tuple[str, str], bytes] = {}
    for device_id, wal_id in picks:
        events = by_device[device_id]
        gate = [(s, e) for s, _, e in events if isinstance(e, GateEvent)]
        applied = [(s, e) for s, _, e in events if isinstance(e, PolicyApplied)]
        own = [(s, e) for s, stream, e in events
               if stream == f"wal:{wal_id}" and isinstance(e, WalEvent)]
        held = [(s, e) for s, _, e in events if isinstance(e, UploadsHeld)]
        found[(device_id, wal_id)] = report_json(explain(
            wal_id, own, gate, applied, as_of=heads[device_id][1], held_events=held))
    return found


def _with_values(conn: PgConnection, query: bytes, params: tuple[Any, ...]) -> Any:
    """Run a statement on the events with its values quoted into its text (by psycopg), not
    prepared: PostgreSQL plans it for these devices and reads only their partitions. A
    reader's plans are generic (store.py), and a generic plan of `device_id = ANY($1)` visits
    every partition: 4.4 ms against 0.9 for the same rows on a reader that asked before, 10.0
    against 2.8 on a new connection (bench/bench_fleet.py's first asks; docs/fleet.md)."""
    return conn.execute(ClientCursor(conn).mogrify(query, params).encode(), prepare=False)


def fleet_stats(conn: PgConnection, *, device_id: str | None = None) -> dict[str, Any]:
    """Per UTC hour: 429 answers (under every policy), backend-busy and fair-use cooldowns;
    fleet-wide from the totals the writers keep, for one device from its own rows."""
    hours: dict[str, dict[str, int]] = {}
    if device_id is None:
        found = conn.execute(_HOURLY).fetchall()
    else:
        require_device(conn, device_id)
        found = conn.execute("SELECT hour, kind, sum(n) FROM fleet_hourly WHERE device_id = %s "
                             "GROUP BY hour, kind ORDER BY hour, kind", (device_id,)).fetchall()
    for hour, kind, n in found:
        hours.setdefault(format_time(hour)[:13] + ":00Z", dict.fromkeys(HOURLY_KINDS, 0))[
            str(kind)] = int(n)
    totals = {kind: sum(h[kind] for h in hours.values()) for kind in HOURLY_KINDS}
    return {"hours": [{"hour": h, **counts} for h, counts in hours.items()], "totals": totals}
