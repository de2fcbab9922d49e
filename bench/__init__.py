"""Benchmarks: each module runs as `python -m bench.<name>` and prints one JSON object as its last line."""
