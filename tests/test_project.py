"""Project-level checks: packaging, layering, `__all__`, docs that run."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from sources import ROOT, library_sources


@pytest.mark.parametrize("module", library_sources(with_init=False),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_has_a_docstring_and_an_all_of_real_names(module: Path) -> None:
    """Sorting of `__all__` is ruff's RUF022; this checks presence and that names exist."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{module} needs a one-line docstring"
    exported = [node for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "__all__" for t in node.targets)]
    assert exported, f"{module} needs an explicit __all__"
    if exported:
        names = ast.literal_eval(exported[0].value)
        defined = {getattr(n, "name", None) for n in tree.body} | {
            t.id for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign)
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            if isinstance(t, ast.Name)}
        imported = {a.asname or a.name for n in tree.body
                    if isinstance(n, ast.ImportFrom) for a in n.names}
        assert set(names) <= defined | imported, f"{module}: __all__ names something undefined"


def test_projections_import_only_the_core() -> None:
    for path in (ROOT / "projections").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("walsync."):
                assert node.module.startswith(("walsync.core", "walsync.projections")), (
                    f"{path.name} imports {node.module}")


def test_api_example_in_the_docs_runs() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Uploaded · processing on Omi"
    assert "Conversation created" in done.stdout and "All recordings synced" in done.stdout


@pytest.mark.slow
def test_the_wheel_installs_and_imports_in_a_clean_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--wheel-dir", str(dist), str(ROOT)], capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = dist.glob("walsync-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    [site] = (venv / "lib").glob("python3*/site-packages")
    # Dependencies come from this environment's site-packages as a plain path entry: its
    # editable-install hook is not processed from there, so walsync can only come from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    python = venv / "bin" / "python"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    probe = ("import walsync.core.events, walsync.adapters.engine, walsync.projections.view; "
             "print(walsync.core.events.__file__)")
    shown = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                           cwd=tmp_path, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(str(site)), shown.stdout
