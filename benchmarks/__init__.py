"""Benchmarks of the service and its engines: each runs as `python -m benchmarks.<name>` (see docs/BENCHMARKS.md)."""
