"""The transactions benchmark still runs (a --quick smoke run) and prints its one table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_transactions.py"


def test_the_benchmark_runs_and_prints_every_row_beside_the_plan() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split("|")[0].strip() == "measure"
    for label in (
        "journal per step (done + next intent), durable",
        "journal per step (done + next intent), fast",
        "3-step transaction, begin to committed",
        "3-step transactions/s, 1 thread",
        "3-step transactions/s, 8 threads",
        "recovery at start, 50 unfinished",
        "  (CPU time of that recovery, all threads)",
    ):
        (row,) = [line for line in lines if line.startswith(label)]
        assert len(row.split("|")) >= 3, row
    assert not list(BENCH.parent.glob("tmp*")), "the benchmark removed its store"
