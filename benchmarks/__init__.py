"""Benchmarks: each module measures one target and prints ratios against a baseline run in the same process.

Run one with `python -m benchmarks.<name>`, all with `make bench` (`python -m benchmarks`).
They are deliberately not tests: timings on shared CI machines are not assertions.
"""
