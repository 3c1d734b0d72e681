"""`walsync diagram` and `walsync policies`: what the code's own tables say (the transition table,
the registry of policies), printed, or written into the docs pages a test keeps current."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import attrs
import click

from walsync.adapters.cli.options import force_option, fresh, output_options
from walsync.adapters.cli.output import echo_json, emit
from walsync.core.diagram import state_diagram_mermaid
from walsync.core.policies import REGISTERED
from walsync.core.policies.app_rules import APP_RULES, DEVIATIONS, NOT_IN_THE_APP
from walsync.core.policy import Policy
from walsync.core.states import TRANSITIONS

DIAGRAM_DOC = Path("docs") / "state-diagram.md"
__all__ = ["DIAGRAM_DOC", "RULE_TEXT", "deviations_markdown", "diagram", "diagram_markdown", "policies",
           "policy_rows", "policy_table_markdown"]

# What each rule of a policy means, in the order the table shows them. A rule added to
# `Policy` needs its line here (a test checks).
RULE_TEXT: Final = {
    "rate_limit_typed": "a 429 is told apart from other errors (a cooldown, no retry spent)",
    "retry_after": "how Retry-After is read: ignored, as the app's `int.tryParse` of the trimmed "
                   "header, or as delta-seconds or an HTTP-date",
    "gate_batch": "batch sync waits while uploads are paused",
    "gate_auto": "capture auto-sync waits while uploads are paused",
    "gate_single": "a manual Retry waits while uploads are paused (refused, with the reason)",
    "cooldown_merge": "a new pause while one holds: replaces it, or the later deadline is kept",
    "busy_rule": "when a failed job counts as a busy backend: never, the hint or 0 segments, "
                 "or the hint and untyped 0 segments only",
    "break_batch_on_rate_limit": "batch sync stops at the first 429",
    "resume_on_expiry": "uploads resume by themselves when a pause ends",
    "refire_seconds": "the app re-runs batch sync this often in the foreground (0: only on its "
                      "triggers)",
    "rate_limit_backoff": "repeated 429s without Retry-After double the default pause",
    "isolate_shared_failures": "a recording whose shared batch job failed on content is retried "
                               "alone",
    "batch_respects_budget": "batch sync leaves spent or refused recordings to a manual Retry",
    "reuse_unsettled_key": "a retry of an upload whose answer was lost reuses its "
                           "Idempotency-Key",
    "unusable_answer": "a 200/202 without a usable job id: an error (auto-sync spends budget), "
                       "or an unknown outcome",
    "rate_limit_backoff_max_seconds": "the longest pause that back-off reaches",
    "unknown_outcome_backoff_seconds": "after an upload's outcome stays unknown, automatic "
                                       "uploads of it wait this long, doubled per further one "
                                       "in a row (0: they do not wait)",
    "unknown_outcome_backoff_max_seconds": "the longest wait after unknown outcomes",
    "offline_backoff_seconds": "after a batch found the backend unreachable (a network "
                               "failure), the pass stops and automatic uploads wait this long, "
                               "doubled per such failure in a row; the passes in between write "
                               "nothing (0: every pass sends every batch)",
    "offline_backoff_max_seconds": "the longest wait after network failures",
    "hold_lost_history": "a recording whose upload history was lost with a damaged log "
                         "waits for a manual Retry",
    "resume_jitter_max_seconds": "the random delay (0 to this) before uploads resume",
    "default_cooldown_seconds": "the pause after a 429 without a usable Retry-After",
    "max_cooldown_seconds": "the longest pause any Retry-After can ask for",
    "backend_busy_cooldown_seconds": "the pause after a job failed by a busy backend",
    "auth_pause_seconds": "after the backend refused the credentials even with a fresh token "
                          "(401/403), uploads pause this long, no retry spent (0: an upload "
                          "error like any other)",
    "retry_budget": "counted failures before a row shows Failed",
    "batch_size": "recordings per batch-sync upload",
    "poll_concurrency": "job statuses the reconciler asks at once",
}


def diagram_markdown() -> str:
    """docs/state-diagram.md: the Mermaid diagram plus the table it was drawn from."""
    table = "\n".join(f"| `{s}` | `{t}` | `{d}` |" for s, t, d in TRANSITIONS)
    return (
        "# The WAL state machine\n\n"
        "Generated from `core/states.py` by `walsync diagram --write --force`; "
        "`tests/unit/test_transition_table.py` fails when this page is stale.\n\n"
        f"```mermaid\n{state_diagram_mermaid()}```\n\n"
        "| from | trigger | to |\n|---|---|---|\n"
        f"{table}\n"
    )


@click.command()
@click.option("--write", is_flag=True, help=f"Write {DIAGRAM_DOC} instead of printing.")
@force_option(str(DIAGRAM_DOC))
@click.option("--json", "as_json", is_flag=True,
              help="Print the transition table as JSON ({from, trigger, to} per edge).")
def diagram(write: bool, force: bool, as_json: bool) -> None:
    """The WAL state diagram (Mermaid), generated from the transition table."""
    if as_json:
        echo_json([{"from": s, "trigger": t, "to": d} for s, t, d in TRANSITIONS])
    elif write:
        fresh(DIAGRAM_DOC, force)
        DIAGRAM_DOC.write_text(diagram_markdown(), encoding="utf-8")
        click.echo(f"wrote {DIAGRAM_DOC}")
    else:
        click.echo(diagram_markdown(), nl=False)


def policy_rows(registered: tuple[Policy, ...] = REGISTERED) -> list[dict[str, Any]]:
    """One row per rule: its name, what it means, and its value under each registered policy."""
    names = [f.name for f in attrs.fields(type(registered[0])) if f.name != "name"]
    missing = [n for n in names if n not in RULE_TEXT]
    if missing:
        raise KeyError(f"rules without a line in RULE_TEXT: {missing}")
    return [{"rule": n, "meaning": RULE_TEXT[n], **{p.name: getattr(p, n) for p in registered}}
            for n in sorted(names, key=list(RULE_TEXT).index)]


def _shown(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def policy_table_markdown(registered: tuple[Policy, ...] = REGISTERED) -> str:
    """The policies side by side as a Markdown table (docs/policies.md holds it)."""
    head = "| rule | meaning | " + " | ".join(f"`{p.name}`" for p in registered) + " |"
    rule = "|---|---|" + "---|" * len(registered)
    lines = [f"| `{r['rule']}` | {r['meaning']} | "
             + " | ".join(_shown(r[p.name]) for p in registered) + " |"
             for r in policy_rows(registered)]
    return "\n".join([head, rule, *lines]) + "\n"


def _app_value(value: Any) -> str:
    return value if value == NOT_IN_THE_APP else _shown(value)


def deviations_markdown(registered: tuple[Policy, ...] = REGISTERED) -> str:
    """docs/spec.md's deviations: where `seed` and `legacy` knowingly differ from the app (and
    why), each rule where they differ from it, and what `walsync` changes for itself; from the
    same data the policy tests hold the policies to (`core/policies/app_rules.py`)."""
    by_name = {p.name: p for p in registered}
    lines = ["| where | the app | instead (under the policies named) | why |", "|---|---|---|---|"]
    lines += [f"| {d.topic} | {d.app} | {d.here} ({', '.join(f'`{n}`' for n in d.policies)}) "
              f"| {d.why} |" for d in DEVIATIONS]
    ours = [(r, d) for r in APP_RULES for d in DEVIATIONS if d.rule == r.rule]
    if ours:
        lines += ["", "Rules of `seed` or `legacy` that differ from the app's:", "",
                  "| rule | the app after / before #7451 | `seed` / `legacy` | why |",
                  "|---|---|---|---|"]
        lines += [f"| `{r.rule}` | {_app_value(r.after)} / {_app_value(r.before)} | "
                  f"{_shown(getattr(by_name['seed'], r.rule))} / "
                  f"{_shown(getattr(by_name['legacy'], r.rule))} | {d.why} |" for r, d in ours]
    walsync = by_name["walsync"]
    changed = [r for r in APP_RULES if getattr(walsync, r.rule) != r.after]
    lines += ["", "What `walsync` changes for itself (every other rule is the app's, as `seed` "
              "has it):", "", "| rule | meaning | the app (`seed`) | `walsync` | spec section |",
              "|---|---|---|---|---|"]
    lines += [f"| `{r.rule}` | {RULE_TEXT[r.rule]} | {_app_value(r.after)} | "
              f"{_shown(getattr(walsync, r.rule))} | {r.spec} |" for r in changed]
    return "\n".join(lines) + "\n"


@click.command()
@output_options(("table", "json", "jsonl", "csv"))
def policies(output: str) -> None:
    """The registered policies' rules side by side (the same table as docs/policies.md)."""
    rows = policy_rows()
    names = [p.name for p in REGISTERED]
    width = max(len(r["rule"]) for r in rows)

    def line(r: dict[str, Any]) -> str:
        return f"{r['rule']:<{width}}  " + "  ".join(f"{_shown(r[n]):>14}" for n in names)

    if output == "table":
        click.echo(f"{'rule':<{width}}  " + "  ".join(f"{n:>14}" for n in names))
    emit(rows, output, text=line, data=lambda r: r, columns=["rule", *names, "meaning"])
