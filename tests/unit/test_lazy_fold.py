"""The fold over stored rows skips decoding fieldless WAL events; that must change nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core import wal as wal_module
from walsync.core.errors import LogFromNewerVersion
from walsync.core.events import EVENT_TYPES, BatchJobCompleted, Event, WalEvent
from walsync.core.policies import LEGACY, WALSYNC
from walsync.core.serde import SCHEMA_VERSION, canonical_bytes, event_from_json, event_to_data, format_time
from walsync.core.wal import (
    FIELDLESS_WAL_EVENTS,
    LATE_READ_WAL_EVENTS,
    TRIGGERS,
    Wal,
    advance_by_event,
    advance_wal,
    evolve_wal,
    new_wal_fields,
    no_data,
)
from walsync.projections.view import Projection

from strategies import events


@given(events(), st.booleans())
def test_fieldless_events_fold_without_reading_their_data(event: Event, unsettled: bool) -> None:
    """A fieldless event's changes come from its type and the WAL alone: no field is read."""
    if type(event).__name__ in FIELDLESS_WAL_EVENTS:
        assert isinstance(event, WalEvent)
        name = type(event).__name__
        # From a state the event can leave (a delete or a skip: miss; an outcome: uploading;
        # a poll summary: uploaded).
        status = {"UploadSynced": "uploading", "UploadOutcomeUnknown": "uploading",
                  "JobPollsRepeated": "uploaded"}.get(name, "miss")
        blind = {**new_wal_fields(event.wal_id), "status": status, "unsettled": unsettled}
        decoded = dict(blind)
        advance_wal(blind, name, TRIGGERS[name], no_data, event.at)
        advance_by_event(decoded, event)
        assert blind == decoded


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


def _rows(chunk: list[tuple[int, Event]]) -> list[tuple[int, str, str, int, str, str]]:
    return [(seq, e.stream, type(e).__name__, SCHEMA_VERSION, format_time(e.at),
             canonical_bytes(event_to_data(e)).decode()) for seq, e in chunk]


def test_rows_fold_equals_event_fold_on_simulated_logs(tmp_path: Path) -> None:
    """Realistic logs (every policy, throttled and saturated): any batch split, same view."""
    seen: set[str] = set()
    for name in ("mixed", "backend_saturation", "fair_use_backlog"):
        for policy in (LEGACY, WALSYNC):
            db = tmp_path / f"{name}-{policy.name}.db"
            run_simulation(scenario_named(name).with_overrides(hours=6, wals=40), policy, 3, db)
            with sqlite3.connect(db) as conn:
                rows = conn.execute("SELECT seq, stream, type, schema_version, at, data "
                                    "FROM events ORDER BY seq").fetchall()
            seen.update(r[2] for r in rows)
            by_events, by_rows = Projection(), Projection()
            for split in (1, 7, len(rows)):
                by_events, by_rows = Projection(), Projection()
                for start in range(0, len(rows), split):
                    chunk = rows[start:start + split]
                    by_events.commit(by_events.plan(
                        (seq, event_from_json(t, at, data, s)) for seq, s, t, _, at, data in chunk))
                    by_rows.commit(by_rows.plan_rows(chunk))
                assert by_rows.rows == by_events.rows and by_rows.wals == by_events.wals
                assert by_rows.displays == by_events.displays and by_rows.cards == by_events.cards
                assert by_rows.gate == by_events.gate
    assert seen & FIELDLESS_WAL_EVENTS and "JobPolled" in seen  # both kinds of rows were folded


def test_rows_of_an_older_schema_version_are_upcast_before_the_fold() -> None:
    """A v1 row (UploadRateLimited named the server's words server_detail) folds like today's."""
    at = "2026-05-20T00:00:00.000000Z"
    registered = ('{"channel":1,"codec":"opus","conversation_id":null,"delivered":false,'
                  '"device":"omi","file_path":null,"frame_size":160,"sample_rate":16000,'
                  '"seconds":60,"storage":"disk","timer_start":1,"wal_id":"omi_1"}')
    started = '{"attempt_id":"a1","batch":[],"conversation_id":null,"path":"batch","wal_id":"omi_1"}'
    limited_v1 = ('{"attempt_id":"a1","http_status":429,"retry_after_raw":null,"retry_count":1,'
                  '"retry_count_bumped":true,"server_detail":"slow down","wal_id":"omi_1"}')
    rows = [(1, "wal:omi_1", "WalRegistered", SCHEMA_VERSION, at, registered),
            (2, "wal:omi_1", "UploadStarted", SCHEMA_VERSION, at, started),
            (3, "wal:omi_1", "UploadRateLimited", 1, at, limited_v1)]
    view = Projection()
    view.commit(view.plan_rows(rows))
    wal = view.wals["omi_1"]
    assert (wal.status, wal.retry_count, wal.version) == ("miss", 1, 3)
    newer = [(4, "wal:omi_1", "UploadStarted", SCHEMA_VERSION + 1, at, started)]
    with pytest.raises(LogFromNewerVersion):
        view.plan_rows(newer)
    unknown = [(4, "wal:omi_1", "Teleported", SCHEMA_VERSION, at, "{}")]
    with pytest.raises((LogFromNewerVersion, KeyError)):
        view.plan_rows(unknown)


def test_noted_events_are_read_only_where_they_still_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold over stored rows decodes, per WAL, only its last start, its last acceptance and
    the polls since (what they set is never read during the fold, and later ones overwrite it),
    and builds the same WALs as a fold that builds each WAL after every event (which reads
    every event at once: the oracle)."""
    db = tmp_path / "mixed.db"
    run_simulation(scenario_named("mixed").with_overrides(hours=6, wals=40), LEGACY, 3, db)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, stream, type, schema_version, at, data "
                            "FROM events ORDER BY seq").fetchall()
    oracle: dict[str, Wal] = {}
    last: dict[tuple[str, str], int] = {}  # (stream, type) -> index of its last row
    for index, (_, stream, type_name, _, at, data) in enumerate(rows):
        event = event_from_json(type_name, at, data, stream)
        if isinstance(event, BatchJobCompleted):  # a job's end: each member's own, on the
            for member in event.per_member():    # job's stream (the member's version stays)
                before = oracle[member.wal_id]
                oracle[member.wal_id] = attrs.evolve(evolve_wal(before, member),
                                                     version=before.version)
        elif isinstance(event, WalEvent):
            oracle[event.wal_id] = evolve_wal(oracle.get(event.wal_id), event)
        last[stream, type_name] = index
    polls = [i for i, row in enumerate(rows) if row[2] == "JobPolled"]
    counted = {i for i in polls if i > last.get((rows[i][1], "UploadAccepted"), -1)}
    counted |= {i for (_, name), i in last.items() if name in ("UploadStarted", "UploadAccepted")}

    decoded: list[str] = []
    monkeypatch.setattr(wal_module, "load_data", lambda data: decoded.append(data) or orjson.loads(data))
    view = Projection()
    view.commit(view.plan_rows(rows))
    assert view.wals == oracle
    late = {rows[i][5] for i, row in enumerate(rows) if row[2] in LATE_READ_WAL_EVENTS}
    read = set(decoded) & late
    assert read <= {rows[i][5] for i in counted}  # an acceptance whose job ended is not read
    assert {rows[i][5] for i in counted if rows[i][2] != "UploadAccepted"} <= read
    assert len(read) < len(late) / 2  # eagerly, every one would be read
