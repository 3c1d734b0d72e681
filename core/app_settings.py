"""The app's settings the sync core must respect: what rules capture auto-sync out.

The app's capture auto-sync returns at once, before any other check, when a custom
speech-to-text provider is set or when the user turned auto-sync off (batch sync and a
manual Retry still upload). The embedding app tells the engine; each skip is recorded with
its reason, so `why` can say which setting held a recording back.
"""

from __future__ import annotations

from attrs import frozen

from walsync.core.events import AutoSyncSetting

__all__ = ["AppSettings"]


@frozen(kw_only=True)
class AppSettings:
    """The settings auto-sync depends on, as the app has them now."""

    custom_stt: bool = False
    auto_sync_enabled: bool = True

    def auto_sync_blocker(self) -> AutoSyncSetting | None:
        """The setting that rules capture auto-sync out, or None."""
        if self.custom_stt:
            return "custom_stt"
        if not self.auto_sync_enabled:
            return "auto_sync_disabled"
        return None
