"""How much of a shared log import, replay and the fleet's file ingest read before refusing
it: its size, uncompressed and with its segments, and the time each check of it may take. A
year of one device's history is over both; `walsync import --max-mb --max-seconds` raise them
for a log the user trusts."""

from __future__ import annotations

from typing import Final

__all__ = ["DEADLINE_S", "MAX_BYTES", "MIB"]

MIB: Final = 1 << 20
MAX_BYTES: Final = 512 * MIB
DEADLINE_S: Final = 10.0
