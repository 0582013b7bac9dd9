"""Benchmarks of riskrelay's processes, run as a user would run them.

``riskrelay bench worker`` measures one real worker process against the Unit21 sandbox at
a fixed provider latency: delivered events/s, produce-to-ack latency and peak memory, next
to a baseline that handles each partition one event at a time (what a plain consumer
loop does), in the same run and on the same machine, so the ratio is meaningful. It
reports; it never asserts, so it is not a test and no test depends on its numbers.
"""

from riskrelay.bench.options import BenchOptions
from riskrelay.bench.run import run_bench

__all__ = ["BenchOptions", "run_bench"]
