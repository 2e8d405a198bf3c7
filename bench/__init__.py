"""Benchmarks: each prints its figure, a ceiling measured in the same run, and the ratio."""
