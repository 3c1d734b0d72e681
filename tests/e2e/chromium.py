"""Find headless Chromium (installing Debian's package as root when missing) and drive it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["dump_dom", "find_chromium", "require_chromium", "screenshot"]

TIMEOUT = 60
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--hide-scrollbars")


def find_chromium() -> str | None:
    """The Chromium binary's path, or None."""
    for candidate in _CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _install() -> str:
    """apt-get the Debian package (root only); the log of what happened, for the failure text."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root or no apt-get, so it was not installed"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    out = []
    for cmd in (["apt-get", "update"],
                ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                                  check=False)
        except subprocess.TimeoutExpired:
            return f"{' '.join(cmd)} timed out"
        out.append(f"{' '.join(cmd)} -> {done.returncode}: {done.stderr.strip()[-400:]}")
        if done.returncode != 0:
            break
    return "; ".join(out)


def require_chromium() -> str:
    """Chromium's path; installs it when possible; fails under CI, skips elsewhere, if absent."""
    found = find_chromium()
    detail = "found"
    if found is None:
        detail = _install()
        found = find_chromium()
    if found is None:
        message = (f"headless Chromium is required for the report's browser test but "
                   f"/usr/bin/chromium was not found ({detail}); install it with "
                   f"`apt-get install -y --no-install-recommends chromium`")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [binary, *_FLAGS, f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"chromium did not finish within {TIMEOUT} s: {' '.join(cmd)}\n{error.stderr!r}")


def dump_dom(binary: str, page: Path, profile: Path) -> str:
    """The DOM Chromium built from the page (after parsing and scripts)."""
    done = _run(binary, profile, "--dump-dom", page.resolve().as_uri())
    assert done.returncode == 0, f"chromium --dump-dom failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def screenshot(binary: str, page: Path, profile: Path, out: Path) -> Path:
    """A 1400x900 PNG of the page."""
    done = _run(binary, profile, f"--screenshot={out}", "--window-size=1400,900",
                page.resolve().as_uri())
    assert done.returncode == 0, f"chromium --screenshot failed ({done.returncode}): {done.stderr[-2000:]}"
    return out
