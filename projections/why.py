"""`why`: one recording's stall explained from the log alone (reason, blocker, causal chain).

A pure fold over the recording's own stream, the gate stream and the policy events, up to
any cut: the same events give the same explanation, whenever and wherever it is computed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Literal

from attrs import asdict, field, frozen

from walsync.core.decide_upload import unknown_backoff_until
from walsync.core.display import display_state
from walsync.core.events import (
    AutoSyncSkipped,
    CooldownCleared,
    CooldownExpired,
    CooldownStarted,
    Event,
    GateEvent,
    JobFailed,
    JobNotFound,
    JobPolled,
    JobPollsRepeated,
    LogSalvaged,
    PolicyApplied,
    UploadAccepted,
    UploadCancelled,
    UploadFailed,
    UploadOutcomeUnknown,
    UploadRateLimited,
    UploadsHeld,
    UploadSkipped,
    UploadStarted,
    WalCorrupted,
    WalEvent,
    WalRegistered,
)
from walsync.core.gate import Gate, evolve_gate
from walsync.core.serde import format_time
from walsync.core.states import MISS, NEW, next_state
from walsync.core.wal import Wal, advance_by_event, new_wal_fields, wal_from_fields
from walsync.projections.job_polls import job_polls, polls_sentence
from walsync.projections.sentences import GATE_REASON_WORDS, sentence, time_text

__all__ = ["REASONS", "SETBACKS", "UNDECISIVE", "Reason", "WhyReport", "explain", "held_passes"]

Reason = Literal["not_stalled", "deleted", "upload_in_progress", "awaiting_server_job",
                 "retry_budget_exhausted", "file_missing", "cooldown_fair_use",
                 "cooldown_backend_busy", "cooldown_auth", "outcome_unknown", "offline",
                 "history_lost", "cancelled", "waiting_for_trigger"]
REASONS: Final[dict[str, str]] = {
    "not_stalled": "synced: nothing is holding it",
    "deleted": "the user deleted it",
    "upload_in_progress": "an upload is in flight",
    "awaiting_server_job": "uploaded; waiting for the server's job to finish",
    "retry_budget_exhausted": "the retry budget is spent; only a manual Retry or a batch sync sends it",
    "file_missing": "its file is gone",
    "cooldown_fair_use": "uploads are paused by fair-use throttling (429)",
    "cooldown_backend_busy": "uploads are paused because the backend is busy",
    "cooldown_auth": "uploads are paused until the credentials work again (sign in)",
    "outcome_unknown": "the last upload's outcome is unknown; it waits for the next sync",
    "offline": "the last upload failed on the network; it waits for the next sync",
    "history_lost": "its upload history was lost when a damaged log was salvaged, so it may "
                    "have been sent already; it waits for a manual Retry instead of going out "
                    "again by itself",
    "cancelled": "the user cancelled the batch sync before it was sent; it waits for the next sync",
    "waiting_for_trigger": "nothing blocks it; it waits for the next sync trigger",
}
_PHONE_STORAGE: Final = ("disk", "mem")  # what a batch sync takes (see batch_candidates)
SETBACKS: Final = (UploadRateLimited, UploadFailed, UploadOutcomeUnknown, UploadSkipped,
                   AutoSyncSkipped, JobFailed, JobNotFound, WalCorrupted)
_POLLS: Final = (JobPolled, JobPollsRepeated)
# Events that leave a waiting recording's reason to the event before them.
UNDECISIVE: Final = (UploadSkipped, AutoSyncSkipped, JobPolled, JobPollsRepeated)


@frozen(kw_only=True)
class WhyReport:
    """The explanation; `to_json()` is what `walsync why --json` prints."""

    wal_id: str
    as_of: str | None
    as_of_seq: int
    state: str
    display: str | None
    stalled: bool
    reason: Reason
    blocked_by: dict[str, Any] | None
    since: str | None
    next_attempt_at: str | None
    retry_count: int
    retry_budget: int
    last_failure: dict[str, Any] | None
    causal_chain: list[dict[str, Any]]
    summary: str
    # Set when the cut asked for fell inside a commit and was moved to a commit's edge.
    cut_note: str | None = None
    # How often its last job was polled, and how long it said what (None before a poll).
    job_polls: dict[str, Any] | None = None
    # Every pause that held it (passes that found uploads paused while it waited), oldest first.
    held_by: list[dict[str, Any]] = field(factory=list)

    def to_json(self) -> dict[str, Any]:
        """Its fields; `held_by` only when a pause held it (explanations of a log that has
        no held pass read as they always did)."""
        found = asdict(self)
        if not self.held_by:
            del found["held_by"]
        return found


def _failure(seq: int, e: Event) -> dict[str, Any] | None:
    base = {"seq": seq, "at": format_time(e.at)}
    if isinstance(e, UploadRateLimited):
        return {**base, "kind": "rate_limited", "http_status": e.http_status,
                "server_error": e.server_error, "retry_after": e.retry_after_raw}
    if isinstance(e, UploadFailed):
        return {**base, "kind": e.kind, "http_status": e.http_status, "server_error": e.message}
    if isinstance(e, UploadOutcomeUnknown):
        return {**base, "kind": "outcome_unknown", "http_status": None, "server_error": e.detail}
    if isinstance(e, JobFailed):
        return {**base, "kind": f"job_{e.server_status}", "http_status": 200,
                "server_error": e.server_error, "classification": e.classification,
                "total_segments": e.total_segments, "job_id": e.job_id}
    if isinstance(e, JobNotFound):
        return {**base, "kind": "job_not_found", "http_status": e.http_status,
                "server_error": None, "job_id": e.job_id}
    if isinstance(e, WalCorrupted):
        return {**base, "kind": "file_missing", "http_status": None, "server_error": None}
    return None


def _gate_at(gate_events: Sequence[tuple[int, GateEvent]], upto_seq: int,
             as_of: datetime | None) -> tuple[Gate, int | None]:
    gate, set_by = Gate(), None
    for seq, event in gate_events[:bisect.bisect_right([s for s, _ in gate_events], upto_seq)]:
        gate = evolve_gate(gate, event)
        if isinstance(event, CooldownStarted):
            set_by = seq
    if gate.limited and as_of is not None and not gate.blocks(as_of):
        gate = Gate(rate_limit_streak=gate.rate_limit_streak)  # past its deadline by `as_of`
    return gate, set_by if gate.limited else None


def explain(wal_id: str, wal_events: Sequence[tuple[int, WalEvent]],
            gate_events: Sequence[tuple[int, GateEvent]],
            policy_events: Iterable[tuple[int, PolicyApplied]] = (), *,
            as_of: datetime | None = None, cut_note: str | None = None,
            held_events: Sequence[tuple[int, UploadsHeld]] = (),
            salvages: Sequence[tuple[int, LogSalvaged]] = ()) -> WhyReport:
    """Explain one recording from its events (seq order), the gate's, the policy's, the
    passes held by a pause (`UploadsHeld`, which say which recordings they held or, for a
    batch sync over every waiting one, leave it to the recording's own stream) and the
    salvages of a damaged log."""
    budget, backoff, hold = 3, (0, 3600), False
    for _, p in policy_events:
        budget = int(p.rules.get("retry_budget", budget))
        hold = bool(p.rules.get("hold_lost_history", False))
        backoff = (int(p.rules.get("unknown_outcome_backoff_seconds", 0)),
                   int(p.rules.get("unknown_outcome_backoff_max_seconds", 3600)))
    if not wal_events:
        raise KeyError(wal_id)
    state = new_wal_fields(wal_id)
    for _, event in wal_events:
        advance_by_event(state, event)
    wal = wal_from_fields(state)
    last_seq = max([s for s, _ in wal_events] + [s for s, _ in gate_events] + [0])
    gate, gate_seq = _gate_at(gate_events, last_seq, as_of)
    setbacks = [(s, e) for s, e in wal_events if isinstance(e, SETBACKS)]
    failures = [f for f in (_failure(s, e) for s, e in setbacks) if f is not None]
    lost = _history_lost(wal_id, wal_events, salvages) if hold else None
    reason, blocked = _reason(wal, budget, gate, gate_seq, wal_events, setbacks, lost)
    backoff_until = unknown_backoff_until(wal, *backoff) if reason == "outcome_unknown" else None
    if backoff_until is not None and blocked is not None:
        blocked = {**blocked, "unknown_in_a_row": wal.unknown_streak,
                   "backoff_until": format_time(backoff_until)}
    holds = held_passes(wal_id, wal_events, held_events)
    start_seq = _stall_start(reason, wal_events, setbacks)
    chain = _chain(start_seq, wal_events, gate_events, holds) if reason not in (
        "not_stalled", "deleted") else []
    display = display_state(wal.status, wal.retry_count, budget) if wal.status != "deleted" else None
    start_at = next((e.at for s, e in wal_events if s == start_seq), None)
    report = WhyReport(
        wal_id=wal_id, as_of=format_time(as_of) if as_of else None, as_of_seq=last_seq,
        state=wal.status, display=display,
        stalled=reason not in ("not_stalled", "deleted", "upload_in_progress"), reason=reason,
        blocked_by=blocked, since=format_time(start_at) if start_at and chain else None,
        next_attempt_at=format_time(gate.until) if reason.startswith("cooldown") and gate.until
        else format_time(backoff_until) if backoff_until is not None else None,
        retry_count=wal.retry_count, retry_budget=budget,
        last_failure=failures[-1] if failures else None, causal_chain=chain, summary="",
        cut_note=cut_note, job_polls=job_polls(wal_events), held_by=_pauses(holds, gate_events))
    held_since = sum(1 for s, _ in holds if chain and s >= chain[0]["seq"])
    return _with_summary(report, wal_events, gate, held_since)


def _history_lost(wal_id: str, wal_events: Sequence[tuple[int, WalEvent]],
                  salvages: Sequence[tuple[int, LogSalvaged]]) -> tuple[int, LogSalvaged] | None:
    """The salvage that lost this recording's upload history, unless an upload of it started
    since (a manual Retry)."""
    named = [(s, e) for s, e in salvages if wal_id in e.held]
    if not named:
        return None
    seq, event = named[-1]
    if any(s > seq and isinstance(e, UploadStarted) for s, e in wal_events):
        return None
    return seq, event


def _reason(wal: Wal, budget: int, gate: Gate, gate_seq: int | None,
            wal_events: Sequence[tuple[int, WalEvent]],
            setbacks: Sequence[tuple[int, WalEvent]],
            lost: tuple[int, LogSalvaged] | None = None) -> tuple[Reason, dict[str, Any] | None]:
    last_seq, last = wal_events[-1]
    if wal.status == "synced":
        return "not_stalled", None
    if wal.status == "deleted":
        return "deleted", None
    if wal.status == "corrupted":
        seq = next(s for s, e in reversed(wal_events) if isinstance(e, WalCorrupted))
        return "file_missing", {"kind": "file", "file_path": wal.file_path, "seq": seq}
    if wal.status == "uploaded":
        seq = next(s for s, e in reversed(wal_events) if isinstance(e, UploadAccepted))
        return "awaiting_server_job", {"kind": "job", "job_id": wal.job_id, "seq": seq}
    if wal.status == "uploading":
        return "upload_in_progress", {"kind": "upload", "attempt_id": wal.attempt_id,
                                      "seq": last_seq}
    if lost is not None:
        return "history_lost", {"kind": "salvage", "moved_to": lost[1].moved_to,
                                "first_bad_seq": lost[1].first_bad_seq, "seq": lost[0]}
    if wal.retry_count >= budget:
        seq = next(s for s, e in reversed(setbacks) if getattr(e, "retry_count_bumped", False))
        return "retry_budget_exhausted", {"kind": "budget", "retry_count": wal.retry_count,
                                          "retry_budget": budget, "seq": seq}
    if gate.limited and gate.reason is not None and gate.until is not None:
        codes: dict[str, Reason] = {"rateLimit": "cooldown_fair_use", "auth": "cooldown_auth",
                                    "backendBusy": "cooldown_backend_busy"}
        code = codes[gate.reason]
        return code, {"kind": "gate", "reason": gate.reason, "until": format_time(gate.until),
                      "seq": gate_seq}
    decisive = [(s, e) for s, e in wal_events if not isinstance(e, UNDECISIVE)]
    seq, event = decisive[-1] if decisive else (last_seq, last)
    if isinstance(event, UploadOutcomeUnknown):
        return "outcome_unknown", {"kind": "upload", "attempt_id": event.attempt_id, "seq": seq}
    if isinstance(event, UploadFailed) and event.kind == "network":
        return "offline", {"kind": "network", "message": event.message, "seq": seq}
    if isinstance(event, UploadCancelled):
        return "cancelled", {"kind": "cancel", "run_id": event.run_id, "seq": seq}
    return "waiting_for_trigger", {"kind": "trigger", "seq": seq}


def _stall_start(reason: Reason, wal_events: Sequence[tuple[int, WalEvent]],
                 setbacks: Sequence[tuple[int, WalEvent]]) -> int:
    """The first setback (the recording has not progressed since), else where it began
    waiting (a pass a pause held is no setback of its own: it waited through it)."""
    if setbacks:
        return setbacks[0][0]
    if reason == "upload_in_progress":
        return next(s for s, e in reversed(wal_events) if isinstance(e, UploadStarted))
    if reason == "awaiting_server_job":
        return next(s for s, e in reversed(wal_events) if isinstance(e, UploadAccepted))
    return next((s for s, e in wal_events if isinstance(e, WalRegistered)), wal_events[0][0])


def held_passes(wal_id: str, wal_events: Sequence[tuple[int, WalEvent]],
           held_events: Sequence[tuple[int, UploadsHeld]]) -> list[tuple[int, UploadsHeld]]:
    """The held passes that held this recording: those naming it, and the batch syncs over
    every waiting recording that found it waiting (`miss`, on the phone's storage)."""
    if not held_events:
        return []
    found: list[tuple[int, UploadsHeld]] = []
    state, storage, own = NEW, None, iter(wal_events)
    pending = next(own, None)
    for seq, event in held_events:
        while pending is not None and pending[0] < seq:
            state = next_state(state, pending[1].trigger) or state
            if isinstance(pending[1], WalRegistered):
                storage = pending[1].storage
            pending = next(own, None)
        if wal_id in event.wal_ids or (not event.wal_ids and state == MISS
                                       and storage in _PHONE_STORAGE):
            found.append((seq, event))
    return found


def _pauses(holds: Sequence[tuple[int, UploadsHeld]],
            gate_events: Sequence[tuple[int, GateEvent]]) -> list[dict[str, Any]]:
    """Each pause that held the recording: what set it and when, until when it was to last,
    when it ended (if it has), and the passes it held it for."""
    pauses: dict[int | None, dict[str, Any]] = {}
    starts = [(s, e) for s, e in gate_events if isinstance(e, CooldownStarted)]
    for seq, held in holds:
        at = bisect.bisect_left([s for s, _ in starts], seq)
        set_seq, started = starts[at - 1] if at else (None, None)
        pause = pauses.get(set_seq)
        if pause is None:
            ended = next((e.at for s, e in gate_events if set_seq is not None and s > set_seq
                          and isinstance(e, CooldownStarted | CooldownCleared | CooldownExpired)),
                         None)
            pause = pauses[set_seq] = {
                "seq": set_seq, "reason": held.gate_reason,
                "from": format_time(started.at) if started is not None else None,
                "until": format_time(held.gate_until),
                "ended_at": format_time(ended) if ended is not None else None,
                "passes": 0, "first_held_at": format_time(held.at)}
        pause["passes"] += 1
        pause["until"] = format_time(held.gate_until)
        pause["last_held_at"] = format_time(held.at)
    return list(pauses.values())


def _chain(start_seq: int, wal_events: Sequence[tuple[int, WalEvent]],
           gate_events: Sequence[tuple[int, GateEvent]],
           holds: Sequence[tuple[int, UploadsHeld]] = ()) -> list[dict[str, Any]]:
    """Events from the stall's start: the recording's own (polls only the latest) and the gate's,
    plus the cooldown that was already in force when the stall began, and the first pass each
    pause held it for."""
    own = [(s, e) for s, e in wal_events if s >= start_seq and not isinstance(e, _POLLS)]
    polls = [(s, e) for s, e in wal_events if s >= start_seq and isinstance(e, _POLLS)]
    gate: list[tuple[int, GateEvent]] = [(s, e) for s, e in gate_events if s >= start_seq and isinstance(
        e, CooldownStarted | CooldownCleared | CooldownExpired)]
    before = [(s, e) for s, e in gate_events if s < start_seq]
    if before and isinstance(before[-1][1], CooldownStarted):
        gate.insert(0, before[-1])
    first_held: dict[datetime, tuple[int, Event]] = {}
    for s, e in holds:
        if s >= start_seq:
            first_held.setdefault(e.gate_until, (s, e))
    picked = sorted([*own, *polls[-1:], *gate, *first_held.values()], key=lambda item: item[0])
    return [{"seq": s, "at": format_time(e.at), "type": type(e).__name__, "sentence": sentence(e)}
            for s, e in picked]


def _with_summary(r: WhyReport, wal_events: Sequence[tuple[int, WalEvent]],
                  gate: Gate, held_since: int = 0) -> WhyReport:
    first: dict[str, Any] = {}
    shown = r.state if r.display in (None, r.state) else f"{r.state}, shown as {r.display}"
    parts = [f"Recording {r.wal_id} is {shown} (retry count {r.retry_count} of "
             f"{r.retry_budget}): {REASONS[r.reason]}."]
    if r.causal_chain:
        first = r.causal_chain[0] if r.causal_chain[0]["type"] != "CooldownStarted" or len(
            r.causal_chain) == 1 else r.causal_chain[1]
        parts.append(f"It stalled at {time_text(first['at'])} (seq {first['seq']}): "
                     f"{first['sentence']}")
    if r.blocked_by and r.blocked_by.get("kind") == "gate" and gate.reason:
        skipped = held_since + sum(1 for c in r.causal_chain if c["type"] == "UploadSkipped")
        parts.append(f"Uploads are paused until {time_text(r.blocked_by['until'])} "
                     f"because of {GATE_REASON_WORDS[gate.reason]} (set at seq "
                     f"{r.blocked_by['seq']}); {skipped} upload(s) of it were skipped since.")
    stall_seq = first["seq"] if r.causal_chain else None
    if r.last_failure and r.last_failure["seq"] != stall_seq:
        parts.append(f"Its last failure (seq {r.last_failure['seq']}) was "
                     f"{r.last_failure['kind']}"
                     + (f" with error {r.last_failure['server_error']!r}"
                        if r.last_failure.get("server_error") else "") + ".")
    start = r.causal_chain[0]["seq"] if r.causal_chain else 0
    bumps = sum(1 for s, e in wal_events if s >= start and getattr(e, "retry_count_bumped", False))
    setbacks = sum(1 for c in r.causal_chain if c["type"] in {t.__name__ for t in SETBACKS})
    if r.stalled and setbacks:
        parts.append(f"{setbacks} setback(s) since then spent {bumps} retry(s) of its budget.")
    if r.blocked_by and "backoff_until" in r.blocked_by:
        parts.append(f"After {r.blocked_by['unknown_in_a_row']} unknown outcome(s) in a row, "
                     "automatic uploads of it back off (the wait doubles each time), so the "
                     "server is not sent the same files on every pass.")
    if r.stalled and r.job_polls:
        parts.append(polls_sentence(r.job_polls))
    if r.next_attempt_at:
        parts.append(f"Next attempt: after {time_text(r.next_attempt_at)}.")
    return WhyReport(**{**asdict(r, recurse=False), "summary": " ".join(parts)})
