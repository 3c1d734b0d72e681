"""A sealed segment file: gzip-compressed JSON Lines beside the log, a header line and then one
JSON array per row in the log's column order (the data column as its stored text, so each row
hashes exactly as it did in the log). Written to a temporary name, fsynced, renamed, and the
folder fsynced: once its `SegmentSealed` commits, the file is on disk."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, Final

import orjson

from walsync.adapters.store.records import EVENT_COLUMNS
from walsync.core.errors import SegmentAltered

__all__ = ["SEGMENT_FORMAT", "file_digest", "read_segment", "segment_name", "write_segment"]

SEGMENT_FORMAT: Final = 1
_CHUNK: Final = 1 << 20


def segment_name(log: Path, first_seq: int, last_seq: int) -> str:
    """The segment's file name beside `log` (its seq range, zero-padded so names sort)."""
    return f"{log.name}.seg-{first_seq:012d}-{last_seq:012d}.jsonl.gz"


def write_segment(target: Path, rows: Iterable[tuple[Any, ...]], first_seq: int,
                  last_seq: int) -> str:
    """Write the rows to `target` durably (temporary name, fsync, rename, fsync of the
    folder); the sha256 of the file's bytes. An earlier file of that name (a compaction that
    crashed before its commit) is replaced."""
    temporary = target.with_name(target.name + ".tmp")
    header = {"walsync_segment": SEGMENT_FORMAT, "columns": list(EVENT_COLUMNS),
              "first_seq": first_seq, "last_seq": last_seq}
    try:
        with open(temporary, "wb") as raw:
            # No name and no time in the gzip header: the same rows make the same bytes.
            with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6,
                               mtime=0) as out:
                out.write(orjson.dumps(header) + b"\n")
                for row in rows:
                    out.write(orjson.dumps(tuple(row)) + b"\n")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            temporary.unlink()
        raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return file_digest(target)


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_segment(path: Path, sha256: str) -> Iterator[tuple[Any, ...]]:
    """The rows of a segment whose bytes hash to `sha256` (SegmentAltered otherwise, or when a
    line is not a row), streamed. FileNotFoundError when it is gone."""
    found = file_digest(path)
    if found != sha256:
        raise SegmentAltered(f"The segment {path.name} was altered: its sha256 is {found}, "
                             f"its SegmentSealed anchored {sha256}")
    try:
        with gzip.open(path, "rb") as file:
            header = orjson.loads(file.readline())
            if header.get("walsync_segment") != SEGMENT_FORMAT:
                raise SegmentAltered(f"The segment {path.name} was altered: it has no segment header")
            for line in file:
                row = orjson.loads(line)
                if type(row) is not list or len(row) != len(EVENT_COLUMNS):
                    raise SegmentAltered(f"The segment {path.name} was altered: a line is not a row")
                yield tuple(row)
    except (OSError, EOFError, orjson.JSONDecodeError, AttributeError) as error:
        raise SegmentAltered(f"The segment {path.name} was altered: it cannot be read ({error})") from error
