"""The transactions benchmark still runs (a --quick smoke run) and prints its one table."""

from __future__ import annotations

from tests.benchmarks import BENCHMARKS, run_quick


def test_the_benchmark_runs_and_prints_every_row_beside_the_plan() -> None:
    lines = run_quick("bench_transactions.py", timeout=180)
    assert lines[0].split("|")[0].strip() == "measure"
    for label in (
        "journal per step (done + next intent), durable",
        "journal per step (done + next intent), fast",
        "3-step transaction, begin to committed",
        "3-step transactions/s, 1 thread",
        "3-step transactions/s, 8 threads",
        "recovery at start, 50 unfinished",
        "  (CPU time of the median run, all threads)",
    ):
        (row,) = [line for line in lines if line.startswith(label)]
        assert len(row.split("|")) >= 3, row
    assert not list(BENCHMARKS.glob("tmp*")), "the benchmark removed its store"
