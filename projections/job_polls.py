"""How often a recording's last server job was polled, and how long it said each status: read
from the job's end (the polls before it ride on it, `polls_before`), the summaries of polls
not recorded one by one (`JobPollsRepeated`) and, in older logs, the polls recorded one by one
(`JobPolled`), so `why` can say "queued for 9 min (27 polls), then failed"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from walsync.core.events import (
    JobCompleted,
    JobFailed,
    JobNotFound,
    JobPolled,
    JobPollsRepeated,
    UploadAccepted,
    WalCorrupted,
    WalEvent,
)
from walsync.core.serde import format_time, parse_time
from walsync.projections.sentences import time_text

__all__ = ["job_polls", "polls_sentence"]


Answer = tuple[str, int, datetime, datetime]  # what the job said, polls, first, last


def _answers(event: WalEvent, job_id: str) -> list[Answer]:
    """What the event records of the polls of `job_id`, in the order they were heard."""
    if getattr(event, "job_id", None) != job_id:
        return []
    if isinstance(event, JobPolled):
        status = event.server_status if event.outcome == "non_terminal" else None
        return [(status or "unreachable", 1, event.at, event.at)]
    if isinstance(event, JobPollsRepeated):
        return [(event.server_status or "unreachable", event.polls, event.first_poll_at,
                 event.last_poll_at)]
    if isinstance(event, JobCompleted | JobFailed):
        before = [(s.server_status, s.polls, s.first_poll_at, s.last_poll_at)
                  for s in event.polls_before]
        end = "completed" if isinstance(event, JobCompleted) else event.server_status
        return [*before, (end, 1, event.at, event.at)]
    if isinstance(event, JobNotFound | WalCorrupted):
        return [("gone", 1, event.at, event.at)]
    return []


def job_polls(wal_events: Sequence[tuple[int, WalEvent]]) -> dict[str, Any] | None:
    """The polls of the recording's last job: their number, first and last time, and per
    answer (`queued`, `processing`, `unreachable`, the end) how many and from when to when.
    None before its first poll."""
    accepted = [i for i, (_, e) in enumerate(wal_events) if isinstance(e, UploadAccepted)]
    if not accepted:
        return None
    job_id = getattr(wal_events[accepted[-1]][1], "job_id", "")
    by_status: dict[str, list[Any]] = {}
    for _, event in wal_events[accepted[-1] + 1:]:
        for status, polls, first, last in _answers(event, job_id):
            seen = by_status.setdefault(status, [0, first, last])
            seen[0] += polls
            seen[1], seen[2] = min(seen[1], first), max(seen[2], last)
    if not by_status:
        return None
    return {
        "job_id": job_id,
        "polls": sum(n for n, _, _ in by_status.values()),
        "first_poll_at": format_time(min(f for _, f, _ in by_status.values())),
        "last_poll_at": format_time(max(last for _, _, last in by_status.values())),
        "by_status": {status: {"polls": n, "first_poll_at": format_time(first),
                               "last_poll_at": format_time(last)}
                      for status, (n, first, last) in by_status.items()},
    }


def _span(first: str, last: str) -> str:
    seconds = int((parse_time(last) - parse_time(first)).total_seconds())
    hours, minutes, rest = seconds // 3600, seconds // 60 % 60, seconds % 60
    parts = [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes) + [f"{rest} s"] * bool(
        rest and not hours)
    return " ".join(parts) or "0 s"


def polls_sentence(tally: dict[str, Any]) -> str:
    """One sentence: how often, and how long the job said each thing."""
    answers = []
    for status, seen in tally["by_status"].items():
        plural = "poll" if seen["polls"] == 1 else "polls"
        if seen["polls"] > 1:
            answers.append(f"{status} for {_span(seen['first_poll_at'], seen['last_poll_at'])} "
                           f"({seen['polls']} {plural})")
        else:
            answers.append(f"{status} ({seen['polls']} {plural})")
    times = "time" if tally["polls"] == 1 else "times"
    return (f"Job {tally['job_id']} was polled {tally['polls']} {times} from "
            f"{time_text(tally['first_poll_at'])} to {time_text(tally['last_poll_at'])}: "
            f"{', then '.join(answers)}.")
