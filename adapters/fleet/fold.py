"""One device's fleet fold, carried forward event by event: its state is stored beside the
projection rows (per recording and per device), so new events are folded onto it without
reading the device's earlier events again. Pure: no database here (projection.py stores it).

Per recording the fold keeps what `why` decides a stall from (its first setback, last start,
last acceptance, registration, last decisive answer), so the stall's reason and start are
known without the recording's history. A reason that a closed gate overrides is stored as
the reason with the gate open and flagged `gated`: a gate event then changes one device row,
not every recording of the device. The full `why` of a shown stall is computed by `explain()`
when it is asked for (queries.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

import attrs
from attrs import define, field

from walsync.core.errors import StoreError
from walsync.core.gate import Gate
from walsync.core.serde import format_time, parse_time
from walsync.core.wal import Wal, wal_fields
from walsync.projections.view import DEFAULT_RETRY_BUDGET, ActiveRun, Delta, GateRow, Projection
from walsync.projections.why import SETBACKS, UNDECISIVE

__all__ = ["HOURLY_KINDS", "DeviceFold", "Getter", "WalLine", "counts_of", "fold_from_stored",
           "fold_to_stored", "hour_of", "is_429"]

HOURLY_KINDS: Final = ("rate_limited_429", "cooldown_backend_busy", "cooldown_fair_use")
_SETBACK_TYPES: Final = frozenset(cls.__name__ for cls in SETBACKS)
_NOT_DECISIVE: Final = frozenset(cls.__name__ for cls in UNDECISIVE)
# An event's field by name, None when its data leaves it out (a field with a default).
Getter = Callable[[str], Any]
_TIMES: Final = ("last_retry_at", "uploaded_at")
_TUPLES: Final = ("attempt_batch", "job_progress")
_GATE_TIMES: Final = ("until", "set_at", "resume_at")
_NOT_STALLED: Final = frozenset({"not_stalled", "deleted", "upload_in_progress"})


def hour_of(at: str) -> str:
    """The UTC hour an event time (format_time text) falls in: 2026-05-20T08:00:00Z."""
    return at[:13] + ":00:00Z"


def is_429(type_name: str, get: Getter) -> bool:
    """A 429 answer under any policy: typed (UploadRateLimited) or, under `legacy`, a generic
    HTTP failure with status 429."""
    return type_name == "UploadRateLimited" or (
        type_name == "UploadFailed" and get("http_status") == 429)


@define(kw_only=True)
class WalLine:
    """One recording's fleet row."""

    wal_id: str
    state: str
    display: str | None  # None: deleted (no status row)
    retry_count: int
    version: int
    last_seq: int
    reason: str
    gated: bool
    stalled: bool
    since: str | None
    fold: dict[str, Any]

    def keys(self) -> list[tuple[str, str]]:
        """The fleet_counts keys this row adds one to."""
        found = [("display", self.display)] if self.display is not None else []
        if self.stalled:
            found.append(("gated" if self.gated else "reason", self.reason))
        return found


def counts_of(lines: Iterable[WalLine]) -> Counter[tuple[str, str]]:
    """(kind, name) -> recordings, for fleet_counts."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in lines:
        counts.update(line.keys())
    return counts


def _track(track: dict[str, Any], type_name: str, get: Getter, at: str) -> None:
    """What `why` decides a stall from, moved by one of the recording's events."""
    if track["first_at"] is None:
        track["first_at"] = at
    if type_name == "WalRegistered" and track["registered_at"] is None:
        track["registered_at"] = at
    elif type_name == "UploadStarted":
        track["started_at"] = at
    elif type_name == "UploadAccepted":
        track["accepted_at"] = at
    if type_name in _SETBACK_TYPES and track["setback_at"] is None:
        track["setback_at"] = at
    if type_name not in _NOT_DECISIVE:
        track["decisive"] = ("outcome_unknown" if type_name == "UploadOutcomeUnknown" else
                             "offline" if type_name == "UploadFailed" and get("kind") == "network"
                             else "cancelled" if type_name == "UploadCancelled" else "trigger")


def _new_track() -> dict[str, Any]:
    return {"first_at": None, "registered_at": None, "started_at": None, "accepted_at": None,
            "setback_at": None, "decisive": None}


# A recording's stored fold (fleet_wals.fold) is two arrays, its fields' values in these
# orders: half the bytes of an object naming them, which is what PostgreSQL spends most of a
# bulk ingest's projection writes on. Rows written before (objects) are still read.
_WAL_KEYS: Final = tuple(f.name for f in attrs.fields(Wal))
_TRACK_KEYS: Final = tuple(_new_track())


def fold_to_stored(fold: Mapping[str, Any]) -> list[list[Any]]:
    """A recording's fold ({"wal": wal_json, "track": track}) as fleet_wals stores it."""
    wal, track = fold["wal"], fold["track"]
    return [[wal[name] for name in _WAL_KEYS], [track[name] for name in _TRACK_KEYS]]


def fold_from_stored(stored: Any) -> dict[str, Any]:
    """A stored fold read back: the arrays fold_to_stored writes, or an object of an earlier
    walsync. Arrays of another length come from another layout of the fields: StoreError."""
    if isinstance(stored, dict):
        return stored
    wal, track = stored
    if len(wal) != len(_WAL_KEYS) or len(track) != len(_TRACK_KEYS):
        raise StoreError("PostgreSQL: a recording's stored fold has another layout than this "
                         "walsync's: run `walsync fleet rebuild`")
    return {"wal": dict(zip(_WAL_KEYS, wal, strict=True)),
            "track": dict(zip(_TRACK_KEYS, track, strict=True))}


def stall_of(wal: Wal, track: Mapping[str, Any], budget: int) -> tuple[str, bool, str | None]:
    """(reason with the gate open, whether a closed gate overrides it, stall start), decided
    as `explain()` decides them."""
    status = wal.status
    gated = False
    if status == "synced":
        reason = "not_stalled"
    elif status == "deleted":
        reason = "deleted"
    elif status == "corrupted":
        reason = "file_missing"
    elif status == "uploaded":
        reason = "awaiting_server_job"
    elif status == "uploading":
        reason = "upload_in_progress"
    elif wal.retry_count >= budget:
        reason = "retry_budget_exhausted"
    else:
        gated = True
        decisive = track["decisive"]
        reason = (decisive if decisive in ("outcome_unknown", "offline", "cancelled")
                  else "waiting_for_trigger")
    if reason in ("not_stalled", "deleted"):
        return reason, gated, None
    since = (track["setback_at"] or (track["started_at"] if reason == "upload_in_progress" else
                                     track["accepted_at"] if reason == "awaiting_server_job" else
                                     track["registered_at"] or track["first_at"]))
    return reason, gated, since


def wal_json(wal: Wal) -> dict[str, Any]:
    """A recording's fold fields as JSON."""
    found = wal_fields(wal)
    for name in _TIMES:
        if found[name] is not None:
            found[name] = format_time(found[name])
    for name in _TUPLES:
        found[name] = list(found[name])
    return found


def wal_of(stored: Mapping[str, Any]) -> Wal:
    """The recording's fold fields read back."""
    values = dict(stored)
    for name in _TIMES:
        if values[name] is not None:
            values[name] = parse_time(values[name])
    for name in _TUPLES:
        values[name] = tuple(values[name])
    return Wal(**values)


def gate_json(row: GateRow) -> dict[str, Any]:
    gate = row.gate
    return {"limited": gate.limited, "reason": gate.reason,
            **{name: format_time(getattr(gate, name)) if getattr(gate, name) else None
               for name in _GATE_TIMES},
            "rate_limit_streak": gate.rate_limit_streak, "set_by_seq": row.set_by_seq,
            "version": row.version}


def gate_of(stored: Mapping[str, Any]) -> GateRow:
    times = {name: parse_time(stored[name]) if stored[name] else None for name in _GATE_TIMES}
    return GateRow(gate=Gate(limited=stored["limited"], reason=stored["reason"],
                             rate_limit_streak=stored["rate_limit_streak"], **times),
                   set_by_seq=stored["set_by_seq"], version=stored["version"])


@define(kw_only=True)
class DeviceFold:
    """A device's fold as stored, for the recordings a batch touches (`wals`), ready to take the
    batch's events (`fold`); `finish` gives the rows that changed."""

    seq: int = 0
    as_of: str | None = None
    gate: GateRow = field(factory=GateRow)
    policy: str | None = None
    retry_budget: int = DEFAULT_RETRY_BUDGET
    run: ActiveRun | None = None
    streams: dict[str, int] = field(factory=dict)  # versions of the device's non-WAL streams
    policies: list[int] = field(factory=list)  # seqs of its PolicyApplied events (for `why`)
    wals: dict[str, Wal] = field(factory=dict)
    tracks: dict[str, dict[str, Any]] = field(factory=dict)
    lines: dict[str, WalLine] = field(factory=dict)  # the stored rows of `wals`
    hourly: Counter[tuple[str, str]] = field(factory=Counter)
    counts: Counter[tuple[str, str]] = field(factory=Counter)  # its fleet_counts as stored
    cooldowns: list[tuple[int, str, str, str]] = field(factory=list)

    @classmethod
    def from_json(cls, seq: int, as_of: datetime | None, stored: Mapping[str, Any]) -> DeviceFold:
        run = stored.get("run")
        return cls(seq=seq, as_of=format_time(as_of) if as_of else None,
                   gate=gate_of(stored["gate"]), policy=stored["policy"],
                   retry_budget=stored["retry_budget"],
                   run=ActiveRun(**run) if run else None, streams=dict(stored["streams"]),
                   policies=list(stored["policies"]))

    def to_json(self) -> dict[str, Any]:
        run = self.run
        return {"gate": gate_json(self.gate), "policy": self.policy,
                "retry_budget": self.retry_budget, "streams": self.streams,
                "policies": self.policies,
                "run": {"run_id": run.run_id, "total": run.total, "done": run.done} if run else None}

    def add_line(self, line: WalLine) -> None:
        """A stored recording row the batch may move."""
        self.lines[line.wal_id] = line
        self.wals[line.wal_id] = wal_of(line.fold["wal"])
        self.tracks[line.wal_id] = dict(line.fold["track"])

    def projection(self) -> Projection:
        """The core's projection seeded with this state (only the loaded recordings)."""
        return Projection(wals=dict(self.wals), gate=self.gate, run=self.run,
                          retry_budget=self.retry_budget, policy=self.policy, checkpoint=self.seq)

    def note(self, seq: int, at: str, stream: str, type_name: str, get: Getter) -> None:
        """What the projection does not keep: the stall tracks, 429s and cooldowns per hour,
        the cooldowns started. The event is its stored row's type and fields (`get` reads
        only UploadFailed's and CooldownStarted's): no event is decoded."""
        if stream.startswith("job:"):  # a job's end, stored once: each member's own
            for wal_id in get("wal_ids"):
                track = self.tracks.get(wal_id)
                if track is None:
                    track = self.tracks[wal_id] = _new_track()
                _track(track, "JobCompleted", get, at)
        elif stream.startswith("wal:"):
            wal_id = stream[4:]
            track = self.tracks.get(wal_id)
            if track is None:
                track = self.tracks[wal_id] = _new_track()
            _track(track, type_name, get, at)
            if is_429(type_name, get):
                self.hourly[(hour_of(at), "rate_limited_429")] += 1
        elif type_name == "CooldownStarted":
            reason = get("reason")
            kind = {"backendBusy": "cooldown_backend_busy", "rateLimit": "cooldown_fair_use"}.get(
                reason)
            if kind is not None:  # a pause for refused credentials is no load figure
                self.hourly[(hour_of(at), kind)] += 1
            self.cooldowns.append((seq, at, reason, format_time(parse_time(get("until")))))
        elif type_name == "PolicyApplied":
            self.policies.append(seq)
        self.as_of = at

    def finish(self, delta: Delta, *, all_lines: Iterator[WalLine] | None = None) -> list[WalLine]:
        """The recording rows the batch changed (every row, given `all_lines`, when the retry
        budget moved: a stall's reason reads it); the device state moves to the delta's."""
        budget = delta.retry_budget
        changed: list[WalLine] = []
        for wal_id, row in delta.rows.items():
            wal = delta.wals[wal_id]
            track = self.tracks[wal_id]
            display = row.display if row is not None else None
            reason, gated, since = stall_of(wal, track, budget)
            changed.append(WalLine(
                wal_id=wal_id, state=wal.status, display=display, retry_count=wal.retry_count,
                version=wal.version, last_seq=delta.touched[wal_id][0], reason=reason,
                gated=gated, stalled=reason not in _NOT_STALLED, since=since,
                fold={"wal": wal_json(wal), "track": track}))
        if all_lines is not None:
            for line in all_lines:
                if line.wal_id in delta.rows:
                    continue
                reason, gated, since = stall_of(wal_of(line.fold["wal"]), line.fold["track"],
                                                budget)
                if (reason, gated, since) != (line.reason, line.gated, line.since):
                    self.lines[line.wal_id] = line
                    changed.append(WalLine(**{**_fields(line), "reason": reason, "gated": gated,
                                              "stalled": reason not in _NOT_STALLED,
                                              "since": since}))
        self.seq, self.gate, self.run = delta.checkpoint, delta.gate, delta.run
        self.retry_budget, self.policy = budget, delta.policy
        return changed


def _fields(line: WalLine) -> dict[str, Any]:
    return {name: getattr(line, name) for name in (
        "wal_id", "state", "display", "retry_count", "version", "last_seq", "reason", "gated",
        "stalled", "since", "fold")}
