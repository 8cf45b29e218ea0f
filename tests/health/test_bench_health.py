"""The health benchmark still runs (a --quick smoke run) and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_health.py"


def test_the_benchmark_runs_and_prints_both_designs() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "check actors" in lines[0]
    assert "asyncio loop per check" in lines[0]
    assert lines[2].startswith("CPU of 10 checks at 0.25 s")
    assert lines[3].startswith("failure → heal, default thresholds")
    assert len(lines) == 4
