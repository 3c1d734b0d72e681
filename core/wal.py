"""One recording's state, folded from its stream with the transition table's lookup."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from attrs import fields, frozen

from walsync.core.errors import IllegalTransition
from walsync.core.events import EVENT_TYPES, JobPolled, WalEvent
from walsync.core.serde import load_data, parse_time, stored_defaults
from walsync.core.states import NEW, NEXT_STATE

__all__ = [
    "FIELDLESS_WAL_EVENTS",
    "LATE_READ_WAL_EVENTS",
    "TRIGGERS",
    "Field",
    "Wal",
    "advance_by_event",
    "advance_wal",
    "event_fields",
    "evolve_wal",
    "job_progress",
    "lazy_fields",
    "new_wal_fields",
    "no_data",
    "wal_fields",
    "wal_from_fields",
    "wal_trigger",
]


@frozen(kw_only=True)
class Wal:
    """The persisted fields of spec section 2 that decisions need, plus the stream version."""

    wal_id: str
    status: str = NEW
    version: int = 0
    retry_count: int = 0
    last_retry_at: datetime | None = None
    job_id: str | None = None
    uploaded_at: datetime | None = None
    attempt_id: str | None = None
    # The WALs sent together under `attempt_id`, and whether that request's outcome is still
    # unknown (answer lost or process killed): a retry of the same batch may reuse its key.
    attempt_batch: tuple[str, ...] = ()
    unsettled: bool = False
    # The furthest non-terminal job progress seen: (status rank, processed segments). Older or
    # repeated status answers fall at or below it and are not recorded again (T18).
    job_progress: tuple[int, int] = (-1, 0)
    conversation_id: str | None = None
    file_path: str | None = None
    device: str = "phone"
    timer_start: int = 0
    codec: str = "opus"
    sample_rate: int = 16000
    channel: int = 1
    frame_size: int = 160
    storage: str = "disk"
    seconds: int = 60
    # A content failure of a job it shared with others: a failed segment cannot be pinned on
    # one file, so policies that isolate retry it alone.
    shared_failure: bool = False
    # The server's last answer refused the file itself (400/413): resending it cannot help.
    rejected: bool = False
    # Unknown outcomes in a row (answers lost or malformed), and when the last one was recorded:
    # policies that back off wait before the next automatic upload. Any known outcome resets.
    unknown_streak: int = 0
    last_unknown_at: datetime | None = None
    # The last upload failed because the file changed while it was sent (it is retried once
    # the file is still).
    file_changed: bool = False
    # The last upload attempt's start and its claim (see UploadStarted): while `uploading`,
    # the recording belongs to that attempt from `claimed_at` until `claim_until`.
    claimed_at: datetime | None = None
    claim_until: datetime | None = None
    # Uploads answered with an error since the last one that got through (200 or 202), and when
    # the last of them was: a service backs its next automatic try off from it.
    failed_streak: int = 0
    last_failed_at: datetime | None = None
    # The last upload's answer was none at all: the backend could not be reached (a network
    # failure). Any answer from the server clears it.
    failed_offline: bool = False


Field = Callable[[str], Any]
_SKIPS: Final = frozenset({"UploadSkipped", "AutoSyncSkipped", "UploadCancelled"})
_REGISTERED: Final = ("device", "timer_start", "codec", "sample_rate", "channel", "frame_size",
                      "seconds", "file_path", "storage", "conversation_id")
_FIELDS: Final = tuple(a.name for a in fields(Wal))
_TIMES: Final = ("uploaded_at", "last_retry_at", "last_unknown_at", "claimed_at", "claim_until",
                  "last_failed_at")
_values_of: Final = operator.attrgetter(*_FIELDS)


def advance_wal(state: dict[str, Any], type_name: str, trigger: str, field: Field,
                at: datetime | str, *, own_stream: bool = True) -> None:
    """Fold one event into a WAL's fields, in place: take the table's edge for `trigger`
    (IllegalTransition when it has none, before anything changes), bump the version and set
    the fields this type of event sets. The event is read through `field` (an attribute of a
    decoded event, or a key of its stored JSON: the same names); `at` is its time, or its
    stored text (parsed once, by wal_from_fields). The single description of what each event
    does to a WAL: the live fold, a rebuild over stored rows and `why` all run it."""
    dest = NEXT_STATE.get((state["status"], trigger))
    if dest is None:
        raise IllegalTransition(state["wal_id"], state["status"], trigger)
    own = _OWN_CHANGES.get(type_name)
    if own is not None:
        own(state, field, at)
    if type_name in _KNOWN_OUTCOMES:
        state["unknown_streak"], state["last_unknown_at"] = 0, None
        state["failed_offline"] = type_name == "UploadFailed" and field("kind") == "network"
        if type_name in _GOT_THROUGH:
            state["failed_streak"], state["last_failed_at"] = 0, None
        if type_name != "UploadFailed":  # which sets it from its kind
            state["file_changed"] = False
    # Only a new outcome settles a lost attempt; a gate skip leaves it as it was.
    state["unsettled"] = type_name == "UploadOutcomeUnknown" or (
        state["unsettled"] and type_name in _SKIPS)
    state["status"] = dest
    if own_stream:  # an event of a job's stream (stored once for its members) is not theirs
        state["version"] += 1


def advance_by_event(state: dict[str, Any], event: WalEvent) -> None:
    """advance_wal with a decoded event."""
    advance_wal(state, type(event).__name__, event.trigger, event_fields(event), event.at)


def event_fields(event: WalEvent) -> Field:
    """A decoded event read as a `field`: its attributes by name (a bound method, no wrapper)."""
    return event.__getattribute__


OwnChanges = Callable[[dict[str, Any], Field, "datetime | str"], None]


def _counted(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    """A retry bump sets the count and its time; no bump leaves both."""
    if field("retry_count_bumped"):
        state["retry_count"] = field("retry_count")
        state["last_retry_at"] = at


def _registered(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    for name in _REGISTERED:
        state[name] = field(name)


# Fields the fold sets but never reads: the attempt (set by each start), the job id (set by
# each acceptance, cleared when its job ends) and the job progress (the running maximum of the
# job's polls, started over by each acceptance). So these events are only noted, their `field`
# unread, and read when the WAL is built (wal_from_fields): the last start, the last acceptance
# if its job id still stands, and the polls since it. A fold over stored rows then decodes at
# most one start, one acceptance and the last job's polls per WAL (bench/bench_profile.py
# counts the rows it decodes).
_LAST_START: Final = "last start, not yet read"
_LAST_ACCEPTANCE: Final = "last acceptance, not yet read"
_POLLS: Final = "polls since it, not yet read"
_JOB_OF_LAST_ACCEPTANCE: Final = object()  # stands for the job id until it is read


def _started(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    state[_LAST_START] = field
    state["claimed_at"] = at


def _accepted(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    state[_LAST_ACCEPTANCE] = field
    state["job_id"] = _JOB_OF_LAST_ACCEPTANCE
    state["uploaded_at"] = at
    state["shared_failure"] = state["rejected"] = False
    state["job_progress"] = (-1, 0)
    state.pop(_POLLS, None)  # the new job's progress starts over: the old polls no longer count


def _polled(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    polls = state.get(_POLLS)
    if polls is None:
        state[_POLLS] = [field]
    else:
        polls.append(field)


def _read_noted(state: dict[str, Any]) -> None:
    """Read what the noted events set (see _LAST_START)."""
    started = state.pop(_LAST_START, None)
    if started is not None:
        state["attempt_id"] = started("attempt_id")
        state["attempt_batch"] = tuple(started("batch"))
        try:
            state["claim_until"] = started("claim_until")
        except KeyError:  # stored before attempts carried a claim
            state["claim_until"] = None
    accepted = state.pop(_LAST_ACCEPTANCE, None)
    if state["job_id"] is _JOB_OF_LAST_ACCEPTANCE:  # set only beside _LAST_ACCEPTANCE
        state["job_id"] = accepted("job_id")
    for field in state.pop(_POLLS, ()):
        progress = _progress(field)
        if progress > state["job_progress"]:
            state["job_progress"] = progress


def _outcome_unknown(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    state["unknown_streak"] += 1
    state["last_unknown_at"] = at


# Outcomes an upload's answer made known: an unknown-outcome streak ends at any of them.
_KNOWN_OUTCOMES: Final = frozenset({"UploadSynced", "UploadAccepted", "UploadRateLimited",
                                    "UploadFailed"})


# The uploads that got through: an error streak ends at either.
_GOT_THROUGH: Final = frozenset({"UploadSynced", "UploadAccepted"})


def _upload_failed(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    kind = field("kind")
    state["rejected"] = kind in ("bad_request", "too_large")
    state["file_changed"] = kind == "file_changed"
    if kind != "auth":  # refused credentials pause the gate instead: no backoff of its own
        state["failed_streak"] += 1
        state["last_failed_at"] = at
    _counted(state, field, at)


def _job_failed(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    state["shared_failure"] = (field("classification") == "content"
                               and len(field("member_wal_ids")) > 1)
    _job_not_found(state, field, at)


def _job_not_found(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    state["job_id"] = None
    _counted(state, field, at)


def _job_ended(state: dict[str, Any], field: Field, at: datetime | str) -> None:
    state["job_id"] = None


# What each WAL event type sets besides status, version and `unsettled` (a type not here sets
# nothing else), looked up once per event: a rebuild of a long log runs this for every row.
_OWN_CHANGES: Final[dict[str, OwnChanges]] = {
    "WalRegistered": _registered,
    "UploadStarted": _started,
    "UploadAccepted": _accepted,
    "JobPolled": _polled,
    "UploadFailed": _upload_failed,
    "UploadOutcomeUnknown": _outcome_unknown,
    "UploadRateLimited": _counted,
    "JobFailed": _job_failed,
    "JobNotFound": _job_not_found,
    "JobCompleted": _job_ended,
    "WalCorrupted": _job_ended,
}


_STATUS_RANK: Final = {"queued": 0, "processing": 1}


def _progress(field: Field) -> tuple[int, int]:
    if field("outcome") != "non_terminal":
        return (-1, 0)
    rank = _STATUS_RANK.get(field("server_status"))
    return (-1, 0) if rank is None else (rank, int(field("processed_segments")))


def job_progress(event: JobPolled) -> tuple[int, int]:
    """How far a non-terminal poll says the job got; transient polls say nothing."""
    return _progress(event_fields(event))


def no_data(name: str) -> Any:
    """The `field` of a fieldless event: its fold never reads one."""
    raise KeyError(f"a fieldless event has no field {name!r}")


def wal_trigger(type_name: str, field: Field) -> str:
    """The event's edge in the transition table (registration depends on `delivered`)."""
    if type_name == "WalRegistered":
        return "register_delivered" if field("delivered") else "register"
    return TRIGGERS[type_name]


# Events whose fold reads none of their data: their type and stream decide it (with the WAL's
# current fields). A fold over stored rows can skip decoding these.
FIELDLESS_WAL_EVENTS: Final = frozenset(
    {"UploadSkipped", "AutoSyncSkipped", "UploadCancelled", "UploadSynced", "UploadOutcomeUnknown",
     "WalDeleted", "JobPollsRepeated"})
# Events whose data the fold reads later if at all (see _LAST_START): a fold over stored rows
# hands them over undecoded, through lazy_fields.
LATE_READ_WAL_EVENTS: Final = frozenset({"UploadStarted", "UploadAccepted", "JobPolled"})


def lazy_fields(type_name: str, data: str) -> Field:
    """A `field` over an event's stored JSON, decoded at each read and never before: a noted
    event is read at most once, for two or three fields, and most are never read. (A partial,
    not a caching closure: one object for the garbage collector to track, not two.) A field
    the row left out at its default reads as that default."""
    return functools.partial(_stored_field, type_name, data)


def _stored_field(type_name: str, data: str, name: str) -> Any:
    stored = load_data(data)
    return stored[name] if name in stored else stored_defaults(type_name)[name]


TRIGGERS: Final = {name: cls.TRIGGER for name, cls in EVENT_TYPES.items()
                   if issubclass(cls, WalEvent) and cls.TRIGGER}


def evolve_wal(wal: Wal | None, event: WalEvent) -> Wal:
    """Fold one event; raises IllegalTransition when the table has no such edge."""
    state = wal_fields(wal) if wal is not None else new_wal_fields(event.wal_id)
    advance_by_event(state, event)
    return wal_from_fields(state)


def wal_fields(wal: Wal) -> dict[str, Any]:
    """A WAL as a mutable mapping of its fields, for folding many events before one rebuild."""
    return dict(zip(_FIELDS, _values_of(wal), strict=True))


def new_wal_fields(wal_id: str) -> dict[str, Any]:
    """The fields of a WAL no event has touched yet."""
    return {**_NEW_WAL, "wal_id": wal_id}


def wal_from_fields(state: dict[str, Any]) -> Wal:
    """The WAL these fields describe (noted events are read and times still in their stored text
    are parsed here)."""
    _read_noted(state)
    for name in _TIMES:
        if isinstance(state[name], str):
            state[name] = parse_time(state[name])
    return Wal(**state)


_NEW_WAL: Final = wal_fields(Wal(wal_id=""))  # the defaults, copied for each new WAL
