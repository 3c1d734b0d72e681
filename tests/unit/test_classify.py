"""Failed-job classification under each busy rule (spec section 8; docs/design.md, Policies)."""

from __future__ import annotations

import itertools

import pytest

from walsync.core.classify import BACKEND_BUSY_HINT, classify_job_failure
from walsync.core.policies import LEGACY, SEED, WALSYNC

STALE = "Job timed out (background worker likely died)"
DECODE = "Decode failed: invalid opus frame"
VAD = "VAD failed for 2 file(s): no speech frames"
DG = "DG budget exhausted — audio retained for retry"
ALL_FAILED = "All 4 segments failed. First error: deepgram timeout"
OTHER = "KeyError: 'segments'"


def test_the_hint_is_the_stale_guard_text_of_issue_7469() -> None:
    assert BACKEND_BUSY_HINT == "background worker likely died"
    assert BACKEND_BUSY_HINT in STALE


def test_the_policies_carry_the_rules_of_architecture_section_3() -> None:
    assert (LEGACY.busy_rule, SEED.busy_rule, WALSYNC.busy_rule) == ("none", "structural", "typed")


# (rule, status, error, total_segments) -> class, straight from the spec's prose
CASES = [
    # legacy: every failure is content (revert + bump)
    ("none", "failed", STALE, 0, "content"),
    ("none", "failed", None, 0, "content"),
    ("none", "partial_failure", STALE, 3, "content"),
    ("none", "failed", DG, 5, "content"),
    # seed (#7451): hint text, or failed with 0 segments
    ("structural", "failed", STALE, 0, "backend_busy"),
    ("structural", "failed", STALE, 7, "backend_busy"),
    ("structural", "partial_failure", STALE, 7, "backend_busy"),
    ("structural", "failed", None, 0, "backend_busy"),
    ("structural", "failed", "", 0, "backend_busy"),
    ("structural", "failed", DECODE, 0, "backend_busy"),  # the loop-forever flaw, kept in seed
    ("structural", "failed", VAD, 0, "backend_busy"),
    ("structural", "failed", OTHER, 0, "backend_busy"),
    ("structural", "partial_failure", None, 0, "content"),  # structural rule is `failed` only
    ("structural", "partial_failure", OTHER, 0, "content"),
    ("structural", "failed", ALL_FAILED, 4, "content"),
    ("structural", "failed", DG, 5, "content"),  # DG budget burns retry budget in seed
    ("structural", "partial_failure", DG, 5, "content"),
    # walsync: typed content failures count; DG budget is fair use
    ("typed", "failed", STALE, 0, "backend_busy"),
    ("typed", "partial_failure", STALE, 7, "backend_busy"),
    ("typed", "failed", DECODE, 0, "content"),
    ("typed", "failed", VAD, 0, "content"),
    ("typed", "failed", DG, 5, "fair_use_budget"),
    ("typed", "failed", DG, 0, "fair_use_budget"),
    ("typed", "partial_failure", DG, 5, "fair_use_budget"),
    ("typed", "failed", None, 0, "backend_busy"),  # untyped total-0 failure stays busy
    ("typed", "failed", OTHER, 0, "backend_busy"),
    ("typed", "partial_failure", None, 0, "content"),
    ("typed", "failed", ALL_FAILED, 4, "content"),
    ("typed", "failed", OTHER, 3, "content"),
]


@pytest.mark.parametrize(("rule", "status", "error", "total", "expected"), CASES)
def test_named_cases(rule: str, status: str, error: str | None, total: int,
                     expected: str) -> None:
    assert classify_job_failure(status, error, total, rule) == expected  # type: ignore[arg-type]


def _spec(rule: str, status: str, error: str | None, total: int) -> str:
    """Spec section 8 and docs/design.md's policies as an independent oracle."""
    text = error or ""
    if rule == "none":
        return "content"
    if BACKEND_BUSY_HINT in text:
        return "backend_busy"
    if rule == "typed" and (text.startswith("Decode failed") or text.startswith("VAD failed")):
        return "content"
    if rule == "typed" and "DG budget exhausted" in text:
        return "fair_use_budget"
    if status == "failed" and total == 0:
        return "backend_busy"
    return "content"


GRID = list(itertools.product(
    ["none", "structural", "typed"], ["failed", "partial_failure"],
    [None, "", STALE, DECODE, VAD, DG, ALL_FAILED, OTHER], [0, 1, 12]))


@pytest.mark.parametrize(("rule", "status", "error", "total"), GRID)
def test_every_rule_status_error_combination(rule: str, status: str, error: str | None,
                                             total: int) -> None:
    assert classify_job_failure(status, error, total, rule) == _spec(  # type: ignore[arg-type]
        rule, status, error, total)


def test_the_hint_is_found_anywhere_in_the_error() -> None:
    text = f"Stage processing: {BACKEND_BUSY_HINT}; retried 0 times"
    assert classify_job_failure("partial_failure", text, 9, "structural") == "backend_busy"
    assert classify_job_failure("partial_failure", text, 9, "typed") == "backend_busy"
    assert classify_job_failure("partial_failure", text, 9, "none") == "content"


def test_a_content_prefix_only_counts_at_the_start_under_typed() -> None:
    # "…: Decode failed" inside another message is not the server typing the failure
    assert classify_job_failure("failed", "Worker crashed: Decode failed", 0, "typed") == (
        "backend_busy")
