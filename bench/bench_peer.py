"""The peer: walsync against the `eventsourcing` library (its SQLite persistence) on the same
durable-save and replay work, with raw sqlite3 as the yardstick, side by side in one run.
Prints medians of several runs and every figure's ratio against raw.

    make bench-env && .venv/bin/python bench/bench_peer.py [--n 2000] [--runs 5] [--m 200000] [--dir /tmp]

`make bench-env` installs the peer (the `bench` extra: eventsourcing>=9.5,<10) into .venv.
Without it the script says so and measures walsync against raw only.

1. Durable saves, one event per transaction, WAL journal, synchronous=FULL:
   - raw sqlite3: one ~200-byte event row plus a projection upsert per commit
     (bench_durable.raw_rate, the same schema and indexes as walsync's log);
   - walsync: `Engine.register`, one WalRegistered event and its projection rows per commit
     (bench_durable.engine_rate);
   - eventsourcing: `Application.save` of one new aggregate (a recording, one created event) per
     call, one transaction each. eventsourcing sets journal_mode=WAL on file databases and leaves
     `synchronous` at SQLite's compiled default; it offers no setting for it. The bench reads both
     from the connection the application wrote with and prints them.
2. Replay, "rebuild state from the log" of M events, on two logs holding the same events on
   each side: (a) the first M events of the rebuild bench's realistic mix (bench/_biglog.py:
   throttling, a saturated backend, polls; a few events per recording up to hundreds), and
   (b) M recordings of one event each, the worst case for walsync (every event makes a
   recording, a row and a table write):
   - raw: scan of walsync's events table (seq, stream, type, data) + orjson.loads + a dict fold
     per stream;
   - walsync: `SqliteStore.rebuild_projections()` (read, decode into typed events, fold every
     projection, rewrite the projection tables in one transaction); opening the store, which
     already folds the log into memory, is timed on its own line;
   - eventsourcing: the application's notification log read in pages of 10,000 from its recorder
     (`select_notifications`), each stored event decoded by the application's mapper (its default
     JSON transcoder) and folded into its aggregate (`event.mutate`): every aggregate rebuilt
     from the whole log in one pass. (`repository.get` per aggregate would add one query per
     aggregate on top of the same decode and fold.) In the mix, each walsync stream is one
     aggregate whose first event creates it with its fields and whose later events each set
     their fields on it (the event's type and data, as walsync stored them).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))
import _biglog

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import WalRegistered

try:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event
except ImportError:  # the peer lives in the bench environment only (`make bench-env`)
    PEER_VERSION: str | None = None
else:
    from importlib.metadata import version as _dist_version

    PEER_VERSION = _dist_version("eventsourcing")

    class Recording(Aggregate):
        """A recording as an eventsourcing aggregate: the same fields as walsync's WalRegistered."""

        @event("Registered")
        def __init__(self, device: str, timer_start: int, codec: str = "opus",
                     sample_rate: int = 16000, channel: int = 1, frame_size: int = 160,
                     seconds: int = 60, file_path: str | None = None, storage: str = "disk",
                     conversation_id: str | None = None, delivered: bool = False) -> None:
            self.wal_id = f"{device}_{timer_start}"
            self.device = device
            self.timer_start = timer_start
            self.codec = codec
            self.sample_rate = sample_rate
            self.channel = channel
            self.frame_size = frame_size
            self.seconds = seconds
            self.file_path = file_path
            self.storage = storage
            self.conversation_id = conversation_id
            self.delivered = delivered
            self.state = "synced" if delivered else "miss"

    class Stream(Aggregate):
        """One walsync stream as an eventsourcing aggregate: created by its first event, then
        each later event sets its fields (the realistic-mix replay)."""

        @event("Started")
        def __init__(self, kind: str, fields: dict[str, Any]) -> None:
            self.kind = kind
            self.fields = dict(fields)

        @event("Changed")
        def change(self, kind: str, fields: dict[str, Any]) -> None:
            self.kind = kind
            self.fields.update(fields)

    class Recordings(Application):  # type: ignore[type-arg]
        """The peer's application: default transcoder, no snapshots, no cache."""


INSTALL_HINT = ("eventsourcing is not installed: run `make bench-env` (pip install -e '.[dev,bench]' "
                "into .venv) to compare against the peer; measuring walsync vs raw sqlite3 only.")
START = datetime(2026, 5, 20, tzinfo=UTC)
PAGE = 10_000
SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _load_bench_durable() -> ModuleType:
    """bench_durable.py beside this file (the bench folder is not a package)."""
    path = Path(__file__).resolve().parent / "bench_durable.py"
    spec = importlib.util.spec_from_file_location("bench_durable", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


durable = _load_bench_durable()


# -- the peer ---------------------------------------------------------------------------

def _peer_app(path: Path) -> Any:
    return Recordings(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def _new_recording(i: int) -> Any:
    return Recording(device="omi", timer_start=1_700_000_000 + i, file_path=f"{i}.bin")


def peer_settings(app: Any) -> tuple[str, str]:
    """(journal_mode, synchronous) of the connection eventsourcing writes with."""
    with app.recorder.datastore.get_connection(commit=True) as conn:
        raw = conn._sqlite_conn  # the pooled sqlite3 connection (no public accessor)
        journal = str(raw.execute("PRAGMA journal_mode").fetchone()[0])
        level = int(raw.execute("PRAGMA synchronous").fetchone()[0])
    return journal.upper(), SYNCHRONOUS_NAMES.get(level, str(level))


def peer_rate(folder: Path, n: int) -> tuple[float, tuple[str, str]]:
    """Saves per second: one new aggregate (one event) per `Application.save`, one commit each."""
    app = _peer_app(folder / "peer.db")
    started = time.perf_counter()
    for i in range(n):
        app.save(_new_recording(i))
    elapsed = time.perf_counter() - started
    settings = peer_settings(app)
    app.close()
    return n / elapsed, settings


def build_peer_log(path: Path, m: int) -> None:
    """M aggregates of one event each, saved 1,000 per transaction (setup, not timed)."""
    app = _peer_app(path)
    for first in range(0, m, 1000):
        app.save(*(_new_recording(i) for i in range(first, min(first + 1000, m))))
    app.close()


def build_mixed_logs(walsync_log: Path, peer_log: Path | None, m: int) -> int:
    """The first M events of the realistic mix as a walsync log, and the same events, stream by
    stream, as the peer's aggregates (saved 1,000 events per transaction; setup, not timed).
    Returns how many streams the logs hold."""
    _biglog.build(walsync_log, m)
    with sqlite3.connect(walsync_log) as conn:
        rows = conn.execute("SELECT stream, type, data FROM events ORDER BY seq").fetchall()
    streams = len({stream for stream, _, _ in rows})
    if peer_log is None:
        return streams
    app = _peer_app(peer_log)
    live: dict[str, Any] = {}
    dirty: dict[str, Any] = {}
    pending = 0
    for stream, type_name, data in rows:
        fields = orjson.loads(data)
        aggregate = live.get(stream)
        if aggregate is None:
            aggregate = live[stream] = Stream(type_name, fields)
        else:
            aggregate.change(type_name, fields)
        dirty[stream] = aggregate
        pending += 1
        if pending >= 1000:
            app.save(*dirty.values())
            dirty, pending = {}, 0
    if dirty:
        app.save(*dirty.values())
    app.close()
    return streams


def peer_replay(path: Path, m: int, streams: int) -> float:
    """Events per second: notification pages -> mapper decode -> aggregate mutate fold."""
    app = _peer_app(path)
    recorder, mapper = app.recorder, app.mapper
    started = time.perf_counter()
    aggregates: dict[Any, Any] = {}
    last = 0
    while page := recorder.select_notifications(start=last, limit=PAGE, inclusive_of_start=False):
        for stored in page:
            domain_event = mapper.to_domain_event(stored)
            key = domain_event.originator_id
            aggregates[key] = domain_event.mutate(aggregates.get(key))
        last = page[-1].id
    elapsed = time.perf_counter() - started
    app.close()
    assert len(aggregates) == streams, (len(aggregates), streams)
    return m / elapsed


# -- walsync and raw --------------------------------------------------------------------

def build_walsync_log(path: Path, m: int) -> None:
    """M WalRegistered events appended through the store, 5,000 per transaction (not timed)."""
    store = SqliteStore(path, synchronous="OFF")
    for first in range(0, m, 5000):
        store.append([
            NewEvent(event_id=f"{i:032x}", event=WalRegistered(
                at=START + timedelta(milliseconds=i), wal_id=f"omi_{1_700_000_000 + i}",
                device="omi", timer_start=1_700_000_000 + i, file_path=f"{i}.bin"))
            for i in range(first, min(first + 5000, m))])
    store.close()


def walsync_replay(path: Path, m: int, streams: int) -> tuple[float, float]:
    """(events per second of opening the store, of `rebuild_projections()`)."""
    started = time.perf_counter()
    store = SqliteStore(path)  # folds the whole log into the in-memory projection
    opened = time.perf_counter()
    store.rebuild_projections()
    rebuilt = time.perf_counter()
    assert store.head()[0] == m and len(store.projection.wals) <= streams
    store.close()
    return m / (opened - started), m / (rebuilt - opened)


def raw_replay(path: Path, m: int, streams: int) -> float:
    """Events per second of a raw scan + orjson.loads + dict fold of walsync's events rows."""
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    folded: dict[str, dict[str, Any]] = {}
    for seq, stream, type_, data in conn.execute("SELECT seq, stream, type, data FROM events ORDER BY seq"):
        state = folded.get(stream)
        if state is None:
            state = folded[stream] = {}
        state.update(orjson.loads(data))
        state["type"], state["seq"] = type_, seq
    elapsed = time.perf_counter() - started
    conn.close()
    assert len(folded) == streams, (len(folded), streams)
    return m / elapsed


# -- the run ----------------------------------------------------------------------------

def replay_once(walsync_log: Path, peer_log: Path | None, m: int, streams: int) -> list[float]:
    """One replay of each side: raw, walsync open, walsync rebuild (and the peer's)."""
    rates = [raw_replay(walsync_log, m, streams), *walsync_replay(walsync_log, m, streams)]
    if peer_log is not None:
        rates.append(peer_replay(peer_log, m, streams))
    return rates


def _median(runs: list[float]) -> float:
    return statistics.median(runs)


def _row(label: str, rate: float, raw: float) -> str:
    return f"{label:<52} {rate:>14,.0f} {rate / raw:>14.2f}"


def _measure(runs: int, once: Callable[[], list[float]]) -> list[list[float]]:
    """`runs` results of `once`, transposed: one list per measured side."""
    results = [once() for _ in range(runs)]
    return [list(side) for side in zip(*results, strict=True)]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="durable saves per run and side")
    parser.add_argument("--runs", type=int, default=5, help="runs per side (medians reported)")
    parser.add_argument("--m", type=int, default=None,
                        help="events in the replay logs (default 200,000; n*100 when n < 2000)")
    parser.add_argument("--dir", default=None, help="where the files go (same file system)")
    args = parser.parse_args(argv)
    n, runs = args.n, args.runs
    m = args.m if args.m is not None else (200_000 if n >= 2000 else max(n * 100, 1000))
    peer = PEER_VERSION is not None
    if not peer:
        print(INSTALL_HINT)
    settings: list[tuple[str, str]] = []

    def durable_once() -> list[float]:  # interleaved, so machine noise hits every side alike
        rates = []
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            rates.append(durable.raw_rate(Path(folder), n))
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            rates.append(durable.engine_rate(Path(folder), n))
        if peer:
            with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                rate, found = peer_rate(Path(folder), n)
                rates.append(rate)
                settings.append(found)
        return rates

    saves = [_median(side) for side in _measure(runs, durable_once)]
    results = {"raw_saves": saves[0], "walsync_saves": saves[1]}

    replays: dict[str, list[float]] = {}
    for shape in ("mix", "one-event"):
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            walsync_log, peer_log = Path(folder) / "walsync.db", Path(folder) / "peer.db"
            if shape == "mix":
                streams = build_mixed_logs(walsync_log, peer_log if peer else None, m)
            else:
                streams = m
                build_walsync_log(walsync_log, m)
                if peer:
                    build_peer_log(peer_log, m)
            once = functools.partial(replay_once, walsync_log, peer_log if peer else None, m, streams)
            replays[shape] = [_median(side) for side in _measure(runs, once)]
        for name, rate in zip(("raw", "walsync_open", "walsync_rebuild", "peer"), replays[shape],
                              strict=False):
            results[f"{shape}_{name}_replay"] = rate

    print(f"{'1. durable saves: 1 event per commit, WAL':<52} {'per second':>14} {'ratio vs raw':>14}")
    print(_row("raw sqlite3 event + projection upsert (FULL)", saves[0], saves[0]))
    print(_row("walsync Engine.register (FULL)", saves[1], saves[0]))
    if peer:
        journal, synchronous = settings[-1]
        results["peer_saves"] = saves[2]
        print(_row(f"eventsourcing Application.save ({journal}, {synchronous})", saves[2], saves[0]))
    titles = {"mix": f"2a. replay of {m:,} events, the realistic mix",
              "one-event": f"2b. replay of {m:,} one-event streams"}
    for shape, rates in replays.items():
        print(f"{titles[shape]:<52} {'events/s':>14} {'ratio vs raw':>14}")
        print(_row("raw scan + orjson.loads + dict fold", rates[0], rates[0]))
        print(_row("walsync SqliteStore.rebuild_projections()", rates[2], rates[0]))
        print(_row("walsync SqliteStore(path) open (gate + fold)", rates[1], rates[0]))
        if peer:
            print(_row("eventsourcing notifications -> mapper -> mutate", rates[3], rates[0]))
    if peer:
        print(f"ratio walsync / eventsourcing: saves {saves[1] / saves[2]:.2f}, replay (rebuild) "
              + ", ".join(f"{shape} {rates[2] / rates[3]:.2f}" for shape, rates in replays.items()))
        print(f"eventsourcing {PEER_VERSION} on SQLite {sqlite3.sqlite_version}: journal_mode={journal}, "
              f"synchronous={synchronous} (eventsourcing sets WAL; synchronous is SQLite's default)")
    print(f"(medians of {runs} runs; {n} saves per run and side, interleaved; replay of {m:,} events)")
    return results


if __name__ == "__main__":
    main()
