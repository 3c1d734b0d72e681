"""The checks every row of a log's chain passes, in seq order: gapless seq, column types,
stream versions, the hash chain and commit boundaries; and the verdict they add up to. Shared
by the walk of the live log (verify.py) and of its sealed segments (store/segments/)."""

from __future__ import annotations

import json
from typing import Any, Final

import attrs
import orjson

from walsync.adapters.store.records import COMMIT_BOUNDARY_VERSION, GENESIS_HASH, chain_hash

__all__ = ["CHECKS", "ChainBroken", "ChainState", "VerifyReport", "check_row"]

CHECKS: Final = ("integrity", "gapless", "stream_versions", "hash_chain", "foreign_objects",
                  "anchored_head", "segments")
_TYPES: Final = (int, str, str, int, str, int, str, str, str, str)  # then commit_end: int or None

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


class ChainBroken(Exception):
    """A row broke the chain: what, and the first bad seq when known."""

    def __init__(self, problem: str, seq: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.seq = seq



@attrs.define
class ChainState:
    """Where a walk of the chain stands: the last seq and hash checked, an open commit."""

    seq: int = 0
    hash: str = GENESIS_HASH
    open_commit: tuple[int, int] | None = None  # (first, last seq) of a commit not yet ended
    checks: dict[str, bool] = attrs.field(factory=lambda: dict.fromkeys(CHECKS, False))
    user_objects: list[str] = attrs.field(factory=list)

    def report(self, problem: str | None, bad_seq: int | None = None) -> VerifyReport:
        return VerifyReport(ok=problem is None, events=self.seq, head_seq=self.seq,
                            head_hash=self.hash, first_bad_seq=bad_seq, problem=problem,
                            checks=dict(self.checks), user_objects=list(self.user_objects))


def check_row(values: tuple[Any, ...], state: ChainState, versions: dict[str, int],
               anchor: tuple[int, str] | None) -> None:
    seq = values[0]
    expected = state.seq + 1
    if type(seq) is not int:
        raise ChainBroken(f"The row after seq {state.seq} has a non-integer seq ({seq!r}).", expected)
    if seq != expected:  # the first bad seq is where the run broke: `expected`, kept before it
        if seq == state.seq and seq > 0:
            raise ChainBroken(f"Seq {seq} appears twice.", expected)
        if seq > expected:
            raise ChainBroken(f"Seq {expected} is missing: seq {state.seq} is followed by seq {seq}.",
                       expected)
        raise ChainBroken(f"Seq {seq} is out of place after seq {state.seq}.", expected)
    *columns, commit_end = values
    for value, kind in zip(columns, _TYPES, strict=True):
        if type(value) is not kind:
            raise ChainBroken(f"Seq {seq} has a column of the wrong type ({value!r:.40}).", seq)
    if commit_end is not None and type(commit_end) is not int:
        raise ChainBroken(f"Seq {seq} has a column of the wrong type ({commit_end!r:.40}).", seq)
    _, event_id, stream, version, type_name, schema_version, at, data, prev_hash, digest = columns
    if version != versions.get(stream, 0) + 1:
        raise ChainBroken(f"Seq {seq} has version {version} of stream {stream!r}, expected "
                   f"{versions.get(stream, 0) + 1}.", seq)
    versions[stream] = version
    if prev_hash != state.hash:
        raise ChainBroken(f"Seq {seq}'s prev_hash does not match the hash of seq {state.seq}: "
                   f"the chain is broken there.", seq)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ChainBroken(f"Seq {seq}'s data is not valid JSON.", seq) from None
    recomputed = chain_hash(state.hash, seq=seq, event_id=event_id, stream=stream,
                            version=version, type_name=type_name,
                            schema_version=schema_version, at=at, data=payload,
                            commit_end=commit_end)
    if recomputed != digest:
        raise ChainBroken(f"Seq {seq}'s stored hash does not match its contents: the row was "
                   f"modified.", seq)
    _check_commit(seq, schema_version, commit_end, state)
    if anchor is not None and seq == anchor[0] and digest != anchor[1]:
        raise ChainBroken(f"Seq {seq}'s hash differs from the anchored head: the log was rewritten "
                   f"at or before seq {seq} (with every later hash recomputed).", seq)
    state.seq, state.hash = seq, digest


def _check_commit(seq: int, schema_version: int, commit_end: int | None, state: ChainState) -> None:
    """Commit boundaries: a row of schema version 3 or later names the last seq of its commit,
    which every row of that commit names alike; an older row names none (its hash would not
    cover it)."""
    if schema_version < COMMIT_BOUNDARY_VERSION:
        if commit_end is not None or state.open_commit is not None:
            raise ChainBroken(f"Seq {seq} is of schema version {schema_version}, which records no "
                       f"commit boundary, but it has one or stands inside a later commit.", seq)
        return
    if commit_end is None:
        raise ChainBroken(f"Seq {seq} is of schema version {schema_version} but does not say where "
                   f"its commit ends.", seq)
    if state.open_commit is not None and commit_end != state.open_commit[1]:
        raise ChainBroken(f"Seq {seq} stands inside the commit of seq {state.open_commit[0]}-"
                   f"{state.open_commit[1]} but names another end ({commit_end}).", seq)
    if commit_end < seq:
        raise ChainBroken(f"Seq {seq} says its commit ended before it (at seq {commit_end}).", seq)
    first = state.open_commit[0] if state.open_commit is not None else seq
    state.open_commit = (first, commit_end) if commit_end > seq else None
