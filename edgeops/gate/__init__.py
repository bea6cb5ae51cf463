"""The release gate: comparisons, their statistics and their output."""
