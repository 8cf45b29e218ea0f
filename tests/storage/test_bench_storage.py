"""The storage benchmark still runs (a --quick smoke run) and prints its table."""

from __future__ import annotations

from tests.benchmarks import run_quick


def test_the_benchmark_runs_and_prints_one_row_per_operation_and_size() -> None:
    lines = run_quick("bench_storage.py", timeout=120)
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
