"""The registry of policies: every rule set walsync can run under, one module each.

Everything that offers a choice of policy (the CLI, the simulator's comparisons, the incident
table, the policy tests) reads `REGISTERED`. A new policy is a module in this folder defining
one `Policy`, named in `REGISTERED` below; the order here is the order tables show them in.
"""

from __future__ import annotations

from typing import Final

from walsync.core.policies.legacy import LEGACY
from walsync.core.policies.seed import SEED
from walsync.core.policies.walsync import WALSYNC
from walsync.core.policy import Policy

__all__ = ["LEGACY", "POLICIES", "REGISTERED", "SEED", "WALSYNC", "policy_named"]

REGISTERED: Final[tuple[Policy, ...]] = (LEGACY, SEED, WALSYNC)
POLICIES: Final = {policy.name: policy for policy in REGISTERED}


def policy_named(name: str) -> Policy:
    """Look a policy up by name; a clear ValueError lists the valid ones."""
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {list(POLICIES)}") from None
