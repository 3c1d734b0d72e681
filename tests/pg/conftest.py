"""The real-PostgreSQL fixtures (tests/pgfixture.py) for every test in this folder."""

from pgfixture import pg_dsn, pg_server

__all__ = ["pg_dsn", "pg_server"]
