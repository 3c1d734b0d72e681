"""The docs stand alone: no reference leaves the repository, every relative link and anchor
resolves, and every "spec section N" the code and docs cite is a section of docs/spec.md."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from sources import ROOT

_SKIP_DIRS = {".git", ".venv", ".mypy-src", ".mypy_cache", ".pytest_cache", ".hypothesis",
              ".reliability", "build", "dist", "__pycache__", "node_modules"}
_TEXT = {".md", ".py", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".sh", ""}
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
_CODE_PATH = re.compile(r"`((?:\.\.?/)[^`\s]*)`")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_SPEC_CITE = re.compile(r"spec (?:sections?|§)\s*((?:\d+(?:\.\d+)?(?:,\s*|\s+and\s+|-)?)+)",
                        re.IGNORECASE)


@cache
def tracked_files() -> tuple[Path, ...]:
    """The repository's files (git's list, new files included, when there is one; else a walk
    that leaves build output and caches out)."""
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=ROOT, capture_output=True, check=False)
    if done.returncode == 0 and done.stdout:
        names = [n for n in done.stdout.decode().split("\0") if n]
        return tuple(ROOT / n for n in names if (ROOT / n).is_file())
    return tuple(p for p in ROOT.rglob("*") if p.is_file()
                 and not _SKIP_DIRS & set(p.relative_to(ROOT).parts))


def _text_files() -> list[Path]:
    return [p for p in tracked_files()
            if (p.suffix in _TEXT and p.name != "LICENSE") or p.name == "Makefile"]


def markdown_files() -> list[Path]:
    return sorted(p for p in tracked_files() if p.suffix == ".md")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(m) for m in re.findall(r"^#{1,6}\s+(.*?)\s*#*$", text, flags=re.M)}


def relative_references(page: Path) -> list[str]:
    """Link targets and back-quoted ./ or ../ paths of a Markdown page, outside code fences."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    found = [a or b for a, b in _LINK.findall(text)]
    found += _CODE_PATH.findall(text)
    return [t for t in found if not re.match(r"^[a-z][a-z0-9+.-]*:", t, flags=re.I)]


def broken_references(page: Path, root: Path = ROOT) -> list[str]:
    """What on the page points outside the repository, at a missing file or a missing anchor."""
    problems = []
    for target in relative_references(page):
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.is_relative_to(root):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return problems


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_resolves_inside_the_repository(page: Path) -> None:
    assert broken_references(page) == []


def test_no_file_names_the_shared_folder_outside_the_repository() -> None:
    pattern = re.compile(r"\.\./shared|/work/shared|sync-behaviour\.md")
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in _text_files() if p != Path(__file__)
            for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if pattern.search(line)]
    assert hits == []


# A path into the repository's own folders, as the docs name files (`tests/generated_docs.py`).
_REPO_PATH = re.compile(r"(?<![\w./-])((?:tests|bench|docs|adapters|core|projections|face|\.ci)/"
                        r"[\w./-]*\w/?)")


def missing_repository_paths(text: str, root: Path = ROOT) -> list[str]:
    """Paths into the repository's folders that a text names (in prose, code spans or fences)
    and that do not exist: a renamed script or module the docs still tell people to run."""
    return [p for p in _REPO_PATH.findall(text) if not (root / p).exists()]


@pytest.mark.parametrize("page", [p for p in markdown_files() if p.name != "CHANGELOG.md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_a_page_names_exists(page: Path) -> None:
    """The CHANGELOG is history: it names files as they were then."""
    assert missing_repository_paths(page.read_text(encoding="utf-8")) == []


def spec_sections() -> set[str]:
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    return set(re.findall(r"^##\s+(\d+)\.\s", text, flags=re.M))


def cited_sections(text: str) -> list[str]:
    """The section numbers cited as "spec section 6", "spec sections 6, 10 and 11", "spec §9"."""
    numbers: list[str] = []
    for match in _SPEC_CITE.finditer(text):
        numbers += [n.split(".")[0] for n in re.findall(r"\d+(?:\.\d+)?", match.group(1))]
    return numbers


def test_citations_of_the_spec_name_sections_it_has() -> None:
    sections = spec_sections()
    assert {str(n) for n in range(13)} <= sections
    cited = {(p.relative_to(ROOT).as_posix(), n) for p in _text_files() if p != Path(__file__)
             for n in cited_sections(p.read_text(encoding="utf-8", errors="replace"))}
    assert cited, "expected the code to cite the spec by section"
    assert sorted(c for c in cited if c[1] not in sections) == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The link checker flags a path outside the repository, a missing file and a missing anchor;
    the citation reader finds every number of a list."""
    docs = tmp_path / "repo" / "docs"
    docs.mkdir(parents=True)
    (docs / "spec.md").write_text("# T\n\n## 6. The HTTP calls\n", encoding="utf-8")
    (tmp_path / "elsewhere.md").write_text("outside\n", encoding="utf-8")
    page = docs / "probe.md"
    page.write_text("[out](../../elsewhere.md) `../../outside/x.md` [gone](nothing.md) "
                    "[anchor](spec.md#no-such-heading) [fine](spec.md#6-the-http-calls)\n",
                    encoding="utf-8")
    problems = broken_references(page, tmp_path / "repo")
    assert len(problems) == 4, problems
    assert missing_repository_paths(
        "run `python tests/no_such_script.py --write`, see docs/spec.md and adapters/cli/",
        ROOT) == ["tests/no_such_script.py"]
    assert cited_sections("(spec sections 6, 10 and 11) and spec section 2 and spec §9") == [
        "6", "10", "11", "2", "9"]


def test_the_policy_table_is_generated_from_the_registry() -> None:
    from walsync.core.policies import REGISTERED

    from generated_docs import current, expected

    assert current("policies.md") == expected("policies.md"), (
        "run: python tests/generated_docs.py --write")
    table = expected("policies.md")
    assert all(f"`{p.name}`" in table for p in REGISTERED)


def test_a_rule_without_a_meaning_is_refused() -> None:
    """A rule added to Policy without its line in RULE_TEXT stops the table (and the test)."""
    import attrs

    from walsync.adapters.cli.diagram import policy_rows
    from walsync.core.policies import SEED
    from walsync.core.policy import Policy

    extended = attrs.make_class("Extended", {"new_rule": attrs.field(default=1)}, bases=(Policy,),
                                kw_only=True, frozen=True)
    with pytest.raises(KeyError, match="new_rule"):
        policy_rows((extended(**attrs.asdict(SEED)),))


def test_the_docs_show_the_demo_report_at_1280x800() -> None:
    import struct

    image = ROOT / "docs" / "images" / "report-demo.png"
    header = image.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 800)
    assert "](images/report-demo.png)" in (ROOT / "docs" / "why.md").read_text(encoding="utf-8")
