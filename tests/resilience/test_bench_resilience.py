"""The resilience benchmark runs to completion and prints its one table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_quick_prints_one_table() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_resilience.py"), "--quick"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
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
