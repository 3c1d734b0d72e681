"""Generate the hostile import corpus (T29) from one valid .db export and one .jsonl export.

    python tests/fuzz/import_corpus.py BASE.db BASE.jsonl OUT_DIR

writes one file per case (and the FIFO/symlink/`..` cases as filesystem objects). The same
builders are used by tests/reliability/test_t29_import_corpus.py, so the corpus on disk and the
one the PR tier checks are the same. Every case must end in ImportRejected, never in a crash,
a hang, unbounded memory, or a write outside the importer's private temporary directory.
"""

from __future__ import annotations

import gzip
import os
import random
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

Builder = Callable[[Path, Path, Path], Path]  # (base .db, base .jsonl, out dir) -> the fixture


def _bitflipped(db: Path, jsonl: Path, out: Path) -> Path:
    """Flip one bit in each of 16 pages past the header: the b-tree pages are damaged."""
    data = bytearray(db.read_bytes())
    rng = random.Random(29)
    for page in range(1, min(17, len(data) // 4096)):
        data[page * 4096 + rng.randrange(100, 4096)] ^= 1 << rng.randrange(8)
    path = out / "bitflipped.db"
    path.write_bytes(bytes(data))
    return path


def _gzip_bomb(db: Path, jsonl: Path, out: Path, size: int = 16 << 20) -> Path:
    """A .jsonl.gz that inflates to `size` bytes of one endless line."""
    path = out / "bomb.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as file:
        chunk = b"0" * (1 << 20)
        for _ in range(size >> 20):
            file.write(chunk)
    return path


def _gzip_not_gzip(db: Path, jsonl: Path, out: Path) -> Path:
    path = out / "fake.jsonl.gz"
    path.write_bytes(jsonl.read_bytes())
    return path


def _gzip_truncated(db: Path, jsonl: Path, out: Path) -> Path:
    packed = gzip.compress(jsonl.read_bytes())
    path = out / "truncated.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    return path


def _dotdot(db: Path, jsonl: Path, out: Path) -> Path:
    """A user-supplied path that climbs out through a directory that does not exist."""
    return out / "missing" / ".." / ".." / db.name


def _parent_dir(db: Path, jsonl: Path, out: Path) -> Path:
    return out / ".."


def _symlink_to_dev_zero(db: Path, jsonl: Path, out: Path) -> Path:
    path = out / "zero.db"
    path.symlink_to("/dev/zero")
    return path


def _fifo_jsonl(db: Path, jsonl: Path, out: Path) -> Path:
    path = out / "fifo.jsonl"
    os.mkfifo(path)
    return path


def _wrong_column_types(db: Path, jsonl: Path, out: Path) -> Path:
    path = out / "types.db"
    path.write_bytes(db.read_bytes())
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("UPDATE events SET version = 'two', seq = seq WHERE seq = 4")
    return path


def _wal_sidecar_of_garbage(db: Path, jsonl: Path, out: Path) -> Path:
    """A shared file whose header says WAL mode, next to a hostile -wal: it must not be read."""
    path = out / "walmode.db"
    data = bytearray(db.read_bytes())
    data[18:20] = b"\x02\x02"
    path.write_bytes(bytes(data[: len(data) // 3]))  # and cut short, so it is rejected
    (out / "walmode.db-wal").write_bytes(random.Random(5).randbytes(32768))
    return path


CASES: dict[str, Builder] = {
    "bitflipped_db": _bitflipped,
    "gzip_bomb": _gzip_bomb,
    "gzip_not_gzip": _gzip_not_gzip,
    "gzip_truncated": _gzip_truncated,
    "dotdot_path": _dotdot,
    "parent_dir": _parent_dir,
    "symlink_to_dev_zero": _symlink_to_dev_zero,
    "fifo_jsonl": _fifo_jsonl,
    "wrong_column_types": _wrong_column_types,
    "wal_sidecar_of_garbage": _wal_sidecar_of_garbage,
}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    db, jsonl, out = (Path(a) for a in argv)
    for name, build in CASES.items():
        case_dir = out / name
        case_dir.mkdir(parents=True, exist_ok=False)
        print(name, build(db, jsonl, case_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
