"""The three rule sets walsync can run under: `legacy`, `seed` (#7451 as merged), `walsync`."""

from __future__ import annotations

from typing import Any, Final, Literal

from attrs import asdict, field, frozen, validators

__all__ = ["LEGACY", "POLICIES", "SEED", "WALSYNC", "Policy", "policy_named"]

RetryAfterMode = Literal["ignore", "delta", "delta_or_date"]
MergeRule = Literal["overwrite", "keep_later"]
BusyRule = Literal["none", "structural", "typed"]


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
    rate_limit_backoff: bool = False
    isolate_shared_failures: bool = False
    batch_respects_budget: bool = False
    reuse_unsettled_key: bool = False
    rate_limit_backoff_max_seconds: int = field(default=14_400, validator=validators.gt(0))
    resume_jitter_max_seconds: int = field(default=0, validator=validators.ge(0))
    default_cooldown_seconds: int = field(default=1800, validator=validators.gt(0))
    max_cooldown_seconds: int = field(default=86_400, validator=validators.gt(0))
    backend_busy_cooldown_seconds: int = field(default=600, validator=validators.gt(0))
    retry_budget: int = field(default=3, validator=validators.ge(1))
    batch_size: int = field(default=3, validator=validators.ge(1))

    def rules(self) -> dict[str, Any]:
        """The policy as plain data, recorded in the log when an engine opens it."""
        return asdict(self)


LEGACY: Final = Policy(
    name="legacy",
    rate_limit_typed=False,
    retry_after="ignore",
    gate_batch=False,
    gate_auto=False,
    gate_single=False,
    cooldown_merge="overwrite",
    busy_rule="none",
    break_batch_on_rate_limit=False,
    resume_on_expiry=False,
)

SEED: Final = Policy(
    name="seed",
    rate_limit_typed=True,
    retry_after="delta",
    gate_batch=True,
    gate_auto=True,
    gate_single=False,
    cooldown_merge="overwrite",
    busy_rule="structural",
    break_batch_on_rate_limit=True,
    resume_on_expiry=False,
)

WALSYNC: Final = Policy(
    name="walsync",
    rate_limit_typed=True,
    retry_after="delta_or_date",
    gate_batch=True,
    gate_auto=True,
    gate_single=True,
    cooldown_merge="keep_later",
    busy_rule="typed",
    break_batch_on_rate_limit=True,
    resume_on_expiry=True,
    rate_limit_backoff=True,
    isolate_shared_failures=True,
    batch_respects_budget=True,
    reuse_unsettled_key=True,
    resume_jitter_max_seconds=120,
)

POLICIES: Final = {p.name: p for p in (LEGACY, SEED, WALSYNC)}


def policy_named(name: str) -> Policy:
    """Look a policy up by name; a clear ValueError lists the valid ones."""
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}") from None
