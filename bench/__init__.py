"""Benchmarks: run `python -m bench` for the whole set (see bench/README.md)."""
