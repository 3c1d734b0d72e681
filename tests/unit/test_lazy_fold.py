"""The fold over stored rows skips decoding fieldless WAL events; that must change nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from walsync.adapters.sim_scenarios import scenario_named
from walsync.adapters.simulation import run_simulation
from walsync.core.events import EVENT_TYPES, Event, WalEvent
from walsync.core.policy import LEGACY, WALSYNC
from walsync.core.serde import canonical_bytes, event_from_json, event_to_data, format_time
from walsync.core.wal import FIELDLESS_WAL_EVENTS, changes_of
from walsync.projections.view import Projection

from strategies import events


@given(events())
def test_fieldless_events_change_nothing_but_status_and_version(event: Event) -> None:
    if type(event).__name__ in FIELDLESS_WAL_EVENTS:
        assert isinstance(event, WalEvent)
        assert changes_of(event) == {}


def test_every_fieldless_name_is_a_wal_event_type() -> None:
    for name in FIELDLESS_WAL_EVENTS:
        assert issubclass(EVENT_TYPES[name], WalEvent), name


@settings(max_examples=200)
@given(st.lists(events(), max_size=30), st.integers(1, 30))
def test_planning_rows_equals_planning_events(batch: list[Event], split: int) -> None:
    """Same view from the decoded events and from their stored rows, in any batch sizes."""
    by_events, by_rows = Projection(), Projection()
    pending = list(enumerate(batch, start=1))
    for start in range(0, len(pending), split):
        chunk = pending[start:start + split]
        try:
            planned = by_events.plan(chunk)
        except Exception as error:  # an illegal sequence must fail the same way from rows
            rows_error: Exception | None = None
            try:
                by_rows.plan_rows(_rows(chunk))
            except Exception as other:
                rows_error = other
            assert type(rows_error) is type(error)
            return
        by_events.commit(planned)
        by_rows.commit(by_rows.plan_rows(_rows(chunk)))
        assert by_rows.rows == by_events.rows
        assert by_rows.wals == by_events.wals
        assert by_rows.displays == by_events.displays
        assert by_rows.cards == by_events.cards


def _rows(chunk: list[tuple[int, Event]]) -> list[tuple[int, str, str, str, str]]:
    return [(seq, e.stream, type(e).__name__, format_time(e.at),
             canonical_bytes(event_to_data(e)).decode()) for seq, e in chunk]


def test_rows_fold_equals_event_fold_on_simulated_logs(tmp_path: Path) -> None:
    """Realistic logs (every policy, throttled and saturated): any batch split, same view."""
    for name in ("mixed", "backend_saturation"):
        for policy in (LEGACY, WALSYNC):
            db = tmp_path / f"{name}-{policy.name}.db"
            run_simulation(scenario_named(name).with_overrides(hours=6, wals=40), policy, 3, db)
            with sqlite3.connect(db) as conn:
                rows = conn.execute(
                    "SELECT seq, stream, type, at, data FROM events ORDER BY seq").fetchall()
            assert any(r[2] in FIELDLESS_WAL_EVENTS for r in rows)
            by_events, by_rows = Projection(), Projection()
            for split in (1, 7, len(rows)):
                by_events, by_rows = Projection(), Projection()
                for start in range(0, len(rows), split):
                    chunk = rows[start:start + split]
                    by_events.commit(by_events.plan(
                        (seq, event_from_json(t, at, data)) for seq, _, t, at, data in chunk))
                    by_rows.commit(by_rows.plan_rows(chunk))
                assert by_rows.rows == by_events.rows and by_rows.wals == by_events.wals
                assert by_rows.displays == by_events.displays and by_rows.cards == by_events.cards
                assert by_rows.gate == by_events.gate
