"""Adding a tail to a device's log in the fleet: every way in (a log file, a device's push, a
PgStore append, a rebuild) comes through here. Under the device's row lock, rows the fleet
already holds are compared by hash and skipped; the new ones are checked as hostile input
(consecutive, chained to the stored head, stream versions, canonical time, a decodable event
of the row's stream), COPYed in, and folded onto the device's stored fold in the same pass,
so a tail costs what it holds, not what the device logged before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from functools import partial
from typing import Any, Final

import orjson
import psycopg
from attrs import asdict, frozen

from walsync.adapters.fleet.bulk.shapes import read_data
from walsync.adapters.fleet.fold import DeviceFold, Getter
from walsync.adapters.fleet.projection import (
    all_lines,
    ask_fold,
    clear_device,
    load_fold,
    put_rows,
    store_fold,
)
from walsync.adapters.fleet.store import PgConnection, ask_claim, claimed, read_rows, set_head
from walsync.adapters.fleet.totals import (
    Share,
    add_totals,
    compact,
    compaction_due,
    delta_rows,
    device_gate,
    device_share,
)
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.job_rows import as_member_rows
from walsync.adapters.store.records import (
    COMMIT_BOUNDARY_VERSION,
    EVENT_COLUMNS_SQL,
    GENESIS_HASH,
    stored_hash,
)
from walsync.core.errors import StoreError
from walsync.core.serde import SCHEMA_VERSION, is_canonical_time, load_data, with_defaults
from walsync.core.upcast import upcast
from walsync.projections.view import Delta, StoredRow

__all__ = ["SHORT_TAIL", "TailRefused", "TailResult", "add_tail", "first_difference", "plan_tail",
           "rebuild", "refold_device"]

_EVENTS: Final = f"events (device_id, {EVENT_COLUMNS_SQL})"
_COPY: Final = f"COPY {_EVENTS} FROM STDIN".encode()
SHORT_TAIL: Final = 64  # rows up to which a tail is written by pipelined INSERTs, not COPY


class TailRefused(StoreError):
    """Rows were not added; `kind` is "gap" (they start after the fleet's head: send from it),
    "conflict" (they differ from what the fleet holds) or "invalid" (hostile or malformed)."""

    def __init__(self, reason: str, *, kind: str = "invalid", seq: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.kind, self.seq = reason, kind, seq


@frozen(kw_only=True)
class TailResult:
    """What a tail did: `added` rows after `already` ones the fleet held; the new head."""

    device_id: str
    added: int
    already: int
    head_seq: int
    head_hash: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def add_tail(conn: PgConnection, device_id: str, rows: Sequence[StoredEvent], *,
             hostile: bool = True) -> TailResult:
    """Add the rows the fleet does not hold yet, in one transaction (nothing on refusal). A
    short tail (a device's commit or a push) goes in two round trips and the commit: the
    claim of the device with its stored fold, then every write, pipelined; a long one is
    COPYed in."""
    short = len(rows) <= SHORT_TAIL
    try:
        with conn.pipeline() if short else nullcontext(), conn.transaction():
            claim = ask_claim(conn, device_id)
            # A short tail's stored fold is asked in the claim's round trip (read under its
            # lock); a long one's once the claim answered, and only if the device holds rows
            # (a new device, a whole log's first ingest, has no fold to read).
            stored = ask_fold(conn, device_id, _wal_ids(rows)) if short else None
            head_seq, head_hash, made, late = claimed(conn, claim, device_id)
            if late or (stored is None and head_seq):  # late: read before the lock was taken
                stored = ask_fold(conn, device_id, _wal_ids(rows))
            new = _after_head(conn, device_id, rows, head_seq, head_hash)
            totals: list[tuple[Any, ...]] = []
            if new:
                fold = stored() if stored is not None and head_seq else DeviceFold()
                before = device_share(fold.counts, device_gate(fold)) if head_seq else Share()
                totals = _fold_in(conn, device_id, new, fold, head=(head_seq, head_hash),
                                  events=True, copy=not short, hostile=hostile, before=before)
                set_head(conn, device_id, new[-1].seq, new[-1].hash)
            added = add_totals(conn, [*totals, *delta_rows(
                Share(), Share(), events=new[-1].seq - head_seq if new else 0, devices=int(made))])
        if compaction_due(added):
            compact(conn)
    except psycopg.errors.UniqueViolation:
        raise TailRefused("an event id or a stream version appears twice in the device's "
                          "log; nothing was added") from None
    except psycopg.DataError as error:
        raise TailRefused(f"a value cannot be stored ({type(error).__name__}); nothing was "
                          f"added") from None
    top = new[-1] if new else None
    return TailResult(device_id=device_id, added=len(new), already=len(rows) - len(new),
                      head_seq=top.seq if top else head_seq,
                      head_hash=top.hash if top else head_hash)


def _wal_ids(rows: Sequence[StoredEvent]) -> set[str]:
    """The recordings the rows touch (whose stored rows the fold reads)."""
    return {r.stream[4:] for r in as_member_rows(rows) if r.stream.startswith("wal:")}


def refold_device(conn: PgConnection, device_id: str) -> bool:
    """Fold one device again from seq 0 in its own transaction (a rebuild step: other devices
    ingest and every query goes on meanwhile); False when the device is gone."""
    with conn.transaction():
        found = conn.execute("SELECT head_seq FROM devices WHERE device_id = %s FOR UPDATE",
                             (device_id,)).fetchone()
        if found is None:
            return False
        stored = load_fold(conn, device_id, ())
        before = device_share(stored.counts, device_gate(stored)) if stored.seq else Share()
        hourly = clear_device(conn, device_id)
        rows = read_rows(conn, device_id)
        totals = _fold_in(conn, device_id, rows, DeviceFold(), head=(0, GENESIS_HASH),
                          events=False, copy=True, hostile=False, before=before,
                          hourly_before=hourly) if rows else delta_rows(before, Share(), hourly=(
                              (key, -n) for key, n in hourly.items()))
        add_totals(conn, totals)
    return True


def rebuild(conn: PgConnection, device_id: str | None = None) -> int:
    """Fold every device (or one) again from its events, one device per transaction; the
    number folded. Devices that arrive meanwhile are folded by their own ingest."""
    devices = [device_id] if device_id is not None else [str(v[0]) for v in conn.execute(
        "SELECT device_id FROM devices ORDER BY device_id").fetchall()]
    done = sum(refold_device(conn, d) for d in devices)
    compact(conn)
    return done


def _after_head(conn: PgConnection, device_id: str, rows: Sequence[StoredEvent],
                head_seq: int, head_hash: str) -> Sequence[StoredEvent]:
    """The rows past the head, once those the fleet holds proved to be the same log."""
    if not rows:
        return rows
    first, last = rows[0].seq, rows[-1].seq
    if first > head_seq + 1:
        raise TailRefused(f"the rows start at seq {first}, but the fleet holds this device's log "
                          f"up to seq {head_seq}: send the rows after it", kind="gap",
                          seq=head_seq)
    if first > head_seq:
        return rows
    if last - first + 1 != len(rows):
        raise TailRefused(f"the rows are not consecutive (seq {first} to {last} in {len(rows)} "
                          f"rows)", seq=first)
    upto = min(head_seq, last)
    stored = head_hash if upto == head_seq else _hash_at(conn, device_id, upto)
    if rows[upto - first].hash != stored:
        seq = first_difference(conn, device_id, rows[:upto - first + 1])
        raise TailRefused(f"the log differs from the one the fleet holds at seq {seq} "
                          f"(rewritten, or another device's log); nothing was added",
                          kind="conflict", seq=seq)
    return rows[upto - first + 1:]


def _hash_at(conn: PgConnection, device_id: str, seq: int) -> str:
    found = conn.execute("SELECT hash FROM events WHERE device_id = %s AND seq = %s",
                         (device_id, seq)).fetchone()
    return str(found[0]) if found else ""


def first_difference(conn: PgConnection, device_id: str, rows: Sequence[StoredEvent]) -> int:
    """The first seq whose hash differs (the chain makes every later one differ too)."""
    stored: dict[int, str] = dict(conn.execute(
        "SELECT seq, hash FROM events WHERE device_id = %s AND seq BETWEEN %s AND %s",
        (device_id, rows[0].seq, rows[-1].seq)).fetchall())
    return next((r.seq for r in rows if stored.get(r.seq) != r.hash), rows[-1].seq)


class _Cursor:
    """The seq being checked or folded, for a refusal raised from inside the fold."""

    seq = 0


def _fold_in(conn: PgConnection, device_id: str, rows: Sequence[StoredEvent], fold: DeviceFold,
             *, head: tuple[int, str], events: bool, copy: bool, hostile: bool,
             before: Share, hourly_before: Counter[tuple[str, str]] | None = None,
             ) -> list[tuple[Any, ...]]:
    """One pass: check each row, write it (`events`: COPY it as it passes, or, not `copy`,
    INSERT them after), note it and fold it; then store what changed. The totals' delta
    rows: the device's share moved from `before` (and its hourly counts from
    `hourly_before`, a rebuild's) to what is stored now."""
    fresh = head[0] == 0
    kept: list[tuple[Any, ...]] = []
    with conn.cursor() as cur, cur.copy(_COPY) if events and copy else nullcontext() as sink:
        write = (sink.write_row if sink is not None else kept.append) if events else None
        delta = plan_tail(rows, fold, head=head, write=write, device_id=device_id,
                          hostile=hostile)
        put_rows(cur, _EVENTS, kept, copy=False)
    moved = fold.retry_budget != delta.retry_budget and not fresh
    changed = fold.finish(delta, all_lines=all_lines(conn, device_id) if moved else None)
    counts = store_fold(conn, device_id, fold, changed, fresh=fresh, copy=copy)
    counts.update(fold.counts)
    hourly = Counter(fold.hourly)
    hourly.subtract(hourly_before or Counter())
    return delta_rows(before, device_share(counts, device_gate(fold)), hourly=hourly.items())


def plan_tail(rows: Sequence[StoredEvent], fold: DeviceFold, *, head: tuple[int, str],
              write: Callable[[tuple[Any, ...]], Any] | None = None, device_id: str = "",
              hostile: bool = True) -> Delta:
    """The pass every tail makes before anything is stored: each row checked (if `hostile`),
    handed to `write` as (device_id, *row) (if given), noted and folded onto `fold`, chained
    to `head` (seq, hash). TailRefused naming the seq of a row refused or not replayable."""
    at = _Cursor()
    stored = _checked(rows, fold, head, at, write, device_id, hostile)
    try:
        return fold.projection().plan_rows(stored)
    except (TailRefused, psycopg.Error):
        raise
    except Exception as error:  # hostile data: IllegalTransition, KeyError, ...
        raise TailRefused(f"the event at seq {at.seq} cannot be replayed "
                          f"({type(error).__name__})", seq=at.seq) from None


def _checked(rows: Iterable[StoredEvent], fold: DeviceFold, head: tuple[int, str], at: _Cursor,
             write: Any, device_id: str, hostile: bool) -> Iterator[StoredRow]:
    """The rows for the fold, each checked (if hostile: its data decoded once and checked to
    have the shape of its type's event, in one compiled pass (bulk/shapes.py), which no event
    is built for; its stored defaults given back once, and the fold reads that dict),
    written (if `write`) and noted. Per row in Python: the names it calls are bound once."""
    expect, prev = head[0] + 1, head[1]
    commit: int | None = None  # the end of a commit the rows so far stand inside
    versions = fold.streams
    wal_versions = {wal_id: wal.version for wal_id, wal in fold.wals.items()}
    note, digest_of, fragment, shaped, timed, defaulted = (
        fold.note, stored_hash, orjson.Fragment, read_data, is_canonical_time, with_defaults)
    for r in rows:
        (seq, event_id, stream, version, type_name, schema_version, moment, data, prev_hash,
         digest, commit_end) = r
        at.seq = seq
        on_wal = stream.startswith("wal:")
        if hostile:
            if seq != expect or prev_hash != prev:
                raise TailRefused(f"the row at seq {seq} does not follow seq {expect - 1} "
                                  f"of the log the fleet holds", kind="conflict", seq=seq)
            if digest_of(prev, seq, event_id, stream, version, type_name, schema_version, moment,
                         fragment(data), commit_end) != digest:
                raise TailRefused(f"the hash chain breaks at seq {seq} (the row was altered)",
                                  seq=seq)
            if commit is not None or schema_version < COMMIT_BOUNDARY_VERSION or (
                    commit_end != seq):
                commit = _commit(r, commit)
            if on_wal:
                wal_id = stream[4:]
                expected = wal_versions[wal_id] = wal_versions.get(wal_id, 0) + 1
            else:
                expected = versions.get(stream, 0) + 1
            if version != expected:
                raise TailRefused(f"the row at seq {seq} has version {version} of stream "
                                  f"{stream[:80]!r}, expected {expected}", seq=seq)
            expect, prev = seq + 1, digest
            try:  # unknown type, newer version, malformed body, a time that is no time
                fields, own_stream = shaped(type_name, schema_version, data, stream)
                canonical = timed(moment)
            except Exception as error:
                raise TailRefused(f"the event at seq {seq} cannot be read "
                                  f"({type(error).__name__})", seq=seq) from None
            if own_stream != stream or not canonical:
                raise TailRefused(f"the row at seq {seq} does not match its event (stream or "
                                  f"time)", seq=seq)
            # What the row left out, given back once: the fold finds nothing to add to it.
            full = defaulted(type_name, fields, stream)
            get: Getter = full.get
            found: StoredRow = (seq, stream, type_name, SCHEMA_VERSION, moment, full)
        else:
            get = partial(_stored_field, r)
            found = (seq, stream, type_name, schema_version, moment, data)
        if not on_wal:
            versions[stream] = version
        if write is not None:
            write((device_id, *r))
        note(seq, moment, stream, type_name, get)
        yield found
    if commit is not None:
        raise TailRefused(f"the rows end at seq {at.seq} inside a commit that ends at seq "
                          f"{commit}: send whole commits", seq=at.seq)


def _stored_field(row: StoredEvent, name: str) -> Any:
    """A field of a row the fleet stored (checked when it came in), read when noted."""
    return with_defaults(row.type, upcast(row.type, row.schema_version, load_data(row.data)),
                         row.stream).get(name)


def _commit(r: StoredEvent, open_end: int | None) -> int | None:
    """Commit boundaries (schema version 3 on): each row names its commit's last seq, alike
    for every row of the commit; older rows name none. The end of the commit still open."""
    if r.schema_version < COMMIT_BOUNDARY_VERSION:
        if r.commit_end is not None or open_end is not None:
            raise TailRefused(f"the row at seq {r.seq} (schema version {r.schema_version}) has "
                              f"a commit boundary or stands inside a later commit", seq=r.seq)
        return None
    end = r.commit_end
    if end is None or end < r.seq or (open_end is not None and end != open_end):
        raise TailRefused(f"the row at seq {r.seq} names a wrong end of its commit ({end})",
                          seq=r.seq)
    return end if end > r.seq else None
