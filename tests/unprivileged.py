"""Run the installed `walsync` as a user the file modes bind (T82, T83): CI runs as root, whom
a folder's or a file's mode does not stop, so as root the child runs without the capabilities
that let root past them (`setpriv`, util-linux); any other user runs it as is."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from field_server import WALSYNC

__all__ = ["as_bound_user", "read_only"]

_DROP = ("--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner")


def as_bound_user(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`walsync ARGS` in `cwd` as a user whom file modes bind."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("as root, file modes are tested through setpriv (util-linux), not found")
        prefix = [setpriv, *_DROP]
    return subprocess.run([*prefix, *WALSYNC, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def read_only(folder: Path) -> None:
    """The folder and every file in it read-only (r-x and r--)."""
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o444)
    folder.chmod(0o555)
