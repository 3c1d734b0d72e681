"""docs/architecture.md's map has one line per module and per folder, and names nothing that is
gone: adding a module without saying where it stands fails here."""

from __future__ import annotations

import re

from sources import ROOT, library_sources

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def mapped_paths(page: str) -> list[str]:
    """The paths the map's list items start with: "- `adapters/store/sqlite.py`: ..."."""
    return re.findall(r"^- `([\w/.]+)`:", page, flags=re.M)


def test_every_module_and_folder_has_a_line_in_the_map() -> None:
    mapped = set(mapped_paths(ARCHITECTURE.read_text(encoding="utf-8")))
    modules = {str(p.relative_to(ROOT)) for p in library_sources()}
    folders = {str(p.parent.relative_to(ROOT)) + "/" for p in library_sources()}
    assert sorted((modules | folders) - mapped) == []


def test_the_map_names_only_what_exists() -> None:
    gone = [path for path in mapped_paths(ARCHITECTURE.read_text(encoding="utf-8"))
            if not (ROOT / path).exists()]
    assert gone == []


def test_each_path_has_one_line() -> None:
    paths = mapped_paths(ARCHITECTURE.read_text(encoding="utf-8"))
    assert sorted({p for p in paths if paths.count(p) > 1}) == []


def test_the_map_check_reads_list_items() -> None:
    assert mapped_paths("- `core/gate.py`: the gate.\n* `core/x.py`: no\n- `a/`: b\n") == [
        "core/gate.py", "a/"]
