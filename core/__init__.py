"""walsync's pure core: events, the WAL state machine, the cooldown gate, policies, decisions.

Nothing here does I/O or reads a clock; time and randomness come in as arguments.
"""
