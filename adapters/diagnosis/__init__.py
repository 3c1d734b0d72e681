"""Explaining a log: why a recording stalled, time travel, text renderings and the HTML report."""
