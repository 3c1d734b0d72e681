"""Retention's events (stream `engine`): history moved out of the live log into a sealed
segment file, and the live view as of the cut carried into the live log, so that the live log
alone folds to the same projections."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from attrs import field, frozen

from walsync.core.events.base import EngineEvent

__all__ = ["SegmentSealed", "StateCarried"]


def _records(value: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Records given as any iterable, stored as a tuple (events are hashable data)."""
    return tuple(value)


@frozen(kw_only=True)
class SegmentSealed(EngineEvent):
    """The rows `first_seq`..`last_seq` (`count` of them, a whole number of commits) left the
    live log for the sealed segment file `file` beside it, whose bytes hash to `sha256`.
    `prev_hash` is the chain hash the first of them continues, `first_hash` and `last_hash`
    theirs: the live log's next row continues `last_hash`, so the chain runs through the
    segment unbroken. `horizon` is the cut's time: every row moved is from before it."""

    file: str
    first_seq: int
    last_seq: int
    count: int
    prev_hash: str
    first_hash: str
    last_hash: str
    sha256: str
    horizon: datetime


@frozen(kw_only=True)
class StateCarried(EngineEvent):
    """The live view as of seq `cut_seq` (the end of the rows a segment took), committed with
    its `SegmentSealed`: the summary (display counts, gate, run, policy, retry budget, skipped
    files), the state and status row of every recording the live log still speaks of (live at
    the cut, or with events after it), and the version each other stream had reached. A fold
    of the live log starts from it; finished recordings not named here are archived.
    A cut that carries many recordings writes `parts` of these in one commit, `part` 0 first,
    each with a bounded number of the recordings and the same summary, versions and
    archived count: every event stays within what an import or a push takes (a row of a few
    hundred kilobytes), however many recordings wait at the cut."""

    cut_seq: int
    summary: dict[str, Any] = field(factory=dict)
    wals: tuple[dict[str, Any], ...] = field(default=(), converter=_records)
    rows: tuple[dict[str, Any], ...] = field(default=(), converter=_records)
    versions: dict[str, int] = field(factory=dict)
    archived: int = 0
    part: int = 0
    parts: int = 1
