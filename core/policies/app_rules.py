"""What the app does, rule by rule, and every place a policy knowingly does otherwise.

`APP_RULES` gives, for every rule of `Policy`, the app's value right after #7451 (what `seed`
must do) and before it (what `legacy` must do), with the section of docs/spec.md that says so.
`DEVIATIONS` lists where `seed` or `legacy` knowingly differ from the app, and why. The policy
tests hold the registered policies to both, and the deviations table in docs/spec.md is made
from them, so the table cannot drift from the code.
"""

from __future__ import annotations

from typing import Final

from attrs import frozen

__all__ = ["APP_RULES", "DEVIATIONS", "NOT_IN_THE_APP", "AppRule", "Deviation"]

# A rule the app of that time did not have (a cooldown's constants before #7451 had any).
NOT_IN_THE_APP: Final = "n/a"


@frozen(kw_only=True)
class AppRule:
    """One rule: the app's value after #7451 and before it, and where docs/spec.md says so."""

    rule: str
    after: object
    before: object
    spec: str


@frozen(kw_only=True)
class Deviation:
    """A place where a policy knowingly does what the app does not, and why."""

    policies: tuple[str, ...]
    topic: str
    app: str
    here: str
    why: str
    rule: str | None = None  # the rule of `Policy` it concerns, if it is one


APP_RULES: Final[tuple[AppRule, ...]] = (
    AppRule(rule="rate_limit_typed", after=True, before=False, spec="0, 6"),
    AppRule(rule="retry_after", after="app", before="ignore", spec="6"),
    AppRule(rule="gate_batch", after=True, before=False, spec="0, 7"),
    AppRule(rule="gate_auto", after=True, before=False, spec="0, 7"),
    AppRule(rule="gate_single", after=False, before=False, spec="7"),
    AppRule(rule="cooldown_merge", after="overwrite", before=NOT_IN_THE_APP, spec="5"),
    AppRule(rule="busy_rule", after="structural", before="none", spec="0, 8"),
    AppRule(rule="break_batch_on_rate_limit", after=True, before=False, spec="7"),
    AppRule(rule="resume_on_expiry", after=False, before=NOT_IN_THE_APP, spec="5"),
    AppRule(rule="refire_seconds", after=0, before=60, spec="0, 7"),
    AppRule(rule="rate_limit_backoff", after=False, before=NOT_IN_THE_APP, spec="5"),
    AppRule(rule="isolate_shared_failures", after=False, before=False, spec="8"),
    AppRule(rule="batch_respects_budget", after=False, before=False, spec="4"),
    AppRule(rule="reuse_unsettled_key", after=False, before=False, spec="6"),
    AppRule(rule="unusable_answer", after="error", before="error", spec="6"),
    AppRule(rule="rate_limit_backoff_max_seconds", after=NOT_IN_THE_APP, before=NOT_IN_THE_APP,
            spec="5"),
    AppRule(rule="unknown_outcome_backoff_seconds", after=0, before=0, spec="7"),
    AppRule(rule="unknown_outcome_backoff_max_seconds", after=NOT_IN_THE_APP,
            before=NOT_IN_THE_APP, spec="7"),
    AppRule(rule="offline_backoff_seconds", after=0, before=0, spec="7"),
    AppRule(rule="offline_backoff_max_seconds", after=NOT_IN_THE_APP, before=NOT_IN_THE_APP,
            spec="7"),
    # The app keeps no log to salvage: whatever it forgot, it uploads again.
    AppRule(rule="hold_lost_history", after=False, before=False, spec="7"),
    AppRule(rule="resume_jitter_max_seconds", after=0, before=NOT_IN_THE_APP, spec="5"),
    AppRule(rule="default_cooldown_seconds", after=1800, before=NOT_IN_THE_APP, spec="5"),
    AppRule(rule="max_cooldown_seconds", after=86_400, before=NOT_IN_THE_APP, spec="5"),
    AppRule(rule="backend_busy_cooldown_seconds", after=600, before=NOT_IN_THE_APP, spec="5, 8"),
    # the app has no pause for refused credentials: a 401/403 is an upload error like any other
    AppRule(rule="auth_pause_seconds", after=0, before=0, spec="4, 7"),
    AppRule(rule="retry_budget", after=3, before=3, spec="4"),
    AppRule(rule="batch_size", after=3, before=3, spec="6"),
    AppRule(rule="poll_concurrency", after=3, before=3, spec="8"),
)

_ALL: Final = ("legacy", "seed", "walsync")

DEVIATIONS: Final[tuple[Deviation, ...]] = (
    Deviation(
        policies=_ALL, topic="status polls of a job not yet done",
        app="logs a breadcrumb (`reconcile_poll`) on every poll",
        here="records no poll of a job not yet done: how many said each answer, first and "
             "last time, ride on the event of the job's end (`polls_before`), or come as "
             "`JobPollsRepeated` when the engine closes first; `why` reads the counts",
        why="one event per poll per recording, every 20 to 120 s for as long as a job waits, "
            "would bury the decisions in the log, and no decision reads a poll of a job not "
            "done; the count keeps the answer `why` needs"),
    Deviation(
        policies=("legacy", "seed"), topic="the text of a 202 without a job id",
        app="throws an error whose text the spec does not give",
        here="records `UploadFailed` (kind `unexpected`) with the client's own description, e.g. "
             "\"malformed HTTP 202 body: 'job_id' must be a non-empty string\"",
        why="the text is not known; the decision (an error, which only capture auto-sync "
            "spends budget on) is the app's"),
    Deviation(
        policies=_ALL, topic="an answer lost after the request went out",
        app="a read timeout or a connection cut mid-answer is an error that is not a "
            "`SocketException`, so capture auto-sync spends a retry on it",
        here="`UploadOutcomeUnknown`: no retry spent under any policy",
        why="the server may have applied the request (a lost answer must never double an "
            "upload's effect), and which Dart exception a failure would have been cannot be "
            "told from the transport"),
    Deviation(
        policies=_ALL, topic="orphan recovery and recordings still in memory",
        app="takes `miss` recordings on `disk` (with a conversation id and budget left); a "
            "recording on the device's SD card or flash is first copied to the phone",
        here="takes `disk` and `mem` (never `sdcard` or `flashPage`)",
        why="the spec leaves `mem` open: every upload entry point flushes memory to disk first, "
            "a step the log does not record, so a `mem` recording is on disk by the time orphan "
            "recovery reads it"),
    Deviation(
        policies=_ALL, topic="offline before an auto-sync",
        app="capture auto-sync returns quietly when the phone is offline",
        here="has no connectivity signal: the request fails and is recorded as an `UploadFailed` "
             "of kind `network`, which spends no budget either",
        why="the engine cannot see the phone's connectivity; the outcome is the same"),
    Deviation(
        policies=_ALL, topic="the clock a pause is measured on",
        app="`isLimited` compares the wall clock with the stored deadline, so a clock set back "
            "stretches a pause",
        here="counts a pause down on monotonic time from when it was first seen; a wall clock set "
             "back before the mark ends it (`CooldownExpired` with `clock_went_back`)",
        why="no clock jump may stretch or cut a pause, and replay must not depend on the "
            "device's clock"),
    Deviation(
        policies=_ALL, topic="request headers",
        app="sends none of its own beyond the bearer token",
        here="sends `Idempotency-Key` (the attempt id) with every upload and `X-Walsync-Log-Head` "
             "with every request",
        why="the key lets a retry of a lost attempt reuse it (under `walsync` only) and the head "
            "anchors `walsync verify --expect-head`; the real API ignores both"),
    Deviation(
        policies=_ALL, topic="when commands run, outside the simulator",
        app="batch sync 3 s after the app opens, on the user's Sync and after a capture; orphan "
            "recovery at start-up and when the phone is back online; the reconciler when poked, "
            "then 20, 20, 30, 45, 60 and 120 s after a pass by an idle streak of passes",
        here="the simulator replays those triggers; `SyncService` and `AsyncSyncService` run a "
             "command when the log says it is due (a recording batch sync takes at once, 30 s "
             "after an upload of it answered with an error, doubling per error in a row up to "
             "1 h; each job polled 20, 40, 70, 115, 175 and 295 s after its 202, then every "
             "120 s), and `walsync sync` runs a pass every `--poll-seconds` or sooner when the "
             "reconciler asks",
        why="an app embedding walsync, or a folder on a computer, has none of the app's "
            "triggers (screens, foreground, live capture); the policy still decides what each "
            "command does, the runner only when it runs"),
    Deviation(
        policies=_ALL, topic="several busy jobs in one reconciler pass",
        app="calls `markLimited(600 s)` once per busy job, each call overwriting the last",
        here="records a mark only when it changes the pause (the same reason and deadline in the "
             "same pass are not recorded again)",
        why="identical marks at one moment leave the same pause; the log keeps one"),
)
