"""The fleet's per-row work at bulk speed: what a tail's rows go through, compiled."""
