"""Statistics for verdicts: tests, intervals, decisions across seeds."""
