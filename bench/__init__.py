"""Benchmarks: each module is runnable (`python -m bench.NAME`) and prints a table."""
