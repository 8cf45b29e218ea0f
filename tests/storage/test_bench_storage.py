"""The storage benchmark still runs (a --quick smoke run) and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_storage.py"


def test_the_benchmark_runs_and_prints_one_row_per_operation_and_size() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["operation", "stored"]
    for op in (
        "create, durable",
        "create, fast",
        "restore by id",
        "newest of a scope",
        "ten newest of a scope",
    ):
        assert sum(line.startswith(op) for line in lines) == 2, op  # at 100 and 1,000
    assert any("per session ok" in line for line in lines)
