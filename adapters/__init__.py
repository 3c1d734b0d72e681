"""Everything with I/O: the engine, the composition root and the ports, and the rooms that
implement them (store, http, recordings, diagnosis, service, sim, fleet, cli); the map is
docs/architecture.md."""
