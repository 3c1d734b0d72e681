"""What a policy is: every rule that differs between the rule sets walsync can run under.

The rule sets themselves, one module each, and the registry that lists them are in
`walsync.core.policies`."""

from __future__ import annotations

from typing import Any, Literal

from attrs import asdict, field, frozen, validators

__all__ = ["BusyRule", "MergeRule", "Policy", "RetryAfterMode", "UnusableAnswerRule"]

RetryAfterMode = Literal["ignore", "app", "delta_or_date"]
MergeRule = Literal["overwrite", "keep_later"]
BusyRule = Literal["none", "structural", "typed"]
UnusableAnswerRule = Literal["error", "unknown"]


@frozen(kw_only=True)
class Policy:
    """Every rule that differs between the policies, plus the spec's constants."""

    name: str
    rate_limit_typed: bool
    retry_after: RetryAfterMode
    gate_batch: bool
    gate_auto: bool
    gate_single: bool
    cooldown_merge: MergeRule
    busy_rule: BusyRule
    break_batch_on_rate_limit: bool
    resume_on_expiry: bool
    # The app re-runs batch sync this often while in the foreground (0: only on its triggers).
    refire_seconds: int = field(default=0, validator=validators.ge(0))
    # A 200/202 whose body gives no job id (or no JSON): the app throws on it like on any error
    # ("error": capture auto-sync spends budget); walsync knows the server took the files and
    # records the outcome as unknown ("unknown": no budget, the same key on the next try).
    unusable_answer: UnusableAnswerRule = "unknown"
    rate_limit_backoff: bool = False
    isolate_shared_failures: bool = False
    batch_respects_budget: bool = False
    reuse_unsettled_key: bool = False
    rate_limit_backoff_max_seconds: int = field(default=14_400, validator=validators.gt(0))
    # After an unknown outcome (a lost or malformed answer), automatic uploads of the recording
    # wait this long, doubled per unknown outcome in a row, up to the max (0: no wait).
    unknown_outcome_backoff_seconds: int = field(default=0, validator=validators.ge(0))
    unknown_outcome_backoff_max_seconds: int = field(default=3600, validator=validators.gt(0))
    # After a batch found the backend unreachable (a network failure, no answer), automatic
    # uploads stop for this long, doubled per such failure in a row, up to the max: the pass
    # stops at that batch and the passes until then send nothing and write nothing (0: every
    # pass sends every batch).
    offline_backoff_seconds: int = field(default=0, validator=validators.ge(0))
    offline_backoff_max_seconds: int = field(default=900, validator=validators.gt(0))
    # A recording whose upload history was lost with a damaged log (LogSalvaged.held) waits
    # for a manual Retry instead of going out again automatically.
    hold_lost_history: bool = False
    resume_jitter_max_seconds: int = field(default=0, validator=validators.ge(0))
    default_cooldown_seconds: int = field(default=1800, validator=validators.gt(0))
    max_cooldown_seconds: int = field(default=86_400, validator=validators.gt(0))
    backend_busy_cooldown_seconds: int = field(default=600, validator=validators.gt(0))
    # An upload whose credentials the backend refuses (401/403) even with a fresh token pauses
    # uploads this long (gate reason `auth`), spending no budget (0: an upload error like any
    # other, as the app has it).
    auth_pause_seconds: int = field(default=0, validator=validators.ge(0))
    retry_budget: int = field(default=3, validator=validators.ge(1))
    batch_size: int = field(default=3, validator=validators.ge(1))
    # The reconciler asks this many job statuses at once (the app: slices of 3).
    poll_concurrency: int = field(default=3, validator=validators.ge(1))

    def rules(self) -> dict[str, Any]:
        """The policy as plain data, recorded in the log when an engine opens it."""
        return asdict(self)
