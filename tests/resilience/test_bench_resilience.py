"""The resilience benchmark runs to completion and prints its one table."""

from __future__ import annotations

import re

from tests.benchmarks import run_quick


def test_benchmark_quick_prints_one_table() -> None:
    lines = run_quick("bench_resilience.py", timeout=120)
    assert lines[0].startswith("bench_resilience: 30 x 200 calls per variant")
    assert lines[1].split()[:3] == ["what", "median", "p99"]
    names = {re.split(r"\s{2,}", line)[0] for line in lines[3:]}
    assert {
        "bare call",
        "tenacity @retry (baseline)",
        "pybreaker (baseline)",
        "our retry",
        "our breaker",
        "our retry + breaker",
        "8 threads, pybreaker (baseline)",
        "8 threads, our breaker",
        "100 tasks, our breaker",
    } <= names
    assert all(re.search(r"\d", line) for line in lines[3:])  # every row carries a figure
