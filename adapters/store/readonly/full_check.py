"""`walsync verify --full`: the whole check that opening no longer runs at every start (issue 17)
and the comparison of the projection tables with the fold of the log, read-only.

Opening checks only the rows after the verified checkpoint (store/verified_head.py) and trusts
the projection tables as committed in the transaction of their events. A bit flipped since in a
row before the checkpoint, in an index or in a table row is found here: `verify_log` walks every
row and runs SQLite's integrity check, then the log is folded and its tables compared with the
fold, a chunk and a row at a time (readonly/verify_tables.py). `--repair` opens the log with
the store's whole check, which salvages a damaged log the way start-up does and rewrites
tables that differ.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import attrs

from walsync.adapters.store.readonly.queries import connect_readonly
from walsync.adapters.store.readonly.verify import VerifyReport, verify_log
from walsync.adapters.store.readonly.verify_tables import fold_differs
from walsync.core.errors import WalsyncError

__all__ = ["verify_full"]


def verify_full(path: str | Path, *, expect_head: str | None = None,
                timeout: float = 30.0) -> VerifyReport:
    """verify_log, then (when it passed) the projection tables against the fold of the log:
    `checks["projection_tables"]` says whether they matched. The face's `walsync.check_log`:
    the whole check opening no longer makes, which an app schedules on a thread of its own
    beside its open engine (read-only, one snapshot: the engine goes on committing).
    `timeout` bounds verify_log's walk of the rows (the fold after it has none)."""
    report = verify_log(path, expect_head=expect_head, timeout=timeout)
    if not report.ok:
        return report
    with closing(connect_readonly(path)) as conn:
        conn.execute("BEGIN")  # the fold and the tables of one snapshot: a writer goes on
        try:
            try:
                differ = fold_differs(conn)  # from the view carried at the last cut, if compacted
            except (WalsyncError, ValueError, KeyError, TypeError) as error:
                return attrs.evolve(report, ok=False, problem=(
                    f"The log holds rows this walsync cannot fold: {error}."),
                    checks={**report.checks, "projection_tables": False})
        finally:
            conn.execute("COMMIT")
    checks = {**report.checks, "projection_tables": not differ}
    if not differ:
        return attrs.evolve(report, checks=checks)
    return attrs.evolve(report, ok=False, checks=checks, problem=(
        "The projection tables (status rows, gate, cards) differ from the fold of the log: "
        "a table row was damaged or written by hand. `walsync verify --full --repair` "
        "rewrites them from the log."))
