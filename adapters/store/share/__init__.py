"""A log file crossing a trust boundary: export (redacted), import as hostile input, replay
into a fresh log."""
