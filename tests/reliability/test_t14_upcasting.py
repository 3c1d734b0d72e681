"""T14: schema upcasting. v1 rows are read through the upcaster chain, never rewritten.

Schema v2 renamed `UploadRateLimited.server_detail` to `server_error` (core/upcast.py says
why). The equivalent v1 row of a current event is the same data with v1's field name and
`schema_version` 1, exactly what walsync 1 wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raw_log import chain, row_of, stored_rows, write_rows
from tier import record, scale

from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import LogFromNewerVersion
from walsync.core.events import (
    Event,
    UploadRateLimited,
    UploadStarted,
    WalRegistered,
)
from walsync.core.serde import SCHEMA_VERSION, canonical_bytes, event_to_data, format_time
from walsync.core.upcast import UPCASTERS, upcast
from walsync.projections.view import Projection

from strategies import events, utc_datetimes

EXAMPLES = scale(100, 2000)


def as_v1(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """What walsync 1 stored for data that today's writer shapes as `data`."""
    if type_name != "UploadRateLimited":
        return dict(data)
    renamed = {k: v for k, v in data.items() if k != "server_error"}
    renamed["server_detail"] = data["server_error"]
    return renamed


def v1_stored(event: Event, seq: int) -> StoredEvent:
    """The v1 row of `event` (unchained: decoding does not look at the hashes)."""
    data = as_v1(type(event).__name__, event_to_data(event))
    return StoredEvent(seq=seq, event_id=f"e{seq}", stream=event.stream, version=1,
                       type=type(event).__name__, schema_version=1, at=format_time(event.at),
                       data=canonical_bytes(data).decode(), prev_hash="", hash="")


@settings(max_examples=EXAMPLES, deadline=None)
@given(event=events())
def test_t14_every_v1_payload_upcasts_to_the_current_event(event: Event) -> None:
    """Total over every event type's v1 payloads, and the upcast row decodes to the event."""
    assert v1_stored(event, 1).event == event


@settings(max_examples=EXAMPLES, deadline=None)
@given(event=events())
def test_t14_upcasting_is_idempotent(event: Event) -> None:
    type_name = type(event).__name__
    v1 = as_v1(type_name, event_to_data(event))
    once = upcast(type_name, 1, v1)
    assert upcast(type_name, SCHEMA_VERSION, once) == once  # current data passes unchanged
    for step in UPCASTERS.values():  # and every step leaves data it already fixed alone
        assert step(type_name, step(type_name, v1)) == step(type_name, v1)
    assert once == event_to_data(event)


def _rate_limited_flows() -> st.SearchStrategy[list[Event]]:
    """Legal histories that hold 429s: register, then (start, 429) rounds across recordings."""
    round_ = st.tuples(st.integers(0, 3), st.none() | st.text(max_size=20),
                       st.none() | st.sampled_from(["120", "soon", "3600"]), st.booleans())
    return st.tuples(utc_datetimes(), st.lists(round_, max_size=12)).map(_history)


def _history(args: tuple[Any, list[tuple[int, str | None, str | None, bool]]]) -> list[Event]:
    at, rounds = args
    out: list[Event] = [WalRegistered(at=at, wal_id=f"w{i}", timer_start=i) for i in range(4)]
    counts = [0] * 4
    for n, (wal, detail, raw, bumped) in enumerate(rounds):
        counts[wal] += bumped
        out.append(UploadStarted(at=at, wal_id=f"w{wal}", attempt_id=f"a{n}", path="batch"))
        out.append(UploadRateLimited(at=at, wal_id=f"w{wal}", attempt_id=f"a{n}",
                                     retry_after_raw=raw, server_error=detail,
                                     retry_count=counts[wal], retry_count_bumped=bumped))
    return out


@settings(max_examples=EXAMPLES, deadline=None)
@given(history=_rate_limited_flows())
def test_t14_upcast_then_fold_equals_fold_of_current_events(history: list[Event]) -> None:
    current, upcast_v1 = Projection(), Projection()
    current.apply(enumerate(history, 1))
    upcast_v1.apply((seq, v1_stored(e, seq).event) for seq, e in enumerate(history, 1))
    assert upcast_v1.rows == current.rows and upcast_v1.wals == current.wals
    record("test_t14_upcast_then_fold_equals_fold_of_current_events", "v1 events upcast",
           len(history))


def test_t14_a_v1_log_opens_live_and_its_bytes_are_never_rewritten(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    at = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
    history = _history((at, [(0, "fair use", "120", True), (1, None, None, False)]))
    versions: dict[str, int] = {}
    rows = []
    for n, event in enumerate(history):
        versions[event.stream] = versions.get(event.stream, 0) + 1
        row = row_of(event, event_id=f"v1-{n}", version=versions[event.stream])
        rows.append({**row, "schema_version": 1, "data": as_v1(row["type"], row["data"])})
    write_rows(db, chain(rows))
    before = stored_rows(db)
    store = SqliteStore(db)  # the live store folds the v1 rows through the upcaster
    assert store.projection.wals["w0"].retry_count == 1
    store.append([NewEvent(event_id="v2-0", event=UploadStarted(
        at=at, wal_id="w0", attempt_id="b", path="single"))])
    store.rebuild_projections()
    store.close()
    after = stored_rows(db)
    assert after[:len(before)] == before  # stored bytes unchanged
    assert [r[5] for r in after] == [1] * len(before) + [SCHEMA_VERSION]
    assert verify_log(db).ok  # the hash chain over mixed versions still verifies


@pytest.mark.parametrize(("type_name", "version"), [
    ("UploadRateLimited", SCHEMA_VERSION + 1), ("UploadTeleported", 1), ("WalRegistered", 0)])
def test_t14_upcast_refuses_what_it_cannot_read(type_name: str, version: int) -> None:
    with pytest.raises(LogFromNewerVersion):
        upcast(type_name, version, {})
