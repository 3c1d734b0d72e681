"""T27/T29/T30: export while writing, redaction canaries, and hostile imports (contract C8)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from walsync.adapters.cli.main import cli
from walsync.adapters.ports import NewEvent
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.share.export import export_log
from walsync.adapters.store.share.importer import (
    ImportRejected,
    ImportTooLarge,
    import_log,
    open_shared_log,
    replay_shared_log,
)
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables
from walsync.core.errors import StoreError
from walsync.core.events import WalRegistered
from walsync.core.policies import POLICIES, SEED
from walsync.core.responses import UploadError, UploadProcessed
from walsync.core.serde import SCHEMA_VERSION

from fakes import Harness

CANARIES = ("dev-CANARY-7", "/home/CANARY-user/rec.bin", "conv-CANARY-9", "CANARYtok123")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _events(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT * FROM events ORDER BY seq").fetchall()


@pytest.fixture(scope="module")
def sim_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "sim.db"
    run_simulation(scenario_named("backend_saturation").with_overrides(hours=2, wals=6),
                   POLICIES["seed"], 1, path)
    return path


@pytest.fixture(scope="module")
def base_db(sim_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid single-file export: the starting point of the hostile .db fixtures."""
    out = tmp_path_factory.mktemp("base") / "base.db"
    export_log(sim_log, out)
    return out


@pytest.fixture(scope="module")
def base_jsonl(sim_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base") / "base.jsonl"
    export_log(sim_log, out)
    return out


@pytest.fixture(scope="module")
def user_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's own log: no import may ever touch it."""
    path = tmp_path_factory.mktemp("user") / "mine.db"
    h = Harness(SEED, store=SqliteStore(path))
    h.add(2)
    h.engine.close()
    return path


@pytest.fixture(scope="module")
def canary_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("canary") / "canary.db"
    h = Harness(SEED, store=SqliteStore(path))
    a = h.engine.register(device="dev-CANARY-7", timer_start=1779264000,
                          file_path="/home/CANARY-user/rec.bin", conversation_id="conv-CANARY-9")
    b = h.engine.register(device="dev-CANARY-7", timer_start=1779264060,
                          file_path="/home/CANARY-user/rec2.bin")
    for wal_id in (a, b):
        h.files.contents[wal_id] = b"\x02\x00\x00\x00ab"
    h.backend.answer_uploads(UploadError(
        kind="server_error", http_status=500,
        message="401 Authorization: Bearer CANARYtok123 for /home/CANARY-user/rec.bin"))
    h.engine.sync_wal(a)
    h.clock.advance(3600)
    h.backend.answer_uploads(UploadProcessed(new_conversations=("conv-CANARY-9",)))
    h.engine.sync_wal(b)
    h.engine.close()
    assert sum(c.encode() in path.read_bytes() for c in CANARIES) >= 3  # the canaries are there
    return path


# -- T30: export while another connection writes ------------------------------------------

def test_db_export_while_appending_is_a_consistent_prefix(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    SqliteStore(live).close()
    done, failures = threading.Event(), []

    def writer() -> None:
        store = SqliteStore(live)
        try:
            for i in range(400):
                store.append([NewEvent(event_id=f"e{i}", event=WalRegistered(
                    at=datetime(2026, 5, 20, tzinfo=UTC), wal_id=f"phone_{i}", timer_start=i))])
        except Exception as error:  # reported to the main thread
            failures.append(error)
        finally:
            store.close()
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    counts = []
    while not done.is_set() or len(counts) < 3:
        out = tmp_path / f"snap{len(counts)}.db"
        report = export_log(live, out)
        with closing(sqlite3.connect(out)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            count, top = conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone()
        assert count == top == report.events
        assert verify_log(out).ok
        counts.append(count)
    thread.join()
    assert not failures
    assert counts == sorted(counts)
    final = export_log(live, tmp_path / "final.db")
    assert final.events == 400 and len(replay_shared_log(tmp_path / "final.db").wals) == 400


# -- round trips --------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
def test_export_round_trips_through_import(sim_log: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"export{suffix}"
    report = export_log(sim_log, out)
    before = _digest(sim_log)
    assert import_log(out, tmp_path / "imported.db") == report.events > 0
    assert _events(tmp_path / "imported.db") == _events(sim_log)
    with closing(sqlite3.connect(sim_log)) as a, \
            closing(sqlite3.connect(tmp_path / "imported.db")) as b:
        assert dump_projection_tables(a) == dump_projection_tables(b)
    assert replay_shared_log(out).rows == replay_shared_log(sim_log).rows
    assert _digest(sim_log) == before
    with pytest.raises(ImportRejected, match="already exists"):
        import_log(out, tmp_path / "imported.db")
    with pytest.raises(StoreError, match="exists"):
        export_log(sim_log, out)


def test_jsonl_manifest(sim_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.jsonl"
    report = export_log(sim_log, out)
    lines = out.read_bytes().splitlines()
    manifest = json.loads(lines[0])
    assert manifest == {"walsync_export": 1, "schema_version": SCHEMA_VERSION, "events": len(lines) - 1,
                        "head": report.head, "redacted": []}


class _Row(dict):  # type: ignore[type-arg]  # a row dict that counts the ones alive
    alive = most = 0

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        _Row.alive += 1
        _Row.most = max(_Row.most, _Row.alive)

    def __del__(self) -> None:
        _Row.alive -= 1


@pytest.mark.parametrize(("suffix", "redact"), [(".jsonl.gz", True), (".jsonl", False),
                                                (".db", True), (".db", False)])
def test_export_holds_one_row_at_a_time_and_imports(
        sim_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str,
        redact: bool) -> None:
    """A year's log held 2.9 GB when its rows were gathered before writing: they stream, the
    manifest (the first line of a JSON Lines export, which names the head) written after
    them, and the export imports as before (a .gz of two gzip members reads as one)."""
    from walsync.adapters.store.share import export as module

    real = module._rows
    monkeypatch.setattr(module, "_rows", lambda *a: (_Row(row) for row in real(*a)))
    _Row.alive = _Row.most = 0
    out = tmp_path / f"export{suffix}"
    report = export_log(sim_log, out, redact=redact)
    assert report.events == len(_events(sim_log)) > 20
    assert _Row.most <= 3, _Row.most
    assert import_log(out, tmp_path / "imported.db") == report.events
    if not redact:
        assert _events(tmp_path / "imported.db") == _events(sim_log)


# -- T27: redaction -----------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
def test_redacted_export_has_no_canary(canary_log: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"redacted{suffix}"
    report = export_log(canary_log, out, redact=True)
    raw = out.read_bytes()
    assert not any(c.lower().encode() in raw.lower() for c in CANARIES)
    assert b"canary" not in raw.lower()
    if suffix == ".jsonl":
        lines = [json.loads(line) for line in raw.splitlines()]
        unescaped = json.dumps(lines, ensure_ascii=False).lower()
        assert "canary" not in unescaped
        assert {"device", "file_path", "conversation_id", "wal_id"} <= set(lines[0]["redacted"])
        rows = lines[1:]
    else:
        with closing(sqlite3.connect(out)) as conn:
            manifest = dict(conn.execute("SELECT key, value FROM export_manifest").fetchall())
            rows = [{"stream": s, "data": json.loads(d)}
                    for s, d in conn.execute("SELECT stream, data FROM events ORDER BY seq")]
        assert "file_path" in json.loads(manifest["redacted"])
        assert verify_log(out).ok  # re-chained: the redacted copy verifies on its own
    wal_streams = {r["stream"] for r in rows if r["stream"].startswith("wal:")}
    assert len(wal_streams) == 2
    devices = {s[4:].rsplit("_", 1)[0] for s in wal_streams}
    assert len(devices) == 1 and devices.pop().startswith("dev-")  # one pseudodevice
    assert {s.rsplit("_", 1)[1] for s in wal_streams} == {"1779264000", "1779264060"}
    for row in rows:
        if row["stream"].startswith("wal:"):  # its wal_id left to the stream (schema version 4)
            assert "wal_id" not in row["data"]
        for member in row["data"].get("batch", ()):
            assert f"wal:{member}" in wal_streams
    registered = [r["data"] for r in rows if "timer_start" in r["data"]]
    first = next(d for d in registered if d["timer_start"] == 1779264000)
    synced = [r["data"] for r in rows if r["data"].get("new_conversations")]
    assert synced and synced[0]["new_conversations"] == [first["conversation_id"]]
    assert report.redacted and replay_shared_log(out).wals


def test_pseudonyms_differ_between_exports(canary_log: Path, tmp_path: Path) -> None:
    export_log(canary_log, tmp_path / "a.jsonl", redact=True)
    export_log(canary_log, tmp_path / "b.jsonl", redact=True)
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "b.jsonl").read_bytes()


# -- T29: hostile imports -----------------------------------------------------------------

def _modified(base: Path, tmp: Path, *sql: str) -> Path:
    path = tmp / "hostile.db"
    shutil.copyfile(base, path)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for statement in sql:
            conn.execute(statement)
    return path


def _jsonl_with(base: Path, tmp: Path, line: bytes | None, *, at: int = 3) -> Path:
    lines = base.read_bytes().splitlines()
    if line is None:
        del lines[at]
    else:
        lines[at] = line
    path = tmp / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _row_with_data(base: Path, data: str) -> bytes:
    row = json.loads(base.read_bytes().splitlines()[3])
    return json.dumps(row).replace(json.dumps(row["data"]), data).encode()


def _random(base: Path, tmp: Path) -> Path:
    path = tmp / "random.db"
    path.write_bytes(random.Random(7).randbytes(8192))
    return path


def _truncated(base: Path, tmp: Path) -> Path:
    path = tmp / "truncated.db"
    path.write_bytes(base.read_bytes()[: base.stat().st_size // 2])
    return path


def _not_sqlite(base: Path, tmp: Path) -> Path:
    (tmp / "text.db").write_text("hello, not a database\n")
    return tmp / "text.db"


def _symlink(base: Path, tmp: Path) -> Path:
    (tmp / "link.db").symlink_to(base)
    return tmp / "link.db"


def _directory(base: Path, tmp: Path) -> Path:
    (tmp / "dir.db").mkdir()
    return tmp / "dir.db"


def _fifo(base: Path, tmp: Path) -> Path:
    os.mkfifo(tmp / "fifo.db")
    return tmp / "fifo.db"


INFINITE = ("CREATE VIEW events AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
            "SELECT x AS seq, 'e' AS event_id, 'engine' AS stream, x AS version, "
            "'PolicyApplied' AS type, 1 AS schema_version, '' AS at, '{}' AS data, "
            "'' AS prev_hash, '' AS hash FROM c")

DB_CASES: dict[str, Callable[[Path, Path], Path]] = {
    "random_bytes": _random,
    "truncated_db": _truncated,
    "not_sqlite": _not_sqlite,
    "events_is_view": lambda b, t: _modified(b, t, "DROP TABLE events", INFINITE),
    "trigger": lambda b, t: _modified(
        b, t, "CREATE TRIGGER evil AFTER INSERT ON events BEGIN DELETE FROM events; END"),
    "extra_table": lambda b, t: _modified(b, t, "CREATE TABLE evil (x)"),
    "view_named_like_table": lambda b, t: _modified(
        b, t, "DROP TABLE wal_rows", "CREATE VIEW wal_rows AS SELECT 1"),
    "wrong_columns": lambda b, t: _modified(
        b, t, "DROP TABLE events", "CREATE TABLE events (seq INTEGER PRIMARY KEY, data BLOB)"),
    "huge_row": lambda b, t: _modified(
        b, t, "UPDATE events SET data = '{\"x\":\"' || hex(zeroblob(1500000)) || '\"}' "
              "WHERE seq = 5"),
    "unknown_type": lambda b, t: _modified(b, t, "UPDATE events SET type = 'Evil' WHERE seq = 3"),
    "wrong_value_type": lambda b, t: _modified(b, t, "UPDATE events SET data = x'00' WHERE seq = 3"),
    "bad_event_data": lambda b, t: _modified(
        b, t, "UPDATE events SET data = '{\"nope\": 1}' WHERE seq = 3"),
    # valid JSON that is no object, also behind JSON's whitespace (an object must start "{")
    "data_is_array": lambda b, t: _modified(
        b, t, "UPDATE events SET data = char(13, 10, 9, 32) || '[{}]' WHERE seq = 3"),
    "data_is_text": lambda b, t: _modified(b, t, "UPDATE events SET data = ' \"{}\"' WHERE seq = 3"),
    "data_is_number": lambda b, t: _modified(b, t, "UPDATE events SET data = '7' WHERE seq = 3"),
    "symlink": _symlink,
    "directory": _directory,
    "fifo": _fifo,
    "dev_zero": lambda b, t: Path("/dev/zero"),
}

JSONL_CASES: dict[str, Callable[[Path, Path], Path]] = {
    "malformed_line": lambda b, t: _jsonl_with(b, t, b'{"seq": 1,'),
    "nan": lambda b, t: _jsonl_with(b, t, _row_with_data(b, '{"x": NaN}')),
    "infinity": lambda b, t: _jsonl_with(b, t, _row_with_data(b, '{"x": -Infinity}')),
    "duplicate_keys": lambda b, t: _jsonl_with(b, t, b'{"seq": 1, "seq": 2}'),
    "deep_nesting": lambda b, t: _jsonl_with(b, t, _row_with_data(b, '{"x": ' + "[" * 100
                                                                   + "]" * 100 + "}")),
    "very_deep_nesting": lambda b, t: _jsonl_with(b, t, b"[" * 100_000 + b"]" * 100_000),
    "lone_surrogate": lambda b, t: _jsonl_with(b, t, _row_with_data(b, '{"x": "\\ud800"}')),
    "invalid_utf8": lambda b, t: _jsonl_with(b, t, b'{"x": "\xff"}'),
    "line_over_1mib": lambda b, t: _jsonl_with(b, t, b'{"x": "' + b"a" * (1 << 20) + b'"}'),
    "not_a_row": lambda b, t: _jsonl_with(b, t, b"[1, 2, 3]"),
    "missing_manifest": lambda b, t: _jsonl_with(b, t, b'{"hello": 1}', at=0),
    "truncated_export": lambda b, t: _jsonl_with(b, t, None, at=-1),
    "blank_line": lambda b, t: _jsonl_with(b, t, b""),
    "newer_row": lambda b, t: _jsonl_with(
        b, t, b.read_bytes().splitlines()[3].replace(b'"schema_version":%d' % SCHEMA_VERSION,
                                               b'"schema_version":9')),
}


EXPECTED = {  # a word of each reason: rejected for the right cause, not by accident
    "random_bytes": "neither", "truncated_db": "damaged", "not_sqlite": "neither",
    "events_is_view": "view", "trigger": "trigger", "extra_table": "unknown table",
    "view_named_like_table": "view", "wrong_columns": "definition", "huge_row": "byte limit",
    "unknown_type": "does not know", "wrong_value_type": "wrong type", "bad_event_data": "seq 3",
    "data_is_array": "wrong type (first at seq 3)", "data_is_text": "wrong type (first at seq 3)",
    "data_is_number": "wrong type (first at seq 3)",
    "symlink": "symbolic link", "directory": "not a regular file", "fifo": "not a regular file",
    "dev_zero": "not a regular file", "malformed_line": "line 4", "nan": "NaN",
    "infinity": "Infinity", "duplicate_keys": "twice", "deep_nesting": "deeper than 64",
    "very_deep_nesting": "deeper than 64", "lone_surrogate": "surrogates",
    "invalid_utf8": "strict JSON", "line_over_1mib": "longer than", "not_a_row": "event row",
    "missing_manifest": "manifest", "truncated_export": "incomplete", "blank_line": "line 4",
    "newer_row": "newer schema version",
}


def _assert_rejected(path: Path, user_log: Path, tmp_path: Path) -> ImportRejected:
    mine, files = _digest(user_log), sorted(os.listdir(user_log.parent))
    source = _digest(path) if path.is_file() and not path.is_symlink() else None
    listing = sorted(os.listdir(tmp_path))
    with pytest.raises(ImportRejected) as caught:
        import_log(path, tmp_path / "new.db")
    with pytest.raises(ImportRejected):
        replay_shared_log(path)
    reason = caught.value.reason
    assert reason and "\n" not in reason and "Traceback" not in reason and len(reason) < 300
    assert _digest(user_log) == mine and sorted(os.listdir(user_log.parent)) == files
    assert sorted(os.listdir(tmp_path)) == listing  # nothing written, no target left behind
    if source is not None:
        assert _digest(path) == source
    return caught.value


@pytest.mark.parametrize("case", sorted(DB_CASES))
def test_hostile_db_is_rejected(case: str, base_db: Path, user_log: Path, tmp_path: Path) -> None:
    error = _assert_rejected(DB_CASES[case](base_db, tmp_path), user_log, tmp_path)
    assert EXPECTED[case] in error.reason


@pytest.mark.parametrize("case", sorted(JSONL_CASES))
def test_hostile_jsonl_is_rejected(case: str, base_jsonl: Path, user_log: Path,
                                   tmp_path: Path) -> None:
    error = _assert_rejected(JSONL_CASES[case](base_jsonl, tmp_path), user_log, tmp_path)
    assert EXPECTED[case] in error.reason


def test_newer_schema_version_names_count_and_first_seq(base_db: Path, user_log: Path,
                                                        tmp_path: Path) -> None:
    path = _modified(base_db, tmp_path,
                     f"UPDATE events SET schema_version = {SCHEMA_VERSION + 1} WHERE seq >= 10")
    newer = sum(1 for row in _events(path) if row[5] == SCHEMA_VERSION + 1)
    error = _assert_rejected(path, user_log, tmp_path)
    assert f"{newer} events" in error.reason and "seq 10" in error.reason


def test_progress_handler_deadline(base_db: Path) -> None:
    with pytest.raises(ImportRejected, match="longer than"), open_shared_log(base_db, deadline_s=0):
        pass


def test_size_cap(base_db: Path, user_log: Path, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match="byte limit"):
        import_log(base_db, tmp_path / "new.db", max_bytes=1000)
    assert not (tmp_path / "new.db").exists()


def test_limits_are_raised_for_a_log_you_trust(base_db: Path, base_jsonl: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A log over the size or time limit (a year of a device's history is over both) is refused
    with the way to import it anyway; `--max-mb` and `--max-seconds` raise the limits."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(base_jsonl, "shared.jsonl")
    mib = os.path.getsize("shared.jsonl") / (1 << 20)
    runner = CliRunner()
    refused = runner.invoke(cli, ["import", "shared.jsonl", "--into", "small.db",
                                  "--max-mb", f"{mib / 2:.4f}"])
    assert refused.exit_code == 1, refused.output
    assert "byte limit" in refused.output and "--max-mb N --max-seconds S" in refused.output
    assert not Path("small.db").exists()
    done = runner.invoke(cli, ["import", "shared.jsonl", "--into", "big.db", "--max-mb",
                               f"{mib * 2:.3f}", "--max-seconds", "60", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["events"] == len(_events(base_db))
    with pytest.raises(ImportTooLarge, match=r"longer than the 0 s limit\. A log you trust"):
        import_log(base_db, tmp_path / "slow.db", deadline_s=0)
    assert not (tmp_path / "slow.db").exists()


def test_own_log_in_wal_mode_imports(user_log: Path, tmp_path: Path) -> None:
    """A live log shared as-is (WAL header, no sidecar copied) imports from a private copy."""
    before = _digest(user_log)
    assert import_log(user_log, tmp_path / "copy.db") == len(_events(user_log))
    assert _digest(user_log) == before


def test_wal_sidecar_next_to_shared_file_is_never_read(base_db: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared.db"
    shutil.copyfile(base_db, shared)
    (tmp_path / "shared.db-wal").write_bytes(random.Random(3).randbytes(4096))
    assert import_log(shared, tmp_path / "new.db") == len(_events(base_db))


@pytest.mark.parametrize("base_name", ["base_db", "base_jsonl"])
def test_mutated_exports_import_or_are_rejected(base_name: str, request: pytest.FixtureRequest,
                                                user_log: Path, tmp_path: Path) -> None:
    """Byte mutations of a valid export: either a clean import or ImportRejected, nothing else."""
    base: Path = request.getfixturevalue(base_name)
    original, rng, mine = base.read_bytes(), random.Random(11), _digest(user_log)
    outcomes = set()
    for i in range(40):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path = tmp_path / f"m{i}{base.suffix}"
        path.write_bytes(bytes(data))
        try:
            import_log(path, tmp_path / f"m{i}.imported.db")
            outcomes.add("imported")
        except ImportRejected:
            outcomes.add("rejected")
            assert not (tmp_path / f"m{i}.imported.db").exists()
    assert "rejected" in outcomes and _digest(user_log) == mine
