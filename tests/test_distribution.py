"""What a stranger gets from the package index: the source archive carries the docs, every test
and the LICENSE (a wheel built from that archive alone passes), the wheel carries the LICENSE,
and the metadata has the readme, the licence and classifiers."""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from test_docs import tracked_files

from sources import ROOT


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source archive `python -m build --sdist` makes from a copy of the repository's files
    (what a clone has: no build/, .venv or caches lend it anything)."""
    source = tmp_path_factory.mktemp("clone")
    for path in tracked_files():
        target = source / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    out = tmp_path_factory.mktemp("sdist")
    built = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out),
                            str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    [found] = out.glob("walsync-*.tar.gz")
    return found


def _names(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {"/".join(n.split("/")[1:]) for n in tar.getnames()}


@pytest.mark.slow
def test_the_source_archive_carries_the_license_docs_and_every_test(sdist: Path) -> None:
    names = _names(sdist)
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "Makefile"} <= names
    docs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*") if p.is_file()}
    tests = {p.relative_to(ROOT).as_posix() for p in tracked_files()
             if p.relative_to(ROOT).parts[0] == "tests"}
    assert docs and docs <= names
    assert len(tests) > 100 and tests <= names, sorted(tests - names)[:5]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.slow
def test_a_wheel_built_from_the_source_archive_carries_the_license_and_the_metadata(
        sdist: Path, tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--wheel-dir", str(tmp_path), str(sdist)], capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("walsync-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [license_file] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(license_file) == (ROOT / "LICENSE").read_bytes()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(archive.read(metadata))
    assert meta["License-Expression"] == "MIT"
    assert meta["License-File"] == "LICENSE"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "walsync" in (meta.get_payload() or "")  # the README is the long description
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and len(classifiers) >= 5


def test_the_license_is_mit_as_the_metadata_says() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
