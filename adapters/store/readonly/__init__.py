"""Reading a log file without writing to it: audit and diagnosis queries, verification, and
rows this code cannot read."""
