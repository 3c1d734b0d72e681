"""The SQLite event log: rows and hash chain, schema, the live store and its upkeep, the in-memory store."""
