"""A fourth policy is one file: a throwaway policy module, registered the way the real ones are
(named in the registry's list), shows up in `simulate --compare`, in `walsync incidents` and in
the policy tests, with nothing else changed. It runs on a copy of the package laid out as
installed, so the repository is never touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sources import ROOT

PROBE = '''"""`probe`: a throwaway policy for the registry test: walsync without the single-path gate."""

from __future__ import annotations

from typing import Final

from attrs import evolve

from walsync.core.policies.walsync import WALSYNC
from walsync.core.policy import Policy

__all__ = ["PROBE"]

PROBE: Final[Policy] = evolve(WALSYNC, name="probe", gate_single=False)
'''


def _installed_layout(target: Path) -> Path:
    """The packages copied where an install puts them (pyproject's package-dir mapping)."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["package-dir"]
    for package, folder in mapping.items():
        shutil.copytree(ROOT / folder, target.joinpath(*package.split(".")),
                        ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _register_probe(tree: Path) -> None:
    """Add the module and name it in the registry, as a developer adding a policy would."""
    policies = tree / "walsync" / "core" / "policies"
    (policies / "probe.py").write_text(PROBE, encoding="utf-8")
    registry = policies / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    listed = "REGISTERED: Final[tuple[Policy, ...]] = (LEGACY, SEED, WALSYNC)"
    assert listed in text, "the registry's list changed shape: update this test"
    text = text.replace(listed, listed[:-1] + ", PROBE)").replace(
        "from walsync.core.policies.seed import SEED\n",
        "from walsync.core.policies.probe import PROBE\nfrom walsync.core.policies.seed import SEED\n")
    registry.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def with_probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose `walsync` is the copy with the fourth policy registered."""
    tree = _installed_layout(tmp_path_factory.mktemp("tree"))
    _register_probe(tree)
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    where = subprocess.run([sys.executable, "-c", "import walsync.core.policies as p; "
                            "print(p.__file__); print(*p.POLICIES)"], env=env,
                           capture_output=True, text=True, timeout=60, check=True)
    path, names = where.stdout.splitlines()
    assert path.startswith(str(tree)) and names.split() == ["legacy", "seed", "walsync", "probe"]
    return env


def _walsync(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "walsync.adapters.cli.main", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_it_shows_up_in_simulate_compare(with_probe: dict[str, str], tmp_path: Path) -> None:
    done = _walsync(with_probe, "simulate", "--scenario", "backend_saturation", "--compare",
                    "--hours", "1", "--wals", "3", "--db", "c.db", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert list(results) == ["legacy", "seed", "walsync", "probe"]
    assert (tmp_path / "c-probe.db").exists()


@pytest.mark.slow
def test_it_shows_up_in_the_incident_table(with_probe: dict[str, str], tmp_path: Path) -> None:
    done = _walsync(with_probe, "incidents", "--seed", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    headers = [line for line in done.stdout.splitlines() if line.startswith("| figure |")]
    assert headers and all(h == "| figure | legacy | seed | walsync | probe |" for h in headers)


@pytest.mark.slow
def test_it_runs_through_the_policy_tests(with_probe: dict[str, str]) -> None:
    tests = [str(ROOT / "tests" / "unit" / name) for name in
             ("test_decide_upload.py", "test_decide_reconcile.py", "test_gate.py")]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-k", "probe", *tests], env=with_probe, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    passed = int(done.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 10, done.stdout[-500:]
