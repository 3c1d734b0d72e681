"""Sum the figures the reliability tests recorded (tier.record) into the table of
docs/reliability.md: what was tried (kills, power cuts, faults, hostile inputs...) and what
was lost.

    python tests/reliability/figures.py FIGURES.jsonl [--markdown]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def summarise(path: Path) -> list[tuple[str, str, int, int]]:
    """(test, measure, tried, lost) summed over every record of the same test and measure."""
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        key = (str(record["test"]), str(record["measure"]))
        totals[key][0] += int(record["tried"])
        totals[key][1] += int(record["lost"])
    return sorted((test, measure, tried, lost) for (test, measure), (tried, lost) in totals.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("figures", type=Path)
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args(argv)
    rows = summarise(args.figures)
    if args.markdown:
        print("| test | what was tried | count | lost |")
        print("|---|---|---:|---:|")
        for test, measure, tried, lost in rows:
            print(f"| {test} | {measure} | {tried:,} | {lost:,} |")
    else:
        for test, measure, tried, lost in rows:
            print(f"{test:<44} {measure:<40} {tried:>10,} lost {lost:,}")
    return 1 if any(lost for *_, lost in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
