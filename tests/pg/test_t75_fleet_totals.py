"""T75: the fleet-wide totals the writers keep (`fleet_totals`, read by `fleet status` and
`fleet stats`) equal the same figures aggregated from every device's own rows, whatever the
writers did: logs ingested a piece at a time (gates closing and opening between pieces), tails
pushed from two threads at once while compactions run, a device rebuilt inside a transaction
that is rolled back, every device rebuilt, and the migration's fill from rows already stored."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from log_edits import prefix

from walsync.adapters.fleet import totals as totals_module
from walsync.adapters.fleet.ingest import ingest_log, read_log_tail
from walsync.adapters.fleet.queries import fleet_stats, fleet_status
from walsync.adapters.fleet.schema import MIGRATIONS
from walsync.adapters.fleet.store import PgConnection, connect
from walsync.adapters.fleet.tail import add_tail, rebuild, refold_device

# What `why` calls a stall that a closed gate holds, by the gate's reason.
_GATE_STALLS = {"rateLimit": "cooldown_fair_use", "backendBusy": "cooldown_backend_busy",
                "auth": "cooldown_auth"}


def from_rows(conn: PgConnection) -> dict[str, Any]:
    """fleet status's and fleet stats' figures, aggregated here from every device's own rows
    (plain reads, summed in Python: no SQL shared with the totals or the migration's fill)."""
    closed = {str(d): reason if limited and set_at <= as_of < until else None
              for d, limited, reason, set_at, as_of, until in conn.execute(
                  "SELECT device_id, limited, gate_reason, gate_set_at, as_of, gate_until "
                  "FROM fleet_device").fetchall()}
    gates = Counter(str(reason) if limited else "open" for limited, reason in conn.execute(
        "SELECT limited, gate_reason FROM fleet_device").fetchall())
    figures: dict[tuple[str, str], tuple[int, set[str]]] = {}
    for device_id, kind, name, n in conn.execute(
            "SELECT device_id, kind, name, n FROM fleet_counts WHERE n > 0").fetchall():
        if kind == "gated" and closed[device_id] is not None:
            key = ("stall", _GATE_STALLS[closed[device_id]])
        else:
            key = ("display" if kind == "display" else "stall", str(name))
        recordings, devices = figures.get(key, (0, set()))
        figures[key] = (recordings + int(n), devices | {str(device_id)})
    heads = [int(seq) for (seq,) in conn.execute("SELECT head_seq FROM devices").fetchall()]
    hourly: Counter[tuple[str, str]] = Counter()
    for hour, kind, n in conn.execute("SELECT hour, kind, n FROM fleet_hourly").fetchall():
        hourly[(f"{hour:%Y-%m-%dT%H}:00Z", str(kind))] += int(n)
    return {"devices": len(heads), "events": sum(heads),
            "by_display": {name: {"recordings": n, "devices": len(d)}
                           for (k, name), (n, d) in figures.items() if k == "display"},
            "stalled_by_reason": {name: {"recordings": n, "devices": len(d)}
                                  for (k, name), (n, d) in figures.items() if k == "stall"},
            "gates": dict(gates), "hourly": {key: n for key, n in hourly.items() if n}}


def kept(conn: PgConnection) -> dict[str, Any]:
    """The same figures as the queries read them from the totals."""
    status = fleet_status(conn)
    hourly = {(h["hour"], k): n for h in fleet_stats(conn)["hours"] for k, n in h.items()
              if k != "hour" and n}
    return {**{k: status[k] for k in ("devices", "events", "by_display", "stalled_by_reason",
                                      "gates")}, "hourly": hourly}


def assert_totals_hold(conn: PgConnection) -> dict[str, Any]:
    expected = from_rows(conn)
    assert kept(conn) == expected
    return expected


@pytest.fixture
def conn(pg_dsn: str) -> Any:
    found = connect(pg_dsn, write=True)
    yield found
    found.close()


def test_t75_totals_equal_the_rows_after_pieces_pushes_and_rebuilds(
        pg_dsn: str, conn: PgConnection, fleet_logs: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(totals_module, "COMPACT_EVERY", 8)  # compactions among the writes
    # Each log ingested in three pieces (gates close and open between them), checked each time.
    for path in fleet_logs[:3]:
        top = read_log_tail(path, path.stem, 0)[0]
        for i, upto in enumerate((top // 3, 2 * top // 3)):
            ingest_log(conn, prefix(path, tmp_path / f"{path.stem}-{i}.db", upto), path.stem)
            assert_totals_hold(conn)
        ingest_log(conn, path, path.stem)
    assert_totals_hold(conn)
    # The other two devices pushed as tails of a few commits each, from two threads at once.
    errors: list[BaseException] = []

    def push(path: Path) -> None:
        writer = connect(pg_dsn, write=True)
        try:
            rows = read_log_tail(path, path.stem, 0)[1]
            ends = [r.seq for r in rows if r.commit_end in (None, r.seq)]
            start = 0
            for end in [*ends[5::6], rows[-1].seq]:
                if end > start:
                    add_tail(writer, path.stem, rows[start:end])
                    start = end
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            writer.close()

    threads = [threading.Thread(target=push, args=(p,)) for p in fleet_logs[3:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    built = assert_totals_hold(conn)
    assert built["devices"] == len(fleet_logs) and built["stalled_by_reason"]
    assert {k for _, k in built["hourly"]} >= {"rate_limited_429", "cooldown_backend_busy"}
    assert conn.execute("SELECT count(*) FROM fleet_totals").fetchone()[0] > 0
    # A device rebuilt in a transaction rolled back, then one rebuilt, then all of them.
    with pytest.raises(RuntimeError), conn.transaction():
        refold_device(conn, fleet_logs[0].stem)
        raise RuntimeError("rolled back")
    assert assert_totals_hold(conn) == built
    assert refold_device(conn, fleet_logs[4].stem)
    assert assert_totals_hold(conn) == built
    assert rebuild(conn) == len(fleet_logs)
    assert assert_totals_hold(conn) == built
    # The migration's fill from stored rows (a database that had them before the totals).
    fill = MIGRATIONS[1][2][-1]
    with conn.transaction():
        conn.execute("DELETE FROM fleet_totals")
        conn.execute(fill.encode())
    assert assert_totals_hold(conn) == built
    # Totals never summed by a reader are still right once compacted (one row per key).
    keys = conn.execute("SELECT count(DISTINCT (kind, name, hour)) FROM fleet_totals").fetchone()
    totals_module.compact(conn)
    assert conn.execute("SELECT count(*) FROM fleet_totals").fetchone() == keys
    assert assert_totals_hold(conn) == built
    assert Counter(built["gates"]).total() == len(fleet_logs)
