"""Test tiers and the figures the long tier reports.

The per-submission tier (the default) keeps every reliability test small enough for CI.
`WALSYNC_TIER=long` scales loops and example counts up; `WALSYNC_FIGURES=path` makes each
test append what it tried and what was lost to a JSON Lines file, which
`tests/reliability/figures.py` sums into the table in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LONG = os.environ.get("WALSYNC_TIER", "pr") == "long"


def scale(pr: int, long: int) -> int:
    """The size of a loop in the current tier."""
    return long if LONG else pr


def record(test: str, measure: str, tried: int, lost: int = 0) -> None:
    """Append one figure (e.g. 'kills survived', 30, lost 0) when figures are being collected."""
    target = os.environ.get("WALSYNC_FIGURES")
    if not target:
        return
    line = json.dumps({"test": test, "measure": measure, "tried": tried, "lost": lost,
                       "tier": "long" if LONG else "pr"})
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(line + "\n")
