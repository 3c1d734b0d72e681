"""A log file crossing a trust boundary: export (redacted), import as hostile input, replay
into a fresh log, and salvage of a damaged one."""
