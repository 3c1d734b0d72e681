"""A job's end is stored once, on the job's stream (`job:<attempt_id>`: named by the upload
request that made the job, which its members' `UploadAccepted` rows hold), for all its members: a reader
of one recording's rows reads its own stream and the streams of the jobs it was accepted into,
and sees such a row as the member's own `JobCompleted` row, the way older logs hold it (one
per member), so every text a recording's history makes reads the same."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Final

import orjson

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.records import SELECT_FOLDED

__all__ = ["FOLDED_JOB", "FOLDED_RECORDING", "JOB_STREAMS_OF", "JOB_STREAMS_OF_ANY", "as_member_rows",
           "job_streams"]

# The job streams of one recording's stream (bound as the one parameter), by the stream index.
JOB_STREAMS_OF: Final = ("SELECT 'job:' || json_extract(data, '$.attempt_id') FROM events "
                         "WHERE stream = ? AND type = 'UploadAccepted'")
# The same for several streams: followed by "(?, ?, ...)" and closed by the caller.
JOB_STREAMS_OF_ANY: Final = ("SELECT 'job:' || json_extract(data, '$.attempt_id') FROM events "
                             "WHERE type = 'UploadAccepted' AND stream IN ")

# A recording's rows up to a seq as the fold reads them (Projection.plan_rows with `only`): its
# stream and its jobs' (parameters: the stream, the seq).
FOLDED_RECORDING: Final = (f"{SELECT_FOLDED} WHERE seq <= ?2 AND (stream = ?1 OR stream IN ("  # noqa: S608 (fixed terms)
                           "SELECT 'job:' || json_extract(data, '$.attempt_id') FROM events "
                           "WHERE stream = ?1 AND type = 'UploadAccepted')) ORDER BY seq")

# One job's rows up to a seq (parameters: the job's stream, the seq): the job of a recording
# the last cut carried while it waited on it (its acceptance is sealed in a segment, the end
# may be in the live log).
FOLDED_JOB: Final = f"{SELECT_FOLDED} WHERE stream = ? AND seq <= ? ORDER BY seq"


def job_streams(rows: Iterable[StoredEvent]) -> list[str]:
    """The streams of the jobs these rows' `UploadAccepted` name, sorted, each once."""
    return sorted({"job:" + str(row.payload["attempt_id"]) for row in rows
                   if row.type == "UploadAccepted"})


def as_member_rows(rows: Iterable[StoredEvent],
                   wanted: Collection[str] | None = None) -> Iterator[StoredEvent]:
    """The rows, each job row read as one `JobCompleted` row per member (of `wanted` only,
    when given), in its place; every other row as it is."""
    for row in rows:
        if not row.stream.startswith("job:"):
            yield row
            continue
        data = row.payload
        members = data.pop("wal_ids", [])
        data.pop("attempt_id", None)  # the job's stream's name: no field of a JobCompleted
        for wal_id in members:
            if wanted is None or wal_id in wanted:
                yield row._replace(stream=f"wal:{wal_id}", type="JobCompleted",
                                   data=orjson.dumps({"wal_id": wal_id, **data}).decode())
