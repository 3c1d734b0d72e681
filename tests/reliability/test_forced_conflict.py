"""T07: a forced expected-version conflict is typed, and the engine decides again (T18 after sending)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import ConcurrencyConflict
from walsync.core.events import UploadOutcomeUnknown, UploadSkipped
from walsync.core.policies import SEED
from walsync.core.responses import UploadJobAccepted

from fakes import Harness


class RacedStore(SqliteStore):
    """Before it appends an event of type `before` (the moment between the engine's read of a
    stream version and its insert), another writer (a second store on the file) appends."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.race: list[NewEvent] = []
        self.before = "UploadStarted"

    def append(self, events: Sequence[NewEvent],
               expected: Mapping[str, int] | None = None) -> list[StoredEvent]:
        if self.race and any(type(n.event).__name__ == self.before for n in events):
            other = SqliteStore(self.path)
            other.append(self.race)
            other.close()
            self.race = []
        return super().append(events, expected)


def _skip(h: Harness, wal: str, n: int) -> NewEvent:
    return NewEvent(event_id=f"other-{n}", event=UploadSkipped(
        at=h.clock.now(), wal_id=wal, path="batch", gate_reason="rateLimit",
        gate_until=h.clock.now()))


def test_the_store_reports_the_conflict_typed(tmp_path: Path) -> None:
    store = RacedStore(tmp_path / "log.db")
    h = Harness(SEED, store=store)
    [w] = h.add()
    version = store.projection.wals[w].version
    store.race, store.before = [_skip(h, w, 1)], "UploadSkipped"
    with pytest.raises(ConcurrencyConflict) as caught:
        store.append([_skip(h, w, 2)], expected={f"wal:{w}": version})
    assert (caught.value.expected, caught.value.actual) == (version, version + 1)
    assert store.projection.wals[w].version == version + 1  # caught up: ready to decide again


def test_the_engine_decides_again_before_any_request_and_loses_nothing(tmp_path: Path) -> None:
    store = RacedStore(tmp_path / "log.db")
    h = Harness(SEED, store=store)
    [w] = h.add()
    store.race = [_skip(h, w, 1)]
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-7"))
    h.engine.sync_wal(w)
    assert len(h.backend.uploads) == 1  # decided twice, sent once
    assert h.engine.row(w).state == "uploaded"
    rows = [r for r in store.read(stream=f"wal:{w}")]
    assert [r.type for r in rows] == ["WalRegistered", "UploadSkipped", "UploadStarted",
                                      "UploadAccepted"]
    assert [r.version for r in rows] == [1, 2, 3, 4]


def test_a_conflict_after_the_request_went_out_records_the_answer_as_ignored(tmp_path: Path) -> None:
    """T07 with T18: the request is never sent twice; its answer, stale by the time it is
    recorded, is decided against the fresh state and kept as an audit record only."""
    store = RacedStore(tmp_path / "log.db")
    h = Harness(SEED, store=store)
    [w] = h.add()
    answer = h.backend.upload

    def racing_upload(files: object, **kwargs: object) -> object:
        # While the request is out, another writer settles the same upload as lost.
        store.before = "UploadAccepted"
        store.race = [NewEvent(event_id="other-lost", event=UploadOutcomeUnknown(
            at=h.clock.now(), wal_id=w, attempt_id="x", detail="other writer"))]
        return answer(files, **kwargs)  # type: ignore[arg-type]

    h.backend.upload = racing_upload  # type: ignore[method-assign]
    h.engine.sync_wal(w)
    assert len(h.backend.uploads) == 1  # the request is never sent twice
    assert [r.type for r in store.read(stream=f"wal:{w}")] == [
        "WalRegistered", "UploadStarted", "UploadOutcomeUnknown"]
    assert h.engine.row(w).state == "miss"
    assert "AnswerIgnored" in [r.type for r in store.read(stream="engine")]
