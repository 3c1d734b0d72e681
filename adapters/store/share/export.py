"""Export a log for diagnosis: a consistent .db snapshot (backup API) or JSONL, optionally redacted.

A compacted log is exported whole: the rows its sealed segments hold (each segment checked
against the digest its `SegmentSealed` anchored), then its live rows, one chain from seq 1 that
import, replay and the fleet's ingest read like any log (the retention anchors come along as
events of the log; store/segments/anchors.py reads a history from seq 1 as never compacted)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import IO, Any, Final

import orjson
from attrs import frozen

from walsync.adapters.store.readonly.media import open_readonly
from walsync.adapters.store.records import (
    EVENT_COLUMNS,
    GENESIS_HASH,
    chain_hash,
    insert_rows,
    select_rows,
    spell_out,
)
from walsync.adapters.store.segments.anchors import whole_history
from walsync.adapters.store.segments.travel import raw_sealed_rows
from walsync.adapters.store.share.redactor import REDACTED_FIELDS, Redactor
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import StoreError
from walsync.core.serde import SCHEMA_VERSION, canonical_bytes

__all__ = ["COLUMNS", "EXPORT_FORMAT", "MANIFEST_DDL", "REDACTED_FIELDS", "ROW_TYPES", "ExportReport",
           "export_log", "strict_json"]

EXPORT_FORMAT: Final = 1
COLUMNS: Final = EVENT_COLUMNS  # the log's own column list, under this module's public name
# Every exported row has these; `commit_end` too (an integer, or null in rows written before
# schema version 3), which exports made before it lack.
ROW_TYPES: Final[dict[str, type]] = {
    "seq": int, "event_id": str, "stream": str, "version": int, "type": str,
    "schema_version": int, "at": str, "data": dict, "prev_hash": str, "hash": str}
MANIFEST_DDL: Final = "CREATE TABLE export_manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_MAX_DEPTH: Final = 64


@frozen(kw_only=True)
class ExportReport:
    """What an export wrote: the file, its format, the rows, the head and the redacted fields."""

    out: str
    format: str
    events: int
    head: str
    redacted: tuple[str, ...]


def export_log(source: str | Path, out: str | Path, *, redact: bool = False,
               tokens: Sequence[str] = ()) -> ExportReport:
    """Write `out` (.db or .jsonl, which must not exist) from a consistent snapshot of `source`.
    With `redact`, every whole occurrence of each of `tokens` (in any of its encodings) goes too."""
    source, out = Path(source), Path(out)
    kind = _kind(out)
    if kind is None:
        raise StoreError(f"{out}: export writes a .db, .jsonl or .jsonl.gz file")
    if os.path.lexists(out):
        raise StoreError(f"{out} exists; export never overwrites a file")
    if not source.is_file():
        raise StoreError(f"no log file at {source}")
    # Absolute: SQLite opens the snapshot by a file: URI, which a relative path cannot be.
    work = Path(tempfile.mkdtemp(prefix=".walsync-export-", dir=out.absolute().parent))
    try:
        snapshot = work / "snapshot.db"
        _snapshot(source, snapshot)
        sealed = _has_segments(snapshot)
        redacted = REDACTED_FIELDS if redact else ()
        tally = _Tally()
        rows = tally.counted(_rows(snapshot, source, Redactor(tokens) if redact else None))
        result = work / ("result." + kind)
        if kind != "db":  # the rows first (the manifest, the file's first line, names the head)
            body = work / ("rows." + kind)
            with _opener(kind)(body, "wb") as file:
                for row in rows:
                    file.write(orjson.dumps(row) + b"\n")
            with _opener(kind)(result, "wb") as file:
                file.write(orjson.dumps(tally.manifest(redacted)) + b"\n")
            with result.open("ab") as file, body.open("rb") as written:
                shutil.copyfileobj(written, file)  # .gz: a second gzip member, read as one
        else:
            _write_db(snapshot if not (redact or sealed) else None, result, rows, tally, redacted)
        os.link(result, out)  # fails if `out` appeared meanwhile: never clobbers
    except (sqlite3.Error, OSError) as error:
        raise StoreError(f"export to {out} failed: {error}") from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportReport(out=str(out), format=kind, events=tally.events, head=tally.head,
                        redacted=redacted)


class _Tally:
    """The rows an export wrote, counted as they pass: how many and the last one's hash."""

    def __init__(self) -> None:
        self.events, self.head = 0, f"0:{GENESIS_HASH}"

    def counted(self, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            self.events += 1
            self.head = f"{row['seq']}:{row['hash']}"
            yield row

    def manifest(self, redacted: Sequence[str]) -> dict[str, Any]:
        return {"walsync_export": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION,
                "events": self.events, "head": self.head, "redacted": list(redacted)}


def _opener(kind: str) -> Callable[..., IO[bytes]]:
    return gzip.open if kind == "jsonl.gz" else open  # type: ignore[return-value]  # both take (path, "wb")


def _kind(out: Path) -> str | None:
    """The export format an output name asks for."""
    name = out.name.lower()
    for kind in ("jsonl.gz", "jsonl", "db"):
        if name.endswith("." + kind) and len(name) > len(kind) + 1:
            return kind
    return None


def _snapshot(source: Path, target: Path) -> None:
    """sqlite3 backup API in one step: one read transaction, consistent under concurrent writers."""
    src = open_readonly(source)  # on read-only media too
    try:
        with closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        src.close()


def _has_segments(snapshot: Path) -> bool:
    """Whether the log was compacted (its rows start after seq 1, the rest in segments): its
    export is then a new log of the whole history, not the snapshot itself."""
    with closing(sqlite3.connect(f"{snapshot.as_uri()}?mode=ro", uri=True)) as conn:
        return not whole_history(conn)


def _stored_rows(conn: sqlite3.Connection, source: Path) -> Iterator[tuple[Any, ...]]:
    """Every row of the history, as stored: the sealed segments' (beside `source`, as the
    snapshot's seals name them), then the snapshot's, which must continue their chain.
    LogCompacted when a segment was removed, SegmentAltered when one was altered."""
    last: tuple[Any, ...] | None = None
    for last in () if whole_history(conn) else raw_sealed_rows(source, conn):
        yield last
    live = conn.execute(select_rows(conn) + " ORDER BY seq")
    first = next(live, None)
    if last is not None and first is not None and (first[0], first[8]) != (last[0] + 1, last[9]):
        raise StoreError(f"the live log of {source} does not continue its sealed segments (they "
                         f"end at seq {last[0]}, it starts at seq {first[0]}); run walsync verify")
    if first is not None:
        yield first
        yield from live


def _rows(snapshot: Path, source: Path, redactor: Redactor | None) -> Iterator[dict[str, Any]]:
    """The history's events as dicts (data parsed), one at a time; redacted rows are
    re-chained from genesis, after a first pass has learnt every identifier."""
    prev = GENESIS_HASH
    with closing(sqlite3.connect(f"{snapshot.as_uri()}?mode=ro", uri=True)) as conn:
        if redactor is not None:  # learn every identifier before redacting any free text
            for values in _stored_rows(conn, source):
                row = dict(zip(COLUMNS, values, strict=True))
                redactor.learn(orjson.loads(row["data"]))
                redactor.learn_stream(row["stream"])
        for values in _stored_rows(conn, source):
            row = dict(zip(COLUMNS, values, strict=True))
            if redactor is None:  # the stored text as it is (the chain hashed it canonical)
                row["data"] = orjson.Fragment(row["data"])
            else:
                row["data"] = redactor.data(orjson.loads(row["data"]))
                row["stream"] = redactor.stream(row["stream"])
                row["event_id"] = redactor.text(row["event_id"])
                row["prev_hash"] = prev
                row["hash"] = prev = chain_hash(
                    prev, seq=row["seq"], event_id=row["event_id"], stream=row["stream"],
                    version=row["version"], type_name=row["type"],
                    schema_version=row["schema_version"], at=row["at"], data=row["data"],
                    commit_end=row["commit_end"])
            yield row


def _write_db(snapshot: Path | None, result: Path, rows: Iterator[dict[str, Any]],
              tally: _Tally, redacted: Sequence[str]) -> None:
    """The plain snapshot, or a fresh log of the redacted rows with rebuilt projections."""
    if snapshot is not None:
        for _ in rows:  # counted for the manifest, one at a time, before the file moves
            pass
        os.replace(snapshot, result)  # our own private, closed snapshot (never a live log)
    else:
        store = SqliteStore(result)
        try:
            conn = store.connection
            conn.execute("BEGIN IMMEDIATE")
            insert_rows(conn, (tuple(canonical_bytes(r[c]).decode() if c == "data" else r[c]
                                     for c in COLUMNS) for r in rows))
            conn.execute("COMMIT")
            store.rebuild_projections(bounded=True)  # a whole year: flat memory
        finally:
            store.close()
    with closing(sqlite3.connect(result, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        spell_out(conn)  # every prev_hash in full, hashes and ids as text: as earlier logs held them
        conn.execute(MANIFEST_DDL)
        conn.executemany("INSERT INTO export_manifest (key, value) VALUES (?, ?)",
                         [(k, orjson.dumps(v).decode()) for k, v in
                          tally.manifest(redacted).items()])


def strict_json(line: bytes) -> Any:
    """The reader for this format: strict UTF-8 JSON (no NaN, duplicate keys, deep nesting,
    lone surrogates); ValueError otherwise."""
    try:
        value = json.loads(line.decode("utf-8"), parse_constant=_no_constant,
                           object_pairs_hook=_no_duplicates)
        _walk(value, 0)
    except RecursionError:
        raise ValueError(f"nested deeper than {_MAX_DEPTH} levels") from None
    except ValueError as error:
        raise ValueError(getattr(error, "msg", None) or getattr(error, "reason", None)
                         or str(error)) from None
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(value := dict(pairs)) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return value


def _walk(value: Any, depth: int) -> None:
    """Depth limit, and no lone surrogates (json accepts '\\ud800'; UTF-8 cannot hold it)."""
    if isinstance(value, str):
        value.encode("utf-8")  # UnicodeEncodeError is a ValueError
    elif isinstance(value, dict | list):
        if depth >= _MAX_DEPTH:
            raise RecursionError
        for item in [*value, *value.values()] if isinstance(value, dict) else value:
            _walk(item, depth + 1)
