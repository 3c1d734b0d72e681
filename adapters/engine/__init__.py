"""The application service: gather (state and clock), decide purely, append, do the I/O, append.

One Engine owns one event log. Every public method is one command of the embedding app's sync
core: register a recording, the three upload paths, a reconcile pass, a tick. Built in layers:
`base` (state, gate view, recording), `uploads` and `reconcile` (the commands that talk to the
backend), `sync_core` (the Engine itself: reading, registration, gate commands, listeners).
"""

from walsync.adapters.engine.base import ABANDONED, INTERRUPTED
from walsync.adapters.engine.sync_core import Engine

__all__ = ["ABANDONED", "INTERRUPTED", "Engine"]
