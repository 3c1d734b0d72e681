"""Fleet scale, side by side in one run: ingest (C8 file checks, tail checks, fold, COPY) and the
same rows added as a pushed tail (tail checks, fold, COPY) against a raw COPY of the same rows
into the same layout, device by device in turn, each way into a schema of its own, and beside
them the ceiling of any cheaper fold: the file's ingest with every check and the COPY but no fold
and no projection row; the incremental cost of one new event on a big device; the fleet queries
idle and while an ingest and a rebuild run in other processes (each asked again on one reader,
and first on a new connection as a `walsync fleet` command asks; the client's CPU beside the wall
time, and the load average at the start and end of each set); the rebuild's length and an ingest
during it. Prints a markdown table.

    .venv/bin/python bench/bench_fleet.py [--devices 1000] [--events 2000] [--big 27000]
                                          [--runs 11] [--dsn DSN] [--bulk-only]

`--bulk-only` stops after the side-by-side rows (the bulk ratios, the CPU each way and the
parts of the client's CPU), for repeated runs of the bulk target alone. Among those rows, the
floor of an ingest: what no ingest from files can leave out while every check stays, summed
(the file's C8 checks and rows read, the hash chain, the compiled shape check, the COPY's own
client CPU as the raw COPY spends it, and PostgreSQL's CPU for the rows and the head), with
the raw COPY's CPU over it: the best ratio by CPU any fold (free) and any loop could reach.

The ratios are of wall time (how long each device took each way) and of CPU (this process's
plus its PostgreSQL server process's, each way): on a machine whose cores are busy with other
work, the wall ratio follows the CPU ratio; on an idle one it can be better, as the client's
and the server's work overlap on two cores.

Device logs come from a few simulated `mixed` incidents (different seeds), cut to --events
rows each (a prefix is the log as it was at that seq), ingested under --devices distinct ids.
The big device's log is cut to --big rows. Without --dsn (or WALSYNC_PG_DSN) the bench starts
a throwaway PostgreSQL with default durability (fsync on). Everything goes into fresh schemas
that are dropped at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.conninfo import make_conninfo

from walsync.adapters.diagnosis.why import explain_all
from walsync.adapters.fleet.bulk.shapes import read_data
from walsync.adapters.fleet.fold import DeviceFold
from walsync.adapters.fleet.ingest import ingest_log, read_log_tail
from walsync.adapters.fleet.queries import (
    _EXPLAIN_ROWS,
    _with_values,
    fleet_stats,
    fleet_status,
    fleet_why,
    forget_explanations,
    report_json,
)
from walsync.adapters.fleet.store import PgConnection, claim_device, connect, set_head
from walsync.adapters.fleet.tail import _checked, _Cursor, add_tail, plan_tail
from walsync.adapters.ports import StoredEvent
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import SCENARIOS
from walsync.adapters.store.records import (
    EVENT_COLUMNS_SQL,
    GENESIS_HASH,
    READ_PREV_HASH,
    chain_hash,
    hex_of,
    stored_hash,
)
from walsync.core.policies import policy_named
from walsync.core.serde import check_data, load_data
from walsync.core.upcast import upcast

# The throwaway server is a test helper (kept out of the wheel): found beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pg_temp_server import TempServer, find_bin_dir

TEMPLATES = 4
WALSYNC = str(Path(sys.executable).parent / "walsync")
_COPY = f"COPY events (device_id, {EVENT_COLUMNS_SQL}) FROM STDIN".encode()


def make_log(folder: Path, seed: int, events: int) -> Path:
    """A simulated device log of exactly `events` rows."""
    wals, path = max(5, events // 8), folder / f"template-{seed}-{events}.db"
    while True:
        scenario = SCENARIOS["mixed"].with_overrides(wals=wals)
        run_simulation(scenario, policy_named("walsync"), seed, path)
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            if int(conn.execute("SELECT count(*) FROM events").fetchone()[0]) >= events:
                conn.execute("DELETE FROM events WHERE seq > ?", [events])
                _end_commit_at(conn, events)
                conn.execute("VACUUM")
                return path
        wals *= 2


def _end_commit_at(conn: sqlite3.Connection, last: int) -> None:
    """A log cut inside a commit fails verification: the rows left of that commit are made a
    commit of their own (their boundary and hashes rewritten), as if it had ended there."""
    rows = conn.execute(f"SELECT seq, {hex_of('event_id')}, stream, version, type, schema_version, at, data, "  # noqa: S608 (fixed columns)
                        f"{READ_PREV_HASH} FROM events WHERE commit_end > ? ORDER BY seq",
                        [last]).fetchall()
    prev = rows[0][8] if rows else ""
    for seq, event_id, stream, version, type_name, schema_version, at, data, _ in rows:
        prev = chain_hash(prev, seq=seq, event_id=event_id, stream=stream, version=version,
                          type_name=type_name, schema_version=schema_version, at=at,
                          data=orjson.loads(data), commit_end=last)
        conn.execute("UPDATE events SET commit_end = ?, hash = ? WHERE seq = ?", [last, prev, seq])
        conn.execute("UPDATE events SET prev_hash = ? WHERE seq = ?", [prev, seq + 1])


def cut(src: Path, dst: Path, upto: int) -> Path:
    """The log as it was at seq `upto` (the end of a commit)."""
    with closing(sqlite3.connect(src)) as source, closing(sqlite3.connect(dst)) as target:
        source.backup(target)
    with closing(sqlite3.connect(dst, isolation_level=None)) as conn:
        conn.execute("DELETE FROM events WHERE seq > ?", [upto])
    return dst


@contextmanager
def schema(dsn: str) -> Iterator[tuple[str, PgConnection]]:
    """A fresh schema with the fleet migrations applied; dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}".encode())
    scoped = make_conninfo(dsn, options=f"-c search_path={name}")
    conn = connect(scoped, write=True)
    try:
        yield scoped, conn
    finally:
        conn.close()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE".encode())


def raw_copy(conn: PgConnection, device_id: str, rows: list[StoredEvent]) -> None:
    """The floor: the same rows COPYed into the same table and indexes, nothing else."""
    with conn.transaction(), conn.cursor() as cur, cur.copy(_COPY) as copy:
        for r in rows:
            copy.write_row((device_id, *r))


class _NoFold(DeviceFold):
    """A fold that notes nothing (the tail checks read the stream versions it carries)."""

    def note(self, *_: Any) -> None:
        pass


def checks_only(conn: PgConnection, path: Path, device_id: str) -> None:
    """The ceiling of any fold that costs less (in SQL, compiled, pre-aggregated): a file's
    ingest with its C8 checks, every tail check, the COPY and the head, but no fold and no
    projection row. Not a way in (the fleet tables stay empty): a measure only."""
    rows = read_log_tail(path, device_id, 0)[1]
    with conn.transaction():
        claim_device(conn, device_id)
        with conn.cursor() as cur, cur.copy(_COPY) as sink:
            for _ in _checked(rows, _NoFold(), (0, GENESIS_HASH), _Cursor(), sink.write_row,
                              device_id, True):
                pass
        set_head(conn, device_id, rows[-1].seq, rows[-1].hash)


def dry_fold(rows: list[StoredEvent], *, hostile: bool) -> None:
    """A whole log's tail pass (checks if `hostile`, the fold, the fleet rows it changes) with
    no database: the client's part of an ingest that does not wait for PostgreSQL."""
    fold = DeviceFold()
    fold.finish(plan_tail(rows, fold, head=(0, GENESIS_HASH), hostile=hostile))


def _shapes_compiled(rows: list[StoredEvent]) -> None:
    for r in rows:
        read_data(r.type, r.schema_version, r.data, r.stream)


def _shapes_in_python(rows: list[StoredEvent]) -> None:
    for r in rows:
        check_data(r.type, upcast(r.type, r.schema_version, load_data(r.data)), r.stream)


def _hash_chain(rows: list[StoredEvent]) -> None:
    for r in rows:
        stored_hash(r.prev_hash, r.seq, r.event_id, r.stream, r.version, r.type,
                    r.schema_version, r.at, orjson.Fragment(r.data), r.commit_end)


# Parts of the tail checks, each over a whole log's rows with no database: the data's shape
# as the tail checks it and as it did before (the same rows, side by side), and the hash.
_COMPILED = "each row's data decoded and shape-checked, compiled (msgspec)"
CHECK_PARTS: dict[str, Callable[[list[StoredEvent]], None]] = {
    _COMPILED: _shapes_compiled,
    "the same as orjson + check_data (the check before)": _shapes_in_python,
    "the hash chain": _hash_chain,
}


def show(rows: list[tuple[str, str]]) -> None:
    """Rows as they are measured, on stderr (the table comes at the end on stdout)."""
    for name, value in rows:
        print(f"  {name}: {value}", file=sys.stderr, flush=True)


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def wal_bytes(conn: PgConnection, fn: Callable[[], Any]) -> int:
    """PostgreSQL WAL written while `fn` ran (the server is this bench's alone)."""
    before = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
    fn()
    found = conn.execute("SELECT pg_current_wal_insert_lsn() - %s::pg_lsn", before).fetchone()
    return int(found[0]) if found else 0


def backend_cpu(conn: PgConnection) -> float:
    """CPU seconds the connection's server process has used (0 when it is not on this
    machine: then the CPU rows read 0 for PostgreSQL)."""
    try:
        fields = Path(f"/proc/{conn.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ratio(raw: list[float], way: list[float]) -> str:
    """The raw COPY's CPU over a way's, both (this process, PostgreSQL's); "-" when the
    server's CPU read 0 (not on this machine, or too short a run: /proc counts clock ticks)."""
    if not (raw[1] and way[1]):
        return "-"
    return f"{sum(raw) / sum(way):.2f}x"


def cpu_ms(fn: Callable[[], Any]) -> float:
    started = time.process_time()
    fn()
    return (time.process_time() - started) * 1000


# The ways each device is added, as the CPU rows name them.
WAYS = {"raw": "raw", "ingest": "ingest", "push": "push",
        "bare": "ingest without the fold (the ceiling)"}
ASKS: dict[str, Callable[[PgConnection], Any]] = {
    "fleet status": fleet_status,
    "fleet why --limit 10": lambda conn: fleet_why(conn, limit=10),
    "fleet stats": fleet_stats,
}


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall ms, this process's CPU ms) of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def queries(conn: PgConnection, scoped: str, runs: int, phase: str) -> list[tuple[str, str]]:
    """Each query's median wall time and this process's CPU (the rest is PostgreSQL's work and
    waiting for a core): asked again on the reader (`why`'s explanations of devices that did
    not move are reused), `why` as a first ask there (the reader's explanations dropped
    before), and each asked first on a new connection made as `walsync fleet ...` makes it
    (connecting not counted: its statements are prepared and planned and the server's caches
    filled then). The 1-minute load average at the start and the end."""
    load = os.getloadavg()[0]
    asked: dict[str, list[tuple[float, float]]] = {}
    for _ in range(runs):
        for name, ask in ASKS.items():
            asked.setdefault(f"{name} (asked again)" if "why" in name else name, []).append(
                _timed(lambda ask=ask: ask(conn)))
        forget_explanations(conn)
        asked.setdefault("fleet why --limit 10 (first ask: nothing explained yet)", []).append(
            _timed(lambda: fleet_why(conn, limit=10)))
        for name, ask in ASKS.items():
            with closing(connect(scoped)) as fresh:
                asked.setdefault(f"{name} (first on a new connection)", []).append(
                    _timed(lambda ask=ask, fresh=fresh: ask(fresh)))
    rows = [(f"{name}, {phase}, median ms (this process's CPU)",
             f"{statistics.median(w for w, _ in found):.1f} "
             f"({statistics.median(c for _, c in found):.1f})")
            for name, found in asked.items()]
    return [*rows, (f"  load average (1 min) at the start and end of the queries {phase}",
                    f"{load:.1f}, {os.getloadavg()[0]:.1f}")]


_PAGE_OF_STALLS = (b"SELECT s.device_id, s.wal_id, d.fold -> 'policies' FROM fleet_stalls s "
                   b"JOIN fleet_device d USING (device_id) ORDER BY s.since, s.device_id, s.wal_id "
                   b"LIMIT 10 OFFSET %s")
EVENT_READS: dict[str, Callable[[PgConnection, tuple[Any, ...]], Any]] = {
    "with its values in the statement (now)":
        lambda c, a: _with_values(c, _EXPLAIN_ROWS, a).fetchall(),
    "prepared with parameters, a reader's generic plan (before)":
        lambda c, a: c.execute(_EXPLAIN_ROWS, a).fetchall(),
}


def event_reads(reader: PgConnection, scoped: str, runs: int) -> list[tuple[str, str]]:
    """Part of a first `why`'s wall time, side by side, in turn: the statement that reads the
    events `explain()` needs for ten picks (a different ten each run), sent as `fleet why`
    sends it and as it did before, on the reader and first on a new connection."""
    found: dict[str, list[float]] = {}
    for k in range(runs):
        page = reader.execute(_PAGE_OF_STALLS, (10 * k,)).fetchall()
        asked = (sorted({str(d) for d, _, _ in page}), ["gate", *(f"wal:{w}" for _, w, _ in page)],
                 sorted({int(s) for _, _, policies in page for s in policies or []}))
        for label, read in EVENT_READS.items():
            found.setdefault(f"on the reader, {label}", []).append(
                _timed(lambda read=read, asked=asked: read(reader, asked))[0])
            with closing(connect(scoped)) as fresh:
                found.setdefault(f"first on a new connection, {label}", []).append(
                    _timed(lambda read=read, fresh=fresh, asked=asked: read(fresh, asked))[0])
    return [(f"  of a first why: the events of ten picks read, {name}, median ms",
             f"{statistics.median(times):.2f}") for name, times in found.items()]


def run(dsn: str, args: argparse.Namespace, folder: Path) -> list[tuple[str, str]]:
    templates = [make_log(folder, seed, args.events) for seed in range(1, TEMPLATES + 1)]
    big = make_log(folder, 99, args.big)
    rows = [read_log_tail(p, "template", 0)[1] for p in templates]
    table: list[tuple[str, str]] = []
    load = os.getloadavg()[0]
    with schema(dsn) as (scoped, conn), schema(dsn) as (_, raw), schema(dsn) as (_, pushed), \
            schema(dsn) as (_, bare):
        seconds = {"raw": 0.0, "ingest": 0.0, "push": 0.0, "bare": 0.0}
        ratios: dict[str, list[float]] = {"ingest": [], "push": [], "bare": []}
        # CPU seconds: (this process, the server process of each connection), each way
        cpu = {way: [0.0, 0.0] for way in seconds}
        ways: dict[str, tuple[PgConnection, Callable[[str, int], Any]]] = {
            "raw": (raw, lambda d, k: raw_copy(raw, d, rows[k])),
            "ingest": (conn, lambda d, k: ingest_log(conn, templates[k], d)),
            "push": (pushed, lambda d, k: add_tail(pushed, d, rows[k])),
            "bare": (bare, lambda d, k: checks_only(bare, templates[k], d)),
        }
        for i in range(args.devices):  # side by side: one device each way, in turn
            took = {}
            for way, (target, fn) in ways.items():
                started, client, server = time.perf_counter(), time.process_time(), backend_cpu(
                    target)
                fn(f"device-{i:06d}", i % TEMPLATES)
                took[way] = time.perf_counter() - started
                cpu[way][0] += time.process_time() - client
                cpu[way][1] += backend_cpu(target) - server
                seconds[way] += took[way]
            for way, found in ratios.items():
                found.append(took["raw"] / took[way])
            if args.devices >= 20 and (i + 1) % max(1, args.devices // 10) == 0:
                print(f"  ingested {i + 1}/{args.devices} devices", file=sys.stderr)
        total = args.devices * args.events
        file_cpu = statistics.median(cpu_ms(lambda path=path: read_log_tail(path, "t", 0))
                                     for path in templates * 5)
        checks_cpu = statistics.median(cpu_ms(lambda r=r: dry_fold(r, hostile=True))
                                       for r in rows * 5)
        trusted_cpu = statistics.median(cpu_ms(lambda r=r: dry_fold(r, hostile=False))
                                        for r in rows * 5)
        parts = {name: statistics.median(cpu_ms(lambda r=r, fn=fn: fn(r)) for r in rows * 5)
                 for name, fn in CHECK_PARTS.items()}
        mean = {way: [1000 * c / args.devices for c in found] for way, found in cpu.items()}
        floor = (file_cpu + parts["the hash chain"] + parts[_COMPILED] + mean["raw"][0],
                 mean["bare"][1])
        table += [
            ("devices x events", f"{args.devices:,} x {args.events:,} = {total:,}"),
            ("raw COPY into the same layout, events/s", f"{total / seconds['raw']:,.0f}"),
            ("ingest from files (all checks, fold, COPY), events/s",
             f"{total / seconds['ingest']:,.0f}"),
            ("ingest / raw COPY, all devices", f"{seconds['raw'] / seconds['ingest']:.2f}x"),
            ("ingest / raw COPY, median of devices", f"{statistics.median(ratios['ingest']):.2f}x"),
            ("the same rows as a pushed tail (all tail checks, fold, COPY), events/s",
             f"{total / seconds['push']:,.0f}"),
            ("pushed tail / raw COPY, all devices", f"{seconds['raw'] / seconds['push']:.2f}x"),
            ("pushed tail / raw COPY, median of devices",
             f"{statistics.median(ratios['push']):.2f}x"),
            *((f"{label} / raw COPY by CPU (this process + PostgreSQL's), all devices",
               cpu_ratio(cpu["raw"], cpu[way]))
              for way, label in (("ingest", "ingest"), ("push", "pushed tail"))),
            ("ceiling of any cheaper fold: the file's ingest with every check and the COPY, no "
             "fold, no projection row / raw COPY, all devices",
             f"{seconds['raw'] / seconds['bare']:.2f}x"),
            ("  the same, median of devices", f"{statistics.median(ratios['bare']):.2f}x"),
            ("  the same, by CPU (this process + PostgreSQL's), all devices",
             cpu_ratio(cpu["raw"], cpu["bare"])),
            *((f"  CPU per device, {WAYS[way]}: this process + PostgreSQL's, mean ms",
               f"{1000 * c / args.devices:.1f} + {1000 * s / args.devices:.1f}")
              for way, (c, s) in cpu.items()),
            ("  of ingest's: the file's C8 checks and its rows read, median ms",
             f"{file_cpu:.1f}"),
            ("  of ingest's and push's: every tail check and the fold, nothing written, median ms",
             f"{checks_cpu:.1f}"),
            ("  the same fold of rows already trusted (as a rebuild folds them), median ms",
             f"{trusted_cpu:.1f}"),
            *((f"  of the tail checks: {name}, median ms", f"{ms:.1f}")
              for name, ms in parts.items()),
            ("floor of an ingest from files, every check kept: the file's C8 checks and rows "
             "read + the hash chain + the compiled shape check + the raw COPY's client CPU, "
             "+ PostgreSQL's CPU without the fold, ms", f"{floor[0]:.1f} + {floor[1]:.1f}"),
            ("  raw COPY's CPU / that floor: the best ratio by CPU with a free fold and no other "
             "Python per row", cpu_ratio(mean["raw"], list(floor))),
            ("  load average (1 min) at the start and end of the side-by-side part",
             f"{load:.1f}, {os.getloadavg()[0]:.1f}"),
        ]
        show(table)
        if args.bulk_only:
            return table
        # New commits on a big device, in a fleet of --devices: the engine commits a few
        # events at a time (a tail always ends between commits), so each step adds one commit,
        # first from a file cut after it, then as a pushed tail.
        runs = args.runs
        big_rows = read_log_tail(big, "big", 0)[1]
        ends = [r.seq for r in big_rows if r.commit_end in (None, r.seq)]
        start = next(e for e in ends if e >= args.big * 3 // 4)
        ingest_log(conn, cut(big, folder / "big-start.db", start), "big")
        commits = [(p, e) for p, e in itertools.pairwise(ends) if p >= start][:2 * runs]
        sizes = [e - p for p, e in commits]
        file_ms: list[float] = []
        file_wal: list[int] = []
        push_ms: list[float] = []
        push_wal: list[int] = []
        for _, e in commits[:runs]:
            step = cut(big, folder / "big-step.db", e)
            started = time.perf_counter()
            file_wal.append(wal_bytes(conn, lambda f=step: ingest_log(conn, f, "big")))
            file_ms.append((time.perf_counter() - started) * 1000)
        for p, e in commits[runs:]:
            started = time.perf_counter()
            push_wal.append(wal_bytes(conn, lambda t=big_rows[p:e]: add_tail(conn, "big", t)))
            push_ms.append((time.perf_counter() - started) * 1000)
        table += [
            (f"+1 commit (median {statistics.median(sizes):g} events) on a {args.big:,}-event "
             f"device, tail added (push), median ms", f"{statistics.median(push_ms):.1f}"),
            ("  PostgreSQL WAL per commit added (push), median bytes",
             f"{statistics.median(push_wal):,.0f}"),
            (f"+1 commit on a {args.big:,}-event device, from its file, median ms",
             f"{statistics.median(file_ms):.1f}"),
            ("  PostgreSQL WAL per commit added (file), median bytes",
             f"{statistics.median(file_wal):,.0f}"),
        ]
        show(table[-4:])
        again_ms = median_ms(lambda: ingest_log(conn, big, "big"), runs)
        table += [
            ("re-ingest of the big log (adds 0), median ms", f"{again_ms:.1f}"),
        ]
        show(table[-1:])
        reader = connect(scoped)  # as `walsync fleet status` connects
        table += queries(reader, scoped, runs, "idle")
        # Part of a first `why`'s CPU, side by side: ten explanations made JSON as `fleet why`
        # makes them, and as it did before (the report's to_json, attrs' deep copy, then orjson).
        reports = [r for path in templates for r in explain_all(path)][:10]
        ways_to_json: dict[str, Callable[[Any], bytes]] = {
            "report_json (now)": report_json,
            "to_json + orjson (before)": lambda r: orjson.dumps(r.to_json())}
        for label, fn in ways_to_json.items():
            ms = statistics.median(cpu_ms(lambda fn=fn: list(map(fn, reports)))
                                   for _ in range(runs))
            table.append((f"  of a first why: {len(reports)} explanations as JSON, {label}, "
                          f"median ms", f"{ms:.2f}"))
        table += event_reads(reader, scoped, runs)
        show(table[-18:])
        # Under load: an ingest of fresh devices and a rebuild, each in its own process.
        extra = folder / "extra"
        extra.mkdir()
        for j in range(args.load_devices):
            shutil.copy(templates[j % TEMPLATES], extra / f"load-{j:04d}.db")
        rebuild = subprocess.Popen([WALSYNC, "fleet", "rebuild", "--db", scoped, "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        loading = subprocess.Popen([WALSYNC, "ingest", "--into", scoped, "--json",
                                    *map(str, sorted(extra.iterdir()))],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(1.0)
        table += queries(reader, scoped, runs, "during ingest + rebuild")
        both = loading.poll() is None and rebuild.poll() is None
        ingested = loading.communicate()[0]
        rebuilt = rebuild.communicate()[0]
        table += [
            ("  (both still running when the queries ended)", "yes" if both else "no"),
            (f"ingest of {args.load_devices} devices during the rebuild, s",
             f"{json.loads(ingested)['seconds']:.1f}"),
            (f"rebuild of {args.devices + 1:,} devices (one transaction each), s",
             f"{json.loads(rebuilt)['seconds']:.1f}"),
        ]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--events", type=int, default=2000, help="events per device")
    parser.add_argument("--big", type=int, default=27000, help="events of the big device")
    parser.add_argument("--load-devices", type=int, default=40,
                        help="devices the ingest under load adds")
    parser.add_argument("--runs", type=int, default=11, help="runs of each timed step")
    parser.add_argument("--dsn", default=os.environ.get("WALSYNC_PG_DSN"))
    parser.add_argument("--bulk-only", action="store_true",
                        help="stop after the side-by-side bulk rows")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="walsync-bench-fleet-"))
    server = None
    try:
        dsn = args.dsn
        if not dsn:
            bin_dir = find_bin_dir()
            if bin_dir is None:
                sys.exit("no PostgreSQL server binary found: install postgresql or pass --dsn")
            server = TempServer(bin_dir, fast=False)
            dsn = server.start()
        table = run(dsn, args, folder)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print("| fleet bench | value |\n|---|---:|")
    for name, value in table:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
