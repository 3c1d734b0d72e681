"""T93: `walsync import` and `walsync replay` read a compacted log whole: given the log file
itself (its sealed segments beside it) or its export, they fold it from seq 1, the anchors that
retention wrote carrying nothing twice; the imported log verifies and answers `status --all`,
`why` and `timeline` as the compacted log does, and can be compacted again. The segments are
hostile input too: one missing, altered, or a link instead of a file refuses the import (one
line saying which, nothing written), and so does a whole history over the import's size cap."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from shared_history import answers, compacted_device, run

from walsync.adapters.store.share.importer import ImportRejected, import_log


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The compacted `log.db` in the current folder (paths below are relative); its ids."""
    _, ids = compacted_device(tmp_path)
    monkeypatch.chdir(tmp_path)
    return ids


def test_import_and_replay_of_a_compacted_log_answer_as_the_log(device: list[str]) -> None:
    before = answers("--db", "log.db", ids=device)
    run("export", "--db", "log.db", "--out", "out.jsonl", "--no-redact")
    for shared in ("log.db", "out.jsonl"):
        assert answers("replay", shared, ids=device) == before, shared
        target = f"from-{shared}.db"
        said = run("import", shared, "--into", target)
        assert said.startswith("imported 40 events into")
        assert run("verify", "--full", "--db", target).startswith("ok: 40 events")
        assert answers("--db", target, ids=device) == before, shared


def test_an_imported_compacted_log_can_be_compacted_again(device: list[str]) -> None:
    run("import", "log.db", "--into", "mine.db")
    run("compact", "--db", "mine.db", "--older-than", "0d")
    assert len(list(Path().glob("mine.db.seg-*.jsonl.gz"))) == 1
    assert run("verify", "--full", "--db", "mine.db").startswith("ok: 42 events")


def _refused(shared: str, says: str) -> None:
    for args in (["import", shared, "--into", "in.db"], ["replay", shared, "status"]):
        output = run(*args, code=1)
        assert output.startswith(f"Error: {shared}: ") and says in output, output
        assert len([line for line in output.splitlines() if "replaying" not in line]) == 1
    assert not Path("in.db").exists()


def test_a_missing_altered_or_linked_segment_refuses_import_and_replay(device: list[str]) -> None:
    first, second = sorted(Path().glob("log.db.seg-*.jsonl.gz"))
    kept = second.read_bytes()
    second.write_bytes(kept[:-9] + bytes([kept[-9] ^ 1]) + kept[-8:])
    _refused("log.db", "it was compacted and its sealed history cannot be trusted: The segment "
                       f"{second.name} was altered: its sha256 is ")
    second.unlink()
    Path("elsewhere.gz").write_bytes(kept)
    os.symlink("elsewhere.gz", second.name)  # the right bytes, but through a link
    _refused("log.db", f"its segment '{second.name}' is not a regular file")
    second.unlink()
    second.write_bytes(kept)
    first.unlink()
    _refused("log.db", "it was compacted and history before seq 21 was removed by retention "
                       "on 2026-06-29")


def test_the_whole_history_is_held_to_the_import_size_cap(device: list[str]) -> None:
    """The live log alone passes the cap; what it makes with its segments does not."""
    cap = Path("log.db").stat().st_size + 1
    with pytest.raises(ImportRejected, match=f"its whole history .* is larger than the {cap} "):
        import_log("log.db", "in.db", max_bytes=cap)
    assert not Path("in.db").exists()
