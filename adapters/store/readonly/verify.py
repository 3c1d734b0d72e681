"""Offline tamper check of a log file: SQLite integrity, gapless seq, stream versions, hash chain
(with the commit boundaries rows of schema version 3 on record)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Final

import attrs
import orjson

from walsync.adapters.store.readonly.queries import connect_readonly
from walsync.adapters.store.records import COMMIT_BOUNDARY_VERSION, GENESIS_HASH, chain_hash, select_rows
from walsync.adapters.store.schema import foreign_objects
from walsync.core.errors import StoreError

__all__ = ["CHECKS", "VerifyReport", "head_anchor", "verified_prefix", "verify_connection", "verify_log",
           "verify_tail"]

CHECKS: Final = ("integrity", "gapless", "stream_versions", "hash_chain", "foreign_objects",
                  "anchored_head")
_TYPES: Final = (int, str, str, int, str, int, str, str, str, str)  # then commit_end: int or None
_ANCHOR: Final = re.compile(r"(\d+):([0-9a-f]{64})")


@attrs.frozen(kw_only=True)
class VerifyReport:
    """The verdict on one log file. A check is True only if it ran and passed (see verify_log)."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problem: str | None
    checks: dict[str, bool]
    # Tables, indexes and views walsync did not make and leaves alone ("table mine").
    user_objects: list[str] = attrs.field(factory=list)

    def to_json(self) -> str:
        """The report as one JSON object (keys sorted)."""
        return json.dumps(attrs.asdict(self), sort_keys=True)


class _Bad(Exception):
    def __init__(self, problem: str, seq: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.seq = seq


# Control characters as escapes: SQLite's error text quotes a damaged row's bytes, newlines too.
_ESCAPED: Final = {c: f"\\x{c:02x}" for c in range(32)}


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
    state = _State()
    try:
        with closing(connect_readonly(path)) as conn:
            deadline = time.monotonic() + timeout
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            for pragma in ("trusted_schema=OFF", "cell_size_check=ON", "mmap_size=0"):
                conn.execute(f"PRAGMA {pragma}")
            try:
                _walk(conn, state, anchor)
                _check_foreign_objects(conn, state)
            except sqlite3.OperationalError as error:
                if time.monotonic() > deadline:
                    raise _Bad(f"Verification of {path} was stopped after {timeout:g} s "
                               f"(near seq {state.seq + 1}): the file is too slow to read.",
                               state.seq + 1) from error
                raise
    except _Bad as bad:
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
    state = _State()
    try:
        _walk(conn, state, None)
    except _Bad as bad:
        return state.report(bad.problem, bad.seq)
    return state.report(None)


def verify_tail(conn: sqlite3.Connection, checkpoint: tuple[int, str]) -> VerifyReport | None:
    """The row checks (no SQLite integrity check) on the rows after a verified checkpoint,
    continuing its chain: its seq, its hash, and each stream's version as of it. None when the
    checkpoint does not hold (its row gone, another hash, inside a commit): walk it all then."""
    seq, digest = checkpoint
    found = conn.execute("SELECT hash, commit_end FROM events WHERE seq = ?", (seq,)).fetchone()
    if found is None or found[0] != digest or (found[1] is not None and found[1] != seq):
        return None
    state = _State(seq=seq, hash=digest)
    try:
        versions = {stream: _version_at(conn, stream, seq) for (stream,) in conn.execute(
            "SELECT DISTINCT stream FROM events WHERE seq > ?", (seq,))}
        for values in conn.execute(select_rows(conn) + " WHERE seq > ? ORDER BY seq", (seq,)):
            _check_row(values, state, versions, None)
        if state.open_commit is not None:
            raise _Bad(f"The log ends at seq {state.seq} inside the commit of seq "
                       f"{state.open_commit[0]}-{state.open_commit[1]}.", state.seq + 1)
    except _Bad as bad:
        return state.report(bad.problem, bad.seq)
    state.checks.update(gapless=True, stream_versions=True, hash_chain=True)
    return state.report(None)


def _version_at(conn: sqlite3.Connection, stream: str, seq: int) -> int:
    """A stream's last version at or before `seq` (0 when it had none): the index read from
    the stream's top down, past its rows after `seq` only."""
    found = conn.execute("SELECT version FROM events WHERE stream = ? AND seq <= ? "
                         "ORDER BY version DESC LIMIT 1", (stream, seq)).fetchone()
    return int(found[0]) if found is not None and type(found[0]) is int else 0


def verified_prefix(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], int | None, str | None]:
    """The rows from seq 1 that pass every row check (gapless seq, stream versions, types,
    JSON, hash chain, commit boundaries), cut at the end of the last whole commit among them:
    what a salvage keeps. Read without SQLite's integrity check, so damage further on (or in
    an index) costs none of the rows before it. Also the first bad seq and what was wrong
    there (None twice when every row passed)."""
    state, versions = _State(), dict[str, int]()
    rows: list[tuple[Any, ...]] = []
    whole = 0  # rows up to the end of the last whole commit
    bad: tuple[int | None, str] | None = None
    try:
        for values in conn.execute(select_rows(conn) + " ORDER BY seq"):
            _check_row(tuple(values), state, versions, None)
            rows.append(tuple(values))
            if state.open_commit is None:
                whole = len(rows)
    except _Bad as error:
        bad = (error.seq, error.problem)
    except (sqlite3.Error, UnicodeDecodeError) as error:
        bad = (state.seq + 1,
               f"SQLite could not read the log near seq {state.seq + 1}: {_one_line(error)}.")
    if bad is None and state.open_commit is not None:
        bad = (state.seq + 1, f"The log ends at seq {state.seq} inside a commit.")
    return rows[:whole], bad[0] if bad else None, bad[1] if bad else None


@attrs.define
class _State:
    seq: int = 0
    hash: str = GENESIS_HASH
    open_commit: tuple[int, int] | None = None  # (first, last seq) of a commit not yet ended
    checks: dict[str, bool] = attrs.field(factory=lambda: dict.fromkeys(CHECKS, False))
    user_objects: list[str] = attrs.field(factory=list)

    def report(self, problem: str | None, bad_seq: int | None = None) -> VerifyReport:
        return VerifyReport(ok=problem is None, events=self.seq, head_seq=self.seq,
                            head_hash=self.hash, first_bad_seq=bad_seq, problem=problem,
                            checks=dict(self.checks), user_objects=list(self.user_objects))


def _walk(conn: sqlite3.Connection, state: _State, anchor: tuple[int, str] | None) -> None:
    result = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise _Bad(f"SQLite's integrity check failed: {'; '.join(result[:3])}.")
    state.checks["integrity"] = True
    versions: dict[str, int] = {}
    cursor = conn.execute(select_rows(conn) + " ORDER BY seq")
    for values in cursor:
        _check_row(values, state, versions, anchor)
    if state.open_commit is not None:
        first, last = state.open_commit
        raise _Bad(f"The log ends at seq {state.seq} inside the commit of seq {first}-{last}: "
                   f"the rest of that commit is missing.", state.seq + 1)
    state.checks.update(gapless=True, stream_versions=True, hash_chain=True)
    if anchor is None:
        return
    if state.seq < anchor[0]:
        raise _Bad(f"The log ends at seq {state.seq} but the anchored head is seq {anchor[0]}: "
                   f"its tail was cut off (only an anchored head can show this).", state.seq + 1)
    state.checks["anchored_head"] = True


def _check_foreign_objects(conn: sqlite3.Connection, state: _State) -> None:
    """Objects walsync did not make: a trigger on its tables or one in its name is refused at
    open, so the log is bad here too; the user's own are listed (T43)."""
    refused, state.user_objects = foreign_objects(conn)
    if refused:
        raise _Bad(f"The log holds {'; '.join(refused)}: walsync refuses to open it until "
                   f"they are dropped (nothing in it is damaged).")
    state.checks["foreign_objects"] = True


def _check_row(values: tuple[Any, ...], state: _State, versions: dict[str, int],
               anchor: tuple[int, str] | None) -> None:
    seq = values[0]
    expected = state.seq + 1
    if type(seq) is not int:
        raise _Bad(f"The row after seq {state.seq} has a non-integer seq ({seq!r}).", expected)
    if seq != expected:  # the first bad seq is where the run broke: `expected`, kept before it
        if seq == state.seq and seq > 0:
            raise _Bad(f"Seq {seq} appears twice.", expected)
        if seq > expected:
            raise _Bad(f"Seq {expected} is missing: seq {state.seq} is followed by seq {seq}.",
                       expected)
        raise _Bad(f"Seq {seq} is out of place after seq {state.seq}.", expected)
    *columns, commit_end = values
    for value, kind in zip(columns, _TYPES, strict=True):
        if type(value) is not kind:
            raise _Bad(f"Seq {seq} has a column of the wrong type ({value!r:.40}).", seq)
    if commit_end is not None and type(commit_end) is not int:
        raise _Bad(f"Seq {seq} has a column of the wrong type ({commit_end!r:.40}).", seq)
    _, event_id, stream, version, type_name, schema_version, at, data, prev_hash, digest = columns
    if version != versions.get(stream, 0) + 1:
        raise _Bad(f"Seq {seq} has version {version} of stream {stream!r}, expected "
                   f"{versions.get(stream, 0) + 1}.", seq)
    versions[stream] = version
    if prev_hash != state.hash:
        raise _Bad(f"Seq {seq}'s prev_hash does not match the hash of seq {state.seq}: "
                   f"the chain is broken there.", seq)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _Bad(f"Seq {seq}'s data is not valid JSON.", seq) from None
    recomputed = chain_hash(state.hash, seq=seq, event_id=event_id, stream=stream,
                            version=version, type_name=type_name,
                            schema_version=schema_version, at=at, data=payload,
                            commit_end=commit_end)
    if recomputed != digest:
        raise _Bad(f"Seq {seq}'s stored hash does not match its contents: the row was "
                   f"modified.", seq)
    _check_commit(seq, schema_version, commit_end, state)
    if anchor is not None and seq == anchor[0] and digest != anchor[1]:
        raise _Bad(f"Seq {seq}'s hash differs from the anchored head: the log was rewritten "
                   f"at or before seq {seq} (with every later hash recomputed).", seq)
    state.seq, state.hash = seq, digest


def _check_commit(seq: int, schema_version: int, commit_end: int | None, state: _State) -> None:
    """Commit boundaries: a row of schema version 3 or later names the last seq of its commit,
    which every row of that commit names alike; an older row names none (its hash would not
    cover it)."""
    if schema_version < COMMIT_BOUNDARY_VERSION:
        if commit_end is not None or state.open_commit is not None:
            raise _Bad(f"Seq {seq} is of schema version {schema_version}, which records no "
                       f"commit boundary, but it has one or stands inside a later commit.", seq)
        return
    if commit_end is None:
        raise _Bad(f"Seq {seq} is of schema version {schema_version} but does not say where "
                   f"its commit ends.", seq)
    if state.open_commit is not None and commit_end != state.open_commit[1]:
        raise _Bad(f"Seq {seq} stands inside the commit of seq {state.open_commit[0]}-"
                   f"{state.open_commit[1]} but names another end ({commit_end}).", seq)
    if commit_end < seq:
        raise _Bad(f"Seq {seq} says its commit ended before it (at seq {commit_end}).", seq)
    first = state.open_commit[0] if state.open_commit is not None else seq
    state.open_commit = (first, commit_end) if commit_end > seq else None


def head_anchor(path: str | Path) -> str:
    """"SEQ:HASH" of the log's last row (0 and the genesis hash when empty), for expect_head."""
    with closing(connect_readonly(path)) as conn:
        try:
            row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"reading the head of {path} failed: {error}") from error
    return f"{row[0]}:{row[1]}" if row is not None else f"0:{GENESIS_HASH}"
