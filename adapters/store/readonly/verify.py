"""Offline tamper check of a log file: SQLite integrity, gapless seq, stream versions, hash chain
(with the commit boundaries rows of schema version 3 on record)."""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Final

from walsync.adapters.store.readonly.queries import connect_readonly, one_snapshot
from walsync.adapters.store.readonly.row_checks import (
    CHECKS,
    ChainBroken,
    ChainState,
    VerifyReport,
    check_row,
)
from walsync.adapters.store.records import GENESIS_HASH, SELECT_HEAD, hex_of, select_rows
from walsync.adapters.store.schema import foreign_objects
from walsync.adapters.store.segments.anchors import LiveStart, live_start
from walsync.adapters.store.segments.chain import check_segments
from walsync.core.errors import StoreError, WalsyncError

__all__ = ["CHECKS", "VerifyReport", "head_anchor", "out_of_time", "verified_prefix",
           "verify_connection", "verify_log", "verify_tail"]

_ANCHOR: Final = re.compile(r"(\d+):([0-9a-f]{64})")
_HASH_AT: Final = f"SELECT {hex_of('hash')}, commit_end FROM events WHERE seq = ?"  # noqa: S608 (fixed terms)


# Control characters as escapes: SQLite's error text quotes a damaged row's bytes, newlines too.
_ESCAPED: Final = {c: f"\\x{c:02x}" for c in range(32)}
_STOPPED: Final = "was stopped after"  # verify_log's words when it runs out of time


def out_of_time(report: VerifyReport) -> bool:
    """Whether `verify_log` failed only because it ran out of its time, not on a bad row."""
    return not report.ok and report.problem is not None and f" {_STOPPED} " in report.problem


def _one_line(error: BaseException) -> str:
    """An error's text on one line (a damaged row it quotes may hold control characters)."""
    return str(error).translate(_ESCAPED)


def _parse_anchor(text: str) -> tuple[int, str]:
    match = _ANCHOR.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected head {text!r} is not SEQ:HASH (64 lowercase hex digits)")
    return int(match[1]), match[2]


def verify_log(path: str | Path, *, expect_head: str | None = None,
               timeout: float = 30.0) -> VerifyReport:
    """Verify the log at `path` read-only, stopping at the first bad seq; never raises for a bad file.

    `expect_head` ("SEQ:HASH", from head_anchor) pins a head kept elsewhere: the log must hold
    that seq with that hash (a longer log is fine: it grew). Without it, a cut-off tail or a
    rewrite that recomputes every later hash cannot be detected (checks["anchored_head"] is then
    False, while ok may be True). head_seq/head_hash/events describe the verified prefix.
    A malformed `expect_head` is a caller error (ValueError).
    """
    anchor = _parse_anchor(expect_head) if expect_head is not None else None
    state = ChainState()
    try:
        with closing(connect_readonly(path)) as conn:
            deadline = time.monotonic() + timeout
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            for pragma in ("trusted_schema=OFF", "cell_size_check=ON", "mmap_size=0"):
                conn.execute(f"PRAGMA {pragma}")
            try:
                _walk(conn, state, anchor)
                _check_foreign_objects(conn, state)
                _check_segments(Path(path), conn, state)
            except sqlite3.OperationalError as error:
                if time.monotonic() > deadline:
                    raise ChainBroken(f"Verification of {path} {_STOPPED} {timeout:g} s "
                               f"(near seq {state.seq + 1}): the file is too slow to read.",
                               state.seq + 1) from error
                raise
    except ChainBroken as bad:
        return state.report(bad.problem, bad.seq)
    except StoreError as error:
        return state.report(f"The log cannot be opened: {error}.")
    except sqlite3.Error as error:
        return state.report(f"SQLite could not read the log near seq {state.seq + 1}: "
                            f"{_one_line(error)}.",
                            state.seq + 1 if state.checks["integrity"] else None)
    return state.report(None)


def verify_connection(conn: sqlite3.Connection) -> VerifyReport:
    """verify_log's checks (no anchor) on a connection the caller opened: the start-up gate
    runs them on the store's own connection, never a second one on the same file."""
    state = ChainState()
    try:
        _walk(conn, state, None)
    except ChainBroken as bad:
        return state.report(bad.problem, bad.seq)
    return state.report(None)


def verify_tail(conn: sqlite3.Connection, checkpoint: tuple[int, str]) -> VerifyReport | None:
    """The row checks (no SQLite integrity check) on the rows after a verified checkpoint,
    continuing its chain: its seq, its hash, and each stream's version as of it. None when the
    checkpoint does not hold (its row gone, another hash, inside a commit): walk it all then.
    Every read sees one snapshot of the log: another process may commit while they run, and
    rows it added after the streams' versions were read would look like damage (T53)."""
    with one_snapshot(conn):
        return _verify_tail(conn, checkpoint)


def _verify_tail(conn: sqlite3.Connection, checkpoint: tuple[int, str]) -> VerifyReport | None:
    seq, digest = checkpoint
    found = conn.execute(_HASH_AT, (seq,)).fetchone()
    if found is None or found[0] != digest or (found[1] is not None and found[1] != seq):
        return None
    state = ChainState(seq=seq, hash=digest)
    try:
        start = live_start(conn)  # a compacted log: a stream's rows may all lie before the cut
        carried = start.versions if start is not None else {}
        versions = {stream: _version_at(conn, stream, seq) or carried.get(stream, 0)
                    for (stream,) in conn.execute(
                        "SELECT DISTINCT stream FROM events WHERE seq > ?", (seq,))}
        for values in conn.execute(select_rows(conn) + " WHERE seq > ? ORDER BY seq", (seq,)):
            check_row(values, state, versions, None)
        if state.open_commit is not None:
            raise ChainBroken(f"The log ends at seq {state.seq} inside the commit of seq "
                       f"{state.open_commit[0]}-{state.open_commit[1]}.", state.seq + 1)
    except ChainBroken as bad:
        return state.report(bad.problem, bad.seq)
    state.checks.update(gapless=True, stream_versions=True, hash_chain=True)
    return state.report(None)


def _version_at(conn: sqlite3.Connection, stream: str, seq: int) -> int:
    """A stream's last version at or before `seq` (0 when it had none): the index read from
    the stream's top down, past its rows after `seq` only."""
    found = conn.execute("SELECT version FROM events WHERE stream = ? AND seq <= ? "
                         "ORDER BY version DESC LIMIT 1", (stream, seq)).fetchone()
    return int(found[0]) if found is not None and type(found[0]) is int else 0


def verified_prefix(conn: sqlite3.Connection, start: LiveStart | None = None,
                    ) -> tuple[list[tuple[Any, ...]], int | None, str | None]:
    """The rows from seq 1 (a compacted log's: from its live start) that pass every row check
    (gapless seq, stream versions, types, JSON, hash chain, commit boundaries), cut at the end
    of the last whole commit among them: what a salvage keeps. Read without SQLite's integrity
    check, so damage further on (or in an index) costs none of the rows before it. Also the
    first bad seq and what was wrong there (None twice when every row passed)."""
    state, versions = ChainState(), dict[str, int]()
    if start is not None:
        state.seq, state.hash, versions = start.seq, start.hash, dict(start.versions)
    rows: list[tuple[Any, ...]] = []
    whole = 0  # rows up to the end of the last whole commit
    bad: tuple[int | None, str] | None = None
    try:
        for values in conn.execute(select_rows(conn) + " ORDER BY seq"):
            check_row(tuple(values), state, versions, None)
            rows.append(tuple(values))
            if state.open_commit is None:
                whole = len(rows)
    except ChainBroken as error:
        bad = (error.seq, error.problem)
    except (sqlite3.Error, UnicodeDecodeError) as error:
        bad = (state.seq + 1,
               f"SQLite could not read the log near seq {state.seq + 1}: {_one_line(error)}.")
    if bad is None and state.open_commit is not None:
        bad = (state.seq + 1, f"The log ends at seq {state.seq} inside a commit.")
    return rows[:whole], bad[0] if bad else None, bad[1] if bad else None


def _walk(conn: sqlite3.Connection, state: ChainState, anchor: tuple[int, str] | None) -> None:
    result = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise ChainBroken(f"SQLite's integrity check failed: {'; '.join(result[:3])}.")
    state.checks["integrity"] = True
    versions = _start_at_cut(conn, state)
    cursor = conn.execute(select_rows(conn) + " ORDER BY seq")
    for values in cursor:
        check_row(values, state, versions, anchor)
    if state.open_commit is not None:
        first, last = state.open_commit
        raise ChainBroken(f"The log ends at seq {state.seq} inside the commit of seq {first}-{last}: "
                   f"the rest of that commit is missing.", state.seq + 1)
    state.checks.update(gapless=True, stream_versions=True, hash_chain=True)
    if anchor is None:
        return
    if state.seq < anchor[0]:
        raise ChainBroken(f"The log ends at seq {state.seq} but the anchored head is seq {anchor[0]}: "
                   f"its tail was cut off (only an anchored head can show this).", state.seq + 1)
    state.checks["anchored_head"] = True


def _start_at_cut(conn: sqlite3.Connection, state: ChainState) -> dict[str, int]:
    """A compacted live log is walked from its last cut (the seq and chain hash its seal
    names, each stream's version as carried); an uncompacted one from genesis."""
    try:
        start = live_start(conn)
    except (WalsyncError, ValueError, KeyError, TypeError) as error:
        raise ChainBroken(f"The live log's retention anchor (its last SegmentSealed and "
                          f"StateCarried) cannot be read: {_one_line(error)}.") from error
    if start is None:
        return {}
    state.seq, state.hash = start.seq, start.hash
    return dict(start.versions)


def _check_segments(log: Path, conn: sqlite3.Connection, state: ChainState) -> None:
    """The sealed segments the live log anchors: there, unaltered, chaining into it."""
    try:
        problem = check_segments(log, conn)
    except (WalsyncError, ValueError, KeyError, TypeError) as error:
        problem = f"The live log's segment anchors cannot be read: {_one_line(error)}."
    if problem is not None:
        raise ChainBroken(problem)
    state.checks["segments"] = True


def _check_foreign_objects(conn: sqlite3.Connection, state: ChainState) -> None:
    """Objects walsync did not make: a trigger on its tables or one in its name is refused at
    open, so the log is bad here too; the user's own are listed (T43)."""
    refused, state.user_objects = foreign_objects(conn)
    if refused:
        raise ChainBroken(f"The log holds {'; '.join(refused)}: walsync refuses to open it until "
                   f"they are dropped (nothing in it is damaged).")
    state.checks["foreign_objects"] = True


def head_anchor(path: str | Path) -> str:
    """"SEQ:HASH" of the log's last row (0 and the genesis hash when empty), for expect_head."""
    with closing(connect_readonly(path)) as conn:
        try:
            row = conn.execute(SELECT_HEAD).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"reading the head of {path} failed: {error}") from error
    return f"{row[0]}:{row[1]}" if row is not None else f"0:{GENESIS_HASH}"
