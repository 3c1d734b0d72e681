"""Everything with I/O: the event stores, the HTTP backend client, the engine and the CLI."""
