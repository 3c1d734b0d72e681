"""T05: the start-up integrity gate. Damaged copies of a log (bit flips, truncation, a broken
header, a hot -wal deleted or damaged, random bytes) are opened through open_engine.

Each open either finds the damage, moves the file aside byte for byte (never repaired, never
rebuilt over) and salvages it (T33): the new log in its place holds a verified prefix of the
source's rows, hashes and all, then a `LogSalvaged` event naming where the original went, and is
sound; or it opens a log that is sound and holds the same events as the source (a flip in free
space) or a prefix of them (a lost or damaged -wal drops whole commits at the tail, which only
an anchored head can tell: T26). Until T33 a damaged log was moved aside with nothing created in
its place, and the next start made an empty log that uploaded every recording again.

Since issue 17 opening checks only the rows after the verified checkpoint (each open verifies
what came since and moves it on; a log never reopened has none) and trusts the projection
tables: the "verified" source was opened once after it was written, so most damage in it lies
in the verified range. There a damaged copy may open (the fold reads every row, so a row it
cannot read still sends the gate over the whole chain and is salvaged at open); then `walsync
verify --full` must find the damage, and `--full --repair` salvage it the way start-up does
(or rewrite a damaged table row), leaving a sound log whose rows are a prefix of the source's.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from storage_fixtures import check_sound, log_then, registered
from tier import record, scale

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.readonly.full_check import verify_full
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import LogSalvaged

Damage = Callable[[Path, random.Random], None]


def _rows(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT seq, event_id, hash FROM events ORDER BY seq").fetchall()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A closed log, and a crash copy whose last commits live only in its -wal."""
    folder = tmp_path_factory.mktemp("t05")
    closed = folder / "closed.db"
    store = SqliteStore(closed)
    for i in range(40):
        store.append([registered("c", 10 * i + j) for j in range(1 + i % 3)])
    store.close()
    verified = folder / "verified.db"
    shutil.copy(closed, verified)
    SqliteStore(verified).close()  # opened once more: its rows are behind the checkpoint
    hot = folder / "hot.db"
    shutil.copy(closed, hot)
    store = SqliteStore(hot)
    for i in range(30):
        store.append([registered("h", i)])
    for suffix in ("", "-wal"):  # as a crash would leave them; the store is still open
        shutil.copy(f"{hot}{suffix}", folder / f"hot-crash.db{suffix}")
    store.close()
    return {"closed": closed, "verified": verified, "hot": folder / "hot-crash.db"}


def _flip(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    at = rng.randrange(100, len(data))  # past the header's magic and sizes
    data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(data)


def _truncate_half(path: Path, _: random.Random) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _truncate_odd(path: Path, _: random.Random) -> None:
    path.write_bytes(path.read_bytes()[:5000])


def _bad_magic(path: Path, _: random.Random) -> None:
    data = bytearray(path.read_bytes())
    data[0:16] = b"Not SQLite at 3\0"
    path.write_bytes(data)


def _zero_page_one(path: Path, _: random.Random) -> None:
    data = bytearray(path.read_bytes())
    data[100:4096] = bytes(3996)
    path.write_bytes(data)


def _random_bytes(path: Path, rng: random.Random) -> None:
    path.write_bytes(rng.randbytes(path.stat().st_size))


def _delete_wal(path: Path, _: random.Random) -> None:
    Path(f"{path}-wal").unlink()


def _flip_wal(path: Path, rng: random.Random) -> None:
    _flip(Path(f"{path}-wal"), rng)


def _truncate_wal(path: Path, _: random.Random) -> None:
    wal = Path(f"{path}-wal")
    wal.write_bytes(wal.read_bytes()[: wal.stat().st_size // 2])


def _variants() -> list[tuple[str, str, Damage]]:
    structural: list[tuple[str, str, Damage]] = [
        ("closed", "truncate to half", _truncate_half),
        ("closed", "truncate to 5000 bytes", _truncate_odd),
        ("closed", "header magic overwritten", _bad_magic),
        ("closed", "page 1 zeroed", _zero_page_one),
        ("closed", "random bytes", _random_bytes),
        ("hot", "hot -wal deleted", _delete_wal),
        ("hot", "hot -wal bit flip", _flip_wal),
        ("hot", "hot -wal truncated", _truncate_wal),
    ]
    flips = scale(12, 500)
    sources = ("hot", "closed", "verified", "verified")
    return structural + [(sources[i % 4], f"bit flip {i}", _flip) for i in range(flips)]


def _sidecars(path: Path) -> list[Path]:
    return [p for p in (path, Path(f"{path}-wal")) if p.exists()]


def _check_salvage(name: str, salvage: LogSalvaged, digests: dict[str, str],
                   rows: list[tuple[object, ...]], expected: list[tuple[object, ...]]) -> None:
    """The original kept byte for byte where the event says; the new log starts with a prefix
    of the source's rows, then the salvage."""
    for original, digest in digests.items():
        twin = Path(salvage.moved_to + original.removeprefix("log.db"))
        assert twin.exists(), f"{name}: {original} was not kept"
        assert hashlib.sha256(twin.read_bytes()).hexdigest() == digest, (
            f"{name}: the damaged bytes of {original} were changed")
    assert rows[: salvage.kept] == expected[: salvage.kept], f"{name}: the prefix differs"
    assert salvage.first_bad_seq is None or salvage.kept < salvage.first_bad_seq


def _repaired(name: str, path: Path, rows: list[tuple[object, ...]] | None,
              expected: list[tuple[object, ...]]) -> bool:
    """A copy that opened: when `verify --full` finds damage in it, `--full --repair` mends it
    (salvaged: the new log a prefix of the source's rows) and True; False when it is sound."""
    if verify_full(path).ok:
        return False
    store = SqliteStore(path, whole_check=True)
    salvage = store.salvaged
    store.close()
    if salvage is not None:  # moved aside after this open wrote to it: the rows are checked
        # The verified prefix: the source's rows, then those the damaged copy's open appended
        # (the policy in force), which a salvage keeps too when their chain is intact.
        mended = _rows(path)[: salvage.kept]
        assert mended[: len(expected)] == expected[: len(mended)], (
            f"{name}: the repaired prefix differs")
        if rows is not None:  # (None: the damaged copy's rows did not read)
            assert mended[len(expected):] == rows[len(expected): salvage.kept], (
                f"{name}: the repaired log's own events differ")
    else:  # a table row only: the rows are the source's
        assert rows is not None, f"{name}: rows that do not read were not salvaged"
        source_ids = {r[1] for r in expected}
        assert [r for r in rows if r[1] in source_ids] == expected, f"{name}: rows differ"
    check_sound(path)
    return True


def test_t05_damaged_log_is_salvaged_or_opens_sound(
        tmp_path: Path, sources: dict[str, Path]) -> None:
    rng = random.Random(5)
    salvaged = opened = repaired = 0
    variants = _variants()
    for n, (source, name, damage) in enumerate(variants):
        folder = tmp_path / f"v{n}"
        folder.mkdir()
        path = folder / "log.db"
        for side in _sidecars(sources[source]):
            shutil.copy(side, folder / side.name.replace(sources[source].name, "log.db"))
        expected = _rows(sources[source])
        damage(path, rng)
        digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _sidecars(path)}
        engine = open_engine(path, backend=object(), files=MemoryFiles())  # type: ignore[arg-type]
        try:
            rows: list[tuple[object, ...]] | None = [tuple(r) for r in engine.store.connection.execute(
                "SELECT seq, event_id, hash FROM events ORDER BY seq")]
        except sqlite3.DatabaseError:  # a row damaged inside the range open trusts (verified)
            rows = None
        salvage = engine.store.salvaged  # type: ignore[attr-defined]  # the SQLite store's
        engine.close()
        if salvage is not None:
            salvaged += 1
            assert rows is not None, f"{name}: the salvaged log does not read"
            _check_salvage(name, salvage, digests, rows, expected)
            check_sound(path)
            continue
        if _repaired(name, path, rows, expected):
            repaired += 1  # damage in the verified range: found by verify --full
            continue
        assert rows is not None, f"{name}: verify --full passed a log whose rows do not read"
        opened += 1
        # Opening may append events of its own (the policy in force): they come after.
        source_ids = {r[1] for r in expected}
        kept = [r for r in rows if r[1] in source_ids]
        assert rows[: len(kept)] == kept, f"{name}: new events before the source's"
        if "wal" in name:
            assert kept == expected[: len(kept)], f"{name}: opened, but not a prefix"
        else:
            assert kept == expected, f"{name}: opened a log whose events differ from the source"
        check_sound(path)
    record("T05 start-up integrity gate", "damaged logs opened", len(variants), 0)
    assert salvaged >= 5 and salvaged + opened + repaired == len(variants)


@pytest.mark.parametrize("damage", [
    # A bit flipped in a schema record's name changed only its case (wal_events -> wal_Events):
    # SQLite's names ignore case, so its checks pass, and the next CREATE VIEW IF NOT EXISTS
    # failed with "view wal_events already exists" (long tier, bit flip 177).
    "UPDATE sqlite_master SET name = 'wal_Events' WHERE name = 'wal_events'",
    "UPDATE sqlite_master SET type = 'vieg' WHERE name = 'wal_events'",
    "UPDATE sqlite_master SET name = 'wal_evemts' WHERE name = 'wal_events'",
    "UPDATE sqlite_master SET name = 'evemts' WHERE name = 'events'",
    # A bit flipped inside one of walsync's own definitions: the view silently means another thing.
    "UPDATE sqlite_master SET sql = replace(sql, 'wal:%', 'wam:%') WHERE name = 'wal_events'",
], ids=["view-name-case", "view-kind", "view-name", "table-name", "view-definition"])
def test_t05_a_damaged_schema_record_is_moved_aside_and_salvaged(tmp_path: Path, damage: str) -> None:
    path = log_then(tmp_path, "PRAGMA writable_schema=ON", damage)
    damaged = hashlib.sha256(path.read_bytes()).hexdigest()
    store = SqliteStore(path)
    salvage = store.salvaged
    store.close()
    assert salvage is not None
    [moved] = [p for p in tmp_path.iterdir()
               if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert str(moved) == salvage.moved_to
    assert hashlib.sha256(moved.read_bytes()).hexdigest() == damaged
    # Every row is sound (and read through the damaged record, from its SQL): all are kept.
    assert salvage.kept == 5 and salvage.first_bad_seq is None
    check_sound(path)


def test_t05_objects_walsync_does_not_know_are_not_damage(tmp_path: Path) -> None:
    """An index or ANALYZE's statistics added by hand are the user's business: the log opens."""
    path = log_then(tmp_path, "CREATE INDEX mine ON events (at)", "ANALYZE")
    store = SqliteStore(path)
    assert store.head()[0] == 5
    store.close()

