"""T03: I/O-error injection sweep through the apsw VFS, on the store's own append path.

For k = 1..K: the k-th write fails with SQLITE_FULL or SQLITE_IOERR, or the k-th fsync fails,
once (the fault then clears). The store must raise a typed StorageFull / StorageIOError, treat
the failed COMMIT as indeterminate (roll back what is open, re-read the log rather than assume),
and keep working: acked ⊆ stored ⊆ acked ∪ in-flight, the in-flight batch is all or nothing,
retrying it with the same event ids lands it exactly once, and the log stays sound.
"""

from __future__ import annotations

import random
import shutil
from contextlib import closing
from pathlib import Path

import apsw
import pytest
from faulty_vfs import ApswConnection, FaultyVFS
from storage_fixtures import check_intact, check_sound, registered, stored_ids
from tier import record, scale

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import StorageFull, StorageIOError

_KINDS = ("full", "ioerr", "fsync")


@pytest.fixture(scope="module")
def vfs() -> FaultyVFS:
    made = FaultyVFS("faults")
    yield made  # type: ignore[misc]
    made.unregister()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("t03") / "template.db"
    store = SqliteStore(path)
    store.append([registered("seed", i) for i in range(5)])
    store.close()
    return path


def _crash_copy(path: Path) -> Path:
    """The files as a crash right now would leave them (db and -wal bytes, no -shm)."""
    crash = path.with_name(path.stem + "-crash.db")
    for suffix in ("", "-wal"):
        if Path(f"{path}{suffix}").exists():
            shutil.copy(f"{path}{suffix}", f"{crash}{suffix}")
    return crash


def _check_crash_copy(crash: Path, acked: set[str], in_flight: list[NewEvent]) -> bool:
    """After a crash right behind the failed append: acked ⊆ stored ⊆ acked ∪ in-flight, and a
    retry with the same ids lands the batch exactly once. Returns whether it had landed."""
    store = SqliteStore(crash)
    ids = {r.event_id for r in store.read()}
    flight = {e.event_id for e in in_flight}
    assert acked <= ids, "an acknowledged event is missing after the crash"
    assert ids - acked in (set(), flight), "stored beyond acked ∪ in-flight, or half a batch"
    landed = bool(ids - acked)
    assert len(store.append(in_flight)) == (0 if landed else len(in_flight))
    store.close()
    check_intact(crash)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{crash}{suffix}").unlink(missing_ok=True)
    return landed


def _batch_sizes(shape: int) -> list[int]:
    """30 batch sizes: shape 0 is every fourth batch of 5, others a seeded mix of 1 to 6."""
    if shape == 0:
        return [1 + (b % 4 == 3) * 4 for b in range(30)]
    rng = random.Random(shape)
    return [rng.randint(1, 6) for _ in range(30)]


def _scenario(path: Path, vfs: FaultyVFS, k: int, shape: int = 0) -> tuple[bool, bool]:
    """Run 30 appends with one fault armed at op k; returns (fault fired, failed batch landed)."""
    vfs.writes = vfs.syncs = vfs.faults = 0
    vfs.fail_write = vfs.fail_sync = None
    store = SqliteStore(path, connect=lambda p, t: ApswConnection(p, t, vfs.name))  # type: ignore[arg-type,return-value]
    vfs.writes = vfs.syncs = 0
    kind = _KINDS[k % 3]
    if kind == "fsync":
        vfs.fail_sync = k // 3 + 1
    else:
        vfs.fail_write = k
        vfs.fail_kind = apsw.FullError if kind == "full" else apsw.IOError
    before = [r.event_id for r in store.read()]  # never a stdlib connection while apsw holds it
    acked: list[str] = []
    in_flight: list[list[str]] = []
    batches = [[registered(f"k{k}", 10 * b + i) for i in range(size)]
               for b, size in enumerate(_batch_sizes(shape))]
    failed = []
    crash: tuple[Path, set[str], list[NewEvent]] | None = None
    for batch in batches:
        try:
            store.append(batch)
        except (StorageFull, StorageIOError) as error:
            assert isinstance(error, StorageFull) == (kind == "full"), error
            in_flight.append([e.event_id for e in batch])
            failed.append(batch)
            crash = (_crash_copy(path), {*before, *acked}, batch)
            continue
        acked.extend(e.event_id for e in batch)
    assert vfs.faults <= 1
    # The fault cleared: the store is still usable, and after the failed COMMIT it re-read.
    live_head = store.head()[0]
    assert store.projection.checkpoint == live_head
    ids = [r.event_id for r in store.read()][len(before):]
    assert set(acked) <= set(ids), "an acknowledged event is missing"
    extra = set(ids) - set(acked)
    assert extra in ({*batch} for batch in [[], *in_flight]), f"stored beyond acked: {extra}"
    # Retrying the in-flight batch with the same ids lands it exactly once.
    for batch in failed:
        landed = {e.event_id for e in batch} <= set(ids)
        assert len(store.append(batch)) == (0 if landed else len(batch))
    store.close()
    final = stored_ids(path)[len(before):]
    assert sorted(final) == sorted({e.event_id for b in batches for e in b})
    check_intact(path)
    landed = _check_crash_copy(*crash) if crash is not None else False
    return vfs.faults == 1, landed


def test_t03_io_error_sweep_keeps_acked_events_and_the_store_usable(
        tmp_path: Path, vfs: FaultyVFS, template: Path) -> None:
    # A scenario of 30 appends has about 200 write and fsync points to fail; the long tier sweeps
    # them again for more batch shapes rather than sweeping past the end of one scenario.
    sweep, shapes = 200, scale(1, 8)
    fired = resurrected = 0
    for shape in range(shapes):
        for k in range(1, sweep + 1):
            path = tmp_path / f"s{shape}k{k}.db"
            shutil.copy(template, path)
            hit, landed = _scenario(path, vfs, k, shape)
            fired += hit
            resurrected += landed
            if k % 50 == 0 or k == sweep:
                check_sound(path)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    record("T03 I/O-error sweep", "faults injected", fired, 0)
    print(f"T03: {fired} faults fired, {resurrected} failed commits found stored after a crash")
    tried = sweep * shapes
    assert fired > tried // 2, f"only {fired} of {tried} faults fired: the scenario is too short"


def test_t03_fault_during_open_is_typed_and_leaves_the_log_intact(
        tmp_path: Path, vfs: FaultyVFS, template: Path) -> None:
    path = tmp_path / "open.db"
    shutil.copy(template, path)
    with closing(__import__("sqlite3").connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # opening must switch it back to WAL: a write
    vfs.writes = vfs.syncs = vfs.faults = 0
    vfs.fail_sync, vfs.fail_write, vfs.fail_kind = None, 1, apsw.IOError
    with pytest.raises(StorageIOError):
        SqliteStore(path, connect=lambda p, t: ApswConnection(p, t, vfs.name))  # type: ignore[arg-type,return-value]
    vfs.fail_write = None
    assert len(stored_ids(path)) == 5
    check_sound(path)
