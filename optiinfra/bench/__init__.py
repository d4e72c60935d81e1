"""Benchmarks that time the project's hot paths on the real public data set."""
