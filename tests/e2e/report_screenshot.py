"""The demo's report, and its first screen at 1280x800 as the docs show it.

`python tests/e2e/report_screenshot.py docs/images/report-demo.png` runs `walsync demo` (policy
walsync, its fixed seed) in a temporary folder and writes the screenshot of the report it made;
tests/e2e/test_report_in_chromium.py checks the same page and a screenshot of it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from walsync.adapters.diagnosis.report import write_report
from walsync.adapters.sim.demo import run_demo
from walsync.core.policies import WALSYNC

sys.path.insert(0, str(Path(__file__).parent))
from chromium import require_chromium, screenshot

__all__ = ["VIEWPORT", "demo_report"]

VIEWPORT = (1280, 800)


def demo_report(folder: Path) -> Path:
    """Run the demo into `folder` and write its report there, as `walsync demo` does."""
    log = folder / "walsync-demo.db"
    run_demo(log, WALSYNC, say=lambda _: None)
    page = log.with_suffix(".html")
    write_report(log, page)
    return page


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/e2e/report_screenshot.py OUT.png")
    target = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)  # the page names its log as given: walsync-demo.db, as after `make demo`
        page = demo_report(Path())
        shot = screenshot(require_chromium(), page, Path(work) / "profile", target, VIEWPORT)
    print(f"wrote {shot}")
