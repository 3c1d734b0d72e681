"""Many devices' logs in PostgreSQL: schema, store, fold, projection tables, queries and ingest."""
