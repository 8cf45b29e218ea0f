"""The CLI start-up benchmark still runs (a --quick smoke run) and prints its table."""

from __future__ import annotations

from tests.benchmarks import run_quick


def test_the_benchmark_runs_and_prints_one_row_per_command() -> None:
    lines = run_quick("bench_cli.py", timeout=180)
    assert lines[1].split()[:3] == ["command", "ours", "python"]
    for command in ("--version", "status", "sessions list", "checkpoints list"):
        assert sum(line.startswith(command + " ") for line in lines) == 1, command
    assert lines[-1].startswith("load average while measuring:")
