"""What the demo prints: summary numbers, rows, card, cooldown history, each stall's story."""

from __future__ import annotations

import shlex
import shutil
import sysconfig
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Final

from walsync.adapters.diagnosis.render import card_text, gate_text, rows_table
from walsync.adapters.sim.metrics import SimResult
from walsync.adapters.store.readonly.job_rows import as_member_rows
from walsync.adapters.store.readonly.queries import open_log_readonly, read_log
from walsync.core.events import UploadsHeld, WalEvent
from walsync.projections.sentences import sentence, time_text
from walsync.projections.why import SETBACKS, held_passes

__all__ = ["next_steps", "print_report", "shell_command"]

_STALL_TYPES: Final = frozenset(t.__name__ for t in SETBACKS)  # what `why` calls a setback
_GATE_TYPES: Final = frozenset({"CooldownStarted", "CooldownExpired", "CooldownCleared"})
_ROWS_SHOWN: Final = 12
_GATE_SHOWN: Final = 14
_STORIES: Final = 3
_STORY_LINES: Final = 4
# A question for sqlite-utils, printed (never run here) as a next step.
_COOLDOWNS_BY_REASON: Final = (
    "select reason, count(*) as started from cooldowns where type = 'CooldownStarted' group by reason")


def print_report(db_path: str | Path, result: SimResult, say: Callable[[str], None]) -> None:
    """Everything below is read back from the log file, not from the run's memory."""
    say("\nSummary")
    for key in ("virtual_hours", "wals_total", "wals_synced", "wals_stalled", "wals_failed",
                "upload_requests", "responses_429", "responses_202", "stale_guard_failures",
                "retry_bumps", "cooldowns", "events_logged", "wall_seconds"):
        say(f"  {key:<22} {getattr(result, key)}")
    with open_log_readonly(db_path) as view:
        rows = list(view.rows.values())
        counts = Counter(r.display for r in rows)
        say(f"\nStatus rows ({', '.join(f'{n} {d}' for d, n in counts.most_common())})")
        stalled = [r for r in rows if r.display != "synced"]
        say(rows_table(stalled[:_ROWS_SHOWN] or rows[-_ROWS_SHOWN:]))
        if len(stalled) > _ROWS_SHOWN:
            say(f"  ... {len(stalled) - _ROWS_SHOWN} more not synced: walsync status --db {db_path}")
        say(f"\nStatus card: {card_text(view.cards['sync'])}")
        say(f"Gate: {gate_text(view.gate)}")
    gate_rows = [r for r in read_log(db_path) if r.type in _GATE_TYPES]
    say(f"\nCooldown history ({len(gate_rows)} gate events; the last {_GATE_SHOWN})")
    for row in gate_rows[-_GATE_SHOWN:]:
        say(f"  seq {row.seq:>6}  {time_text(row.at)}  {sentence(row.event)}")
    say("\nWhy recordings stalled (their stall events, from the log alone)")
    stories: dict[tuple[str, str], list[tuple[int, str]]] = {}
    own: dict[str, list[tuple[int, WalEvent]]] = {}
    held: list[tuple[int, UploadsHeld]] = []
    for row in as_member_rows(read_log(db_path)):  # a job's end read as each member's own
        event = row.event
        if isinstance(event, WalEvent):
            own.setdefault(event.wal_id, []).append((row.seq, event))
        elif isinstance(event, UploadsHeld):
            held.append((row.seq, event))
        if row.type in _STALL_TYPES:
            stories.setdefault((_kind(row.type, row.fields), row.stream), []).append(
                (row.seq, f"seq {row.seq:>6}  {time_text(row.at)}  {sentence(event)}"))
    for wal_id, events in own.items():  # the passes a pause held each recording for
        for seq, pass_held in held_passes(wal_id, events, held):
            stories.setdefault((_kind("UploadsHeld", {"gate_reason": pass_held.gate_reason}),
                                f"wal:{wal_id}"), []).append(
                (seq, f"seq {seq:>6}  {time_text(pass_held.at)}  {sentence(pass_held)}"))
    for kind in ("fair-use", "backend busy", "other")[:_STORIES]:
        # The recording that stalled most often for this reason, with its latest such events.
        ranked = sorted((story for story in stories if story[0] == kind),
                        key=lambda story: (-len(stories[story]), story[1]))
        for story in ranked[:1]:
            lines = sorted(stories[story])
            say(f"  {story[1][4:]}: stalled {len(lines)} time(s) by {kind}")
            for _, line in lines[-_STORY_LINES:]:
                say(f"    {line}")


def _kind(type_name: str, data: dict[str, object]) -> str:
    """Which incident a stall event belongs to."""
    if type_name == "UploadRateLimited" or data.get("gate_reason") == "rateLimit" or (
            data.get("kind") == "rate_limited"):
        return "fair-use"
    if data.get("gate_reason") == "backendBusy" or data.get("classification") == "backend_busy":
        return "backend busy"
    return "other"


def shell_command(name: str) -> str:
    """How to call an installed command `name` of this environment from a new shell here: its
    bare name when that shell finds this very one on PATH, else its path (relative when under
    the current folder, as `.venv/bin/walsync` after `make demo`)."""
    installed = Path(sysconfig.get_path("scripts")) / name
    found = shutil.which(name)
    if not installed.exists() or (found and Path(found).resolve() == installed.resolve()):
        return name
    try:
        return str(installed.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(installed.absolute())


def next_steps(db_path: str | Path, page: str | Path) -> list[str]:
    """The demo's closing lines: the report's file URL, then commands that run as printed in a
    new shell in this folder (the test runs each one)."""
    db = shlex.quote(str(db_path))
    walsync = shlex.quote(shell_command("walsync"))
    compare = shlex.quote(str(Path(db_path).with_name(f"{Path(db_path).stem}-compare.db")))
    return [
        f"open in a browser: {Path(page).absolute().as_uri()}",
        f"{walsync} why --all --db {db} -n 12",
        f"{walsync} status --db {db} --state uploaded --state failed",
        f"{walsync} log --db {db} --type CooldownStarted -n 5 --reverse",
        # In double quotes: the query holds no `"`, `$`, backquote or backslash.
        f'{shlex.quote(shell_command("sqlite-utils"))} {db} "{_COOLDOWNS_BY_REASON}"',
        f"{walsync} simulate --scenario backend_saturation --hours 1 --wals 24 --compare "
        f"--db {compare} --force",
    ]
