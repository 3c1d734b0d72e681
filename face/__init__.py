"""walsync: an event-sourced sync core for offline recordings. This is the face an app imports.

    import walsync
    engine = walsync.open_engine("sync.db", base_url=..., token=..., recordings_dir=...)
    service = walsync.SyncService(engine).start()   # or AsyncSyncService in an asyncio app

Every name here is loaded on first use, so `import walsync` (and `import walsync.core`) stays
cheap and pulls in no HTTP or SQLite code until the app asks for it. docs/api.md documents
each name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # what a type checker sees; at run time __getattr__ loads the same names
    from walsync.adapters.bootstrap import open_engine as open_engine
    from walsync.adapters.bootstrap import repair_log as repair_log
    from walsync.adapters.diagnosis.why import explain_all as explain_all
    from walsync.adapters.diagnosis.why import explain_wal as why
    from walsync.adapters.diagnosis.why import projection_at as projection_at
    from walsync.adapters.diagnosis.why import timeline as timeline
    from walsync.adapters.engine import Engine as Engine
    from walsync.adapters.ports import ManualClock as ManualClock
    from walsync.adapters.ports import SystemClock as SystemClock
    from walsync.adapters.service.aio import AsyncSyncService as AsyncSyncService
    from walsync.adapters.service.retention import BackgroundRetention as BackgroundRetention
    from walsync.adapters.service.runner import SyncService as SyncService
    from walsync.adapters.store.readonly.full_check import verify_full as check_log
    from walsync.core.errors import BackendError as BackendError
    from walsync.core.errors import ConcurrencyConflict as ConcurrencyConflict
    from walsync.core.errors import DuplicateWal as DuplicateWal
    from walsync.core.errors import IdempotencyConflict as IdempotencyConflict
    from walsync.core.errors import IllegalTransition as IllegalTransition
    from walsync.core.errors import InvalidId as InvalidId
    from walsync.core.errors import InvalidToken as InvalidToken
    from walsync.core.errors import LogCorrupt as LogCorrupt
    from walsync.core.errors import LogFromNewerVersion as LogFromNewerVersion
    from walsync.core.errors import MalformedResponse as MalformedResponse
    from walsync.core.errors import ResponseTooLarge as ResponseTooLarge
    from walsync.core.errors import StorageFull as StorageFull
    from walsync.core.errors import StorageIOError as StorageIOError
    from walsync.core.errors import StoreError as StoreError
    from walsync.core.errors import StoreUsedAfterFork as StoreUsedAfterFork
    from walsync.core.errors import UnknownWal as UnknownWal
    from walsync.core.errors import WalsyncError as WalsyncError

    __version__: str

__all__ = [
    "AsyncSyncService",
    "BackendError",
    "BackgroundRetention",
    "ConcurrencyConflict",
    "DuplicateWal",
    "Engine",
    "IdempotencyConflict",
    "IllegalTransition",
    "InvalidId",
    "InvalidToken",
    "LogCorrupt",
    "LogFromNewerVersion",
    "MalformedResponse",
    "ManualClock",
    "ResponseTooLarge",
    "StorageFull",
    "StorageIOError",
    "StoreError",
    "StoreUsedAfterFork",
    "SyncService",
    "SystemClock",
    "UnknownWal",
    "WalsyncError",
    "__version__",
    "check_log",
    "explain_all",
    "open_engine",
    "projection_at",
    "repair_log",
    "timeline",
    "why",
]

_ERRORS: Final = "walsync.core.errors"
# Where each name lives; every entry is also imported above for the type checker.
_HOME: Final = {
    "open_engine": "walsync.adapters.bootstrap",
    "check_log": "walsync.adapters.store.readonly.full_check",
    "repair_log": "walsync.adapters.bootstrap",
    "Engine": "walsync.adapters.engine",
    "SyncService": "walsync.adapters.service.runner",
    "AsyncSyncService": "walsync.adapters.service.aio",
    "BackgroundRetention": "walsync.adapters.service.retention",
    "ManualClock": "walsync.adapters.ports",
    "SystemClock": "walsync.adapters.ports",
    "why": "walsync.adapters.diagnosis.why",
    "explain_all": "walsync.adapters.diagnosis.why",
    "timeline": "walsync.adapters.diagnosis.why",
    "projection_at": "walsync.adapters.diagnosis.why",
    **{name: _ERRORS for name in (
        "BackendError", "ConcurrencyConflict", "DuplicateWal", "IdempotencyConflict",
        "IllegalTransition", "InvalidId", "InvalidToken", "LogCorrupt", "LogFromNewerVersion",
        "MalformedResponse", "ResponseTooLarge", "StorageFull", "StorageIOError", "StoreError",
        "StoreUsedAfterFork", "UnknownWal", "WalsyncError")},
}

# The face's name -> the name in its module.
_RENAMED: Final = {"why": "explain_wal", "check_log": "verify_full"}


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562) and keep it."""
    if name == "__version__":
        from importlib.metadata import version

        value: Any = version("walsync")
    elif name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), _RENAMED.get(name, name))
    else:
        raise AttributeError(f"module 'walsync' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
