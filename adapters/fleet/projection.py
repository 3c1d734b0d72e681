"""The fleet projection tables: a device's stored fold read back (for the recordings a batch
touches) and what a batch changed written (COPY for new rows, increments for counts), in the
caller's transaction, under the device's lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, Final

import orjson

from walsync.adapters.fleet.fold import (
    DeviceFold,
    WalLine,
    counts_of,
    fold_from_stored,
    fold_to_stored,
)
from walsync.adapters.fleet.store import PgConnection
from walsync.core.serde import format_time

__all__ = ["all_lines", "ask_fold", "clear_device", "load_fold", "put_rows", "store_fold"]

_LINE_COLUMNS: Final = ("wal_id", "state", "display", "retry_count", "version", "last_seq",
                        "reason", "gated", "stalled", "since", "fold")
_LINE_SQL: Final = ", ".join(_LINE_COLUMNS)
_SELECT_LINES: Final = f"SELECT {_LINE_SQL} FROM fleet_wals WHERE device_id = %s"  # noqa: S608 (fixed column names)
_LINES_TABLE: Final = f"fleet_wals (device_id, {_LINE_SQL})"
_SELECT_DEVICE: Final = (b"SELECT seq, as_of, fold, (SELECT coalesce(json_agg(json_build_array("
                         b"kind, name, n)), '[]') FROM fleet_counts WHERE device_id = %s) "
                         b"FROM fleet_device WHERE device_id = %s")
_TABLES: Final = ("fleet_wals", "fleet_counts", "fleet_hourly", "fleet_cooldowns", "fleet_device")


def _line(values: Sequence[Any]) -> WalLine:
    row = dict(zip(_LINE_COLUMNS, values, strict=True))
    since = row["since"]
    return WalLine(**{**row, "since": format_time(since) if since is not None else None,
                      "fold": fold_from_stored(row["fold"])})


def load_fold(conn: PgConnection, device_id: str, wal_ids: Collection[str]) -> DeviceFold:
    """The device's stored fold and counts, with the rows of `wal_ids` that exist."""
    return ask_fold(conn, device_id, wal_ids)()


def ask_fold(conn: PgConnection, device_id: str,
             wal_ids: Collection[str]) -> Callable[[], DeviceFold]:
    """load_fold's statements sent now, their answer read when called (in a pipeline, the
    statements go with the ones before them: one round trip)."""
    device = conn.execute(_SELECT_DEVICE, (device_id, device_id))
    lines = conn.execute((_SELECT_LINES + " AND wal_id = ANY(%s)").encode(),
                         (device_id, list(wal_ids))) if wal_ids else None

    def read() -> DeviceFold:
        found = device.fetchone()
        if found is None:
            return DeviceFold()
        fold = DeviceFold.from_json(int(found[0]), found[1], found[2])
        fold.counts.update({(str(kind), str(name)): int(n) for kind, name, n in found[3]})
        for values in lines.fetchall() if lines is not None else ():
            fold.add_line(_line(values))
        return fold

    return read


def all_lines(conn: PgConnection, device_id: str) -> Iterator[WalLine]:
    """Every recording row of the device (when the retry budget moved)."""
    for values in conn.execute(_SELECT_LINES.encode(), (device_id,)).fetchall():
        yield _line(values)


def clear_device(conn: PgConnection, device_id: str) -> Counter[tuple[str, str]]:
    """Remove the device's projection rows (before it is folded again from seq 0); its hourly
    counts as they were, (hour, kind) -> n."""
    hourly: Counter[tuple[str, str]] = Counter({
        (format_time(hour)[:13] + ":00:00Z", str(kind)): int(n) for hour, kind, n in conn.execute(
            "SELECT hour, kind, n FROM fleet_hourly WHERE device_id = %s", (device_id,))})
    for table in _TABLES:
        conn.execute(f"DELETE FROM {table} WHERE device_id = %s".encode(),  # noqa: S608 (fixed names)
                     (device_id,))
    return hourly


def store_fold(conn: PgConnection, device_id: str, fold: DeviceFold, changed: list[WalLine],
               *, fresh: bool, copy: bool = True) -> Counter[tuple[str, str]]:
    """Write what a batch changed. `fresh`: the device has no projection rows yet (written,
    not added to); `copy`: new rows by COPY, else by INSERTs (which a pipeline sends with
    the rest). The change of the device's fleet_counts."""
    old = [fold.lines[line.wal_id] for line in changed if line.wal_id in fold.lines]
    if old:
        conn.execute("DELETE FROM fleet_wals WHERE device_id = %s AND wal_id = ANY(%s)",
                     (device_id, [line.wal_id for line in old]))
    with conn.cursor() as cur:
        put_rows(cur, _LINES_TABLE, [
            (device_id, w.wal_id, w.state, w.display, w.retry_count, w.version, w.last_seq,
             w.reason, w.gated, w.stalled, w.since, orjson.dumps(fold_to_stored(w.fold)).decode())
            for w in changed], copy=copy)
        counts: Counter[tuple[str, str]] = counts_of(changed)
        counts.subtract(counts_of(old))
        _add(cur, device_id, fresh, copy, "fleet_counts (device_id, kind, name, n)",
             "(device_id, kind, name)", [(k, name, n) for (k, name), n in sorted(counts.items()) if n])
        _add(cur, device_id, fresh, copy, "fleet_hourly (device_id, hour, kind, n)",
             "(device_id, hour, kind)", [(h, k, n) for (h, k), n in sorted(fold.hourly.items())])
        put_rows(cur, "fleet_cooldowns (device_id, seq, at, reason, until)",
                 [(device_id, *values) for values in fold.cooldowns], copy=copy)
    if old:
        conn.execute("DELETE FROM fleet_counts WHERE device_id = %s AND n = 0", (device_id,))
    gate = fold.gate.gate
    conn.execute(
        "INSERT INTO fleet_device (device_id, seq, as_of, limited, gate_reason, gate_until, "
        "gate_set_at, gate_set_by_seq, policy, retry_budget, fold) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (device_id) DO UPDATE SET "
        "seq = excluded.seq, as_of = excluded.as_of, limited = excluded.limited, "
        "gate_reason = excluded.gate_reason, gate_until = excluded.gate_until, "
        "gate_set_at = excluded.gate_set_at, gate_set_by_seq = excluded.gate_set_by_seq, "
        "policy = excluded.policy, retry_budget = excluded.retry_budget, fold = excluded.fold",
        (device_id, fold.seq, fold.as_of, gate.limited, gate.reason if gate.limited else None,
         gate.until if gate.limited else None, gate.set_at if gate.limited else None,
         fold.gate.set_by_seq if gate.limited else None, fold.policy, fold.retry_budget,
         orjson.dumps(fold.to_json()).decode()))
    return counts


def put_rows(cur: Any, target: str, rows: Iterable[tuple[Any, ...]], *, copy: bool) -> None:
    """New rows into `target` ("table (columns)"): by COPY, or by INSERTs."""
    rows = list(rows)
    if not rows:
        return
    if copy:
        with cur.copy(f"COPY {target} FROM STDIN".encode()) as sink:
            for values in rows:
                sink.write_row(values)
        return
    marks = ", ".join(["%s"] * len(rows[0]))
    cur.executemany(f"INSERT INTO {target} VALUES ({marks})".encode(), rows)  # noqa: S608 (fixed names)


def _add(cur: Any, device_id: str, fresh: bool, copy: bool, target: str, key: str,
         rows: list[tuple[Any, ...]]) -> None:
    """New counters in (a fresh device), else added to the stored ones."""
    if not rows:
        return
    if fresh:
        put_rows(cur, target, [(device_id, *values) for values in rows], copy=copy)
        return
    cur.executemany(f"INSERT INTO {target} VALUES (%s, %s, %s, %s) ON CONFLICT {key} "  # noqa: S608 (fixed names)
                    f"DO UPDATE SET n = {target.split(' ')[0]}.n + excluded.n".encode(),
                    [(device_id, *values) for values in rows])
