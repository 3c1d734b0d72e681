"""Find headless Chromium (installing Debian's package as root when missing) and drive it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html import unescape as html_unescape
from pathlib import Path

import pytest

__all__ = ["PROBE_BEFORE", "dump_dom", "find_chromium", "layout", "require_chromium", "screenshot"]

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


def screenshot(binary: str, page: Path, profile: Path, out: Path,
               size: tuple[int, int] = (1400, 900)) -> Path:
    """A PNG of the page's first screen at `size` (width, height)."""
    done = _run(binary, profile, f"--screenshot={out}", f"--window-size={size[0]},{size[1]}",
                page.resolve().as_uri())
    assert done.returncode == 0, f"chromium --screenshot failed ({done.returncode}): {done.stderr[-2000:]}"
    return out


# Put first in <head>: every uncaught error and console.error of the page is kept.
PROBE_BEFORE = """<script>window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push("error: " + e.message); });
(function () { var ce = console.error; console.error = function () {
  window.__errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
  ce.apply(console, arguments); }; }());</script>"""


def layout(binary: str, page: Path, profile: Path, size: tuple[int, int], after: str) -> tuple[
        dict[str, object], str]:
    """Open a copy of `page` at `size`, run the script `after` (it must return a JSON-ready value)
    once the page's own script has run, and return what it returned (under "result"), with the
    viewport, the errors the page raised and Chromium's log."""
    probe = ("<script>(function () { var out = {}; try { out.result = (function () { " + after
             + " }()); } catch (e) { out.probe_error = String(e); } out.errors = window.__errors;"
             " out.viewport = [window.innerWidth, window.innerHeight];"
             " var pre = document.createElement('pre'); pre.id = 'probe-out';"
             " pre.textContent = JSON.stringify(out); document.body.appendChild(pre); }());</script>")
    html = page.read_text(encoding="utf-8")
    html = html.replace("<head>", "<head>" + PROBE_BEFORE, 1).replace("</body>", probe + "</body>", 1)
    copy = page.with_name(page.stem + ".probe.html")
    copy.write_text(html, encoding="utf-8")
    extra = _FRAME.get(binary, (0, 0))
    for _ in range(2):  # headless Chromium keeps some of the window for itself: ask for more
        found, log = _probe(binary, profile, copy, (size[0] + extra[0], size[1] + extra[1]))
        viewport = found.get("viewport")
        if not isinstance(viewport, list) or viewport == list(size):
            break
        extra = (extra[0] + size[0] - int(viewport[0]), extra[1] + size[1] - int(viewport[1]))
        _FRAME[binary] = extra
    return found, log


_FRAME: dict[str, tuple[int, int]] = {}  # what the window keeps beyond the viewport, per binary


def _probe(binary: str, profile: Path, page: Path, window: tuple[int, int]) -> tuple[
        dict[str, object], str]:
    done = _run(binary, profile, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000",
                f"--window-size={window[0]},{window[1]}", "--dump-dom", page.resolve().as_uri())
    assert done.returncode == 0, f"chromium --dump-dom failed ({done.returncode}): {done.stderr[-2000:]}"
    start = done.stdout.index('<pre id="probe-out">') + len('<pre id="probe-out">')
    text = done.stdout[start:done.stdout.index("</pre>", start)]
    return json.loads(html_unescape(text)), done.stderr
