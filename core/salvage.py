"""A damaged log salvaged: which recordings lost the history that says whether they were sent.

Pure: given the recordings folded from the verified prefix and what could still be read of the
events after it (evidence, never history), name the recordings a policy that holds them keeps
from automatic uploads until a manual Retry. Holding one that had not been sent costs a tap;
sending one again that had been costs bandwidth, backend work and fair-use seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from walsync.core.states import SYNCED, UPLOADED, UPLOADING
from walsync.core.wal import Wal

__all__ = ["SENT_EVIDENCE", "held_after_salvage"]

# Event types that show a recording's upload request went out (or a job of it exists).
SENT_EVIDENCE: Final = frozenset({
    "UploadStarted", "UploadAccepted", "UploadSynced", "UploadOutcomeUnknown", "JobPolled",
    "JobCompleted", "JobFailed", "JobNotFound"})


def held_after_salvage(wals: Iterable[Wal], evidence: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """Recordings whose upload may have gone out in the lost part: in flight or uploaded at the
    end of the prefix, or shown sent by a readable event after it; never one the prefix shows
    synced (it is done) or deleted. Sorted, each once."""
    known = {w.wal_id: w for w in wals}
    held = {w.wal_id for w in known.values() if w.status in (UPLOADING, UPLOADED)}
    held |= {wal_id for wal_id, types in evidence.items() if SENT_EVIDENCE.intersection(types)}
    return tuple(sorted(w for w in held
                        if w not in known or known[w].status not in (SYNCED, "deleted")))
