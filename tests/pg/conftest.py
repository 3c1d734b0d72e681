"""The real-PostgreSQL fixtures (tests/pgfixture.py) and a small simulated fleet."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_sim import simulate_fleet

from pgfixture import pg_dsn, pg_server

__all__ = ["fleet_logs", "pg_dsn", "pg_server"]


@pytest.fixture(scope="session")
def fleet_logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Five small simulated devices' SQLite logs (about 1 s to make), shared read-only."""
    return simulate_fleet(tmp_path_factory.mktemp("fleet"))
