"""The live read model: every projection folded from (seq, event) pairs, planned then committed.

`plan` computes what a batch of events changes without touching the current view, so a
store can write the changed rows in the same transaction as the events and `commit` the
delta only after COMMIT returned. Rebuilding from seq 0 runs the very same fold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, Protocol

from attrs import define, field, frozen

from walsync.core.display import display_state
from walsync.core.events import (
    BatchJobCompleted,
    Event,
    FileSkipped,
    GateEvent,
    LogSalvaged,
    PolicyApplied,
    SyncRunFinished,
    SyncRunStarted,
    UploadAccepted,
    UploadFailed,
    UploadOutcomeUnknown,
    UploadRateLimited,
    UploadSynced,
    WalCorrupted,
    WalEvent,
)
from walsync.core.gate import Gate, evolve_gate
from walsync.core.serde import (
    SCHEMA_VERSION,
    event_from_data,
    format_time,
    load_data,
    with_defaults,
)
from walsync.core.states import DELETED, FINISHED_STATES
from walsync.core.upcast import upcast
from walsync.core.wal import (
    FIELDLESS_WAL_EVENTS,
    LATE_READ_WAL_EVENTS,
    TRIGGERS,
    Field,
    Wal,
    advance_wal,
    event_fields,
    lazy_fields,
    new_wal_fields,
    no_data,
    wal_fields,
    wal_from_fields,
    wal_trigger,
)
from walsync.projections.card import Card, card_inputs, page_cards
from walsync.projections.wal_rows import WalRow, row_of

__all__ = ["ActiveRun", "Delta", "Finished", "GateRow", "Projection"]

DEFAULT_RETRY_BUDGET: Final = 3
_RESULTS: Final = frozenset(cls.__name__ for cls in (
    UploadSynced, UploadAccepted, UploadRateLimited, UploadFailed, UploadOutcomeUnknown,
    WalCorrupted))
# seq, stream, type, schema_version, at, data: its JSON text, or the dict it decodes to (in
# today's shape) when the caller decoded it already (bulk ingest checks every row's data).
StoredRow = tuple[int, str, str, int, str, str | dict[str, Any]]


# Retention's anchors change no projection (the fold of a history from seq 1 passes over them).
_RETENTION_ANCHORS: Final = frozenset({"SegmentSealed", "StateCarried"})


@frozen(kw_only=True)
class GateRow:
    """The gate projection: the gate itself plus the seq of the event that last set it."""

    gate: Gate = field(factory=Gate)
    set_by_seq: int | None = None
    version: int = 0


@frozen(kw_only=True)
class ActiveRun:
    """An upload entry point in progress: how many of its WALs have an answer."""

    run_id: str
    total: int
    done: int = 0


class Finished(Protocol):
    """Where a view that keeps only live recordings in memory finds the finished ones (synced,
    corrupted, deleted): the store they were committed to, asked by id."""

    def wal(self, wal_id: str, upto: int) -> Wal | None:
        """The recording as the log's events up to seq `upto` leave it (None: never
        registered by then)."""
        ...

    def row(self, wal_id: str) -> WalRow | None:
        """Its committed status row (None: no row, or deleted)."""
        ...

    def exists(self, wal_id: str, upto: int) -> bool:
        """Whether any event up to seq `upto` is the recording's (it was registered)."""
        ...

    def rows(self) -> list[WalRow]:
        """Every committed status row, in the order recordings were first recorded."""
        ...


@define(kw_only=True)
class _Summary:
    """The view besides its rows; a delta holds the changed WALs and the next value of the rest."""

    wals: dict[str, Wal] = field(factory=dict)
    displays: dict[str, int] = field(factory=dict)  # display state -> rows (no zeros)
    gate: GateRow = field(factory=GateRow)
    run: ActiveRun | None = None
    retry_budget: int = DEFAULT_RETRY_BUDGET
    policy: str | None = None
    checkpoint: int = 0
    cards: dict[str, Card] = field(factory=dict)
    # Files a folder sync skipped, by name: the reason recorded last (FileSkipped).
    skipped_files: dict[str, str] = field(factory=dict)
    # Recordings a salvage named (LogSalvaged.held) that no upload has started since.
    history_lost: frozenset[str] = frozenset()


@define(kw_only=True)
class Delta(_Summary):
    """What a batch of events changes, before it is committed (`None` row: deleted)."""

    rows: dict[str, WalRow | None] = field(factory=dict)
    # WALs the batch moved, with what their row is built from: the seq and time of their last
    # event and the retry budget then (rows are built once per WAL per batch, at the end).
    touched: dict[str, tuple[int, str, int]] = field(factory=dict)
    scratch: dict[str, dict[str, Any]] = field(factory=dict)  # touched WALs' fields mid-batch
    # Finished recordings the batch moved (a synced one deleted), with the display their row
    # had: it is counted out of `displays` (they are not in the view's rows).
    revived: dict[str, str] = field(factory=dict)


@define(kw_only=True)
class Projection(_Summary):
    """WAL aggregates and rows, display counts, the gate, the active run, the cards.

    Given `finished` (the store), `wals` and `rows` hold only the live recordings (those that
    can still move: not synced, corrupted or deleted) and the others are asked for by id, so
    its memory and every pass over `wals` grow with what is live, not with the history.
    Without it (a rebuild, replay, the in-memory store) they hold every recording."""

    rows: dict[str, WalRow] = field(factory=dict)
    finished: Finished | None = field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.cards:  # an empty log shows cards too ("All recordings synced")
            self.cards = self._cards(self)

    def wal(self, wal_id: str) -> Wal | None:
        """The aggregate of a WAL that exists (not deleted), or None."""
        wal = self.known(wal_id)
        return wal if wal is not None and wal.status != DELETED else None

    def known(self, wal_id: str) -> Wal | None:
        """Any recording ever registered, deleted ones included (duplicate checks, stream
        versions): live from memory, finished from the store."""
        wal = self.wals.get(wal_id)
        if wal is None and self.finished is not None and self.checkpoint:
            return self.finished.wal(wal_id, self.checkpoint)
        return wal

    def registered(self, wal_id: str) -> bool:
        """Whether the recording was ever registered (deleted ones too): a duplicate check,
        by the store's stream index for one not live, without reading its events."""
        if wal_id in self.wals:
            return True
        if self.finished is not None and self.checkpoint:
            return self.finished.exists(wal_id, self.checkpoint)
        return False

    def row(self, wal_id: str) -> WalRow | None:
        """A recording's status row (None: unknown or deleted)."""
        row = self.rows.get(wal_id)
        if row is None and self.finished is not None:
            return self.finished.row(wal_id)
        return row

    def all_rows(self) -> list[WalRow]:
        """Every status row, in the order recordings were first recorded."""
        if self.finished is not None:
            return self.finished.rows()
        return list(self.rows.values())

    def plan(self, recorded: Iterable[tuple[int, Event]]) -> Delta:
        """Fold events into a delta over this view, leaving the view untouched."""
        delta = self._start()
        for seq, event in recorded:
            self._fold(delta, seq, event)
            delta.checkpoint = seq
        return self._finish(delta)

    def plan_rows(self, rows: Iterable[StoredRow], only: str | None = None) -> Delta:
        """`plan` over stored rows (seq, stream, type, schema version, at, data), decoding only
        what the fold reads: a WAL event's fields come from its JSON (no event object), upcast
        when older; a fieldless one (a skip, a delete) needs only its type and stream. Data
        given decoded is read as it is."""
        delta = self._start()
        fold_wal, loads = self._fold_wal, load_data  # bound once: the loop runs per event
        for seq, stream, type_name, version, at, data in rows:
            if isinstance(data, dict):
                fields = with_defaults(type_name, data, stream)
            elif type_name in _RETENTION_ANCHORS:  # folds nothing: never decoded (a StateCarried
                delta.checkpoint = seq  # holds a whole view, megabytes in a big log's history)
                continue
            elif version != SCHEMA_VERSION:  # older: upcast; newer or unknown: refused by upcast
                fields = with_defaults(type_name, upcast(type_name, version, loads(data)), stream)
            elif type_name in FIELDLESS_WAL_EVENTS:
                fold_wal(delta, seq, stream[4:], type_name, TRIGGERS[type_name], no_data, at, at)
                continue
            elif type_name in LATE_READ_WAL_EVENTS:  # decoded when read, if ever (a poll)
                fold_wal(delta, seq, stream[4:], type_name, TRIGGERS[type_name],
                         lazy_fields(type_name, data), at, at)
                continue
            else:
                fields = with_defaults(type_name, loads(data), stream)  # what the row left out
            if stream.startswith("wal:"):
                field = fields.__getitem__
                trigger = TRIGGERS.get(type_name) or wal_trigger(type_name, field)
                fold_wal(delta, seq, stream[4:], type_name, trigger, field, at, at)
            elif stream.startswith("job:"):
                for member in fields["wal_ids"]:
                    if only is None or member == only:
                        self._fold_member(delta, seq, member, fields, at)
            else:
                self._fold(delta, seq, event_from_data(type_name, at, fields), at)
                delta.checkpoint = seq
        return self._finish(delta)

    def _start(self) -> Delta:
        return Delta(displays=dict(self.displays), gate=self.gate, run=self.run,
                     retry_budget=self.retry_budget, policy=self.policy,
                     checkpoint=self.checkpoint, skipped_files=self.skipped_files,
                     history_lost=self.history_lost)

    def _finish(self, delta: Delta) -> Delta:
        """Build each touched WAL's row from its final state, then the cards."""
        for wal_id, (seq, at, budget) in delta.touched.items():
            old_row = self.rows.get(wal_id)
            if old_row is not None:
                delta.displays[old_row.display] -= 1  # present: the old row was counted
            elif wal_id in delta.revived:
                delta.displays[delta.revived[wal_id]] -= 1
            wal = delta.wals[wal_id] = wal_from_fields(delta.scratch[wal_id])
            if wal.status == DELETED:
                delta.rows[wal_id] = None
                continue
            row = row_of(wal, retry_budget=budget, seq=seq, at=at)
            delta.rows[wal_id] = row
            delta.displays[row.display] = delta.displays.get(row.display, 0) + 1
        delta.cards = self._cards(delta)
        return delta

    def commit(self, delta: Delta) -> None:
        """Make a planned delta the current view (after its transaction committed)."""
        self.wals.update(delta.wals)
        for wal_id, row in delta.rows.items():
            if row is None:
                self.rows.pop(wal_id, None)
            else:
                self.rows[wal_id] = row
        if self.finished is not None:  # finished ones are the store's to keep
            for wal_id, wal in delta.wals.items():
                if wal.status in FINISHED_STATES:
                    del self.wals[wal_id]
                    self.rows.pop(wal_id, None)
        self.displays = {name: n for name, n in delta.displays.items() if n}
        self.gate, self.run, self.checkpoint = delta.gate, delta.run, delta.checkpoint
        self.retry_budget, self.policy = delta.retry_budget, delta.policy
        self.cards, self.skipped_files = delta.cards, delta.skipped_files
        self.history_lost = delta.history_lost

    def apply(self, recorded: Iterable[tuple[int, Event]]) -> Delta:
        """plan + commit, for folds with nothing to write (replay, the in-memory store)."""
        delta = self.plan(recorded)
        self.commit(delta)
        return delta

    # -- the fold ---------------------------------------------------------------------

    def _fold_member(self, delta: Delta, seq: int, wal_id: str, fields: Mapping[str, Any],
                     at: str) -> None:
        """A job's end stored once, folded into one member as its own `JobCompleted` was."""
        def field(name: str) -> Any:
            return wal_id if name == "wal_id" else fields[name]
        self._fold_wal(delta, seq, wal_id, "JobCompleted", "job_completed", field, at, at,
                       own_stream=False)

    def _fold(self, delta: Delta, seq: int, event: Event, at: str | None = None) -> None:
        if isinstance(event, BatchJobCompleted):
            for member in event.per_member():
                self._fold_wal(delta, seq, member.wal_id, "JobCompleted", member.trigger,
                               event_fields(member), member.at,
                               at if at is not None else format_time(member.at),
                               own_stream=False)
        elif isinstance(event, WalEvent):
            self._fold_wal(delta, seq, event.wal_id, type(event).__name__, event.trigger,
                           event_fields(event), event.at,
                           at if at is not None else format_time(event.at))
        elif isinstance(event, GateEvent):
            delta.gate = GateRow(gate=evolve_gate(delta.gate.gate, event),
                                 set_by_seq=seq, version=delta.gate.version + 1)
        elif isinstance(event, PolicyApplied):
            delta.policy = event.policy
            budget = event.rules.get("retry_budget", DEFAULT_RETRY_BUDGET)
            delta.retry_budget = budget if isinstance(budget, int) else DEFAULT_RETRY_BUDGET
        elif isinstance(event, SyncRunStarted):
            delta.run = ActiveRun(run_id=event.run_id, total=len(event.wal_ids))
        elif isinstance(event, SyncRunFinished):
            delta.run = None
        elif isinstance(event, FileSkipped):
            delta.skipped_files = {**delta.skipped_files, event.file_name: event.reason}
        elif isinstance(event, LogSalvaged):
            delta.history_lost = delta.history_lost.union(event.held)

    def _fold_wal(self, delta: Delta, seq: int, wal_id: str, type_name: str, trigger: str,
                  field: Field, moment: datetime | str, at: str, *,
                  own_stream: bool = True) -> None:
        """One WAL event, read through `field` (see advance_wal); `at` is its time's text."""
        state = delta.scratch.get(wal_id)
        if state is None:
            known = self.wals.get(wal_id)
            if known is None and self.finished is not None and self.checkpoint:
                known = self.finished.wal(wal_id, self.checkpoint)  # a finished one moves
                if known is not None and known.status != DELETED:
                    delta.revived[wal_id] = display_state(known.status, known.retry_count)
            state = wal_fields(known) if known is not None else new_wal_fields(wal_id)
            delta.scratch[wal_id] = state
        advance_wal(state, type_name, trigger, field, moment, own_stream=own_stream)
        if type_name == "UploadStarted" and wal_id in delta.history_lost:  # sent again
            delta.history_lost = delta.history_lost - {wal_id}
        delta.touched[wal_id] = (seq, at, delta.retry_budget)
        delta.checkpoint = seq
        if delta.run is not None and type_name in _RESULTS:
            delta.run = ActiveRun(run_id=delta.run.run_id, total=delta.run.total,
                                  done=delta.run.done + 1)

    @staticmethod
    def _cards(delta: _Summary) -> dict[str, Card]:
        gate, run = delta.gate.gate, delta.run
        return page_cards(card_inputs(
            delta.displays, limited=gate.limited, reason=gate.reason,
            run_total=run.total if run else None, run_done=run.done if run else 0))

    def displays_snapshot(self) -> Mapping[str, int]:
        """Row counts by display state (only the non-zero ones)."""
        return {name: n for name, n in self.displays.items() if n}
