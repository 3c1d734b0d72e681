"""Every bench runs at a tiny size and prints its ratios, so none can rot (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench"


@pytest.mark.parametrize("script", sorted(p for p in BENCH.glob("bench_*.py")
                                           if p.stem != "bench_fleet"),  # needs a server: tests/pg
                         ids=lambda p: p.stem)
def test_bench_runs_small(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--n", "50", "--runs", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ratio" in done.stdout
