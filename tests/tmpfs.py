"""A real tmpfs mounted for one test (disk full, read-only media): needs root, as CI has."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["tmpfs"]


@contextmanager
def tmpfs(mount: Path, size: str, why: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (`mount -o size=`) at the new folder `mount`, yield it, unmount.
    The test is skipped, saying `why` it mounts one, when it cannot mount (not root)."""
    if os.geteuid() != 0:
        pytest.skip(f"{why}: needs root (CI runs as root)")
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
