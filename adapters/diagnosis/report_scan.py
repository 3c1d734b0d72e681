"""The report's pass over a log in memory that does not grow with it: the shared rows once,
then each recording's stream one at a time, keeping only the longest stalls it will draw, the
first recordings that never stalled, and counts.

Reading every event of a year's log into memory to find the stalls took 1.6 GB (2M events);
here a recording's events are dropped once its stall is measured, and only the recordings a
page draws are read again, by their streams.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

from attrs import frozen

from walsync.adapters.diagnosis.lanes import LogEvents, events_of
from walsync.adapters.diagnosis.stalls import Stall, find_stalls
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.report_reads import chosen_streams, log_span, recording_streams
from walsync.core.events import WalEvent
from walsync.core.serde import parse_time

__all__ = ["Scan", "scan", "shared_events", "with_streams"]


@frozen(kw_only=True)
class Scan:
    """What one pass found: the longest stalls (at most the number asked for, the longest
    first), how many recordings stalled, how many there are, and the first ones that never
    stalled in the order the log met them (at most the number asked for)."""

    stalls: list[Stall]
    stalled: int
    recordings: int
    calm: list[str]


def shared_events(db_path: str | Path) -> LogEvents:
    """The log's gate, policies and held passes and its span; no recording's events yet."""
    span = log_span(db_path)
    return events_of(span.shared, parse_time(span.first_at) if span.first_at else None,
                     parse_time(span.last_at) if span.last_at else None)


def _wal_events(rows: list[StoredEvent]) -> list[tuple[int, WalEvent]]:
    return [(row.seq, event) for row in rows if isinstance(event := row.event, WalEvent)]


def with_streams(db_path: str | Path, log: LogEvents, wal_ids: Collection[str]) -> LogEvents:
    """`log` with these recordings' events (those the log holds), in the order given."""
    found = chosen_streams(db_path, wal_ids)
    events = {w: _wal_events(found[w]) for w in wal_ids if w in found}
    return LogEvents(wal_events={w: e for w, e in events.items() if e}, gate=log.gate,
                     policies=log.policies, held=log.held, t0=log.t0, t1=log.t1,
                     last_moment=log.last_moment)


def _longest_first(stall: Stall) -> tuple[float, float, str]:
    return (-stall.seconds, stall.start, stall.wal_id)  # find_stalls' order


def scan(db_path: str | Path, log: LogEvents, *, stalls: int, calm: int) -> Scan:
    """One pass over every recording's stream: the `stalls` longest stalls and the first
    `calm` recordings that never stalled, each list trimmed whenever it grows past a few
    times what is kept."""
    end = log.last_moment or datetime.fromtimestamp(log.t1, UTC)
    longest: list[Stall] = []
    quiet: list[tuple[int, str]] = []
    stalled = recordings = 0
    with recording_streams(db_path) as streams:
        for wal_id, rows in streams:
            events = _wal_events(rows)
            if not events:
                continue
            recordings += 1
            found = find_stalls({wal_id: events}, log.gate, log.policies, end, log.held)
            if found:
                stalled += 1
                longest.append(found[0])
                if len(longest) > 4 * stalls + 1000:
                    longest = sorted(longest, key=_longest_first)[:stalls]
            else:
                quiet.append((events[0][0], wal_id))
                if len(quiet) > 4 * calm + 1000:
                    quiet = sorted(quiet)[:calm]
    return Scan(stalls=sorted(longest, key=_longest_first)[:stalls], stalled=stalled,
                recordings=recordings, calm=[wal_id for _, wal_id in sorted(quiet)[:calm]])
