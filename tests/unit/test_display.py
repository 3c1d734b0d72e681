"""The display-state derivation of spec section 2, the single source of truth for the UI."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walsync.core.display import display_state

# (state, retry_count) -> display, rule by rule; `uploading` is the app's isSyncing, `new` its
# inProgress.
TABLE = [
    # 1. isSyncing -> syncing, whatever the status and count
    ("uploading", 0, "syncing"),
    ("uploading", 1, "syncing"),
    ("uploading", 3, "syncing"),
    ("uploading", 7, "syncing"),
    # 2. uploaded / synced / corrupted as they are, whatever the count
    ("uploaded", 0, "uploaded"),
    ("uploaded", 3, "uploaded"),
    ("synced", 0, "synced"),
    ("synced", 5, "synced"),
    ("corrupted", 0, "corrupted"),
    ("corrupted", 4, "corrupted"),
    # 3. miss by retry count against the budget of 3
    ("miss", 0, "waiting"),
    ("miss", 1, "retrying"),
    ("miss", 2, "retrying"),
    ("miss", 3, "failed"),
    ("miss", 4, "failed"),
    ("miss", 100, "failed"),
    # 4. inProgress -> waiting
    ("new", 0, "waiting"),
    ("new", 3, "waiting"),
]


@pytest.mark.parametrize(("state", "retry_count", "expected"), TABLE)
def test_the_derivation_table(state: str, retry_count: int, expected: str) -> None:
    assert display_state(state, retry_count) == expected


def test_the_default_budget_is_wal_max_auto_retries_3() -> None:
    assert display_state("miss", 2) == display_state("miss", 2, 3) == "retrying"
    assert display_state("miss", 3) == display_state("miss", 3, 3) == "failed"


@pytest.mark.parametrize(("retry_count", "expected"), [(0, "waiting"), (1, "retrying"),
                                                       (4, "retrying"), (5, "failed")])
def test_a_miss_is_failed_once_the_given_budget_is_spent(retry_count: int, expected: str) -> None:
    assert display_state("miss", retry_count, retry_budget=5) == expected


@given(retry_count=st.integers(0, 10_000), budget=st.integers(1, 20))
def test_a_miss_reads_waiting_then_retrying_then_failed(retry_count: int, budget: int) -> None:
    shown = display_state("miss", retry_count, budget)
    if retry_count == 0:
        assert shown == "waiting"
    elif retry_count < budget:
        assert shown == "retrying"
    else:
        assert shown == "failed"


@given(state=st.sampled_from(["uploading", "uploaded", "synced", "corrupted"]),
       retry_count=st.integers(0, 10_000), budget=st.integers(1, 20))
def test_the_count_only_matters_for_a_miss(state: str, retry_count: int, budget: int) -> None:
    assert display_state(state, retry_count, budget) == display_state(state, 0)
