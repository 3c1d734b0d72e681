"""The fleet's stall tracks decide a waiting recording's reason as `explain()` does: a skip or
a poll after an upload that ended unknown leaves the reason `outcome_unknown`."""

from __future__ import annotations

import pytest

from walsync.adapters.fleet.fold import DeviceFold
from walsync.projections.why import UNDECISIVE


@pytest.mark.parametrize("after", sorted(cls.__name__ for cls in UNDECISIVE))
def test_an_undecisive_event_leaves_the_reason_to_the_one_before(after: str) -> None:
    fold = DeviceFold()
    at = "2026-05-20T08:00:00.000000Z"
    for seq, type_name in enumerate(("WalRegistered", "UploadStarted", "UploadOutcomeUnknown",
                                     after), 1):
        fold.note(seq, at, "wal:w1", type_name, lambda name: None)
    assert fold.tracks["w1"]["decisive"] == "outcome_unknown"
