"""The CLI start-up benchmark still runs (a --quick smoke run) and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_cli.py"


def test_the_benchmark_runs_and_prints_one_row_per_command() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split()[:3] == ["command", "ours", "python"]
    for command in ("--version", "status", "sessions list", "checkpoints list"):
        assert sum(line.startswith(command + " ") for line in lines) == 1, command
    assert lines[-1].startswith("load average while measuring:")
