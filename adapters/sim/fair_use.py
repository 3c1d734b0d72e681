"""Fair-use metering of the simulated backend (spec section 10): rolling speech caps and stages."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Final

from attrs import define, field, frozen

__all__ = ["FairUse", "FairUseConfig", "MinuteTotals"]

_MINUTE: Final = 60.0
_DAY: Final = 86_400.0
_WINDOWS: Final = (("daily", 1 * _DAY), ("three_day", 3 * _DAY), ("weekly", 7 * _DAY))


@frozen(kw_only=True)
class FairUseConfig:
    """Caps in milliseconds of speech per rolling window, the starting stage, and the 429 shape."""

    enabled: bool = True
    daily_cap_ms: int = 7_200_000
    three_day_cap_ms: int = 28_800_000
    weekly_cap_ms: int = 36_000_000
    start_stage: str = "none"
    start_violations: int = 0
    classifier_interval_s: float = 12 * 3600.0
    restrict_days: float = 30.0
    # What a 429 says about when to come back: a fixed Retry-After value sent verbatim (seconds,
    # or anything a test wants to send), or an HTTP-date this many seconds after the answer.
    retry_after: str | None = None
    retry_after_date_in: float | None = None

    def cap(self, window: str) -> int:
        return {"daily": self.daily_cap_ms, "three_day": self.three_day_cap_ms,
                "weekly": self.weekly_cap_ms}[window]


@define
class MinuteTotals:
    """Speech per minute with running totals, so a rolling window's sum is two bisections:
    summing every minute metered so far cost each metering as much as the run's history."""

    minutes: list[int] = field(factory=list)  # ascending
    totals: list[int] = field(factory=list)  # totals[i]: the speech of minutes[:i + 1]

    def add(self, minute: int, speech_ms: int) -> None:
        """Meter `speech_ms` in `minute` (usually the last one: then no total moves)."""
        i = bisect_left(self.minutes, minute)
        if i == len(self.minutes) or self.minutes[i] != minute:
            self.minutes.insert(i, minute)
            self.totals.insert(i, self.totals[i - 1] if i else 0)
        for j in range(i, len(self.totals)):
            self.totals[j] += speech_ms

    def through(self, minute: float) -> int:
        """The speech of every minute up to and including `minute`."""
        i = bisect_right(self.minutes, minute)
        return self.totals[i - 1] if i else 0


@define
class FairUse:
    """One account's meter: 1-minute buckets of speech, violations, the stage machine."""

    config: FairUseConfig
    buckets: MinuteTotals = field(factory=MinuteTotals)
    stage: str = "none"
    violations: list[float] = field(factory=list)
    last_classified: float | None = None
    restrict_until: float | None = None

    def __attrs_post_init__(self) -> None:
        self.stage = self.config.start_stage
        self.violations = [-1.0] * self.config.start_violations
        if self.stage == "restrict":
            self.restrict_until = self.config.restrict_days * _DAY

    def meter(self, now: float, speech_ms: int) -> None:
        """Record speech processed at `now` (metered after VAD, inside the pipeline)."""
        self.buckets.add(int(now // _MINUTE), speech_ms)
        self._classify(now)

    def used_ms(self, now: float, window_s: float) -> int:
        """Speech in the rolling window ending at `now`."""
        first = int((now - window_s) // _MINUTE)
        return self.buckets.through(now // _MINUTE) - self.buckets.through(first)

    def over_cap(self, now: float) -> bool:
        """Is any rolling window over its cap?"""
        return any(self.used_ms(now, span) > self.config.cap(name) for name, span in _WINDOWS)

    def blocks_upload(self, now: float) -> bool:
        """Hard restriction: stage `restrict` and any window over its cap -> 429."""
        if not self.config.enabled:
            return False
        if self.stage == "restrict" and self.restrict_until is not None and now >= self.restrict_until:
            self.stage, self.restrict_until = "throttle", None
        return self.stage == "restrict" and self.over_cap(now)

    def _classify(self, now: float) -> None:
        """The misuse classifier, at most once per interval: an over-cap window is a violation."""
        if not self.config.enabled or not self.over_cap(now):
            return
        if self.last_classified is not None and (
                now - self.last_classified) < self.config.classifier_interval_s:
            return
        self.last_classified = now
        self.violations.append(now)
        recent = [t for t in self.violations if t < 0 or now - t <= 7 * _DAY]
        if len(recent) >= 3:
            self.stage, self.restrict_until = "restrict", now + self.config.restrict_days * _DAY
        elif len(recent) >= 2 and self.stage in ("none", "warning"):
            self.stage = "throttle"
        elif self.stage == "none":
            self.stage = "warning"
