"""The registered policies held to the app, rule by rule (docs/spec.md): `seed` is the app
right after #7451 and `legacy` the app before it, except where a deviation is listed with its
reason; the deviations table in docs/spec.md is made from the same data."""

from __future__ import annotations

import attrs
import pytest

from walsync.core.policies import LEGACY, REGISTERED, SEED, WALSYNC
from walsync.core.policies.app_rules import APP_RULES, DEVIATIONS, NOT_IN_THE_APP, AppRule
from walsync.core.policy import Policy

RULES = {r.rule: r for r in APP_RULES}


def _excused(policy: Policy, rule: str) -> bool:
    return any(d.rule == rule and policy.name in d.policies for d in DEVIATIONS)


def test_every_rule_of_a_policy_says_what_the_app_does() -> None:
    """A rule added to Policy (by any change) needs the app's value before and after #7451:
    the deviations table then shows it, under `walsync` when only walsync has it."""
    names = [f.name for f in attrs.fields(Policy) if f.name != "name"]
    assert sorted(RULES) == sorted(names)
    assert len(RULES) == len(APP_RULES)


@pytest.mark.parametrize("rule", APP_RULES, ids=lambda r: r.rule)
def test_seed_is_the_app_after_7451_and_legacy_the_app_before(rule: AppRule) -> None:
    for policy, app in ((SEED, rule.after), (LEGACY, rule.before)):
        if app == NOT_IN_THE_APP or _excused(policy, rule.rule):
            continue
        assert getattr(policy, rule.rule) == app, (
            f"{policy.name}.{rule.rule} differs from the app (docs/spec.md section {rule.spec}): "
            "make it the app's, or list the deviation with its reason in app_rules.DEVIATIONS")


def test_a_listed_deviation_of_a_rule_is_real() -> None:
    for deviation in DEVIATIONS:
        if deviation.rule is None:
            continue
        rule = RULES[deviation.rule]
        for name in deviation.policies:
            policy = next(p for p in REGISTERED if p.name == name)
            app = rule.before if policy is LEGACY else rule.after
            assert getattr(policy, deviation.rule) != app, (name, deviation.rule)


def test_every_deviation_names_registered_policies_and_gives_a_reason() -> None:
    names = {p.name for p in REGISTERED}
    for d in DEVIATIONS:
        assert d.policies and set(d.policies) <= names, d.topic
        assert d.app and d.here and d.why, d.topic
        assert d.rule is None or d.rule in RULES


def test_the_deviations_table_lists_what_walsync_changes_for_itself() -> None:
    from walsync.adapters.cli.diagram import deviations_markdown

    table = deviations_markdown()
    own = [r.rule for r in APP_RULES if getattr(WALSYNC, r.rule) != r.after]
    assert own and all(f"| `{rule}` |" in table for rule in own)
    assert all(f"| `{r.rule}` |" not in table for r in APP_RULES if r.rule not in own)
    assert all(d.topic in table for d in DEVIATIONS)


def test_the_deviations_table_in_docs_spec_md_is_current() -> None:
    from generated_docs import current, expected

    assert current("spec.md") == expected("spec.md"), "run: python tests/generated_docs.py --write"
