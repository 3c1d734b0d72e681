"""Every next step `walsync demo` prints runs as printed in a new shell: a clean environment
(no activated venv, a bare PATH), the folder the demo ran in; the report is a file URL that
exists, which Linux and macOS browsers open alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

WALSYNC = str(Path(sys.executable).parent / "walsync")


def _next_steps(output: str) -> list[str]:
    lines = output.split("Next steps", 1)[1].splitlines()[1:]
    return [line.strip() for line in lines if line.startswith("  ")]


@pytest.mark.slow
def test_every_next_step_the_demo_prints_runs_as_printed_in_a_new_shell(tmp_path: Path) -> None:
    demo = subprocess.run([WALSYNC, "demo"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    steps = _next_steps(demo.stdout)
    url = [s for s in steps if s.startswith("open in a browser: ")]
    commands = [s for s in steps if not s.startswith("open in a browser: ")]
    assert len(url) == 1 and len(commands) >= 4, steps
    page = urlparse(url[0].split(": ", 1)[1])
    assert page.scheme == "file" and Path(unquote(page.path)) == tmp_path / "walsync-demo.html"
    assert Path(unquote(page.path)).is_file()
    shell_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    for command in commands:
        done = subprocess.run(["bash", "--noprofile", "--norc", "-c", command], cwd=tmp_path,
                              env=shell_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command!r} failed in a new shell: {done.stderr[-1000:]}"
        assert done.stdout.strip(), f"{command!r} printed nothing"


def test_a_step_names_the_venv_s_command_relative_to_the_folder_or_bare_when_on_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After `make demo` in a clone, `.venv/bin/walsync`; on PATH, `walsync`; elsewhere, its
    absolute path."""
    import sysconfig

    from walsync.adapters.sim.demo_report import shell_command

    scripts = tmp_path / ".venv" / "bin"
    scripts.mkdir(parents=True)
    (scripts / "walsync").write_text("#!/bin/sh\n", encoding="utf-8")
    (scripts / "walsync").chmod(0o755)
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a, **k: str(scripts))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert shell_command("walsync") == ".venv/bin/walsync"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert shell_command("walsync") == str(scripts / "walsync")
    monkeypatch.setenv("PATH", f"{scripts}{os.pathsep}/usr/bin:/bin")
    assert shell_command("walsync") == "walsync"
