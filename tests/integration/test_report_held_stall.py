"""A stall that starts at a held pass and is the recording's last word: its registration, then
one auto-sync held by a cooldown that outlasts the log (the fair-use backlog under `walsync`).
`walsync report --all` raised IndexError on it: no event of the recording's and no gate change
fell inside the stall, so `why_held` had no moment to explain. Its start is a moment now, and
so the time from a held pass to the recording's next event is counted under its reason (it
was left out: a stall's reasons added up to less than the stall)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from walsync.adapters.cli.main import cli
from walsync.adapters.diagnosis.lanes import read_events
from walsync.adapters.diagnosis.stalls import find_stalls, why_held


def test_a_stall_held_to_the_end_of_the_log_is_drawn_and_explained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    made = runner.invoke(cli, ["simulate", "--scenario", "fair_use_backlog", "--db", "f.db"])
    assert made.exit_code == 0, made.output
    whole = read_events(Path("f.db"))
    assert whole.last_moment is not None
    stalls = find_stalls(whole.wal_events, whole.gate, whole.policies, whole.last_moment,
                         whole.held)
    held_seqs = {seq for seq, _ in whole.held}
    from_a_hold = [s for s in stalls if s.start_seq in held_seqs and s.end_seq is None
                   and not any(seq >= s.start_seq for seq, _ in whole.wal_events[s.wal_id])
                   and not any(seq >= s.start_seq for seq, _ in whole.gate)]
    assert from_a_hold, "the scenario no longer ends with a recording held by a cooldown"
    for stall in stalls:
        held = why_held(stall, whole.wal_events[stall.wal_id], whole.gate, whole.policies,
                        whole.held)
        assert sum(seconds for _, seconds in held.reasons) == pytest.approx(stall.seconds)
    for stall in from_a_hold:
        held = why_held(stall, whole.wal_events[stall.wal_id], whole.gate, whole.policies,
                        whole.held)
        assert held.reasons[0][0] == "cooldown_fair_use"
        assert held.why.blocked_by is not None and held.why.blocked_by["reason"] == "rateLimit"
    drawn = runner.invoke(cli, ["report", "--db", "f.db", "--all", "--html", "f.html"])
    assert drawn.exit_code == 0, drawn.output
    assert "wrote f.html" in drawn.output and Path("f.html").stat().st_size > 0
