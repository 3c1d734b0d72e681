"""Project-level checks: packaging, layering, `__all__`, docs that run."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from sources import PACKAGES, ROOT, installed_path, library_sources, module_name


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


API_EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(
    encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("example", API_EXAMPLES,
                         ids=[f"example-{n}" for n in range(1, len(API_EXAMPLES) + 1)])
def test_every_example_in_the_api_docs_runs(example: str, tmp_path: Path) -> None:
    """Each ```python block of docs/api.md runs as is; the lines it prints are the ones its
    comments promise (`print(x)   # text`)."""
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    promised = [line.split("#", 1)[1].strip() for line in example.splitlines()
                if line.strip().startswith("print(") and "#" in line]
    printed = [line.strip() for line in done.stdout.splitlines()]
    for text in promised:
        assert any(line.startswith(text) for line in printed), (text, printed)


def test_the_api_docs_have_examples() -> None:
    assert len(API_EXAMPLES) >= 3


def test_every_package_folder_is_listed_for_setuptools() -> None:
    """The package list in pyproject.toml is explicit (setuptools cannot find packages under a
    package-dir mapping): a folder left out would be missing from the wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
                 ["tool"]["setuptools"]["packages"])
    folders = {module_name(p) for p in library_sources() if p.name == "__init__.py"}
    assert listed == folders


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from a copy of this tree's project files: a `build/` folder
    left in the tree by an earlier build would otherwise lend the wheel files deleted since."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--wheel-dir", str(dist), str(source)], capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    [found] = dist.glob("walsync-*.whl")
    return found


@pytest.fixture(scope="module")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with the wheel installed; its python."""
    venv = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    [site] = (venv / "lib").glob("python3*/site-packages")
    # Dependencies come from this environment's site-packages as a plain path entry: its
    # editable-install hook and its .pth files are not processed from there, so walsync can only
    # come from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return venv / "bin" / "python"


@pytest.mark.slow
def test_the_wheel_installs_and_imports_every_module_in_a_clean_venv(wheel_venv: Path,
                                                                     tmp_path: Path) -> None:
    python = wheel_venv
    site = python.parents[1] / "lib"
    probe = ("import importlib, pkgutil, walsync\n"
             "names = [i.name for i in pkgutil.walk_packages(walsync.__path__, 'walsync.')]\n"
             "files = {importlib.import_module(n).__file__ for n in ['walsync', *names]}\n"
             "print(len(names), *sorted(files), sep='\\n')\n")
    shown = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
    assert shown.returncode == 0, shown.stderr
    count, *files = shown.stdout.splitlines()
    expected = {module_name(p) for p in library_sources()} - {"walsync"}
    assert int(count) == len(expected)
    assert all(f.startswith(str(site)) for f in files), files[:3]


TEST_ONLY_PACKAGES = ("pytest", "hypothesis", "apsw", "_pytest", "xdist")


@pytest.mark.slow
def test_the_wheel_holds_the_library_and_no_test_helper(wheel: Path) -> None:
    """Exactly the library's sources and its py.typed markers; nothing a test helper is made of:
    no module of tests/ (the throwaway PostgreSQL server lives there), no test-only import."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if not n.startswith("walsync-")]
        sources = {n: archive.read(n).decode("utf-8") for n in names if n.endswith(".py")}
    expected = {installed_path(p) for p in library_sources()}
    assert set(sources) == expected
    assert {n for n in names if not n.endswith(".py")} == {"walsync/py.typed"} | {
        f"walsync/{package}/py.typed" for package in ("core", "adapters", "projections")}
    helpers = {p.stem for p in (ROOT / "tests").rglob("*.py") if not p.name.startswith("test_")}
    assert not [n for n in sources if Path(n).stem in helpers - {"__init__", "conftest"}]
    for name, text in sources.items():
        imported = {alias.split(".")[0] for alias in _imports(text)}
        assert not imported & set(TEST_ONLY_PACKAGES), f"{name} imports a test-only package"


def _imports(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return found


@pytest.mark.slow
def test_the_wheel_needs_postgresql_s_driver_only_for_the_fleet_extra(wheel: Path) -> None:
    """What `pip install .` reads: psycopg is required only with the `fleet` extra."""
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode("utf-8").splitlines()
    requires = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]
    psycopg = [r for r in requires if r.lower().startswith("psycopg")]
    assert psycopg and all('extra == "fleet"' in r for r in psycopg), psycopg
    assert "Provides-Extra: fleet" in lines


# An embedder's file: the face's names, typed. The last line is a deliberate type error: mypy
# must report exactly it, which it can only do when it resolved `walsync` to its real types.
EMBEDDER = '''import walsync


def main(folder: str) -> str:
    engine: walsync.Engine = walsync.open_engine(f"{folder}/sync.db", base_url="http://127.0.0.1:9/",
                                                 token="tok", recordings_dir=folder)
    try:
        engine.row("omi_1")
        missing = ""
    except walsync.UnknownWal as error:
        missing = error.wal_id
    finally:
        engine.close()
    view, cut = walsync.projection_at(f"{folder}/sync.db")
    return f"{missing} {walsync.__version__} {cut.seq} {len(view.rows)}"


wrong: int = walsync.__version__
'''
WITHOUT_PSYCOPG = "import sys\nsys.modules['psycopg'] = None  # any import of it now fails\n"


def _mypy_on_embedder(python: Path, folder: Path) -> list[str]:
    (folder / "app.py").write_text(EMBEDDER, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "--python-executable", str(python), "app.py"], capture_output=True,
                          text=True, cwd=folder, timeout=300)
    return [line for line in done.stdout.splitlines() if ": error:" in line]


@pytest.mark.slow
@pytest.mark.parametrize("install", ["editable", "wheel"])
def test_mypy_strict_passes_on_an_embedder_s_file(install: str, request: pytest.FixtureRequest,
                                                  tmp_path: Path) -> None:
    python = Path(sys.executable) if install == "editable" else request.getfixturevalue("wheel_venv")
    errors = _mypy_on_embedder(python, tmp_path)
    assert len(errors) == 1 and "app.py:18: error: Incompatible types in assignment" in errors[0], errors


@pytest.mark.slow
def test_the_face_runs_an_engine_without_postgresql_s_driver(wheel_venv: Path,
                                                             tmp_path: Path) -> None:
    """From the wheel, with psycopg impossible to import: `import walsync`, an engine, the
    diagnosis API and the CLI work; a fleet command says which extra it needs."""
    (tmp_path / "app.py").write_text(EMBEDDER.rsplit("\n\n\n", 1)[0] + "\n", encoding="utf-8")
    probe = (WITHOUT_PSYCOPG + "import app, walsync\nprint(app.main('.'))\n"
             "print(walsync.__file__)\n"
             "from walsync.adapters.cli.main import main\n"
             "main(['fleet', 'status', '--db', 'postgresql://nowhere/x'])\n")
    done = subprocess.run([str(wheel_venv), "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    version, where = done.stdout.splitlines()[:2]
    assert version == "omi_1 0.1.0 1 0" and where.startswith(str(wheel_venv.parents[1]))
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: the fleet commands need PostgreSQL's driver: "
                                   "pip install 'walsync[fleet]'"), done.stderr
