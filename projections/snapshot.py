"""The live view as plain JSON data, and back: what the store commits beside each batch of
events, so that opening a log reads its live recordings and summary instead of folding every
event (issue 17). Pure: the store decides where the data is kept."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from attrs import fields

from walsync.core.gate import Gate
from walsync.core.serde import format_time, parse_time
from walsync.core.wal import Wal, new_wal_fields, wal_fields, wal_from_fields
from walsync.projections.view import ActiveRun, Delta, Finished, GateRow, Projection
from walsync.projections.wal_rows import WalRow

__all__ = ["summary_data", "view_from_snapshot", "wal_data", "wal_of"]

_GATE_TIMES: Final = tuple(a.name for a in fields(Gate) if a.name in (
    "until", "set_at", "resume_at"))
_WAL_TUPLES: Final = ("attempt_batch", "job_progress")
_DEFAULTS: Final = new_wal_fields("")


def _text(value: Any) -> Any:
    return format_time(value) if isinstance(value, datetime) else value


def wal_data(wal: Wal) -> dict[str, Any]:
    """A recording's whole state as JSON data (times in the log's text form), its fields that
    still hold their defaults left out: the row is written at every transition."""
    return {name: _text(value) for name, value in wal_fields(wal).items()
            if name == "wal_id" or value != _DEFAULTS[name]}


def wal_of(data: dict[str, Any]) -> Wal:
    """The recording `wal_data` wrote (KeyError, TypeError or ValueError when it is not)."""
    state = new_wal_fields(data["wal_id"])
    for name, value in data.items():
        if name not in state:
            raise KeyError(f"a recording has no field {name!r}")
        state[name] = tuple(value) if name in _WAL_TUPLES else value
    return wal_from_fields(state)  # parses the times


def summary_data(view: Projection | Delta) -> dict[str, Any]:
    """Everything of a view besides its recordings and rows: display counts, the gate, the run,
    the policy and its retry budget, skipped files and what a salvage held. The cards are drawn
    from these again."""
    gate = view.gate.gate
    return {
        "displays": {name: n for name, n in view.displays.items() if n},
        "gate": {"limited": gate.limited, "reason": gate.reason,
                 **{name: _text(getattr(gate, name)) for name in _GATE_TIMES},
                 "rate_limit_streak": gate.rate_limit_streak,
                 "set_by_seq": view.gate.set_by_seq, "version": view.gate.version},
        "run": None if view.run is None else {
            "run_id": view.run.run_id, "total": view.run.total, "done": view.run.done},
        "retry_budget": view.retry_budget,
        "policy": view.policy,
        "skipped_files": view.skipped_files,
        "history_lost": sorted(view.history_lost),
    }


def view_from_snapshot(summary: dict[str, Any], seq: int, wals: Iterable[Wal],
                       rows: Iterable[WalRow], finished: Finished | None) -> Projection:
    """The live view as of seq `seq` from what `summary_data` and `wal_data` wrote and the live
    recordings' rows; the finished recordings are left to `finished`."""
    gate = summary["gate"]
    run = summary["run"]
    view = Projection(
        wals={wal.wal_id: wal for wal in wals},
        rows={row.wal_id: row for row in rows},
        displays={str(name): int(n) for name, n in summary["displays"].items()},
        gate=GateRow(gate=Gate(limited=bool(gate["limited"]), reason=gate["reason"],
                               **{name: None if gate[name] is None else parse_time(gate[name])
                                  for name in _GATE_TIMES},
                               rate_limit_streak=int(gate["rate_limit_streak"])),
                     set_by_seq=gate["set_by_seq"], version=int(gate["version"])),
        run=None if run is None else ActiveRun(run_id=str(run["run_id"]), total=int(run["total"]),
                                               done=int(run["done"])),
        retry_budget=int(summary["retry_budget"]),
        policy=summary["policy"],
        checkpoint=seq,
        skipped_files={str(k): str(v) for k, v in summary["skipped_files"].items()},
        history_lost=frozenset(summary["history_lost"]),
        finished=finished,
    )  # its cards are drawn from the counts, the gate and the run
    return view
